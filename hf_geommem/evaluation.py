"""``evaluate`` modules of hf_geommem: paths for ``evaluate.load`` (offline) and the classes.

    import evaluate
    from hf_geommem.evaluation import module_path
    gm = evaluate.load(module_path("geometric_memory"))
    pa = evaluate.load(module_path("path_accuracy"))

or directly: ``GeometricMemory().compute(...)``, ``PathAccuracy().compute(...)``.
"""

from __future__ import annotations

from pathlib import Path

from .evaluate_modules.geometric_memory.geometric_memory import GeometricMemory
from .evaluate_modules.path_accuracy.path_accuracy import PathAccuracy

__all__ = ["module_path", "GeometricMemory", "PathAccuracy", "MODULES"]

MODULES = ("geometric_memory", "path_accuracy")


def module_path(name: str) -> str:
    """Folder of a bundled evaluate module, for ``evaluate.load``."""
    if name not in MODULES:
        raise ValueError(f"unknown evaluate module {name!r}; expected one of {list(MODULES)}")
    return str(Path(__file__).parent / "evaluate_modules" / name)
