"""``hf-geommem intervene``: is the geometry used? Subspace ablation and stand-in tests on a
training run, or the stand-in test on a pretrained checkpoint with a probe pack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .options import count_arg, seed_arg

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    iv = sub.add_parser("intervene", help="is the geometry used? subspace ablation and "
                                          "stand-in tests on a run (or a pretrained pack)")
    iv.add_argument("run_dir", help="run folder with model + tokenizer (e.g. outputs/demo/model);"
                                    " with --pack: a model folder, Hub id or 'smollm2'")
    iv.add_argument("--test", choices=["ablate", "stand-in"],
                    help="default: ablate on a trained run; stand-in with --pack (the only test "
                         "a pretrained checkpoint gets)")
    iv.add_argument("--dataset", help="task folder (default: the one the run recorded)")
    iv.add_argument("--layer", type=seed_arg, default=0,
                    help="site: 0 = token embeddings, L = output of decoder block L")
    iv.add_argument("--k", type=count_arg,
                    help="directions ablated (default min(K, arms - 1, width), K = "
                         "hf_geommem.interventions.DEFAULT_K, chosen by power in "
                         "docs/use_power.md; for laplacian min(K, width)); the figure sweeps "
                         "k = 1, 2, 4, ... up to it")
    iv.add_argument("--method", choices=["arm-means", "laplacian"], default="arm-means",
                    help="geometric directions: principal directions of the arm means, or of "
                         "the projection onto the smoothest Laplacian eigenspaces")
    iv.add_argument("--positions", choices=["source", "all"], default="source",
                    help="ablate at the leaf's position only, or at every node token")
    iv.add_argument("--null", type=count_arg, default=100, help="null draws")
    iv.add_argument("--curve-null", type=count_arg, default=20,
                    help="null draws per k in the figure")
    iv.add_argument("--pack", help="pretrained checkpoint: probe pack for the stand-in test")
    iv.add_argument("--template", help="with --pack: prompt with a checkable next-entity "
                                       "answer (default: the pack's answer_prompt)")
    iv.add_argument("--gguf-file", help="GGUF file inside the model folder (with --pack)")
    iv.add_argument("--out", help="folder for the JSON and figure (default RUN/interventions, "
                                  "or outputs/intervene with --pack)")
    iv.add_argument("--seed", type=seed_arg, default=0)
    iv.set_defaults(func=run)


def _table(res: dict[str, Any]) -> None:
    for key, v in res.items():
        print(f"  {key:32s} {f'{v:.4f}' if isinstance(v, float) else str(v)}")


def run(args: argparse.Namespace) -> int:
    from ..files import check_output_path
    from ..training.run_folder import load_run, run_folder

    if args.pack:
        return _pack_test(args)
    run = run_folder(args.run_dir)
    out = check_output_path(run / "interventions" if args.out is None else args.out, "--out")
    # the run's own task: checked against its fingerprint
    model, task = load_run(run, args.dataset)
    if args.test == "stand-in":
        return _stand_in(args, model, task, out)
    return _ablation(args, model, task, run, out)


def _pack_test(args: argparse.Namespace) -> int:
    """The stand-in test on a pretrained checkpoint with a probe pack."""
    from .. import interventions as iv
    from ..files import check_output_path, write_text_atomic
    from ..probing import check_entities_known, get_pack, load_model

    if args.test == "ablate":
        raise ValueError("--pack runs the stand-in test only: got --test ablate, expected "
                         "--test stand-in or no --test")
    pack = get_pack(args.pack)
    template = args.template or pack.answer_prompt
    if template is None:
        raise ValueError(f"pack {pack.name!r} has no default checkable prompt: pass "
                         f"--template")
    out = check_output_path("outputs/intervene" if args.out is None else args.out, "--out")
    model, tok, _ = load_model(args.run_dir, args.gguf_file)
    check_entities_known(tok, pack.entities)
    res = iv.pack_stand_in_test(model, tok, pack, template, args.layer, n_null=args.null,
                                seed=args.seed)
    print(f"stand-in test, pack {pack.name!r}, prompt {template!r}, layer {args.layer}:")
    _table(res)
    if not res["significant_entity"]:
        print(f"warning: the unpatched model answers {100 * res['entity_acc']:.0f}% of the "
              f"prompts (chance {100 * res['chance']:.0f}%, p {res['p_entity_vs_chance']:.3g}):"
              f" the stand-in test says nothing here; try another --template",
              file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)  # only once there is a result to write
    path = write_text_atomic(out / f"stand_in_{pack.name}_layer{args.layer}.json",
                             json.dumps(res, indent=2))
    print(path)
    return 0


def _stand_in(args: argparse.Namespace, model: Any, task: Any, out: Path) -> int:
    from .. import interventions as iv
    from ..files import write_text_atomic

    res = iv.stand_in_test(model, task, n_null=args.null, seed=args.seed, layer=args.layer)
    print(f"stand-in test on {res['n_arms']} held-out arms, layer {args.layer} "
          f"(chance 1/d = {res['chance']:.4f}):")
    print(f"  {'stand-in':12s} {'v1 forced':>10s} {'v1 decoded':>11s}")
    for name in ("leaf", "centroid", "middle", "other_leaf"):
        print(f"  {name:12s} {res[name + '_v1']:>10.4f} {res[name + '_v1_decoded']:>11.4f}")
    print(f"  {'random':12s} {res['random_v1_mean']:>10.4f} "
          f"{res['random_v1_decoded_mean']:>11.4f}  (mean of {args.null}; 97.5% "
          f"{res['random_v1_q975']:.4f})")
    for name in ("centroid", "middle"):
        print(f"  {name}: p vs random {res[f'p_{name}_vs_random']:.4g}, p vs chance "
              f"{res[f'p_{name}_vs_chance']:.3g}, significant "
              f"{res[f'significant_{name}']}")
    out.mkdir(parents=True, exist_ok=True)  # only once there is a result to write
    print(write_text_atomic(out / f"stand_in_layer{args.layer}.json",
                            json.dumps(res, indent=2)))
    return 0


def _ablation(args: argparse.Namespace, model: Any, task: Any, run: Path, out: Path) -> int:
    from .. import interventions as iv
    from ..files import write_text_atomic

    res = iv.ablation_test(model, task, k=args.k, n_null=args.null, seed=args.seed,
                           layer=args.layer, method=args.method, positions=args.positions)
    print(f"ablation of k={res['k']} {args.method} directions at layer {args.layer} "
          f"({args.positions} positions), {res['n_arms']} held-out arms, {args.null} random "
          f"frames of matched variance (share {res['variance_share']:.4f} geometric, "
          f"{res['null_variance_share']:.4f} random):")
    print(f"  {'metric':10s} {'base':>7s} {'ablated':>8s} {'drop':>7s} {'null mean':>10s} "
          f"{'null 97.5%':>11s} {'p':>8s} significant")
    for key in ("v1", "exact"):
        print(f"  {key:10s} {res[f'base_{key}']:>7.4f} {res[f'ablated_{key}']:>8.4f} "
              f"{res[f'drop_{key}']:>7.4f} {res[f'null_drop_{key}_mean']:>10.4f} "
              f"{res[f'null_drop_{key}_q975']:>11.4f} {res[f'p_{key}']:>8.4g} "
              f"{res[f'significant_{key}']}")
    ks, k = [], 1
    while k < res["k"]:
        ks.append(k)
        k *= 2
    ks.append(res["k"])
    curve = iv.ablation_curve(model, task, ks, n_null=args.curve_null, seed=args.seed,
                              layer=args.layer, method=args.method, positions=args.positions)
    print(f"  {'k':>4s} {'geo v1':>7s} {'rand v1':>8s} {'geo exact':>10s} {'rand exact':>11s}")
    for r in curve:
        print(f"  {r['k']:>4d} {r['geo_v1']:>7.4f} {r['null_v1_mean']:>8.4f} "
              f"{r['geo_exact']:>10.4f} {r['null_exact_mean']:>11.4f}")
    out.mkdir(parents=True, exist_ok=True)
    fig = iv.plot_ablation_curve(curve, out / f"ablation_layer{args.layer}.png",
                                 f"{run.name}: {args.method} vs random ablation, layer "
                                 f"{args.layer}")
    path = write_text_atomic(out / f"ablation_layer{args.layer}.json",
                             json.dumps({"test": res, "curve": curve}, indent=2))
    print(path)
    print(fig)
    return 0
