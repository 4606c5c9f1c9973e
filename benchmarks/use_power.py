"""Which directions and how many make the subspace-ablation "use" test most powerful? (issue 16)

    OMP_NUM_THREADS=1 python benchmarks/use_power.py RUN [RUN ...] --json docs/use_power.json \
        [--ks 1,2,4,8,16,32] [--n-null 20] [--methods arm-means,laplacian]
    python benchmarks/use_power.py --table docs/use_power.json --md docs/use_power.md

RUN: trained path-star runs (``hf-geommem train`` folders) on seeds that no report uses (the
tuning runs of ``docs/recipes.md``), so choosing the estimator does not look at the runs the
reproduction reports. For every direction estimator of
:data:`hf_geommem.interventions.ABLATION_METHODS` and every ``k``,
:func:`hf_geommem.interventions.ablation_curve` ablates ``k`` geometric directions of the token
embeddings (layer 0, at the held-out leaf's position) and ``n_null`` random frames of the same
captured variance, and records held-out teacher-forced v1.

The **margin** of a (method, k) is how far the geometric ablation's held-out v1 falls below the
random null's 2.5% quantile (``null_v1_q025 - geo_v1``; > 0: the test rejects at ALPHA with
room to spare, < 0: it cannot reject). The table gives every run's margin and the mean per
(method, k); the figure of each run is the drop-vs-k curve against the null band. Not a timed
test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(runs: list[Path], ks: list[int], n_null: int, methods: list[str],
            figures: Path | None, controls: tuple[Path, ...] = ()) -> dict:
    """Ablation curves of every run and method (rows of ``ablation_curve`` plus ``margin``);
    ``controls`` (also in ``runs``) are marked ``"control": True``."""
    import torch

    from hf_geommem.interventions import ablation_curve
    from hf_geommem.plotting import plot_ablation_curve
    from hf_geommem.training.run_folder import load_run

    out = {"settings": {"ks": ks, "n_null": n_null, "methods": methods, "layer": 0},
           "runs": {}}
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
    for run in runs:
        model, task = load_run(run)
        cfg = json.loads((run / "geommem_run.json").read_text())["config"]
        arms = task.graph.arms.shape[0]
        entry = {"model": cfg["model"], "seed": cfg["seed"], "arms": int(arms),
                 "nodes": int(task.graph.num_nodes), "curves": {},
                 "control": run in controls}
        for method in methods:
            usable = [k for k in ks if method == "laplacian" or k <= arms - 1]
            try:
                with torch.no_grad():
                    rows = ablation_curve(model, task, usable, n_null=n_null, seed=0,
                                          method=method)
            except ValueError as exc:  # e.g. laplacian: a dense eigenbasis, small graphs only
                entry.setdefault("not_run", {})[method] = str(exc)
                print(f"{run.name:28s} {method:10s} not run: {exc}", flush=True)
                continue
            for r in rows:
                r["margin"] = r["null_v1_q025"] - r["geo_v1"]
            entry["curves"][method] = rows
            if figures is not None:
                plot_ablation_curve(rows, figures / f"use_power_{run.name}_{method}.png",
                                    title=f"{run.name}: {method} directions vs random")
            best = max(rows, key=lambda r: r["margin"])
            print(f"{run.name:28s} {method:10s} best k {best['k']:3d} margin "
                  f"{best['margin']:+.3f} (geo v1 {best['geo_v1']:.3f}, null 2.5% "
                  f"{best['null_v1_q025']:.3f}, base {best['base_v1']:.3f})", flush=True)
        out["runs"][run.name] = entry
    return out


def table(results: dict) -> list[str]:
    """Markdown: margins per run, method and k, then the mean margin per (method, k)."""
    from hf_geommem.cards import markdown_table

    ks = results["settings"]["ks"]
    rows, mean = [], {}
    for name, entry in results["runs"].items():
        for method, curve in entry["curves"].items():
            by_k = {r["k"]: r for r in curve}
            rows.append((name, entry["model"], "control" if entry.get("control") else "power",
                         method, f"{curve[0]['base_v1']:.3f}", *(
                             f"{by_k[k]['margin']:+.3f} ({by_k[k]['geo_v1']:.2f} vs "
                             f"{by_k[k]['null_v1_q025']:.2f})" if k in by_k else "n/a"
                             for k in ks)))
            if entry.get("control"):  # a control's rejection is a false positive, not power
                continue
            for k, r in by_k.items():
                mean.setdefault((method, k), []).append(r["margin"])
    lines = markdown_table(["run", "model", "role", "directions",
                            "held-out v1 (no ablation)", *(f"k={k}" for k in ks)], rows)
    lines += [f"- {name} / {m}: not run ({why})" for name, e in results["runs"].items()
              for m, why in e.get("not_run", {}).items()]
    lines += ["", *markdown_table(
        ["directions", *(f"k={k}" for k in ks)],
        [(m, *(f"{sum(mean[(m, k)]) / len(mean[(m, k)]):+.3f} (n={len(mean[(m, k)])})"
               if (m, k) in mean else "n/a" for k in ks))
         for m in results["settings"]["methods"]])]
    # compare like with like: only the cells measured on every run
    n = max(len(v) for v in mean.values())
    full = {mk: v for mk, v in mean.items() if len(v) == n}
    best = max(full, key=lambda mk: sum(full[mk]) / n)
    lines += ["", f"Largest mean margin over the cells measured on all {n} power runs: "
                  f"`{best[0]}` directions with k = {best[1]} ({sum(full[best]) / n:+.3f})."]
    false_pos = [f"{name} / {m} k={r['k']}" for name, e in results["runs"].items()
                 if e.get("control") for m, curve in e["curves"].items() for r in curve
                 if r["margin"] > 0]
    if any(e.get("control") for e in results["runs"].values()):
        lines += ["", "Controls (a model whose token embeddings carry no trained geometry, e.g. "
                      "frozen at their random init): a positive margin there would be a false "
                      "positive. " + ("Rejected: " + ", ".join(false_pos) + "." if false_pos
                                      else "No cell rejects.") +
                  " A control whose held-out v1 is already near zero without ablation cannot "
                  "fall further: it shows the test does not fire spuriously there, not its "
                  "false-positive rate on a model that solves the task without geometry."]
    return lines


def write_doc(results: dict, md: Path) -> None:
    from hf_geommem.files import write_text_atomic

    s = results["settings"]
    lines = ["# Power of the subspace-ablation \"use\" test (generated by "
             "`benchmarks/use_power.py`)", "",
             f"Runs: trained path-star models on tuning seeds no report uses (role "
             f"\"power\"), and controls without trained geometry (role \"control\"). Site: layer "
             f"{s['layer']} (token embeddings), at the held-out leaf's position. Per cell: "
             f"margin = the random null's 2.5% quantile of held-out v1 minus the held-out v1 "
             f"after ablating k geometric directions ({s['n_null']} random frames of the same "
             f"captured variance per k); in brackets the two accuracies. A positive margin "
             f"means the test rejects the null at ALPHA; larger is more power.", "",
             *table(results), "",
             "Figures: " + ", ".join(f"`figures/use_power_{name}_{m}.png`"
                                     for name, e in results["runs"].items()
                                     for m in e["curves"]) + "."]
    write_text_atomic(md, "\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--json", type=Path, default=ROOT / "docs/use_power.json")
    p.add_argument("--md", type=Path, default=ROOT / "docs/use_power.md")
    p.add_argument("--figures", type=Path, default=ROOT / "docs/figures")
    p.add_argument("--ks", default="1,2,4,8,16,32")
    p.add_argument("--n-null", type=int, default=20)
    p.add_argument("--methods", default="arm-means,laplacian")
    p.add_argument("--table", type=Path, help="only write --md from this JSON")
    p.add_argument("--control", type=Path, action="append", default=[],
                   help="a control run (no trained geometry: a rejection is a false positive); "
                        "repeatable")
    p.add_argument("--merge", type=Path, help="keep this JSON's runs (same settings) and add "
                                              "the new ones")
    args = p.parse_args()
    from hf_geommem.files import write_text_atomic

    if args.table:
        write_doc(json.loads(args.table.read_text()), args.md)
        return
    runs = [*args.runs, *args.control]
    if not runs:
        p.error("give at least one RUN folder (or --table JSON)")
    ks = [int(k) for k in args.ks.split(",")]
    results = measure(runs, ks, args.n_null, args.methods.split(","), args.figures,
                      tuple(args.control))
    if args.merge:
        old = json.loads(args.merge.read_text())
        if old["settings"] != results["settings"]:
            p.error(f"--merge {args.merge}: its settings {old['settings']} differ from this "
                    f"run's {results['settings']}")
        results["runs"] = {**old["runs"], **results["runs"]}
    write_text_atomic(args.json, json.dumps(results, indent=1) + "\n")
    write_doc(results, args.md)


if __name__ == "__main__":
    main()
