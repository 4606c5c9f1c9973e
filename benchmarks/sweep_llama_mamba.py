"""Sweep training settings for llama-small and mamba-small on path-star graphs and print a table.

    OMP_NUM_THREADS=1 python benchmarks/sweep_llama_mamba.py [--runs NAME,...] [--grid GRID]
        [--out DIR] [--extra JSON] [--k 3]

Every run: mixed recipe (edges + paths), AdamW, answer-only loss, path-star G(degree, 5) built
with ``hg.build_task`` (seed = the run seed: a fresh node-id permutation and split per seed).
The table gives, per run: wall seconds (build excluded, evaluation included), final held-out
exact-path accuracy (greedy, all held-out arms), the best held-out value and its step, and the
train-only stopping rule "stop at the first evaluation at which train_exact_path has been 1.0 for
K consecutive evaluations" with the held-out accuracy at that evaluation (the rule never reads
the held-out split; same seed, same curve on CPU, so it is evaluated offline on the full curve).

Grids (``--grid``): ``recommended`` (the two recommended settings, seed 0), ``robust`` (the two
recommended settings, seeds 1 and 2), ``llama`` / ``mamba`` (the documented sweep of each model),
``all``. See docs/sweep_llama_mamba.md for the measured table. ``--extra`` adds ad-hoc runs:
a JSON object {name: spec} with the keys of :data:`DEFAULTS`.
Not a timed test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import hf_geommem as hg
from hf_geommem.training import TrainConfig, train

# a run: graph (degree, pauses, seed) + TrainConfig fields
DEFAULTS = dict(model="llama-small", degree=300, pauses=2, seed=0, learning_rate=3e-3,
                batch_size=None, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.01,
                max_steps=120, eval_steps=10, tie_embeddings=True, embedding_init_std=None,
                path_repeats=1, min_epochs=None)

RUNS: dict[str, dict] = {}

GRIDS: dict[str, list[str]] = {"recommended": [], "robust": [], "llama": [], "mamba": []}


def add(grid: str, name: str, **spec) -> None:
    RUNS[name] = {**DEFAULTS, **spec}
    GRIDS[grid].append(name)


# ---- the sweep as run (docs/sweep_llama_mamba.md has the measured numbers) ----
_L600 = dict(degree=600, weight_decay=1.0, max_steps=80)          # recommended llama-small
_M600 = dict(model="mamba-small", degree=600, batch_size=256, weight_decay=1.0,
             lr_scheduler="cosine", warmup_ratio=0.05, max_steps=600, eval_steps=30)
_MREC = {**_M600, "max_steps": 1200, "eval_steps": 60}             # recommended mamba-small
from_sweep: list[tuple[str, str, dict]] = [
    ("llama", "L01_base", dict()),
    ("llama", "L02_wd0.1", dict(weight_decay=0.1)),
    ("llama", "L03_wd1", dict(weight_decay=1.0)),
    ("llama", "L04_lr1e-2", dict(learning_rate=1e-2)),
    ("llama", "L05_lr6e-3", dict(learning_rate=6e-3)),
    ("llama", "L06_wd1_lin80", dict(weight_decay=1.0, lr_scheduler="linear", max_steps=80)),
    ("llama", "L07_wd1_p4", dict(weight_decay=1.0, pauses=4)),
    ("llama", "L08_staged40", dict(recipe="staged", stage1_steps=40)),
    ("llama", "L09_g600_wd1", dict(degree=600, weight_decay=1.0)),
    ("mamba", "M01_bs256_wd1", dict(model="mamba-small", batch_size=256, weight_decay=1.0,
                                    max_steps=300, eval_steps=20)),
    ("mamba", "M03_g600_lr6e-3_wd1_cos", {**_M600, "learning_rate": 6e-3, "max_steps": 900,
                                          "eval_steps": 50}),
    ("mamba", "M04_g600_wd3_cos", {**_M600, "weight_decay": 3.0, "max_steps": 900,
                                   "eval_steps": 50}),
    ("mamba", "M05_g600_p0_wd1_cos", {**_M600, "pauses": 0}),
    ("mamba", "M02_g600_bs256_wd1_cos", {**_M600, "seed": 0}),
    ("mamba", "M02_s1", {**_M600, "seed": 1}),
    ("mamba", "M02_s2", {**_M600, "seed": 2}),
    # seed 0 of the recommended llama setting: the docs report L09 (same curve, 120 steps)
    ("recommended", "L_rec_s0", {**_L600, "seed": 0}),
    ("recommended", "M06_g600_wd1_cos1200", {**_MREC, "seed": 0}),
    ("robust", "L10_g600_wd1_s1", {**_L600, "seed": 1}),
    ("robust", "L11_g600_wd1_s2", {**_L600, "seed": 2}),
    ("robust", "M06_s1", {**_MREC, "seed": 1}),
    ("robust", "M06_s2", {**_MREC, "seed": 2}),
]


def _register() -> None:
    for grid, name, spec in from_sweep:
        add(grid, name, **spec)


def dataset(root: Path, degree: int, pauses: int, seed: int, length: int = 5) -> Path:
    path = root / f"data_d{degree}_l{length}_p{pauses}_s{seed}"
    if not path.exists():
        hg.build_task("path_star", degree=degree, length=length, seed=seed,
                      paths=hg.PathTaskConfig(num_pauses=pauses)).save_to_folder(path)
    return path


def stop_rule(history: list[dict], k: int) -> dict | None:
    """First evaluation at which train_exact_path has been 1.0 for ``k`` consecutive evals."""
    streak = 0
    for row in history:
        if "train_exact_path" not in row:
            continue
        streak = streak + 1 if row["train_exact_path"] >= 1.0 else 0
        if streak >= k:
            return row
    return None


def run_one(name: str, spec: dict, root: Path, ks=(1, 2, 3)) -> dict:
    spec = {**DEFAULTS, **spec}
    data = dataset(root, spec["degree"], spec["pauses"], spec["seed"], spec.get("length", 5))
    fields = {k: v for k, v in spec.items() if k not in ("degree", "pauses", "length")}
    cfg = TrainConfig(**fields)
    t0 = time.perf_counter()
    res = train(str(data), root / f"run_{name}", cfg, overwrite=True, progress=False)
    seconds = time.perf_counter() - t0
    hist = [r for r in res.history if "eval_exact_path" in r]
    best = max(hist, key=lambda r: r["eval_exact_path"])
    row = {"run": name, **spec, "seconds": round(seconds, 1),
           "final_exact": res.final["eval_exact_path"],
           "final_train_exact": res.final.get("train_exact_path"),
           "best_exact": best["eval_exact_path"], "best_step": best["step"],
           "curve": [(r["step"], r["eval_exact_path"], r.get("train_exact_path"),
                          r.get("eval_per_position")) for r in hist]}
    for k in ks:
        stop = stop_rule(hist, k)
        row[f"stop{k}_step"] = stop["step"] if stop else None
        row[f"stop{k}_exact"] = stop["eval_exact_path"] if stop else None
    return row


def fmt(row: dict, k: int) -> str:
    pct = lambda v: "  n/a " if v is None else f"{100 * v:5.1f}%"  # noqa: E731
    bs = "full" if row["batch_size"] is None else str(row["batch_size"])
    stop = (f"{row[f'stop{k}_step']!s:>4} {pct(row[f'stop{k}_exact'])}"
            if row.get(f"stop{k}_step") is not None else "   -   n/a ")
    return (f"{row['run']:24s} {row['model']:12s} G({row['degree']},5) p{row['pauses']} "
            f"s{row['seed']} lr {row['learning_rate']:.0e} bs {bs:>4} {row['lr_scheduler']:8s} "
            f"wu {row['warmup_ratio']:.2f} wd {row['weight_decay']:<5g} steps "
            f"{row['max_steps']:4d} {row['seconds']:6.0f}s  final {pct(row['final_exact'])}  "
            f"best {pct(row['best_exact'])} @{row['best_step']:<4d} stop(K={k}) {stop}")


def report(rows: list[dict]) -> list[str]:
    """Markdown table of sweep rows (``results.jsonl`` lines): settings, final and best held-out
    exact path, the final per-position accuracies and the wall time."""
    from hf_geommem.cards import markdown_table
    from hf_geommem.presets import describe_weight_decay

    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    return markdown_table(
        ["run", "model", "graph", "seed", "batch", "lr", "schedule (warmup)", "wd", "steps",
         "final held-out exact", "best (step)", "final per position (root..leaf)",
         "train exact", "wall s"],
        [(r["run"], r["model"], f"G({r['degree']},{r.get('length', 5)}), {r['pauses']} pauses",
          r["seed"],
          r["batch_size"] or "full", f"{r['learning_rate']:g}",
          f"{r['lr_scheduler']} ({r['warmup_ratio']:g})",
          describe_weight_decay(r["weight_decay"], r.get("embedding_weight_decay"),
                                short=True).removeprefix("wd "),
          r["max_steps"], pct(r["final_exact"]), f"{pct(r['best_exact'])} ({r['best_step']})",
          " / ".join(f"{100 * p:.0f}" for p in (r["curve"][-1][3] or [])
                     ) if len(r["curve"][-1]) > 3 else "n/a",
          pct(r["final_train_exact"]),
          "n/a" if r.get("seconds") is None else f"{r['seconds']:.0f}") for r in rows])


def main() -> None:
    _register()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="", help="comma-separated run names")
    parser.add_argument("--grid", default="recommended",
                        help="recommended, robust, llama, mamba or all")
    parser.add_argument("--extra", default="", help="JSON {name: spec} of ad-hoc runs")
    parser.add_argument("--out", default="outputs/sweep_llama_mamba")
    parser.add_argument("--k", type=int, default=1, help="stopping-rule K for the table "
                        "(K=1, stop at the first eval with train_exact_path 1.0: recommended)")
    parser.add_argument("--report", nargs="+", metavar="RESULTS_JSONL",
                        help="print the markdown table of these results files and exit")
    args = parser.parse_args()
    if args.report:
        rows = [json.loads(line) for f in args.report for line in Path(f).read_text().splitlines()
                if line.strip()]
        print("\n".join(report(rows)))
        return
    extra = json.loads(args.extra) if args.extra else {}
    RUNS.update({n: {**DEFAULTS, **s} for n, s in extra.items()})
    if args.runs:
        names = args.runs.split(",")
    elif extra:
        names = list(extra)
    elif args.grid == "all":
        names = [n for g in ("llama", "mamba", "recommended", "robust") for n in GRIDS[g]]
    else:
        names = GRIDS[args.grid]
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        row = run_one(name, RUNS[name], root)
        with open(root / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(fmt(row, args.k), flush=True)


if __name__ == "__main__":
    main()
