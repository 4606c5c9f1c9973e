"""Calibration and power of the library's verdicts (issue 16): false-positive rates on four
nulls x ten graphs, detection rates on planted geometry at five noise levels.

    OMP_NUM_THREADS=1 python benchmarks/calibration.py --parts null --out docs/calibration.json
    OMP_NUM_THREADS=1 python benchmarks/calibration.py --parts power --draws 400 \
        --out docs/calibration.json
    python scripts/update_calibration_doc.py docs/calibration.json   # -> docs/calibration.md

Every cell is ``--draws`` independent draws (a fresh embedding and null seed each) scored by
:func:`hf_geommem.calibration.draw_calls` with ``--n-null`` shuffled-node null draws. The JSON is
rewritten (atomically) after each cell, and finished cells are kept on a rerun with the same
settings, so an interrupted run resumes. Prints the seconds per cell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hf_geommem import graphs as G  # noqa: E402
from hf_geommem.calibration import (NULL_KINDS, calibration_cell, null_sampler,  # noqa: E402
                                    planted_sampler)
from hf_geommem.files import write_text_atomic  # noqa: E402

# two sizes of each family; the power table uses the larger
GRAPHS = {
    "path_star_10_4": lambda: G.path_star(10, 4),
    "path_star_30_5": lambda: G.path_star(30, 5),
    "tree_star_3_4": lambda: G.tree_star(3, 4),
    "tree_star_6_5": lambda: G.tree_star(6, 5),
    "grid_4x4": lambda: G.grid(4, 4),
    "grid_8x8": lambda: G.grid(8, 8),
    "cycle_15": lambda: G.cycle(15),
    "cycle_60": lambda: G.cycle(60),
    "erdos_renyi_30_0.15": lambda: G.erdos_renyi(30, 0.15),
    "erdos_renyi_100_0.05": lambda: G.erdos_renyi(100, 0.05),
}
POWER_GRAPHS = ("path_star_30_5", "tree_star_6_5", "grid_8x8", "cycle_60",
                "erdos_renyi_100_0.05")
NOISE_LEVELS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _cell_seed(part: str, graph: str, cell: str) -> int:
    """Position of the cell in the default plan: the seed the default run gives it."""
    plan = [("null", g, k) for g in GRAPHS for k in NULL_KINDS] + [
        ("power", g, str(x)) for g in GRAPHS if g in POWER_GRAPHS for x in NOISE_LEVELS]
    return plan.index((part, graph, cell))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/calibration.json")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--n-null", type=int, default=200)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--parts", default="null,power", help="comma list of null, power")
    ap.add_argument("--graphs", default=",".join(GRAPHS), help="comma list of graph names")
    ap.add_argument("--nulls", default=",".join(NULL_KINDS), help="comma list of null kinds")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    graphs = [g for g in args.graphs.split(",") if g]
    nulls = [k for k in args.nulls.split(",") if k]
    bad = [p for p in parts if p not in ("null", "power")] + [
        g for g in graphs if g not in GRAPHS] + [k for k in nulls if k not in NULL_KINDS]
    if bad:
        ap.error(f"unknown part(s), graph(s) or null(s) {bad}; parts: null, power; graphs: "
                 f"{', '.join(GRAPHS)}; nulls: {', '.join(NULL_KINDS)}")
    out = Path(args.out)
    settings = {"draws": args.draws, "n_null": args.n_null, "dim": args.dim}
    results = json.loads(out.read_text()) if out.is_file() else {}
    for part in parts:  # each part keeps its own settings; other settings: start it over
        if results.get(part, {}).get("settings") != settings:
            results[part] = {"settings": settings, "cells": {}}
    results["environment"] = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                              "python": sys.version.split()[0]}
    jobs = []
    for gname in graphs:
        if "null" in parts:
            jobs += [("null", gname, kind) for kind in nulls]
        if "power" in parts and gname in POWER_GRAPHS:
            jobs += [("power", gname, str(noise)) for noise in NOISE_LEVELS]
    for part, gname, cell in jobs:
        # a cell's seed depends on the cell alone, not on which cells run with it
        seed = _cell_seed(part, gname, cell)
        if cell in results[part]["cells"].get(gname, {}):
            continue
        graph = GRAPHS[gname]()
        t0 = time.perf_counter()
        sampler = null_sampler(cell, graph, args.dim, seed) if part == "null" else \
            planted_sampler(graph, float(cell), args.dim, seed)
        row = calibration_cell(sampler, graph, args.draws, args.n_null, seed)
        row.update(seconds=time.perf_counter() - t0, nodes=graph.num_nodes,
                   edges=int(len(graph.edges)))
        results[part]["cells"].setdefault(gname, {})[cell] = row
        write_text_atomic(out, json.dumps(results, indent=1))
        print(f"{part:5s} {gname:22s} {cell:18s} memory {row['memory_verdict']['rate']:.3f} "
              f"probe {row['probe_layer']['rate']:.3f} nav "
              f"{row.get('navigation', {}).get('rate', float('nan')):.3f} "
              f"({row['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
