"""Materialize the four tiny graphs of the geometry studies, edge memorization only, both
directions, canonical ids (and push with --push REPO: one repo per graph, REPO-<name>).

    python dataset_scripts/tiny_graphs.py --out datasets_out [--self-edges]

4-arm path-star G(4,5) (17 nodes), 4x4 grid, 15-cycle, 16-node irregular graph.
"""

import argparse
from functools import partial

from hf_geommem import EdgeTaskConfig, build_task
from hf_geommem.builder import add_materialize_args, materialize
from hf_geommem.graphs import tiny_graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-edges", action="store_true")
    add_materialize_args(parser)
    args = parser.parse_args()
    builders = {
        name: partial(build_task, graph, edges=EdgeTaskConfig(self_edges=args.self_edges),
                      paths=False)
        for name, graph in tiny_graphs().items()
    }
    materialize(builders, args.out, args.push, args.overwrite, args.private)


if __name__ == "__main__":
    main()
