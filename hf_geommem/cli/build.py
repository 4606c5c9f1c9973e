"""``hf-geommem build FAMILY``: build a task dataset folder (Hub layout) and optionally push
it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

from .options import push_or_explain, seed_arg

__all__ = ["add_parser", "run"]

# family -> (graph builder parameters as (flag, type, default, help))
_FAMILY_ARGS: dict[str, list[tuple[str, type, Any, str]]] = {
    "path-star": [("degree", int, None, "number of arms d"),
                  ("length", int, None, "nodes per arm counting the root, l")],
    "tree-star": [("degree", int, None, "root degree d"),
                  ("length", int, None, "nodes per root-to-leaf path counting the root")],
    "grid": [("rows", int, None, "grid rows"), ("cols", int, None, "grid columns")],
    "cycle": [("n", int, None, "cycle length")],
    "irregular16": [],
    "erdos-renyi": [("n", int, None, "number of nodes"),
                    ("p", float, None, "edge probability")],
    "random-regular": [("n", int, None, "number of nodes"), ("degree", int, None, "degree")],
    "edge-list": [("file", str, None, "text file, one 'u v' integer edge per line"),
                  ("root", int, None, "root node (makes the graph a rooted tree for paths)"),
                  ("num-nodes", int, None, "number of nodes (default: max id + 1; needed "
                                           "when ids skip numbers, i.e. isolated nodes)")],
    "in-context": [("degree", int, 2, "arms per graph"), ("length", int, 5, "nodes per arm"),
                   ("num-train", int, 20_000, "train examples"),
                   ("num-test", int, 1_000, "test examples"),
                   ("num-node-ids", int, 100, "node-id vocabulary size")],
}

_PERMUTED_BY_DEFAULT = {"path-star", "tree-star"}



def _add_task_options(p: argparse.ArgumentParser, family: str) -> None:
    p.add_argument("--out", required=True, help="output folder (Hub layout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--push", metavar="REPO", help="also upload to this Hub dataset repo")
    p.add_argument("--private", action="store_true", help="with --push: private repo")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of ids, split and sampling")
    if family == "in-context":
        return
    if family not in ("erdos-renyi", "random-regular", "edge-list"):
        default = family not in _PERMUTED_BY_DEFAULT
        p.add_argument("--canonical-ids", action=argparse.BooleanOptionalAction,
                       default=default, help="keep structural ids instead of a random "
                       f"permutation (default: {default})")
    p.add_argument("--edges", choices=["both", "forward", "backward"], default="both",
                   help="edge directions to memorize")
    p.add_argument("--self-edges", action="store_true", help="add u -> u examples")
    p.add_argument("--no-paths", action="store_true", help="edge memorization only")
    p.add_argument("--path-direction", choices=["forward", "reverse"], default="forward")
    p.add_argument("--pauses", type=int, default=2,
                   help="[PAUSE] tokens after the leaf (default 2: what the demo and the family "
                        "recipes were tuned with; more pauses converge faster)")
    p.add_argument("--target", choices=["full", "first_token"], default="full",
                   help="supervise the whole path or only its first hop")
    p.add_argument("--train-fraction", type=float, default=0.75)
    p.add_argument("--split-by", choices=["leaf", "subtree"], default="leaf")



def add_parser(sub: Any) -> None:
    build = sub.add_parser("build", help="build a task dataset folder")
    fam = build.add_subparsers(dest="family", required=True, metavar="FAMILY",
                               help=", ".join(_FAMILY_ARGS))
    for family, args in _FAMILY_ARGS.items():
        p = fam.add_parser(family, help=f"{family} task")
        for flag, typ, default, help_ in args:
            required = default is None and not (family == "edge-list" and flag != "file")
            p.add_argument(f"--{flag}", type=typ, default=default, required=required, help=help_)
        _add_task_options(p, family)
        p.set_defaults(func=run)


def _make_task(args: argparse.Namespace, progress: Callable[[str], None]):
    from .. import builder, graphs
    from ..tasks import EdgeTaskConfig, InContextConfig, PathTaskConfig

    family = args.family
    if family == "in-context":
        cfg = InContextConfig(degree=args.degree, length=args.length, num_train=args.num_train,
                              num_test=args.num_test, num_node_ids=args.num_node_ids,
                              seed=args.seed)
        task = builder.build_in_context_task(cfg)
        progress("in-context examples")
        return task
    if family == "edge-list":
        graph = graphs.from_edge_list(graphs.read_edge_file(args.file), num_nodes=args.num_nodes,
                                      root=args.root, name=Path(args.file).stem)
    else:
        params = {flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
                  for flag, *_ in _FAMILY_ARGS[family]}
        params["seed"] = args.seed
        if hasattr(args, "canonical_ids"):
            params["canonical_ids"] = args.canonical_ids
        graph = graphs.build_graph(family, **params)
    # unrooted families (grid, cycle, ...) memorize edges only; rooted ones get paths too
    paths: Any = False
    if not args.no_paths and graph.arms is not None:
        paths = PathTaskConfig(direction=args.path_direction, num_pauses=args.pauses,
                               target=args.target, train_fraction=args.train_fraction,
                               split_by=args.split_by, seed=args.seed)
    return builder.build_task(graph, edges=EdgeTaskConfig(args.edges, args.self_edges),
                              paths=paths, progress=progress)



def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..builder import push_task
    from ..files import check_output_dir

    check_output_dir(args.out, args.overwrite)  # fail before any work
    t0 = time.perf_counter()
    stages = ["graph", "edges", "paths", "graph table", "tokenizer", "save"]
    with tqdm(total=len(stages), desc=f"build {args.family}", unit="stage") as bar:
        def progress(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        task = _make_task(args, progress)
        task.save_to_folder(args.out, overwrite=args.overwrite)
        bar.n = bar.total
        bar.set_postfix_str("saved")
        bar.refresh()
    elapsed = time.perf_counter() - t0
    print(task.summary())
    print(f"saved to {args.out} in {elapsed:.2f} s")
    if args.push:
        return push_or_explain(lambda: push_task(args.out, args.push, private=args.private), args.out,
                     args.push, "dataset", args.private)
    return 0
