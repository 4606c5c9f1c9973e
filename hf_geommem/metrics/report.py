"""The library's one memory verdict and the all-scores report."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .inputs import _inputs
from .nulls import Score
from .pathstar import leaf_first_hop, path_distance_matrix
from .recovery import knn_edge_recall, link_prediction_auc, topk_edge_recovery
from .smoothness import (dirichlet_energy, distance_correlation, geometric_level,
                         spectral_energy_fraction, spectral_profile)

__all__ = ["VERDICTS", "memory_verdict", "geometry_report"]


VERDICTS = ("geometric", "weakly geometric", "zig-zag", "associative")


def memory_verdict(level: Score, smoothness: Score, skewed_margin: float | None = None) -> str:
    """The library's one verdict on a memory, from two geometry scores with nulls.

    Args:
        level: :func:`geometric_level` (neighbours aligned).
        smoothness: a score of spread along the graph's smooth directions
            (:func:`spectral_energy_fraction` or :func:`dirichlet_energy`).
        skewed_margin: the :func:`skewed_low_rank_margin` of a bilinear model, if any.

    Returns:
        * ``"associative"`` when the skewed low-rank margin is negative (the edges need ``W``'s
          off-diagonal part: the paper's criterion), or neither score is significant;
        * ``"zig-zag"`` when neighbours are significantly *anti*-aligned (strongly negative
          eigen-directions, science.md 8);
        * ``"geometric"`` when both scores are significant (:data:`ALPHA`);
        * ``"weakly geometric"`` when exactly one is.
    """
    if skewed_margin is not None and skewed_margin < 0:
        return "associative"
    if level.significant_opposite:
        return "zig-zag"
    hits = int(level.significant) + int(smoothness.significant)
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
