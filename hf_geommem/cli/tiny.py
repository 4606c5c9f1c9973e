"""``hf-geommem tiny``: the tiny-graph geometry studies (science.md 8): tables and
figures."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .options import count_arg, seed_arg, verdict_null

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    tiny = sub.add_parser("tiny", help="the tiny-graph geometry studies (science.md 8)")
    tiny.add_argument("part", nargs="?", choices=["all", "study", "knobs", "timing"],
                      default="all")
    tiny.add_argument("--out", default="outputs/tiny", help="tables (JSON) and figures")
    tiny.add_argument("--models", default=",".join(("associative", "node2vec", "laplacian",
                                                    "transformer", "linear", "mamba")))
    tiny.add_argument("--knob-steps", type=count_arg, default=10_000)
    tiny.add_argument("--self-edges", action=argparse.BooleanOptionalAction, default=True,
                      help="tiny study: u -> u examples for the trained models (default on; "
                      "--no-self-edges shows the linear network's zig-zag code)")
    tiny.add_argument("--null", type=verdict_null, default=200)
    tiny.add_argument("--seed", type=seed_arg, default=0)
    tiny.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm.auto import tqdm

    from .. import plotting, studies
    from ..files import check_output_path, write_text_atomic
    from ..graphs import tiny_graphs

    models = tuple(m for m in args.models.split(",") if m)
    unknown = sorted(set(models) - set(studies.TINY_MODELS))
    if unknown or not models:  # before any folder is made
        raise ValueError(f"--models: unknown model(s) {unknown or args.models!r}; expected a "
                         f"comma list of {', '.join(studies.TINY_MODELS)}")
    out = check_output_path(args.out, "--out")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report: dict = {}
    if args.part in ("all", "study"):
        graphs = tiny_graphs(args.seed)
        bar = tqdm(total=len(graphs) * len(models), desc="tiny study", unit="run")
        rows = studies.tiny_study(graphs, models, n_null=args.null, seed=args.seed,
                                  self_edges=args.self_edges, progress=lambda r: (bar.set_postfix_str(
                                      f"{r['graph']}/{r['model']}"), bar.update(1)))
        bar.close()
        print(f"\n{'graph':15s}{'model':13s}{'top-k':>7s}{'geo level':>11s}{'null 97.5%':>11s}"
              f"{'S_k':>8s}{'null 97.5%':>11s}{'top mass':>9s}  verdict")
        for r in rows:
            print(f"{r['graph']:15s}{r['model']:13s}{r['topk_recovery']:7.2f}"
                  f"{r['geometric_level']:11.3f}{r['geometric_level_null_high']:11.3f}"
                  f"{r['spectral_fraction']:8.3f}{r['spectral_fraction_null_high']:11.3f}"
                  f"{r['spectral_top_mass']:9.3f}  {r['verdict']}")
            g = graphs[r["graph"]]
            stem = out / "figures" / f"{r['graph']}_{r['model']}"
            plotting.plot_embedding_projection(r["X"], g, f"{stem}_pca.png",
                                               title=f"{r['graph']} {r['model']}")
            plotting.plot_spectral_bars(r["spectrum"], r["profile"], f"{stem}_spectrum.png",
                                        f"{r['graph']} {r['model']}")
            plotting.plot_cosine_heatmap(r["X"], g, f"{stem}_cosine.png",
                                         f"{r['graph']} {r['model']}")
        from ..node2vec import Node2VecConfig, train_node2vec

        for gname, g in graphs.items():
            hist = train_node2vec(g, Node2VecConfig(seed=args.seed, keep_embeddings=False)).history
            plotting.plot_node2vec_trajectories(hist, out / "figures" /
                                                f"{gname}_node2vec_dynamics.png", title=gname)
        report["study"] = [{k: v for k, v in r.items() if k not in ("X", "profile", "spectrum")}
                           for r in rows]
    if args.part in ("all", "knobs"):
        print(f"\nknobs: linear network on the 15-cycle, D512, {args.knob_steps} steps")
        print(f"{'knob':42s}{'geo level':>10s}{'skewed margin':>14s}{'top-1':>7s}{'S_2':>7s}"
              f"  verdict (paper)")
        rows = studies.knob_study(steps=args.knob_steps, n_null=args.null, seed=args.seed,
                                  progress=lambda r: print(
                                      f"{r['knob']:42s}{r['geometric_level']:10.3f}"
                                      f"{r['skewed_margin']:14.3f}{r['top1']:7.2f}"
                                      f"{r['spectral_fraction']:7.3f}  {r['verdict']} "
                                      f"({r['paper']})", flush=True))
        report["knobs"] = rows
    if args.part in ("all", "timing"):
        t = studies.timing_contrast(seed=args.seed, n_null=args.null)
        print(f"\ntiming (15-cycle): frozen-embedding associative fit in "
              f"{t['associative_fit_steps']} full-batch steps at lr 0.1; trainable linear "
              f"network (self-edges) geometric (level > null 97.5% = {t['geometric_level_null_high']:.3f}) "
              f"at step {t['geometry_steps']}, full top-k recovery at step "
              f"{t['trainable_fit_steps']}")
        report["timing"] = t
    write_text_atomic(out / "tiny_study.json", json.dumps(report, indent=1, default=float))
    print(f"\ndone in {time.perf_counter() - t0:.0f} s: {out / 'tiny_study.json'}, figures in "
          f"{out / 'figures'}")
    return 0
