"""Path accuracy: exact match, first-token (hardest-token) and per-position accuracy of decoded
paths against reference paths (node-id sequences)."""

import datasets
import evaluate
import numpy as np

_CITATION = """\
@inproceedings{noroozizadeh2026geometric,
  title={Deep sequence models tend to memorize geometrically; it is unclear why},
  author={Noroozizadeh, Shahriar and Nagarajan, Vaishnavh and Rosenfeld, Elan and Kumar, Sanjiv},
  booktitle={International Conference on Machine Learning (ICML)},
  year={2026},
  note={arXiv:2510.26745}
}
"""
_DESCRIPTION = """
Accuracy of path finding on a graph: exact match of the whole path, accuracy of the first token
after the root (v1, the token that needs a multi-hop composition of memorized edges) and the
accuracy at every position.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: decoded paths, each a list of node ids (shorter ones count as wrong at the
        missing positions).
    references: true paths, each a list of node ids.
    first_token_position: index of the hardest token (default 1: the token after the root).
Returns:
    a flat dict: exact_match, first_token_decoded (accuracy of the *decoded* token at
    first_token_position; the training logs' eval_first_token is instead teacher-forced after
    the root), accuracy_position_<i> for every position i, num_paths.
Examples:
    >>> pa = evaluate.load("path/to/path_accuracy")
    >>> pa.compute(predictions=[[5, 3, 9]], references=[[5, 3, 8]])
    {'exact_match': 0.0, 'first_token_decoded': 1.0, 'accuracy_position_0': 1.0,
     'accuracy_position_1': 1.0, 'accuracy_position_2': 0.0, 'num_paths': 1}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PathAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("int64")),
                "references": datasets.Sequence(datasets.Value("int64")),
            }),
        )

    def _compute(self, predictions, references, first_token_position=1):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        if not references:
            raise ValueError("no paths to score")
        empty = [i for i, r in enumerate(references) if len(r) == 0]
        if empty:
            raise ValueError(f"reference path {empty[0]} is empty: every reference needs at "
                             f"least one node")
        width = max(len(r) for r in references)
        ref = np.full((len(references), width), -1, dtype=np.int64)
        pred = np.full((len(references), width), -2, dtype=np.int64)
        for i, (p, r) in enumerate(zip(predictions, references)):
            ref[i, :len(r)] = r
            p = list(p)[:width]
            pred[i, :len(p)] = p
        valid = ref >= 0
        hit = (pred == ref) & valid
        per_pos = (hit.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)).tolist()
        exact = np.array([list(p) == list(r) for p, r in zip(predictions, references)])
        pos = min(first_token_position, width - 1)
        return {"exact_match": float(exact.mean()), "first_token_decoded": float(per_pos[pos]),
                **{f"accuracy_position_{i}": float(x) for i, x in enumerate(per_pos)},
                "num_paths": len(references)}
