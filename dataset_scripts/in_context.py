"""Materialize the in-context path-star baselines G(2,5), G(10,5), G(20,5) (Bachmann & Nagarajan
2024), a fresh random graph per example (and push with --push REPO: REPO-<name>).

    python dataset_scripts/in_context.py --out datasets_out --num-train 200000
"""

import argparse
from functools import partial

from hf_geommem import InContextConfig, build_in_context_task
from hf_geommem.builder import add_materialize_args, materialize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degrees", type=int, nargs="+", default=[2, 10, 20])
    parser.add_argument("--length", type=int, default=5)
    parser.add_argument("--num-train", type=int, default=200_000)
    parser.add_argument("--num-test", type=int, default=2_000)
    parser.add_argument("--num-node-ids", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    add_materialize_args(parser)
    args = parser.parse_args()
    builders = {
        f"in_context_g{d}_{args.length}": partial(build_in_context_task, InContextConfig(
            degree=d, length=args.length, num_train=args.num_train, num_test=args.num_test,
            num_node_ids=args.num_node_ids, seed=args.seed))
        for d in args.degrees
    }
    materialize(builders, args.out, args.push, args.overwrite, args.private)


if __name__ == "__main__":
    main()
