"""The geometry of a trained model's node representations (:func:`trained_geometry`, its
summary for cards and results :func:`geometry_summary`) and a training run scored with it
(:func:`score_trained_run`). Geometry *over* training is recorded by
:mod:`hf_geommem.training.recording` and :class:`~hf_geommem.training.callbacks.GeometryCallback`
(importable from here too, as before)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import leaf_first_hop, memory_verdict, path_distance_matrix, verdict_scores
from .training.config import GEOMETRY_FILE
from .training.recording import GeometryRecorder, read_geometry, record_schedule

__all__ = ["record_schedule", "GeometryRecorder", "read_geometry", "GeometryCallback",  # noqa: F822
           "trained_geometry", "geometry_summary", "score_trained_run", "GEOMETRY_FILE"]


def __getattr__(name: str) -> Any:
    if name == "GeometryCallback":  # a Trainer callback: loads transformers on first use
        from .training.callbacks import GeometryCallback

        return GeometryCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def trained_geometry(model: Any, task: Any, arms: str = "held-out", n_null: int = 200,
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """The paper's title claim measured on a trained model: is its memory of the graph
    geometric?

    Scores the node-token input embeddings (and, when the model is untied, the node rows of its
    unembedding) with :func:`~hf_geommem.metrics.leaf_first_hop` (navigation accuracy, on the
    held-out arms by default), :func:`~hf_geommem.metrics.geometric_level` and
    :func:`~hf_geommem.metrics.dirichlet_energy` (the verdict's scores,
    :func:`~hf_geommem.metrics.verdict_scores`), each against its shuffled-node null, and
    gives :func:`~hf_geommem.metrics.memory_verdict` of the last two.

    Args:
        model: a causal LM trained on ``task`` (node ``v`` is token ``NUM_SPECIAL_TOKENS + v``).
        task: the :class:`~hf_geommem.builder.TaskData` it was trained on (a rooted graph).
        arms: ``"held-out"`` (the arms of the ``paths/test`` split) or ``"all"``.

    Returns:
        ``{"embedding": {...}, "unembedding": {...}}`` (the second only when untied); each maps
        ``navigation_accuracy``, ``geometric_level``, ``dirichlet_energy`` to a
        :class:`~hf_geommem.metrics.Score`, ``verdict`` to a string, ``heatmap`` to the
        leaf-vs-first-hop cosine-distance matrix and ``path_matrix`` to the path-by-path one.
    """
    from .modeling import node_embeddings
    from .tokenization import NUM_SPECIAL_TOKENS

    if arms not in ("held-out", "all"):
        raise ValueError(f"arms must be 'held-out' or 'all', got {arms!r}")
    g = task.graph
    if g is None or g.arms is None:
        raise ValueError("trained_geometry needs a task on a rooted graph with arms")
    sel = None
    if arms == "held-out":
        if "paths" not in task:
            raise ValueError("arms='held-out' needs a task with a paths/test split")
        sel = np.asarray(task["paths"]["test"]["arm"], dtype=np.int64)
    n = g.num_nodes
    mats = {"embedding": node_embeddings(model, n)}
    out_emb = model.get_output_embeddings()
    if out_emb is not None and not getattr(model.config, "tie_word_embeddings", True):
        W = out_emb.weight.detach().float().cpu().numpy()
        mats["unembedding"] = W[NUM_SPECIAL_TOKENS:NUM_SPECIAL_TOKENS + n]
    result = {}
    for name, X in mats.items():
        nav = leaf_first_hop(X, g, arms=sel, n_null=n_null, seed=seed)
        scores = verdict_scores(X, g, n_null, seed)
        pm = path_distance_matrix(X, g, arms=sel, n_null=0, seed=seed)
        result[name] = {"navigation_accuracy": nav, **scores,
                        "verdict": memory_verdict(**scores),
                        "heatmap": nav.details["heatmap"], "path_matrix": pm.details["matrix"]}
    return result


def geometry_summary(geometry: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """JSON-ready form of :func:`trained_geometry`: each score as its
    :meth:`~hf_geommem.metrics.Score.as_dict` plus ``significant``, and the verdict (matrices
    left out)."""
    out = {}
    for name, part in geometry.items():
        row = {}
        for key, val in part.items():
            if key in ("heatmap", "path_matrix"):
                continue
            row[key] = val if isinstance(val, str) else {**val.as_dict(),
                                                         "significant": val.significant}
        out[name] = row
    return out


def score_trained_run(result: Any, task: Any, dataset_name: str, n_null: int = 200,
                      seed: int = 0, arms: str = "held-out") -> dict[str, dict[str, Any]]:
    """Train -> geometry -> card, the last two steps: :func:`trained_geometry` of a finished
    :func:`~hf_geommem.training.train` result, written into the run's model card and report
    (:func:`~hf_geommem.training.finish_run`). Returns the geometry (``demo`` and
    ``reproduce`` both score their runs with it)."""
    from .training import finish_run

    geo = trained_geometry(result.model, task, arms=arms, n_null=n_null, seed=seed)
    finish_run(result, task, dataset_name, geometry=geometry_summary(geo))
    return geo
