"""What a claim is: :class:`Claim` (its statement, the runs it needs, and the functions that
give its checks, its setting text, its details table and its figures), :class:`Check`, the
one verdict rule :func:`claim_verdict`, and the number formats every claim's text shares.

Every check uses the library's one significance rule (:data:`hf_geommem.metrics.ALPHA`,
one-sided: binomial against chance for accuracies, :func:`accuracy_p`; the shuffled-node
permutation null for geometry scores) and its one memory verdict
(:func:`hf_geommem.metrics.memory_verdict`: :data:`VERDICT_RULE`); "high accuracy" means at
least :data:`HIGH_ACCURACY`; several seeds follow :data:`SEED_RULE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..metrics import accuracy_p, significant
from ..metrics import VERDICT_RULE as _METRIC_RULE
from .presets import Preset

__all__ = ["Check", "Claim", "claim_verdict", "HIGH_ACCURACY", "SEED_RULE", "VERDICT_RULE",
           "Results", "pct", "spread", "above_chance", "first_run", "nav", "seed_verdicts",
           "geometry_cells", "value_p"]

SEED_RULE = ("a check passes only when it passes in every seed (the all-seeds rule, the same "
             "for every claim); per-seed verdicts are listed, and seeds that disagree are "
             "flagged")
"""How several seeds reach a claim verdict."""

VERDICT_RULE = f"`metrics.memory_verdict` of `metrics.VERDICT_SCORES`: {_METRIC_RULE}"
"""How the report states the memory verdict (``docs/calibration.md`` measures it)."""

HIGH_ACCURACY = 0.8
""""High" held-out accuracy (the paper reports up to 100%): the bar of claims 1, 4 and 5."""

Results = dict[str, list[dict]]
"""A reproduction's runs: run name -> one record per seed (``results["runs"]``)."""


@dataclass
class Check:
    """One test inside a claim: ``passed`` and the numbers it came from."""

    what: str
    passed: bool


def _no_figures(results: dict[str, Any], fdir: Path) -> list[str]:
    return []


def _no_details(results: dict[str, Any]) -> list[str]:
    return []


@dataclass
class Claim:
    """A claim of the paper, whole: its statement, the paper's number, the runs it needs
    (``needs``; ``optional`` ones a preset may lack, as the paper preset has no Llama), and

    * ``evaluate(runs) -> {"measured", "reference", "checks"}`` (pure),
    * ``setting(preset) -> str``: the setting it ran in, for the report's table,
    * ``details(results) -> list[str]``: the report section's Markdown lines below the checks,
    * ``figures(results, fdir) -> list[str]``: draws its figures into ``fdir``, returns the
      file names.
    """

    id: str
    statement: str
    paper: str
    needs: tuple[str, ...]
    evaluate: Callable[[Results], dict[str, Any]]
    setting: Callable[[Preset], str]
    optional: tuple[str, ...] = ()
    details: Callable[[dict[str, Any]], list[str]] = _no_details
    figures: Callable[[dict[str, Any], Path], list[str]] = _no_figures


def claim_verdict(checks: list[Check]) -> str:
    """The one rule from checks to a claim verdict: all pass -> ``reproduced``, some ->
    ``partly``, none (or no checks) -> ``not reproduced``."""
    passed = sum(c.passed for c in checks)
    if checks and passed == len(checks):
        return "reproduced"
    return "partly" if passed else "not reproduced"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def spread(values: list[float]) -> str:
    """mean (min-max, n) in percent."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{pct(v[0])} (n=1)"
    return f"{pct(v.mean())} ({pct(v.min())}-{pct(v.max())}, n={len(v)})"


def above_chance(run: dict, key: str = "eval_exact_path") -> tuple[bool, float]:
    f = run["final"]
    n = run.get("num_test_arms") or 0
    if not n or f.get("chance") is None:
        return False, float("nan")
    p = accuracy_p(f[key], n, f["chance"])
    return significant(p), p


def first_run(R: dict, name: str) -> dict:
    if not R.get(name):
        raise KeyError(f"results lack the {name!r} run")
    return R[name][0]


def nav(run: dict, part: str = "embedding") -> dict:
    return run["geometry"][part]["navigation_accuracy"]


def seed_verdicts(verdicts: list[str]) -> str:
    return ", ".join(verdicts) + (" (seeds disagree)" if len(set(verdicts)) > 1 else "")


def geometry_cells(geo: dict | None) -> tuple[str, str, str, str]:
    """Navigation, geometric level, Dirichlet energy (each with the null's bound in the
    direction that counts) and the memory verdict of one run's embedding geometry."""
    if geo is None:
        return ("n/a",) * 4
    nav, level, energy = (geo[k] for k in ("navigation_accuracy", "geometric_level",
                                          "dirichlet_energy"))
    return (f"{pct(nav['value'])} ({pct(nav['null_high'])})",
            f"{level['value']:.3f} ({level['null_high']:.3f})",
            f"{energy['value']:.3f} ({energy['null_low']:.3f})", geo["verdict"])


def value_p(score: dict) -> str:
    return f"{score['value']:.3f} ({score['p']:.3g})"


