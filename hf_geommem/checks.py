"""The one validator style of the library: a bad argument is a ``ValueError`` that names the
parameter, the value received and what was expected. Imports nothing of the package, so every
room (graphs upward) can use it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_int"]


def check_int(name: str, value: Any, low: int = 1, high: int | None = None,
              detail: str = "") -> int:
    """``value`` as an ``int`` in ``low..high`` (no upper bound when ``high`` is None), else a
    ``ValueError``: ``"<name> must be an integer >= <low>, got <value>"`` (or ``in
    <low>..<high>``), with ``detail`` (e.g. ``" (the graph has 3 arms)"``) after what is
    expected. Booleans are refused; numpy integers are accepted."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {expected}{detail}, got {value!r}")
    return int(value)
