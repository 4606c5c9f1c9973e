"""Print one ``docs/recipes_tuning.jsonl`` row (the format of
``benchmarks/sweep_llama_mamba.py``) for a finished ``hf-geommem train`` run folder.

    python scripts/tuning_row.py RUN_DIR --name T_M_nodecay_g600_s101 [--note TEXT] \
        >> docs/recipes_tuning.jsonl

The graph comes from the dataset the run recorded (``run_env.json``), the settings from
``geommem_run.json`` (``max_steps`` is the steps taken, after ``min_epochs``), the curve from
``metrics.jsonl``, the wall time from ``trainer_state.json``'s train runtime where present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tuning_row(run_dir: Path, name: str, note: str = "") -> dict:
    from hf_geommem import load_task
    from hf_geommem.training import read_metrics

    run = json.loads((run_dir / "geommem_run.json").read_text())
    env = json.loads((run_dir / "run_env.json").read_text())
    meta = load_task(env["dataset"]).metadata
    evals = [r for r in read_metrics(run_dir) if "eval_exact_path" in r]
    if not evals:
        raise ValueError(f"{run_dir} has no evaluation rows in metrics.jsonl")
    cfg, params = run["config"], meta["graph"]["params"]
    best = max(evals, key=lambda r: r["eval_exact_path"])
    state = run_dir / "trainer_state.json"
    seconds = None
    if state.is_file():
        logs = json.loads(state.read_text()).get("log_history", [])
        seconds = next((r["train_runtime"] for r in logs if "train_runtime" in r), None)
    keys = ("model", "learning_rate", "batch_size", "lr_scheduler", "warmup_ratio",
            "weight_decay", "embedding_weight_decay", "max_steps", "eval_steps",
            "tie_embeddings", "embedding_init_std", "path_repeats", "min_epochs", "path_loss")
    return {"run": name, **{k: cfg.get(k) for k in keys}, "degree": params["degree"],
            "length": params["length"], "pauses": meta["paths"]["num_pauses"],
            "seed": cfg["seed"], "graph_seed": params["seed"], "seconds": seconds,
            "final_exact": evals[-1]["eval_exact_path"],
            "final_train_exact": evals[-1].get("train_exact_path"),
            "final_first_token": evals[-1].get("eval_first_token"),
            "best_exact": best["eval_exact_path"], "best_step": best["step"],
            "curve": [[r["step"], r["eval_exact_path"], r.get("train_exact_path"),
                       r.get("eval_per_position")] for r in evals],
            **({"note": note} if note else {})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--set", nargs=2, action="append", default=[], metavar=("FIELD", "JSON"),
                   help="correct a recorded setting (a run trained by a patched script), e.g. "
                        "--set embedding_weight_decay 3; say why in --note")
    args = p.parse_args()
    row = tuning_row(args.run_dir, args.name, args.note)
    for field, value in args.set:
        if field not in row:
            p.error(f"--set: {field!r} is not a field of the row; expected one of {sorted(row)}")
        row[field] = json.loads(value)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
