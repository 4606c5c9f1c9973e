"""The answer-only collator at a training batch: ``AnswerOnlyCollator`` against a per-row copy.

    OMP_NUM_THREADS=1 python benchmarks/bench_collator.py [--degree 300] [--batch 256] [--calls 200]

Builds path-star G(degree, 5) with 2 pause tokens, tokenizes its train edges and paths as
``train`` does, and collates random batches of ``--batch`` examples (the rows a ``Trainer``
hands the collator) with the library's collator and with a reference that copies each row into
preallocated tensors (the collator before this benchmark). Prints milliseconds per call for
both and whether every batch is equal. Not a timed test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def per_row(features: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """One tensor copy per row (the reference)."""
    n, length = len(features), max(len(f["input_ids"]) for f in features)
    ids = torch.full((n, length), pad_id, dtype=torch.long)
    labels = torch.full((n, length), -100, dtype=torch.long)
    mask = torch.zeros((n, length), dtype=torch.long)
    for i, f in enumerate(features):
        k = len(f["input_ids"])
        ids[i, :k] = torch.as_tensor(f["input_ids"])
        mask[i, :k] = 1
        labels[i, :k] = torch.as_tensor(f["labels"])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--degree", type=int, default=300)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args()

    from datasets import concatenate_datasets

    from hf_geommem.builder import build_task
    from hf_geommem.tasks import PathTaskConfig
    from hf_geommem.training import AnswerOnlyCollator, tokenize_config

    task = build_task("path_star", paths=PathTaskConfig(num_pauses=2), degree=args.degree,
                      length=5, seed=0)
    tok = task.tokenizer
    rows = concatenate_datasets([tokenize_config(task[c]["train"], tok, kind=c)
                                 for c in ("edges", "paths")])
    rng = np.random.default_rng(0)
    batches = [rows[rng.choice(len(rows), args.batch, replace=False).tolist()]
               for _ in range(args.calls)]
    batches = [[{k: b[k][i] for k in b} for i in range(args.batch)] for b in batches]
    ours = AnswerOnlyCollator(tok.pad_token_id)
    timings, outputs = {}, {}
    for name, fn in (("per-row copies", lambda f: per_row(f, tok.pad_token_id)),
                     ("hf_geommem", ours)):
        start = time.perf_counter()
        outputs[name] = [fn(b) for b in batches]
        timings[name] = (time.perf_counter() - start) / args.calls * 1e3
    same = all(torch.equal(a[k], b[k]) for a, b in zip(*outputs.values()) for k in a)
    print(f"G({args.degree},5), batch {args.batch}, {args.calls} calls, "
          f"torch threads {torch.get_num_threads()}")
    for name, ms in timings.items():
        print(f"  {name:>15}: {ms:.2f} ms per call")
    print(f"  speed-up {timings['per-row copies'] / timings['hf_geommem']:.1f}x; "
          f"equal batches: {same}")


if __name__ == "__main__":
    main()
