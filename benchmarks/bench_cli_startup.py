"""CLI start-up: wall time and import time of `hf-geommem --help`, `models`, an argument error
and `build` of a 13-node graph (issue: a CLI that answers at once).

    OMP_NUM_THREADS=1 python benchmarks/bench_cli_startup.py [--repeat 5] [--tree DIR]

Each command runs in a fresh interpreter `--repeat` times; the script prints the median wall time
and, from `python -X importtime`, the cumulative import time of the `hf_geommem.cli` module and
of the whole command's imports. `--tree DIR` runs another checkout's code (e.g. an older commit
in a git worktree) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "--help": ["--help"],
    "models": ["models"],
    "argument error": ["train", "--lr"],
    "build 13-node graph": ["build", "path-star", "--degree", "4", "--length", "4", "--out",
                            "{tmp}/g", "--overwrite"],
}


def _run(args: list[str], env: dict, importtime: bool, cwd: str) -> tuple[float, str]:
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + \
        ["-c", "import sys; from hf_geommem.cli import main; sys.exit(main(sys.argv[1:]))",
         *args]
    t0 = time.perf_counter()
    # cwd outside any checkout: `python -c` puts the cwd first on sys.path
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    return time.perf_counter() - t0, out.stderr


def _total_import_us(stderr: str) -> int:
    """Sum of the top-level (cumulative) import times in an -X importtime log."""
    total = 0
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m:  # nested imports are indented, so `\S` only matches top-level lines
            total += int(m.group(1))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", help="checkout whose hf_geommem to run (default: installed)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    if args.tree:
        env["PYTHONPATH"] = os.path.abspath(args.tree)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'command':22s} {'median wall s':>14s} {'import time s (all)':>20s}")
        for name, argv in COMMANDS.items():
            argv = [a.replace("{tmp}", tmp) for a in argv]
            walls = [_run(argv, env, False, tmp)[0] for _ in range(args.repeat)]
            _, log = _run(argv, env, True, tmp)
            print(f"{name:22s} {statistics.median(walls):14.3f} "
                  f"{_total_import_us(log) / 1e6:20.3f}")


if __name__ == "__main__":
    main()
