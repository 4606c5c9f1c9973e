"""``hf-geommem models``: the model presets and each family's recipe (plain data: no torch
import)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    sub.add_parser("models", help="list the model presets").set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..presets import PRESETS, RECIPES  # plain data: no torch import to list names

    for p in PRESETS.values():
        print(f"{p.name:16s} {p.arch:7s} layers={p.num_layers:<3d} width={p.width:<4d} "
              f"heads={p.num_heads}")
    print("\nfamily recipes (what `train`, `demo` and `reproduce` use for every flag you do not "
          "give):")
    for r in RECIPES.values():
        print(f"{r.family:7s} {r.describe()}\n        tuned on: {r.tuned_on}")
    return 0
