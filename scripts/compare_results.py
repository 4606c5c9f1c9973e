"""Compare two reproduction ``results.json`` files, ignoring what may differ between two runs
of the same code: timings, the output folder and run reuse.

    python scripts/compare_results.py /tmp/smoke_before/results.json /tmp/smoke_after/results.json

Prints every differing path and exits 1 when there is one, 0 when the results are identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TIMING_KEYS = {"wall_seconds", "train_seconds", "seconds", "reused"}


def _normalized(obj: Any, root: str) -> Any:
    if isinstance(obj, dict):
        return {k: _normalized(v, root) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_normalized(v, root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(root, "<out>")
    return obj


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths at which ``a`` and ``b`` differ (NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in one" for k in sorted(set(a) ^ set(b))]
        for k in a:
            if k in b:
                out += differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if a != b and not (a != a and b != b):  # NaN != NaN
        return [f"{path}: {a!r} != {b!r}"]
    return []


def load(path: str) -> Any:
    p = Path(path)
    return _normalized(json.loads(p.read_text()), str(p.resolve().parent))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    diffs = differences(load(argv[0]), load(argv[1]))
    for d in diffs:
        print(d)
    print(f"{len(diffs)} difference(s) (timings, the output folder and reuse ignored)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
