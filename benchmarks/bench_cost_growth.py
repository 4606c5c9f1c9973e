"""Cost growth in d: time and peak memory of each stage on G(d,5) (issue 17).

    OMP_NUM_THREADS=1 python benchmarks/bench_cost_growth.py --json docs/cost_growth.json
    python scripts/bench_tables.py docs/cost_growth.json      # -> docs/cost_growth.md

For d in 500, 1000, 2000, 5000, 10000 (gpt2-small, 2 pause tokens, seed 0), one process:

* build: ``build_task`` + ``save_to_folder`` (Parquet, card);
* epoch: one full-batch ``train()`` step (``batch_size=None``: the full batch is the epoch;
  otherwise default settings: chunked output layer, 4 GB memory budget), timed from inside
  the Trainer loop;
* evaluation: greedy decoding of 500 arms' paths (held-out arms first, then training arms where
  d/4 < 500);
* geometry: ``trained_geometry`` of the trained embeddings on the held-out arms, 200 null draws;
* node2vec: one full-batch full-softmax Node2Vec epoch (dim 100, float32; ``(t(3 epochs) -
  t(1 epoch)) / 2``, so the eigenvectors it tracks are not counted); above a few thousand nodes
  the n x n softmax is built in chunks of rows (``Node2VecConfig.chunk_rows``).

``--stages node2vec --merge docs/cost_growth.json`` re-measures only the named stages and
replaces their cells in that JSON (the other stages keep their measurements).

Times are CPU time of this process (on a shared machine the wall time also counts the time other
processes held the core; both are in the JSON); peak memory is each stage's peak RSS. The
exponent of each stage is the least-squares slope of log(time) on log(d).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from stage_meter import measure

import hf_geommem as hg
from hf_geommem.files import write_text_atomic

STAGES = ("build", "epoch", "evaluation", "geometry", "node2vec")


def fit_exponent(ds: list[int], ts: list[float]) -> float | None:
    """Least-squares slope of log t on log d (``None`` with fewer than 2 points)."""
    pts = [(math.log(d), math.log(t)) for d, t in zip(ds, ts) if t and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def node2vec_cell(graph) -> dict:
    """CPU time, wall time and peak RSS of one full-softmax Node2Vec epoch on ``graph``."""
    from hf_geommem.node2vec import Node2VecConfig, train_node2vec

    def n2v(epochs):
        return lambda: train_node2vec(graph, Node2VecConfig(
            epochs=epochs, dim=100, dtype=torch.float32, num_eigenvectors=16,
            record_steps=[], keep_embeddings=False))

    _, one = measure(n2v(1))
    _, three = measure(n2v(3))
    return {"cpu_s": (three["cpu_s"] - one["cpu_s"]) / 2,
            "wall_s": (three["wall_s"] - one["wall_s"]) / 2,
            "peak_rss_gb": three["peak_rss_gb"]}


def one_degree(d: int, pauses: int, model: str, work: Path,
               stages: tuple[str, ...] = STAGES) -> dict:
    """The stages' cells on G(d,5); the graph is built whatever ``stages`` says."""
    from bench_training import CpuStepTimer
    from datasets import concatenate_datasets

    from hf_geommem.geometry import trained_geometry
    from hf_geommem.training import TrainConfig, evaluate_paths, train

    row: dict = {"degree": d, "nodes": 4 * d + 1}

    def build():
        task = hg.build_task("path_star", degree=d, length=5, seed=0,
                             paths=hg.PathTaskConfig(num_pauses=pauses))
        task.save_to_folder(work / f"g{d}", overwrite=True)
        return task

    task, cell = measure(build)
    if "build" in stages:
        row["build"] = cell
    if {"epoch", "evaluation", "geometry"} & set(stages):
        timer = CpuStepTimer()
        res, row["epoch_call"] = measure(lambda: train(
            task, work / f"run{d}", TrainConfig(model=model, max_steps=1, batch_size=None,
                                                min_epochs=None, eval_steps=10**6,
                                                eval_max_test_arms=8, eval_max_train_arms=8,
                                                eval_max_edge_nodes=8),
            progress=False, overwrite=True, callbacks=[timer]))
        row["epoch"] = {"cpu_s": timer.cpu[0], "wall_s": timer.wall[0],
                        "peak_rss_gb": row["epoch_call"]["peak_rss_gb"],
                        "micro_batches": res.memory_plan.accumulation_steps}
        paths = task["paths"]
        arms = concatenate_datasets([paths["test"], paths["train"]]).select(
            range(min(500, paths["test"].num_rows + paths["train"].num_rows)))
        model_ = res.model.eval()
        with torch.no_grad():
            _, row["evaluation"] = measure(lambda: evaluate_paths(model_, task.tokenizer, arms))
        row["evaluation"]["arms"] = arms.num_rows
        _, row["geometry"] = measure(lambda: trained_geometry(model_, task, n_null=200))
    if "node2vec" in stages:
        row["node2vec"] = node2vec_cell(task.graph)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degrees", type=int, nargs="+", default=[500, 1000, 2000, 5000, 10000])
    parser.add_argument("--pauses", type=int, default=2)
    parser.add_argument("--model", default="gpt2-small")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma list of stages to measure (default all: {','.join(STAGES)})")
    parser.add_argument("--merge", metavar="JSON",
                        help="re-measure --stages only and replace their cells in this JSON "
                             "(written back in place unless --json is given)")
    args = parser.parse_args()
    stages = tuple(x for x in args.stages.split(",") if x)
    bad = sorted(set(stages) - set(STAGES))
    if bad or not stages:
        parser.error(f"--stages {args.stages!r}: unknown {bad}; expected a comma list of "
                     f"{', '.join(STAGES)}")
    if args.merge is None and (args.json is None or set(stages) != set(STAGES)):
        parser.error("give --json (a full run measures every stage), or --merge JSON with "
                     "--stages")
    old = json.loads(Path(args.merge).read_text()) if args.merge else None
    if old is not None:
        if old["model"] != args.model or old["pauses"] != args.pauses:
            parser.error(f"--merge {args.merge}: measured with {old['model']}, "
                         f"{old['pauses']} pauses; this run: {args.model}, {args.pauses}")
        args.degrees = [r["degree"] for r in old["rows"]]
        args.json = args.json or args.merge
    torch.set_num_threads(1)
    # merging: every row is kept and its re-measured cells replaced, so a stopped run leaves
    # a whole table behind
    rows = [dict(r) for r in old["rows"]] if old is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        for i, d in enumerate(args.degrees):
            new = one_degree(d, args.pauses, args.model, Path(tmp), stages)
            if old is not None:
                rows[i] = {**rows[i], **new}
            else:
                rows.append(new)
            print(json.dumps({k: (v if not isinstance(v, dict) else
                                  {kk: vv for kk, vv in v.items() if kk in
                                   ("cpu_s", "peak_rss_gb", "skipped")})
                              for k, v in (rows[i] if old is not None else rows[-1]).items()}),
                  flush=True)
            out = {"model": args.model, "pauses": args.pauses, "torch": torch.__version__,
                   "num_threads": torch.get_num_threads(), "rows": rows,
                   "exponents": {s: fit_exponent(
                       [r["degree"] for r in rows if "cpu_s" in r[s]],
                       [r[s]["cpu_s"] for r in rows if "cpu_s" in r[s]]) for s in STAGES}}
            write_text_atomic(args.json, json.dumps(out, indent=1))  # after every degree


if __name__ == "__main__":
    main()
