"""What a run's numbers depend on besides its settings: the CPU model and the instruction set
torch dispatches to. Same seed and versions give bit-identical curves on one machine, but
kernels built for AVX2 and AVX-512 round differently, so curves differ across CPU types."""

from __future__ import annotations

import platform
from pathlib import Path

__all__ = ["cpu_environment"]


def _cpu_model() -> str:
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_environment() -> dict[str, str]:
    """``{"cpu": model name, "cpu_capability": torch's CPU kernel level (e.g. "AVX2")}``."""
    import torch

    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # older torch builds
        capability = "unknown"
    return {"cpu": _cpu_model(), "cpu_capability": capability}
