"""Time and peak memory of one stage of a benchmark, inside one process (used by
bench_cost_growth.py and bench_paper_stages.py).

Peak memory per stage without a process per stage: Linux resets a process's peak RSS (VmHWM)
when "5" is written to /proc/self/clear_refs (Linux >= 4.0); after the stage, VmHWM is that
stage's peak. Where that is refused, the process's lifetime peak (``ru_maxrss``) is reported and
``peak_is_lifetime`` says so.
"""

from __future__ import annotations

import time
from typing import Any, Callable

GB = 2**30


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``fn()``; return its result and ``{"cpu_s", "wall_s", "peak_rss_gb", "rss_before_gb",
    "peak_is_lifetime"}`` (CPU time of this process: on a shared machine the wall time also
    counts the time other processes held the core)."""
    import resource

    reset = _reset_peak()
    before = _status_kb("VmRSS")
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    hwm = _status_kb("VmHWM") if reset else None
    peak_kb = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out, {"cpu_s": cpu, "wall_s": wall, "peak_rss_gb": peak_kb * 1024 / GB,
                 "rss_before_gb": None if before is None else before * 1024 / GB,
                 "peak_is_lifetime": hwm is None}
