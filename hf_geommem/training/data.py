"""The training set (which configs, how often: :func:`training_parts`; the full-batch rule:
:func:`batch_per_device`), tokenized examples and the answer-only collator."""

from __future__ import annotations

import math
from typing import Any

import torch
from datasets import Dataset, concatenate_datasets


__all__ = ["column", "tokenize_config", "AnswerOnlyCollator", "training_parts",
           "training_set_size", "batch_per_device"]


def training_parts(task: Any, config: Any) -> list[tuple[str, int]]:
    """The one rule for what a run trains on: ``(config name, copies per epoch)`` of the task's
    train splits for ``config.recipe`` (edges for mixed, staged and edges; paths for mixed and
    staged, or for a task without edges, ``config.path_repeats`` times beside edges)."""
    parts = []
    if config.recipe in ("mixed", "staged", "edges") and "edges" in task:
        parts.append(("edges", 1))
    if config.recipe in ("mixed", "staged") or "edges" not in task:
        # repeats only re-weight paths against edges: an in-context task has no edges
        parts.append(("paths", config.path_repeats if "edges" in task else 1))
    return parts


def training_set_size(task: Any, config: Any) -> int:
    """Examples per epoch of :func:`training_parts`."""
    return sum(task[name]["train"].num_rows * copies for name, copies in
               training_parts(task, config))


def batch_per_device(batch_size: int | None, num_examples: int, world: int = 1) -> int:
    """Examples per device and step: ``batch_size``, or (``None``: full batch) the whole
    training set split over ``world`` processes."""
    return batch_size or math.ceil(num_examples / world)


def column(ds: Dataset, name: str) -> list:
    """A column as a Python list (datasets >= 4 returns lazy Column objects)."""
    return ds.data.column(name).to_pylist() if ds._indices is None else list(ds[name])


TOKENIZE_CHUNK = 16_384
"""Rows tokenized at a time: the fast tokenizer's encodings and the Python lists of a whole
200,000-graph in-context set took ~4 GB at once; per chunk they are freed as Arrow takes over."""


def tokenize_config(ds: Dataset, tokenizer: Any, path_loss: str = "dataset",
                    kind: str = "paths") -> Dataset:
    """Add ``input_ids`` (prompt + completion) and ``labels`` (-100 off the answer) to a split.

    ``kind`` ("edges" or "paths") is stored per row, so the staged recipe can mask by phase.
    Tokenizes :data:`TOKENIZE_CHUNK` rows at a time. Returns a Dataset with columns
    ``input_ids``, ``labels``, ``kind``."""
    if path_loss not in ("dataset", "full", "first_token"):
        raise ValueError(f"path_loss must be 'dataset', 'full' or 'first_token', got "
                         f"{path_loss!r}")
    if len(ds) <= TOKENIZE_CHUNK:
        return _tokenize_rows(ds, tokenizer, path_loss, kind)
    return concatenate_datasets([
        _tokenize_rows(ds.select(range(i, min(i + TOKENIZE_CHUNK, len(ds)))), tokenizer,
                       path_loss, kind) for i in range(0, len(ds), TOKENIZE_CHUNK)])


def _tokenize_rows(ds: Dataset, tokenizer: Any, path_loss: str, kind: str) -> Dataset:
    prompts = tokenizer(column(ds, "prompt"), add_special_tokens=False)["input_ids"]
    completions = tokenizer(column(ds, "completion"), add_special_tokens=False)["input_ids"]
    masks = column(ds, "loss_mask") if "loss_mask" in ds.column_names else [None] * len(prompts)
    input_ids, labels = [], []
    unk = tokenizer.unk_token_id
    for p, c, m in zip(prompts, completions, masks):
        if unk in p or unk in c:
            raise ValueError(f"the tokenizer does not cover example {p + c}: unknown tokens")
        if path_loss == "full" or m is None:
            m = [True] * len(c)
        elif path_loss == "first_token":
            m = [i == 1 if len(c) > 1 else True for i in range(len(c))]
        input_ids.append(p + c)
        labels.append([-100] * len(p) + [t if keep else -100 for t, keep in zip(c, m)])
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels,
                              "kind": [kind] * len(input_ids)})


class AnswerOnlyCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (-100); builds ``attention_mask``.

    ``phase`` ("edges", "paths" or ``None``) masks the labels of the other kind of example
    (staged recipe)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id
        self.phase: str | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        # padded Python rows and one tensor per field: per-row tensor copies cost ~10 ms of a
        # ~60 ms gpt2-small step at batch 256 (benchmarks/bench_collator.py)
        length = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            row = f["input_ids"]
            pad = length - len(row)
            ids.append([*row, *[self.pad_token_id] * pad])
            mask.append([1] * len(row) + [0] * pad)
            keep = self.phase is None or f.get("kind") == self.phase
            labels.append([*f["labels"], *[-100] * pad] if keep else [-100] * length)
        return {"input_ids": torch.tensor(ids, dtype=torch.long),
                "attention_mask": torch.tensor(mask, dtype=torch.long),
                "labels": torch.tensor(labels, dtype=torch.long)}
