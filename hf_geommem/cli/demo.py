"""``hf-geommem demo``: build G(300,5), train, score the geometry, write card and report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .options import print_final, seed_arg, verdict_null
from .train import recipe_overrides

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="build G(300,5), train, evaluate, write card and report")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--degree", type=int, default=300)
    demo.add_argument("--length", type=int, default=5)
    demo.add_argument("--pauses", type=int, default=2,
                      help="[PAUSE] tokens (more pauses converge faster)")
    demo.add_argument("--seed", type=seed_arg, default=0)
    demo.add_argument("--model", default="gpt2-small",
                      help="model preset; trained with its family's recipe (hf-geommem models)")
    demo.add_argument("--max-steps", type=int, help="optimizer steps (default: the recipe's)")
    demo.add_argument("--eval-steps", type=int, help="evaluate every N steps (default: the "
                                                    "recipe's)")
    demo.add_argument("--null", type=verdict_null, default=200,
                      help="null draws for the geometry")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """build -> train -> evaluate -> geometry -> card and report, on one CPU core in a few
    minutes."""
    from .. import PathTaskConfig, build_task, load_task
    from ..geometry import score_trained_run
    from ..training.data import training_set_size
    from ..plotting import plot_leaf_first_hop
    from ..training import TrainConfig, train

    # a bad preset or step count fails before anything is built
    config = TrainConfig(model=args.model, seed=args.seed, **recipe_overrides(args))
    out = Path(args.out)
    data_dir, run_dir = out / f"g{args.degree}_{args.length}", out / "model"
    t0 = time.perf_counter()
    print(f"[1/4] building path-star G({args.degree},{args.length}), {args.pauses} pause "
          f"token(s) -> {data_dir}")
    task = build_task("path_star", degree=args.degree, length=args.length, seed=args.seed,
                      paths=PathTaskConfig(num_pauses=args.pauses, seed=args.seed))
    held_out = task["paths"]["test"].num_rows
    if held_out < 2 or args.length < 3:  # the geometry of held-out arms is scored after training
        raise ValueError(f"G({args.degree},{args.length}) is too small for the demo: it scores "
                         f"the geometry of >= 2 held-out arms of >= 2 nodes, got {held_out} arm(s)"
                         f" of {args.length - 1}; use --degree >= 8 and --length >= 3")
    task.save_to_folder(data_dir, overwrite=True)
    task = load_task(data_dir)
    print(task.summary())
    steps = config.train_steps(training_set_size(task, config))
    print(f"[2/4] training {args.model} (mixed recipe) for {steps} steps -> {run_dir}")
    result = train(task, run_dir, config, overwrite=True)
    print("[3/4] scoring the geometry of the trained token embeddings (held-out arms, "
          f"{args.null} shuffled-node null draws)")
    geo = score_trained_run(result, task, data_dir.name, n_null=args.null, seed=args.seed)
    emb = geo["embedding"]
    nav, gl, de = emb["navigation_accuracy"], emb["geometric_level"], emb["dirichlet_energy"]
    print("[4/4] writing the model card and report")
    heat = plot_leaf_first_hop(emb["heatmap"], emb["path_matrix"], run_dir / "leaf_first_hop.png",
                               title=f"held-out leaf vs first hop: navigation "
                                     f"{100 * nav.value:.1f}% (null 97.5% "
                                     f"{100 * nav.null_high:.1f}%)")
    with open(run_dir / "report.md", "a") as f:
        f.write(f"\n## Geometry of the trained embeddings (held-out arms)\n\n"
                f"Navigation accuracy {100 * nav.value:.1f}% (null mean {100 * nav.null_mean:.1f}%,"
                f" 97.5% {100 * nav.null_high:.1f}%, p {nav.p:.3g}); geometric level "
                f"{gl.value:.3f} (null 97.5% {gl.null_high:.3f}); Dirichlet energy {de.value:.3f}"
                f" (null 2.5% {de.null_low:.3f}); verdict **{emb['verdict']}**.\n\n"
                f"![leaf vs first hop]({heat.name})\n")
    print(f"{'step':>6} {'held-out exact':>15} {'held-out v1':>12} {'train exact':>12} "
          f"{'edge top-k':>11}")
    for r in result.history:
        print(f"{r['step']:>6} {100 * r['eval_exact_path']:>14.1f}% "
              f"{100 * r['eval_first_token']:>11.1f}% {100 * r['train_exact_path']:>11.1f}% "
              f"{100 * r['edge_topk_recovery']:>10.1f}%")
    print_final(result.final)
    print(f"chance for the first hop: 1/{args.degree} = {100 / args.degree:.2f}%")
    print(f"geometry (held-out arms): navigation accuracy {100 * nav.value:.1f}% vs null "
          f"{100 * nav.null_mean:.1f}% (97.5% {100 * nav.null_high:.1f}%, p {nav.p:.3g}); "
          f"geometric level {gl.value:.3f} (null 97.5% {gl.null_high:.3f}); Dirichlet energy "
          f"{de.value:.3f} (null 2.5% {de.null_low:.3f}) -> {emb['verdict']}")
    print(f"done in {time.perf_counter() - t0:.0f} s: dataset {data_dir}, model {run_dir} "
          f"(README.md card, report.md, curves.png, leaf_first_hop.png, metrics.jsonl)")
    return 0
