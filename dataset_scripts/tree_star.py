"""Materialize tree-star T(d, l) datasets with both hold-out modes (and push with --push REPO).

    python dataset_scripts/tree_star.py --degree 500 --length 6 --out datasets_out

Two datasets: ``tree_star_subtree`` holds out whole subtrees under a root child ("split at first
token", the hardest), ``tree_star_leaf`` holds out random leaves.
"""

import argparse
from functools import partial

from hf_geommem import PathTaskConfig, build_task
from hf_geommem.builder import add_materialize_args, materialize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree", type=int, default=500)
    parser.add_argument("--length", type=int, default=6)
    parser.add_argument("--pauses", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_materialize_args(parser)
    args = parser.parse_args()
    builders = {
        f"tree_star_{split}": partial(
            build_task, "tree_star", degree=args.degree, length=args.length, seed=args.seed,
            paths=PathTaskConfig(num_pauses=args.pauses, split_by=split, seed=args.seed))
        for split in ("subtree", "leaf")
    }
    materialize(builders, args.out, args.push, args.overwrite, args.private)


if __name__ == "__main__":
    main()
