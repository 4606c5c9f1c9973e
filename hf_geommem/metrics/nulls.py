"""The null machinery and the one significance rule: :class:`Score`, shuffled-node nulls
(:func:`_with_null`, cached edge-dot draws), :func:`null_score` (a value against given null
draws), :data:`ALPHA`, :func:`significant`, :func:`binomial_p` and :func:`accuracy_p`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["ALPHA", "significant", "binomial_p", "accuracy_p", "permutation_p", "holm_adjust",
           "Score", "null_score"]


ALPHA = 0.025
"""The one significance level of the library: a result is significant when its one-sided
p-value (permutation p against the shuffled-node null, or binomial p against chance) is at most
``ALPHA``. One-sided 0.025 is the two-sided 5% test, i.e. beyond the null's 97.5% quantile; a
permutation null needs at least ``1 / ALPHA - 1 = 39`` draws before anything can be
significant."""


def significant(p: float) -> bool:
    """The library's significance rule: ``p <= ALPHA`` (NaN, i.e. no test, is never
    significant)."""
    return bool(p <= ALPHA)


def permutation_p(value: float, null: np.ndarray, higher: bool = True, tol: float = 0.0
                  ) -> float:
    """One-sided permutation p-value ``(1 + #{null at least as extreme}) / (len(null) + 1)``;
    ``higher``: larger is more extreme; ``tol``: null values within ``tol`` of ``value`` count
    as ties (for values computed by different float paths)."""
    null = np.asarray(null, dtype=np.float64)
    more = (null >= value - tol) if higher else (null <= value + tol)
    return float((1 + more.sum()) / (len(null) + 1))


def binomial_p(successes: int, trials: int, chance: float) -> float:
    """One-sided binomial p-value of ``successes`` out of ``trials`` against the chance rate
    ``chance`` (``P(X >= successes)``): the test behind "above chance" for accuracies."""
    from scipy.stats import binomtest

    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in 0..{trials}, got {successes}")
    if not 0 < chance < 1:
        raise ValueError(f"chance must be in (0, 1), got {chance}")
    return float(binomtest(int(successes), int(trials), float(chance),
                           alternative="greater").pvalue)


def accuracy_p(accuracy: float, trials: int, chance: float) -> float:
    """:func:`binomial_p` of an accuracy measured on ``trials`` items: is it above ``chance``?
    (the successes are ``round(accuracy * trials)``)."""
    return binomial_p(int(round(accuracy * trials)), trials, chance)


def holm_adjust(pvalues: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given): with ``p_(1) <= ... <= p_(m)``,
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting every test whose adjusted
    p is at most ``ALPHA`` keeps the family-wise error rate (any false rejection) at most
    ``ALPHA`` under any dependence between the tests. NaN (no test) is treated as 1."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if np.any(p < 0):
        raise ValueError(f"p-values must be >= 0, got {p.tolist()}")
    p = np.where(np.isnan(p), 1.0, p)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


@dataclass
class Score:
    """A score with its shuffled-node null.

    Attributes:
        name: score name.
        value: the score on the given representations.
        null_mean, null_std: mean and std over ``n_null`` row permutations.
        null_low, null_high: 2.5% and 97.5% quantiles of the null.
        z: ``(value - null_mean) / null_std`` (``inf`` if the null has no spread).
        p: one-sided permutation p-value in the geometric direction,
            ``(1 + #{null at least as geometric}) / (n_null + 1)``.
        p_opposite: the same in the other direction (``#{null at most as geometric}``): small
            when the value is significantly *anti*-geometric (e.g. neighbours anti-aligned).
        higher_is_geometric: direction of the score.
        best: best achievable value (e.g. the Laplacian eigenmap's), if known.
        chance: analytic chance level, if known.
        n_null: number of null draws (0: no null computed).
        details: extra outputs (per-node values, matrices, eigenvalues, ...).
    """

    name: str
    value: float
    null_mean: float = float("nan")
    null_std: float = float("nan")
    null_low: float = float("nan")
    null_high: float = float("nan")
    z: float = float("nan")
    p: float = float("nan")
    p_opposite: float = float("nan")
    higher_is_geometric: bool = True
    best: float | None = None
    chance: float | None = None
    n_null: int = 0
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def significant(self) -> bool:
        """True when the value is significantly geometric: :func:`significant` of ``p``
        (False without a null)."""
        return self.n_null > 0 and significant(self.p)

    @property
    def significant_opposite(self) -> bool:
        """True when the value is significantly on the non-geometric side of the null."""
        return self.n_null > 0 and significant(self.p_opposite)

    def as_dict(self, with_details: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_details:
            d.pop("details")
        return d


def _with_null(name: str, value: float, draw: Callable[[np.ndarray], float], n: int,
               n_null: int, seed: int, higher: bool, best: float | None = None,
               chance: float | None = None, details: dict | None = None) -> Score:
    """Evaluate ``draw(perm)`` for ``n_null`` random permutations and summarize."""
    if n_null < 0:
        raise ValueError(f"n_null must be >= 0, got {n_null}")
    score = Score(name, float(value), higher_is_geometric=higher, best=best, chance=chance,
                  n_null=n_null, details=details or {})
    if n_null == 0:
        return score
    rng = np.random.default_rng(seed)
    null = np.array([draw(rng.permutation(n)) for _ in range(n_null)], dtype=np.float64)
    return _summarize(score, null)


def null_score(name: str, value: float, null: Any, higher: bool = True, tol: float = 0.0,
               chance: float | None = None) -> Score:
    """A :class:`Score` of ``value`` against null draws made elsewhere (random frames, random
    stand-ins, ...): the one null summary (mean, ``ALPHA`` / ``1 - ALPHA`` quantiles,
    permutation p with tolerance ``tol``). No draws: a score without a null (NaN summary)."""
    null = np.asarray(null, dtype=np.float64).ravel()
    score = Score(name, float(value), higher_is_geometric=higher, chance=chance,
                  n_null=len(null))
    return _summarize(score, null, tol) if len(null) else score


def _summarize(score: Score, null: np.ndarray, tol: float = 0.0) -> Score:
    n_null, higher = len(null), score.higher_is_geometric
    score.null_mean, score.null_std = float(null.mean()), float(null.std(ddof=1)) \
        if n_null > 1 else 0.0
    score.null_low, score.null_high = (float(q) for q in np.quantile(null, [ALPHA, 1 - ALPHA]))
    diff = score.value - score.null_mean
    score.z = float(diff / score.null_std) if score.null_std > 0 else (
        0.0 if diff == 0 else float(np.sign(diff)) * float("inf"))
    score.p = permutation_p(score.value, null, higher, tol)
    score.p_opposite = permutation_p(score.value, null, not higher, tol)
    score.details["null"] = null
    return score


NULL_MAX_EDGES = 16_384


def _edge_dot_null(Y: np.ndarray, u: np.ndarray, v: np.ndarray, seed: int,
                   max_edges: int = NULL_MAX_EDGES) -> Callable[[np.ndarray], float]:
    """``draw(perm)`` = mean over all edges of ``y_perm[a] . y_perm[b]`` under a row permutation.

    Small graphs: exact (every edge). Graphs with more than ``max_edges`` edges: with
    ``y = mu + r`` the sum splits into ``|E| ||mu||^2``, a node term ``sum_i deg(i) mu.r_perm(i)``
    (exact, O(n)) and the cross term ``sum_e r_a . r_b``. Only the cross term is estimated, on a
    fixed random subset of ``s`` edges, rescaled around its exact permutation mean
    ``-sum ||r||^2 / (n (n-1))`` by ``sqrt(s / |E|)``: cross terms of distinct edges are
    uncorrelated under the null (their covariance is O(1/n)), so the draw has the full
    statistic's mean and, up to O(1/n), its spread, at a fraction of the cost."""
    n, E = Y.shape[0], len(u)
    if E <= max_edges:
        return lambda p: float(np.einsum("ij,ij->i", Y[p[u]], Y[p[v]]).mean())
    Y64 = Y.astype(np.float64)
    mu = Y64.mean(axis=0)
    R = (Y64 - mu).astype(np.float32)
    node = (Y64 - mu) @ mu
    deg = np.bincount(np.concatenate([u, v]), minlength=n).astype(np.float64)
    keep = np.sort(np.random.default_rng(seed + 7).choice(E, max_edges, replace=False))
    su, sv = u[keep], v[keep]
    cross_mean = -float((R.astype(np.float64) ** 2).sum()) / (n * (n - 1))
    shrink = np.sqrt(max_edges / E)

    def draw(p: np.ndarray) -> float:
        cross = float(np.einsum("ij,ij->i", R[p[su]], R[p[sv]]).mean())
        return float(mu @ mu + (deg @ node[p]) / E + cross_mean + (cross - cross_mean) * shrink)

    return draw
