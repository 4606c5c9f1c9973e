"""Lazy public names for packages: a name loads its module on first use, so importing a
package (``hf_geommem``, ``hf_geommem.training``) stays cheap for the CLI's parser."""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, where: dict[str, str], namespace: dict[str, Any]
                 ) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` (PEP 562) for ``package``: ``where`` maps a public name
    to the submodule that defines it; a loaded name is cached in ``namespace`` (the package's
    ``globals()``)."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(f".{where[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
