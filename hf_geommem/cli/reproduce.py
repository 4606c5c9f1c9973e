"""``hf-geommem reproduce``: every claim of the paper (:mod:`hf_geommem.reproduce`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    rp = sub.add_parser("reproduce", help="every claim of the paper: runs, REPORT.md, figures")
    from ..reproduce.presets import REPRODUCTION_PRESETS

    rp.add_argument("--preset", choices=list(REPRODUCTION_PRESETS), default="cpu",
                    help="smoke: toy sizes (~1 min); cpu: G(300,5), 2-layer models with "
                         "their family recipes (one core; see --dry-run for the time); "
                         "cpu-large: claim 1 with gpt2-small on the paper's G(5000,5), the "
                         "rest as cpu; paper: the paper's settings (GPU)")
    rp.add_argument("--out", required=True, help="folder for REPORT.md, results.json, "
                                                 "figures/ and runs/")
    rp.add_argument("--claims", help="comma list of claims to run (default all): 1-8, "
                                     "geometry, use, probe")
    rp.add_argument("--seeds", type=int, help="seeds for every run (default: claim 1's GPT-2 "
                                              "runs the preset's number, the others 1)")
    rp.add_argument("--force", action="store_true", help="redo finished runs")
    rp.add_argument("--dry-run", action="store_true",
                    help="print the plan with a time estimate measured by a few training steps "
                         "on this device; train nothing")
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import parse_claims, run_reproduction

    from ..training import end_distributed

    claims = parse_claims(args.claims)
    t0 = time.perf_counter()
    try:
        res = run_reproduction(args.preset, args.out, claims, args.seeds, args.force,
                               args.dry_run)
    finally:
        # no barrier: a rank done training must not wait out rank 0's scoring and reports
        end_distributed(wait=False)
    if args.dry_run or "verdicts" not in res:  # a plan, or a rank other than 0
        return 0
    print(f"\n{'claim':10s} {'verdict':15s} measured")
    for r in res["verdicts"]:
        print(f"{r['id']:10s} {r['verdict']:15s} {r['measured']}")
    print(f"done in {time.perf_counter() - t0:.0f} s: {Path(args.out) / 'REPORT.md'}, "
          f"results.json, figures/")
    return 0
