"""Geometric memory: how much node representations reflect a graph, with shuffled-node nulls.

A thin ``evaluate`` wrapper over ``hf_geommem.metrics.geometry_report``.
"""

import datasets
import evaluate
import numpy as np

try:
    from hf_geommem.metrics import geometry_report
    from hf_geommem.metrics import prepare_representations
except ImportError as exc:
    raise ImportError("the geometric_memory metric computes with hf_geommem: pip install "
                      "hf-geommem") from exc

_DESCRIPTION = """
Scores how geometric a set of node representations is with respect to a graph (arXiv 2510.26745):
geometric level (mean edge cosine), normalized Dirichlet energy, spectral energy fraction, the
paper's spectral profile, top-k edge recovery, kNN edge recall, link-prediction AUC, Spearman
correlation with shortest-path distance and, on rooted path-star graphs, navigation accuracy and
the path-by-path distance gap. Every score comes with a shuffled-node null.
"""

_KWARGS_DESCRIPTION = """
Args:
    embeddings: one vector per node, in node order (node i = row i).
    edges: the graph as a list of [u, v] pairs (never a dense matrix).
    num_nodes: number of nodes (default: number of embeddings).
    scores: names of the scores to compute (default: all that apply).
    n_null: null draws per score (default 100).
    seed: seed of the nulls and samples.
    standardize: z-score each dimension first; n_components: keep top principal components.
Returns:
    for every score NAME: NAME, NAME_null_mean, NAME_null_std, NAME_null_low, NAME_null_high,
    NAME_z, NAME_p, and NAME_best where a best value is known.
Examples:
    >>> gm = evaluate.load("path/to/geometric_memory")
    >>> gm.compute(embeddings=X.tolist(), edges=[[0, 1], [1, 2]], n_null=50)
"""

_CITATION = """
@inproceedings{noroozizadeh2026geometric,
  title={Deep sequence models tend to memorize geometrically; it is unclear why},
  author={Noroozizadeh, Shahriar and Nagarajan, Vaishnavh and Rosenfeld, Elan and Kumar, Sanjiv},
  booktitle={ICML},
  year={2026}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GeometricMemory(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"embeddings": datasets.Sequence(datasets.Value("float32"))}),
        )

    def _compute(self, embeddings, edges, num_nodes=None, scores=None, n_null=100, seed=0,
                 standardize=False, n_components=None, k=10):
        from hf_geommem.graphs import from_edge_list

        widths = {len(row) for row in embeddings}
        if len(widths) > 1:
            raise ValueError(f"embeddings must all have the same width, got widths "
                             f"{sorted(widths)[:5]}")
        X = np.asarray(embeddings, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"embeddings must be one vector per node, got shape {X.shape}")
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        graph = from_edge_list(edges, num_nodes=num_nodes or X.shape[0])
        X = prepare_representations(X, standardize=standardize, n_components=n_components)
        report = geometry_report(X, graph, n_null=n_null, seed=seed, k=k,
                                 scores=tuple(scores) if scores else None)
        out = {}
        for name, s in report.items():
            out[name] = s.value
            for key in ("null_mean", "null_std", "null_low", "null_high", "z", "p"):
                out[f"{name}_{key}"] = getattr(s, key)
            if s.best is not None:
                out[f"{name}_best"] = s.best
        return out
