"""The library's one memory verdict and the all-scores report."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .inputs import _inputs
from .nulls import ALPHA, Score, holm_adjust, significant
from .pathstar import leaf_first_hop, path_distance_matrix
from .recovery import knn_edge_recall, link_prediction_auc, topk_edge_recovery
from .smoothness import (dirichlet_energy, distance_correlation, geometric_level,
                         spectral_energy_fraction, spectral_profile)

__all__ = ["VERDICTS", "VERDICT_SCORES", "VERDICT_RULE", "VERDICT_MIN_NULL", "verdict_scores",
           "verdict_tests", "memory_verdict", "geometry_report"]


VERDICTS = ("geometric", "weakly geometric", "zig-zag", "associative")

VERDICT_SCORES = ("geometric_level", "dirichlet_energy")
"""The one rule for which scores feed :func:`memory_verdict`: the geometric level (neighbours
aligned) and the normalized Dirichlet energy (spread along the graph's smooth directions).
:func:`verdict_scores` computes them; every verdict in the library comes from them."""

VERDICT_RULE = ("the geometric level (two-sided) and the Dirichlet energy, each against its "
                "shuffled-node null, Holm-corrected together so that an embedding with no graph "
                "geometry gets any verdict but associative with probability <= ALPHA: both "
                "significant -> geometric, one -> weakly geometric, neighbours significantly "
                "anti-aligned -> zig-zag, none -> associative")
"""The memory verdict's rule in words, for reports and cards."""

VERDICT_MIN_NULL = int(np.ceil(4 / ALPHA)) - 1
"""The fewest null draws with which :func:`memory_verdict` can reach each of its verdicts: the
level's two-sided permutation p-value is at least ``2 / (n_null + 1)``, and when it is the
smaller of the two p-values Holm's correction doubles it before comparing with ``ALPHA`` (a
"zig-zag" verdict rests on the level alone). 159 at ``ALPHA = 0.025``."""


def verdict_scores(X: Any, graph: Any, n_null: int = 200, seed: int = 0) -> dict[str, Score]:
    """The scores of :data:`VERDICT_SCORES` with their shuffled-node nulls: ``{name: Score}``,
    the input of :func:`memory_verdict` (``memory_verdict(**verdict_scores(X, g))`` is the
    whole verdict of an embedding)."""
    X, g = _inputs(X, graph)
    return {"geometric_level": geometric_level(X, g, n_null, seed),
            "dirichlet_energy": dirichlet_energy(X, g, n_null, seed)}


def _check_verdict_input(score: Score, name: str) -> None:
    if not isinstance(score, Score) or score.name != name:
        got = score.name if isinstance(score, Score) else type(score).__name__
        raise ValueError(f"memory_verdict takes the scores of VERDICT_SCORES "
                         f"{VERDICT_SCORES} (see verdict_scores): expected {name!r}, got "
                         f"{got!r}")
    if score.n_null < VERDICT_MIN_NULL:
        raise ValueError(f"{name} has n_null={score.n_null}: the memory verdict needs at "
                         f"least {VERDICT_MIN_NULL} null draws to reach significance after "
                         f"Holm's correction at ALPHA={ALPHA}")


def verdict_tests(geometric_level: Score, dirichlet_energy: Score) -> dict[str, Any]:
    """The two tests behind :func:`memory_verdict`, Holm-adjusted together.

    Returns:
        ``p_level`` (two-sided: ``min(1, 2 min(p, p_opposite))`` of the level),
        ``p_smoothness`` (one-sided, lower energy), their Holm-adjusted values
        ``p_level_holm`` and ``p_smoothness_holm``, ``level_direction`` (``"aligned"`` when the
        level is above its null's typical values, else ``"anti-aligned"``) and ``p_geometric``:
        the smallest level at which both tests reject with the level aligned (1 otherwise): a
        valid p-value for "this memory is geometric", the one to correct over several
        embeddings (e.g. layers, :func:`holm_adjust`).
    """
    _check_verdict_input(geometric_level, "geometric_level")
    _check_verdict_input(dirichlet_energy, "dirichlet_energy")
    gl = geometric_level
    p_level = min(1.0, 2 * min(gl.p, gl.p_opposite))
    p_smooth = dirichlet_energy.p
    adj_level, adj_smooth = holm_adjust([p_level, p_smooth])
    aligned = gl.p <= gl.p_opposite
    return {"p_level": p_level, "p_smoothness": float(p_smooth),
            "p_level_holm": float(adj_level), "p_smoothness_holm": float(adj_smooth),
            "level_direction": "aligned" if aligned else "anti-aligned",
            "p_geometric": float(max(adj_level, adj_smooth)) if aligned else 1.0}


def memory_verdict(geometric_level: Score, dirichlet_energy: Score,
                   skewed_margin: float | None = None) -> str:
    """The library's one verdict on a memory, from the two scores of :data:`VERDICT_SCORES`
    (:func:`verdict_scores`), calibrated: on an embedding with no graph geometry (rows
    exchangeable) any verdict but ``"associative"`` comes with probability at most
    :data:`ALPHA`.

    Calibration: two tests, the geometric level two-sided (aligned or anti-aligned neighbours)
    and the Dirichlet energy one-sided (smoother than shuffled), each with its shuffled-node
    permutation p-value, combined by Holm's step-down correction (:func:`verdict_tests`): the
    family-wise error over the tests the verdict combines is at most ``ALPHA``.
    ``benchmarks/calibration.py`` measures it (``docs/calibration.md``).

    Args:
        geometric_level: :func:`geometric_level` with at least :data:`VERDICT_MIN_NULL` draws.
        dirichlet_energy: :func:`dirichlet_energy`, likewise.
        skewed_margin: the :func:`skewed_low_rank_margin` of a bilinear model, if any.

    Returns:
        * ``"associative"`` when the skewed low-rank margin is negative (the edges need ``W``'s
          off-diagonal part: the paper's criterion), or neither test rejects;
        * ``"zig-zag"`` when the level test rejects with neighbours *anti*-aligned (strongly
          negative eigen-directions, science.md 8);
        * ``"geometric"`` when both tests reject (level aligned);
        * ``"weakly geometric"`` when exactly one does (level aligned, or the energy alone).
    """
    t = verdict_tests(geometric_level, dirichlet_energy)
    if skewed_margin is not None and skewed_margin < 0:
        return "associative"
    level_hit = significant(t["p_level_holm"])
    if level_hit and t["level_direction"] == "anti-aligned":
        return "zig-zag"
    hits = int(level_hit) + int(significant(t["p_smoothness_holm"]))
    return ("associative", "weakly geometric", "geometric")[hits]


def geometry_report(X: Any, graph: Any, n_null: int = 100, seed: int = 0,
                    arms: np.ndarray | None = None, k: int = 10,
                    scores: tuple[str, ...] | None = None) -> dict[str, Score]:
    """Every applicable geometry score with its null: ``{name: Score}``.

    Path-star views (navigation, path matrix) run on rooted graphs only; scores that need a
    connected graph are computed as documented for disconnected ones (Dirichlet best = 0).
    ``scores`` selects a subset by name."""
    X, g = _inputs(X, graph)
    fns: dict[str, Callable[[], Score]] = {
        "geometric_level": lambda: geometric_level(X, g, n_null, seed),
        "dirichlet_energy": lambda: dirichlet_energy(X, g, n_null, seed),
        "spectral_energy_fraction": lambda: spectral_energy_fraction(
            X, g, min(k, g.num_nodes - 2), n_null, seed),
        "spectral_profile": lambda: spectral_profile(X, g, n_null=n_null, seed=seed),
        "topk_edge_recovery": lambda: topk_edge_recovery(X, g, n_null=n_null, seed=seed),
        "knn_edge_recall": lambda: knn_edge_recall(X, g, n_null=n_null, seed=seed),
        "link_prediction_auc": lambda: link_prediction_auc(X, g, n_null=n_null, seed=seed),
        "distance_correlation": lambda: distance_correlation(X, g, n_null=n_null, seed=seed),
    }
    if g.arms is not None:
        fns["navigation_accuracy"] = lambda: leaf_first_hop(X, g, arms, n_null, seed)
        fns["path_distance_gap"] = lambda: path_distance_matrix(X, g, arms, n_null=n_null,
                                                                seed=seed)
    if scores is not None:
        unknown = set(scores) - set(fns)
        if unknown:
            raise ValueError(f"unknown or inapplicable scores {sorted(unknown)}; available: "
                             f"{sorted(fns)}")
        fns = {name: fns[name] for name in scores}
    return {name: fn() for name, fn in fns.items()}
