"""Materialize the paper's in-weights path-star datasets (and push them with --push REPO).

    python dataset_scripts/path_star.py --preset g5000_5 --out datasets_out
    python dataset_scripts/path_star.py --preset all --push user/hf-geommem-path-star

Presets (science.md section 1-2): G(5000,5) 20,001 nodes, 5 pauses; G(10^4,6) 50,001 nodes,
6 pauses; G(10^4,10) 90,001 nodes, 10 pauses. Both edge directions, 75/25 leaf split.
"""

import argparse
from functools import partial

from hf_geommem import PathTaskConfig, build_task
from hf_geommem.builder import add_materialize_args, materialize

PRESETS = {"g5000_5": (5000, 5, 5), "g10000_6": (10_000, 6, 6), "g10000_10": (10_000, 10, 10)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=[*PRESETS, "all"], default="all")
    parser.add_argument("--seed", type=int, default=0)
    add_materialize_args(parser)
    args = parser.parse_args()
    names = list(PRESETS) if args.preset == "all" else [args.preset]
    builders = {
        f"path_star_{n}": partial(build_task, "path_star", degree=PRESETS[n][0],
                                  length=PRESETS[n][1], seed=args.seed,
                                  paths=PathTaskConfig(num_pauses=PRESETS[n][2], seed=args.seed))
        for n in names
    }
    materialize(builders, args.out, args.push, args.overwrite, args.private)


if __name__ == "__main__":
    main()
