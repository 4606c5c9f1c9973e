"""The ``hf-geommem`` command line: one module per command, each with ``add_parser(sub)`` and
``run(args)``; the commands hold no library logic.

    hf-geommem build path-star --degree 300 --length 5 --out data/g300_5
    hf-geommem build in-context --degree 10 --length 5 --out data/ic_10_5
    hf-geommem train --dataset data/g300_5 --model gpt2-small --out runs/g300_5
    hf-geommem probe --model smollm2 --pack months
    hf-geommem demo
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Sequence

from . import build, demo, intervene, models, plot, probe, reproduce, tiny, train
from .train import train_config as _train_config  # noqa: F401  (the name tests use)

__all__ = ["main", "build_parser"]

COMMANDS = (build, train, models, tiny, plot, probe, demo, intervene, reproduce)
"""The command modules, in ``--help`` order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-geommem", description=__doc__.split("\n")[0] or
                                     "graph memorization tooling")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"hf_geommem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt



# a save that ran out of room: named, not a traceback (the last complete state is kept)
_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large (file-size "
             "limit)", errno.EDQUOT: "disk quota exceeded"}



def _out_of_space(exc: BaseException) -> str | None:
    """What ran out, if ``exc`` (or what caused it) is a full disk or a file-size limit;
    safetensors and torch report the OS error only in their message ("os error 28")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return _NO_SPACE[seen.errno]
        for code, cause in _NO_SPACE.items():
            if f"os error {code})" in str(seen) or os.strerror(code) in str(seen):
                return cause
        seen = seen.__cause__ or seen.__context__
    return None



def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. User errors (bad values, missing or existing paths) print one line and exit
    2; an interrupt (Ctrl-C or SIGTERM) prints one line and exits 130; anything else is a bug
    and keeps its traceback."""
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    except ValueError:  # not the main thread
        previous = None
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError,
            PermissionError, MemoryError) as exc:
        print(f"hf-geommem: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        cause = _out_of_space(exc)
        if cause is None:
            raise
        where = getattr(exc, "filename", None) or getattr(args, "out", None) or "the output"
        print(f"hf-geommem: error: {cause} while writing {where}: free space (or raise the "
              f"limit) and rerun the same command (train: add --resume to go on from its last "
              f"complete checkpoint)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hf-geommem: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

