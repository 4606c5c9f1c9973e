"""Memorization and geometry metrics: plain numpy functions with documented return values.

Inputs are node representations ``X`` (``n x m`` numpy array or torch tensor; row ``i`` is node
``i``) and a graph (a :class:`~hf_geommem.graphs.Graph`, an ``(E, 2)`` edge list, a networkx
graph, the ``graph`` config of one of our datasets, or a loaded task). Nothing forms an ``n x n``
matrix on big graphs: similarities are computed blockwise or on sampled pairs.

Every geometry score returns a :class:`Score`: its value, a shuffled-node null (rows of ``X``
permuted: mean, std, 2.5/97.5% quantiles, z and a one-sided permutation p-value in the
geometric direction) and, where one exists, the best achievable value. The nulls reuse what the
score computed once (neighbour lists, sampled pairs) whenever permuting rows allows it, so 100
draws stay cheap on 90,001-node graphs.

The paper's metrics (science.md section 6): :func:`topk_edge_recovery`,
:func:`geometric_level`, :func:`spectral_profile`, :func:`leaf_first_hop` (navigation accuracy),
:func:`path_distance_matrix`, :func:`edge_margin` and :func:`skewed_low_rank_margin`. Standard
scores: :func:`dirichlet_energy`, :func:`spectral_energy_fraction`, :func:`knn_edge_recall`,
:func:`link_prediction_auc`, :func:`distance_correlation`. :func:`geometry_report` runs all that
apply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .graphs import Graph, from_edge_list, from_networkx
from .spectral import (
    DENSE_LIMIT,
    combinatorial_laplacian,
    group_eigenvalues,
    paper_laplacian,
    smallest_eigenvectors,
)

__all__ = [
    "Score",
    "ALPHA",
    "significant",
    "binomial_p",
    "memory_verdict",
    "VERDICTS",
    "as_graph",
    "as_representations",
    "prepare_representations",
    "edge_recovery_from_topk",
    "topk_edge_recovery",
    "geometric_level",
    "dirichlet_energy",
    "spectral_energy_fraction",
    "spectral_profile",
    "knn_edge_recall",
    "link_prediction_auc",
    "distance_correlation",
    "leaf_first_hop",
    "path_distance_matrix",
    "edge_margin",
    "skewed_low_rank_margin",
    "geometry_report",
]

_BLOCK = 512  # rows per block for blockwise similarity products (block x n floats)


# ---------------------------------------------------------------------- significance
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


# ---------------------------------------------------------------------- results
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
    score.null_mean, score.null_std = float(null.mean()), float(null.std(ddof=1)) \
        if n_null > 1 else 0.0
    score.null_low, score.null_high = (float(q) for q in np.quantile(null, [0.025, 0.975]))
    diff = score.value - score.null_mean
    score.z = float(diff / score.null_std) if score.null_std > 0 else (
        0.0 if diff == 0 else float(np.sign(diff)) * float("inf"))
    above, below = (null >= score.value).sum(), (null <= score.value).sum()
    more, less = (above, below) if higher else (below, above)
    score.p = float((1 + more) / (n_null + 1))
    score.p_opposite = float((1 + less) / (n_null + 1))
    score.details["null"] = null
    return score


# ---------------------------------------------------------------------- inputs
def as_graph(graph: Any, num_nodes: int | None = None) -> Graph:
    """Coerce a graph-like input to :class:`Graph`.

    Accepts a :class:`Graph`; an ``(E, 2)`` integer edge list (``num_nodes`` taken from ``X``);
    a networkx graph; a ``datasets`` Dataset/DatasetDict of our ``graph`` config; or a loaded
    :class:`~hf_geommem.builder.TaskData`.
    """
    if isinstance(graph, Graph):
        return graph
    if getattr(graph, "graph", None) is not None and isinstance(graph.graph, Graph):
        return graph.graph  # TaskData
    if hasattr(graph, "nodes") and hasattr(graph, "edges") and callable(graph.nodes):
        return from_networkx(graph)
    if hasattr(graph, "column_names") or (hasattr(graph, "keys") and "nodes" in graph):
        from .tasks import graph_from_table

        return graph_from_table(graph)
    edges = np.asarray(graph)
    if edges.ndim == 2 and edges.shape[1] == 2:
        return from_edge_list(edges, num_nodes=num_nodes)
    raise TypeError(f"cannot read a graph from {type(graph).__name__}; expected a Graph, an "
                    f"(E, 2) edge list, a networkx graph or a graph-config Dataset")


def as_representations(X: Any, num_nodes: int | None = None, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D float numpy array (float32 stays float32, anything else becomes float64;
    no copy when it already is one), validated: rows must match ``num_nodes`` and every value
    must be finite."""
    if hasattr(X, "detach"):
        X = X.detach().float().cpu().numpy()
    X = np.asarray(X)
    if X.dtype != np.float32:
        X = X.astype(np.float64, copy=False)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (num_nodes, dim) array, got shape {X.shape}")
    if num_nodes is not None and X.shape[0] != num_nodes:
        raise ValueError(f"{name} has {X.shape[0]} rows but the graph has {num_nodes} nodes")
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} has a non-finite value ({X[r, c]}) at row {r}, column {c}")
    return X


def prepare_representations(X: Any, standardize: bool = False,
                            n_components: int | None = None) -> np.ndarray:
    """Optional preprocessing for anisotropic representations (raw hidden states).

    Args:
        standardize: centre every column and scale it to unit variance (constant columns are
            dropped).
        n_components: keep the top principal components (projections onto them).
    Returns:
        the transformed ``(n, m')`` array.
    """
    X = as_representations(X)
    if standardize:
        Xc = X - X.mean(axis=0)
        sd = Xc.std(axis=0)
        X = Xc[:, sd > 1e-12] / sd[sd > 1e-12]
    if n_components is not None:
        if not 1 <= n_components <= min(X.shape):
            raise ValueError(f"n_components must be in 1..{min(X.shape)}, got {n_components}")
        Xc = X - X.mean(axis=0)
        u, s, _ = np.linalg.svd(Xc, full_matrices=False)
        X = u[:, :n_components] * s[:n_components]
    return X


def _check_int(name: str, value: Any, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


ZERO_ROW_TOL = 1e-8  # a row below this times the largest row norm has no direction


def _unit_rows(X: np.ndarray, what: str) -> np.ndarray:
    """Rows scaled to unit norm. A row whose norm is below ``ZERO_ROW_TOL`` times the largest
    is a node without a direction: cosine scores refuse it (naming the node) rather than let
    round-off pick a direction, so the outcome does not depend on the BLAS/LAPACK build."""
    norms = np.linalg.norm(X, axis=1)
    zero = norms <= ZERO_ROW_TOL * max(float(norms.max(initial=0.0)), 1e-300)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise ValueError(f"{what} uses cosine similarity, but node {int(bad[0])} (row "
                         f"{int(bad[0])} of X{f', and {len(bad) - 1} more' if len(bad) > 1 else ''})"
                         f" has a zero embedding (norm {norms[bad[0]]:.3g}); drop or replace "
                         f"such nodes before scoring")
    return X / norms[:, None]


def _inputs(X: Any, graph: Any, need_edges: bool = True) -> tuple[np.ndarray, Graph]:
    X = as_representations(X)
    g = as_graph(graph, num_nodes=X.shape[0])
    if X.shape[0] != g.num_nodes:
        raise ValueError(f"X has {X.shape[0]} rows but the graph has {g.num_nodes} nodes")
    if need_edges and g.num_edges == 0:
        raise ValueError("the graph has no edges: the score is undefined")
    return X, g


def _undirected_pairs(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    return g.edges[:, 0], g.edges[:, 1]


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


# ---------------------------------------------------------------------- top-k recovery
def edge_recovery_from_topk(topk: np.ndarray, sources: np.ndarray, edges: np.ndarray,
                            k_max: int = 5) -> dict[str, Any]:
    """Top-k edge recovery from precomputed predictions (science.md section 6).

    For each source node ``u`` with out-degree ``deg(u)`` among the directed ``edges``, the
    share of its out-neighbours among its first ``min(deg(u), k_max)`` predictions.

    Args:
        topk: ``(m, >= k)`` predicted node ids per source, best first.
        sources: ``(m,)`` the source node of each row.
        edges: ``(E, 2)`` directed edges ``(u, v)``.
        k_max: cap on k (paper: 5).
    Returns:
        ``{"value": mean over sources, "per_node": (m,) shares}``; a source without out-edges
        raises.
    """
    topk = np.asarray(topk, dtype=np.int64)
    sources = np.asarray(sources, dtype=np.int64)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if topk.ndim != 2 or topk.shape[0] != len(sources):
        raise ValueError(f"topk must be (len(sources), k), got {topk.shape} for "
                         f"{len(sources)} sources")
    n = int(max(edges.max(initial=0), sources.max(initial=0), topk.max(initial=0))) + 1
    deg = np.bincount(edges[:, 0], minlength=n)
    k = np.minimum(deg[sources], min(k_max, topk.shape[1]))
    if (k == 0).any():
        bad = int(sources[k == 0][0])
        raise ValueError(f"node {bad} has no out-edge: top-k recovery is undefined for it")
    keys = np.unique(edges[:, 0] * n + edges[:, 1])
    hit = _member(keys, sources[:, None] * n + topk)
    hit &= np.arange(topk.shape[1])[None, :] < k[:, None]
    per_node = hit.sum(axis=1) / k
    return {"value": float(per_node.mean()), "per_node": per_node}


def _topk_lists(score_rows: Callable[[np.ndarray], np.ndarray], queries: np.ndarray,
                k: int, exclude_self: bool) -> np.ndarray:
    """Top-``k`` columns of ``score_rows(query block)`` per query, best first, blockwise."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), _BLOCK):
        q = queries[start:start + _BLOCK]
        s = score_rows(q)
        if exclude_self:
            s[np.arange(len(q)), q] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
        out[start:start + _BLOCK] = np.take_along_axis(part, order, axis=1)
    return out


def _member(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``np.isin(query, sorted_keys)`` for sorted unique keys by binary search: no re-sorting
    of the keys on every null draw."""
    idx = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return sorted_keys[idx] == query


def _neighbour_recall(lists: np.ndarray, nodes: np.ndarray, k_per: np.ndarray,
                      keys: np.ndarray, n: int, relabel: np.ndarray | None = None,
                      degrees: np.ndarray | None = None) -> float:
    """Mean share of true neighbours among the first ``k_per`` entries of ``lists``; with
    ``degrees``, the share of all out-edges found (hits summed over nodes / degrees summed).

    ``relabel`` maps list entries / query rows to node ids (identity if ``None``): under a
    row permutation ``perm`` of X, node ``u = inv[q]`` has list ``inv[lists[q]]``."""
    if relabel is not None:
        lists, nodes = relabel[lists], relabel[nodes]
    hit = _member(keys, nodes[:, None] * n + lists)
    hit &= np.arange(lists.shape[1])[None, :] < k_per[:, None]
    if degrees is not None:
        return float(hit.sum() / degrees.sum())
    return float((hit.sum(axis=1) / k_per).mean())


def _query_sample(n: int, max_queries: int | None, seed: int) -> np.ndarray:
    if max_queries is None or n <= max_queries:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))


def topk_edge_recovery(X: Any, graph: Any, k_max: int = 5, self_edges: bool = False,
                       logits: Any = None, n_null: int = 100, seed: int = 0,
                       max_queries: int | None = 1024, rank_self: bool | None = None,
                       per: str = "node") -> Score:
    """Top-k edge recovery ("associative memorization", science.md section 6).

    For each node ``u`` the share of its neighbours among its top-``min(deg(u), k_max)``
    predictions. Predictions are the rows of ``logits`` (``n x n`` scores ``u -> v``, e.g. a
    model's next-token logits after ``[EDGE] u`` restricted to node tokens) or, for
    embedding-only models, dot products ``X X^T`` with the diagonal excluded unless
    ``self_edges`` (then ``u`` counts as its own neighbour).

    Args:
        max_queries: nodes evaluated (a seeded sample on bigger graphs; ``None``: all).
        rank_self: whether ``u`` itself is among the ranked candidates (default: only with
            ``self_edges``). ``True`` with ``self_edges=False`` is the authors' top-k from
            logits (``in_weights/utils.get_top_k_predictions_for_all_nodes``): a
            self-prediction takes a slot and is a miss.
        per: ``"node"`` (ours: mean over nodes of the share of ``u``'s neighbours in its
            top-``min(deg(u), k_max)``) or ``"directed_edge"`` (the authors' tiny-graph
            notebooks, ``analysis/metrics.topk_recovery_percent``: share of directed edges
            ``u -> v`` with ``v`` anywhere in ``u``'s top ``k_max``; with ``k_max=1`` a perfect
            memory scores only ``n / |E|``).
    Returns:
        :class:`Score` (best 1.0; ``details["queries"]``). The null relabels nodes (rows and
        columns of the score matrix alike).
    """
    if per not in ("node", "directed_edge"):
        raise ValueError(f"per must be 'node' or 'directed_edge', got {per!r}")
    rank_self = self_edges if rank_self is None else bool(rank_self)
    k_max = _check_int("k_max", k_max)
    if X is None and logits is None:
        raise ValueError("topk_edge_recovery needs X (embeddings) or logits")
    X, g = _inputs(X if X is not None else logits, graph)
    n = g.num_nodes
    u, v = _undirected_pairs(g)
    src = np.concatenate([u, v] + ([np.arange(n)] if self_edges else []))
    dst = np.concatenate([v, u] + ([np.arange(n)] if self_edges else []))
    deg = np.bincount(src, minlength=n)
    queries = _query_sample(n, max_queries, seed)
    queries = queries[deg[queries] > 0]
    k = int(min(k_max, n - (0 if rank_self else 1)))
    # per node: the top min(deg, k) count; per directed edge: all k
    cap = (lambda d: np.minimum(d, k_max)) if per == "node" else (
        lambda d: np.full_like(d, k))
    if k < 1:
        raise ValueError(f"k_max={k_max} leaves no prediction to rank on {n} nodes")
    if logits is not None:
        Z = as_representations(logits, n, "logits")
        if Z.shape[1] != n:
            raise ValueError(f"logits must be (n, n) = ({n}, {n}), got {Z.shape}")
        rows = lambda q: Z[q].copy()  # noqa: E731
    else:
        X32 = X.astype(np.float32)
        rows = lambda q: X32[q] @ X32.T  # noqa: E731
    lists = _topk_lists(rows, queries, k, exclude_self=not rank_self)
    keys = np.unique(src * n + dst)
    weights = None if per == "node" else deg  # per edge: hits over all out-edges
    value = _neighbour_recall(lists, queries, cap(deg[queries]), keys, n, None,
                              None if weights is None else weights[queries])

    def draw(perm: np.ndarray) -> float:
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        nodes = inv[queries]
        return _neighbour_recall(lists, queries, cap(deg[nodes]), keys, n, inv,
                                 None if weights is None else weights[nodes])

    return _with_null("topk_edge_recovery", value, draw, n, n_null, seed, True, best=1.0,
                      details={"queries": queries})


# ---------------------------------------------------------------------- cosine on edges
def geometric_level(X: Any, graph: Any, n_null: int = 100, seed: int = 0) -> Score:
    """Mean cosine similarity of the two endpoints' embeddings over the graph's edges
    (self-edges excluded; both directions of an edge give the same cosine). Best 1.0."""
    X, g = _inputs(X, graph)
    Xn = _unit_rows(X, "geometric_level").astype(np.float32)
    u, v = _undirected_pairs(g)
    value = float(np.einsum("ij,ij->i", Xn[u], Xn[v]).mean())
    return _with_null("geometric_level", value, _edge_dot_null(Xn, u, v, seed), g.num_nodes,
                      n_null, seed, True, best=1.0)


# ---------------------------------------------------------------------- smoothness
def _fiedler_value(g: Graph) -> float:
    lap = combinatorial_laplacian(g)
    if g.num_components > 1:
        return 0.0
    if g.num_nodes <= DENSE_LIMIT:
        return float(np.linalg.eigvalsh(lap.toarray())[1])
    return float(smallest_eigenvectors(lap, k=2).values[1])


def dirichlet_energy(X: Any, graph: Any, n_null: int = 100, seed: int = 0) -> Score:
    """Normalized Dirichlet energy ``tr(Xc^T L Xc) / (2|E| tr(Xc^T Xc) / (n-1))``, ``L = D - A``,
    ``Xc`` column-centred: the mean squared distance across an edge over that of a random pair.
    1 at chance, lower = smoother. Best: the Laplacian eigenmap's ``lambda_2 (n-1) / (2|E|)``
    (0 for a disconnected graph)."""
    X, g = _inputs(X, graph)
    n, m = X.shape
    Xc = (X - X.mean(axis=0)).astype(np.float32)
    total = float((Xc.astype(np.float64) ** 2).sum())
    if total == 0:
        raise ValueError("X is constant across nodes: the Dirichlet energy is undefined")
    u, v = _undirected_pairs(g)
    # sum_e ||x_a - x_b||^2 = sum_i deg(i) ||x_i||^2 - 2 sum_e x_a . x_b
    sq = (Xc.astype(np.float64) ** 2).sum(axis=1)
    deg = np.bincount(np.concatenate([u, v]), minlength=n).astype(np.float64)
    dots = _edge_dot_null(Xc, u, v, seed)
    norm = 2 * total / (n - 1)
    value = (deg @ sq / len(u) - 2 * float(np.einsum("ij,ij->i", Xc[u], Xc[v]).mean())) / norm
    return _with_null("dirichlet_energy", value,
                      lambda p: (deg @ sq[p] / len(u) - 2 * dots(p)) / norm, n, n_null, seed,
                      False, best=_fiedler_value(g) * (n - 1) / (2 * len(u)), chance=1.0)


def spectral_energy_fraction(X: Any, graph: Any, k: int = 10, n_null: int = 100,
                             seed: int = 0) -> Score:
    """``S_k = ||U_k^T Xc||_F^2 / ||Xc||_F^2`` over the ``k`` smoothest non-trivial eigenvectors
    of ``L = D - A`` (chance ``k/(n-1)``, best 1).

    The cut is extended to the whole eigenspace of the k-th eigenvalue (a basis inside a
    degenerate eigenspace is arbitrary), so ``details["k_effective"]`` may exceed ``k`` and
    chance is ``k_effective/(n-1)``. Graphs above the dense limit use ARPACK, which may miss
    vectors of highly degenerate eigenspaces: ``details["complete_eigenspaces"]`` says whether
    the cut is known to be exact.
    """
    X, g = _inputs(X, graph)
    n = g.num_nodes
    if not 1 <= k <= n - 2:
        raise ValueError(f"k must be in 1..{n - 2} for a graph of {n} nodes, got {k}")
    lap = combinatorial_laplacian(g)
    if n <= DENSE_LIMIT:
        basis = smallest_eigenvectors(lap)
    else:
        basis = smallest_eigenvectors(lap, k=min(n - 2, k + 1 + 8))
    # the constant vector lies in the null space: Xc is orthogonal to it, so keeping the whole
    # zero eigenspace plus the next eigenvalues gives exactly k non-trivial directions
    cut = min(k + 1, len(basis.values))
    last_group = basis.groups[cut - 1]
    cut = int(np.flatnonzero(basis.groups == last_group).max()) + 1
    complete = basis.complete or cut < len(basis.values)
    U = basis.vectors[:, :cut].astype(np.float64)
    Xc = X - X.mean(axis=0)
    total = float((Xc ** 2).sum())
    if total == 0:
        raise ValueError("X is constant across nodes: the spectral energy is undefined")
    k_eff = cut - 1

    Xc32 = Xc.astype(np.float32)

    def frac(p: np.ndarray | None) -> float:
        # U^T (P Xc) = (P^T U)^T Xc: permuting U's k columns' rows is cheaper than X's
        Up = U if p is None else U[np.argsort(p)]
        return float(((Up.T.astype(np.float32) @ Xc32).astype(np.float64) ** 2).sum() / total)

    return _with_null("spectral_energy_fraction", frac(None), frac, n, n_null, seed, True,
                      best=1.0, chance=k_eff / (n - 1),
                      details={"k_effective": k_eff, "complete_eigenspaces": bool(complete),
                               "eigenvalues": basis.values[:cut]})


def spectral_profile(X: Any, graph: Any, k: int | None = None, top_groups: int = 2,
                     n_null: int = 100, seed: int = 0) -> Score:
    """The paper's spectral profile: ``p_i = ||X^T e_i||`` over the eigenvectors ``e_i`` of
    ``-L``, ``L = (I - D^-1 A) + (I - D^-1 A)^T``, sorted by eigenvalue of ``-L`` (descending),
    the trivial top one dropped, degenerate eigenvalues grouped (``p_group`` = norm of the
    projection onto the eigenspace), normalized by the max.

    The score is the share of ``sum p^2`` (over all non-trivial directions) that falls in the
    ``top_groups`` top eigenspaces: geometric embeddings put their mass there.

    Returns:
        :class:`Score`; ``details`` has ``spectrum`` (eigenvalues of -L per group, normalized
        by the largest magnitude), ``profile`` (normalized p per group), ``group_sizes``.
    """
    top_groups = _check_int("top_groups", top_groups)
    if k is not None:
        k = _check_int("k", k, 2)
    X, g = _inputs(X, graph)
    n = g.num_nodes
    lap = paper_laplacian(g)
    basis = smallest_eigenvectors(lap) if n <= DENSE_LIMIT else \
        smallest_eigenvectors(lap, k=k or 8, psd=False)
    if k is not None and basis.complete:
        basis.values, basis.vectors = basis.values[:k], basis.vectors[:, :k]
        basis.groups = basis.groups[:k]
    vals, vecs = basis.values[1:], basis.vectors[:, 1:]  # drop the trivial top of -L
    groups = group_eigenvalues(vals)
    total = float((X ** 2).sum() - ((basis.vectors[:, 0] @ X) ** 2).sum())
    if total <= 0:
        raise ValueError("X has no energy outside the trivial eigenvector")

    def grouped(Y: np.ndarray) -> np.ndarray:
        p2 = ((vecs.T @ Y) ** 2).sum(axis=1)
        return np.bincount(groups, weights=p2)

    p2 = grouped(X)
    sizes = np.bincount(groups)
    top = min(top_groups, len(p2))
    spectrum = -np.array([vals[groups == i].mean() for i in range(len(p2))])
    scale = np.abs(spectrum).max() or 1.0
    details = {"spectrum": spectrum / scale, "eigenvalues_neg_L": spectrum,
               "profile": np.sqrt(p2) / max(np.sqrt(p2).max(), 1e-300),
               "group_sizes": sizes, "complete": basis.complete}

    sq_total = float((X ** 2).sum())
    top_cols = np.flatnonzero(groups < top)
    V_top = np.concatenate([basis.vectors[:, :1], vecs[:, top_cols]], axis=1)
    X32 = X.astype(np.float32)

    def frac(p: np.ndarray | None) -> float:
        Vp = V_top if p is None else V_top[np.argsort(p)]  # (P^T V)^T X = V^T (P X)
        proj = (Vp.T.astype(np.float32) @ X32).astype(np.float64) ** 2
        triv = float(proj[0].sum())
        return float(proj[1:].sum() / (sq_total - triv))

    return _with_null("spectral_profile_top_mass", frac(None), frac, n, n_null, seed, True,
                      best=1.0, chance=float(sizes[:top].sum()) / max(n - 1, 1),
                      details=details)


# ---------------------------------------------------------------------- neighbourhoods
def knn_edge_recall(X: Any, graph: Any, k_max: int = 10, n_null: int = 100, seed: int = 0,
                    max_queries: int | None = 1024) -> Score:
    """kNN edge recall: for each node ``u`` the share of its graph neighbours among its
    ``min(deg(u), k_max)`` nearest nodes by cosine similarity (itself excluded). Best 1.0.
    ``max_queries`` caps the evaluated nodes (seeded sample)."""
    k_max = _check_int("k_max", k_max)
    X, g = _inputs(X, graph)
    n = g.num_nodes
    Xn = _unit_rows(X, "knn_edge_recall").astype(np.float32)
    u, v = _undirected_pairs(g)
    src, dst = np.concatenate([u, v]), np.concatenate([v, u])
    deg = np.bincount(src, minlength=n)
    queries = _query_sample(n, max_queries, seed)
    queries = queries[deg[queries] > 0]
    k = int(min(k_max, n - 1))
    lists = _topk_lists(lambda q: Xn[q] @ Xn.T, queries, k, exclude_self=True)
    keys = np.unique(src * n + dst)
    value = _neighbour_recall(lists, queries, np.minimum(deg[queries], k), keys, n)

    def draw(perm: np.ndarray) -> float:
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        return _neighbour_recall(lists, queries, np.minimum(deg[inv[queries]], k), keys, n,
                                 inv)

    return _with_null("knn_edge_recall", value, draw, n, n_null, seed, True, best=1.0)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2)
                 / (len(pos) * len(neg)))


def link_prediction_auc(X: Any, graph: Any, max_pairs: int = 20_000, n_null: int = 100,
                        seed: int = 0) -> Score:
    """Link-prediction AUC: cosine similarity separating edges from random non-adjacent pairs
    (up to ``max_pairs`` of each, seeded). 0.5 at chance, best 1.0."""
    max_pairs = _check_int("max_pairs", max_pairs)
    X, g = _inputs(X, graph)
    n = g.num_nodes
    Xn = _unit_rows(X, "link_prediction_auc").astype(np.float32)
    rng = np.random.default_rng(seed)
    u, v = _undirected_pairs(g)
    if len(u) > max_pairs:
        keep = rng.choice(len(u), max_pairs, replace=False)
        u, v = u[keep], v[keep]
    keys = set((np.minimum(g.edges[:, 0], g.edges[:, 1]) * n
                + np.maximum(g.edges[:, 0], g.edges[:, 1])).tolist())
    if n * (n - 1) // 2 <= len(keys):
        raise ValueError("the graph is complete: there is no non-edge to compare with")
    a = rng.integers(0, n, size=4 * len(u) + 64)
    b = rng.integers(0, n, size=4 * len(u) + 64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    ok = (lo != hi) & ~np.isin(lo * n + hi, np.fromiter(keys, np.int64, len(keys)))
    a, b = lo[ok][:len(u)], hi[ok][:len(u)]
    if len(a) == 0:
        raise ValueError("could not sample non-adjacent pairs (graph too dense)")

    def auc(p: np.ndarray | None) -> float:
        f = (lambda z: z) if p is None else (lambda z: p[z])
        pos = np.einsum("ij,ij->i", Xn[f(u)], Xn[f(v)])
        neg = np.einsum("ij,ij->i", Xn[f(a)], Xn[f(b)])
        return _auc(pos, neg)

    return _with_null("link_prediction_auc", auc(None), auc, n, n_null, seed, True, best=1.0,
                      chance=0.5)


def distance_correlation(X: Any, graph: Any, n_sources: int = 64,
                         targets_per_source: int = 512, metric: str = "cosine",
                         n_null: int = 100, seed: int = 0) -> Score:
    """Spearman correlation between embedding distance (``cosine`` or ``euclidean``) and
    shortest-path distance over sampled pairs (``n_sources`` BFS sources x
    ``targets_per_source`` random targets; pairs in different components are skipped).
    Best 1.0; 0 at chance."""
    from scipy.sparse.csgraph import shortest_path
    from scipy.stats import spearmanr

    n_sources = _check_int("n_sources", n_sources)
    targets_per_source = _check_int("targets_per_source", targets_per_source)
    X, g = _inputs(X, graph)
    n = g.num_nodes
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    rng = np.random.default_rng(seed)
    sources = rng.choice(n, min(n_sources, n), replace=False)
    dist = shortest_path(g.adjacency(np.int8), unweighted=True, indices=sources)
    t = rng.integers(0, n, size=(len(sources), min(targets_per_source, n)))
    gd = np.take_along_axis(dist, t, axis=1)
    a = np.repeat(sources, t.shape[1])
    b, gd = t.ravel(), gd.ravel()
    ok = np.isfinite(gd) & (a != b)
    a, b, gd = a[ok], b[ok], gd[ok]
    if len(np.unique(gd)) < 2:
        raise ValueError("sampled pairs have a single graph distance: correlation undefined")
    Y = _unit_rows(X, "distance_correlation") if metric == "cosine" else X
    Y = Y.astype(np.float32)

    def corr(p: np.ndarray | None) -> float:
        ia, ib = (a, b) if p is None else (p[a], p[b])
        if metric == "cosine":
            ed = 1.0 - np.einsum("ij,ij->i", Y[ia], Y[ib])
        else:
            ed = np.linalg.norm(Y[ia] - Y[ib], axis=1)
        r = spearmanr(ed, gd).statistic
        return float(0.0 if np.isnan(r) else r)

    return _with_null("distance_correlation", corr(None), corr, n, n_null, seed, True,
                      best=1.0, chance=0.0, details={"num_pairs": int(len(a))})


# ---------------------------------------------------------------------- path-star views
def _arms(g: Graph, arms: np.ndarray | None) -> np.ndarray:
    g.require_rooted("this score")
    if arms is None:
        return g.arms
    arms = np.asarray(arms, dtype=np.int64)
    return g.arms[arms] if arms.ndim == 1 else arms


def leaf_first_hop(X: Any, graph: Any, arms: np.ndarray | None = None, n_null: int = 100,
                   seed: int = 0, max_heatmap: int = 64, null_queries: int = 256) -> Score:
    """Leaf vs first-hop alignment on (held-out) arms, and navigation accuracy.

    For arms ``i, j`` let ``c_ij = cos(leaf_i, v1_j)``. The score is the *navigation accuracy*
    ``mean_i [argmax_j c_ij == i]`` (chance ``1/d``), with ``j`` over the distinct first hops
    (on a tree-star the leaves of one subtree share their v1). ``details``: ``diag_distance`` and
    ``offdiag_distance`` (mean cosine distance ``1 - c`` on and off the diagonal), their ``gap``,
    and ``heatmap`` (the ``1 - c`` matrix of the first ``max_heatmap`` arms).

    Args:
        arms: indices into ``graph.arms`` (e.g. the held-out arms), or an explicit
            ``(a, l)`` array of root-to-leaf paths; default all arms.
        null_queries: leaves per null draw (a seeded sample; all when fewer arms).
    """
    X, g = _inputs(X, graph)
    A = _arms(g, arms)
    if A.shape[0] < 2 or A.shape[1] < 2:
        raise ValueError(f"navigation needs >= 2 arms of >= 2 nodes, got arms of shape {A.shape}")
    Xn = _unit_rows(X, "leaf_first_hop").astype(np.float32)
    leaves = A[:, -1]
    # candidates: the distinct first hops (on a tree-star several leaves share one)
    firsts, target = np.unique(A[:, 1], return_inverse=True)
    d = len(leaves)
    if len(firsts) < 2:
        raise ValueError("navigation needs arms under >= 2 different first hops")

    def nav(rows_leaf: np.ndarray, rows_first: np.ndarray, targets: np.ndarray) -> float:
        hits = 0
        for s in range(0, len(rows_leaf), _BLOCK):
            c = Xn[rows_leaf[s:s + _BLOCK]] @ Xn[rows_first].T
            hits += int((c.argmax(axis=1) == targets[s:s + _BLOCK]).sum())
        return hits / len(rows_leaf)

    value = nav(leaves, firsts, target)
    cos_true = np.einsum("ij,ij->i", Xn[leaves], Xn[firsts[target]])
    diag = float(cos_true.mean())
    total = float(Xn[leaves].sum(axis=0) @ Xn[firsts].sum(axis=0))
    off = (total - cos_true.sum()) / (d * len(firsts) - d)
    h = min(max_heatmap, d)
    details = {"diag_distance": 1 - diag, "offdiag_distance": 1 - off, "gap": diag - off,
               "heatmap": 1 - Xn[leaves[:h]] @ Xn[firsts[target[:h]]].T, "num_arms": d,
               "num_first_hops": int(len(firsts))}
    rng = np.random.default_rng(seed + 1)
    q = min(null_queries, d)

    def draw(p: np.ndarray) -> float:
        sel = rng.choice(d, q, replace=False) if q < d else np.arange(d)
        return nav(p[leaves[sel]], p[firsts], target[sel])

    return _with_null("navigation_accuracy", value, draw, g.num_nodes, n_null, seed, True,
                      best=1.0, chance=1.0 / len(firsts), details=details)


def path_distance_matrix(X: Any, graph: Any, arms: np.ndarray | None = None,
                         max_arms: int = 64, n_null: int = 100, seed: int = 0) -> Score:
    """Path-by-path cosine-distance matrix: entry ``(i, j)`` is the mean cosine distance between
    the non-root nodes of arms ``i`` and ``j`` (distinct nodes on the diagonal). The score is
    the inter-arm minus intra-arm mean distance (> 0: arms cluster; 0 at chance).
    ``details["matrix"]`` is the matrix of the first ``max_arms`` arms (a seeded sample)."""
    max_arms = _check_int("max_arms", max_arms, 2)
    X, g = _inputs(X, graph)
    A = _arms(g, arms)
    if A.shape[0] < 2 or A.shape[1] < 2:
        raise ValueError(f"the path matrix needs >= 2 arms of >= 2 nodes, got arms of shape "
                         f"{A.shape}")
    rng = np.random.default_rng(seed)
    if A.shape[0] > max_arms:
        A = A[np.sort(rng.choice(A.shape[0], max_arms, replace=False))]
    nodes = A[:, 1:]
    a, per = nodes.shape
    Xn = _unit_rows(X, "path_distance_matrix")

    def matrix(p: np.ndarray | None) -> np.ndarray:
        idx = nodes.ravel() if p is None else p[nodes.ravel()]
        c = Xn[idx] @ Xn[idx].T
        sums = c.reshape(a, per, a, per).sum(axis=(1, 3))
        counts = np.full((a, a), per * per, dtype=np.float64)
        if per > 1:
            np.fill_diagonal(sums, np.diag(sums) - per)  # drop self-similarities (1 each)
            np.fill_diagonal(counts, per * (per - 1))
        return 1.0 - sums / counts

    def gap(M: np.ndarray) -> float:
        off = M[~np.eye(a, dtype=bool)].mean()
        return float(off - np.diag(M).mean()) if per > 1 else float(off)

    M = matrix(None)
    return _with_null("path_distance_gap", gap(M), lambda p: gap(matrix(p)), g.num_nodes,
                      n_null, seed, True, details={"matrix": M, "arms": A})


# ---------------------------------------------------------------------- margins
def _margin_and_top1(Z_rows: Callable[[np.ndarray], np.ndarray], g: Graph,
                     self_edges: bool, top1_with_self: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    n = g.num_nodes
    adj = g.adjacency(np.int8).tocsr()
    margins = np.empty(n)
    top1 = np.empty(n, dtype=bool)
    for s in range(0, n, _BLOCK):
        q = np.arange(s, min(n, s + _BLOCK))
        Z = np.asarray(Z_rows(q), dtype=np.float64)
        nb = adj[q].toarray().astype(bool)
        if self_edges:
            nb[np.arange(len(q)), q] = True
        else:
            Z[np.arange(len(q)), q] = np.nan  # self excluded from both sides
        pos = np.where(nb, Z, -np.inf).max(axis=1)
        neg = np.where(~nb & ~np.isnan(Z), Z, -np.inf).max(axis=1)
        margins[q] = pos - neg
        # authors' top-1: the argmax runs over every column (a self prediction is a miss)
        Zt = np.asarray(Z_rows(q), dtype=np.float64) if top1_with_self and not self_edges \
            else np.where(np.isnan(Z), -np.inf, Z)
        best = np.argmax(Zt, axis=1)
        top1[q] = nb[np.arange(len(q)), best]
    has = np.isfinite(margins)
    return margins[has], top1[has]


def edge_margin(logits: Any, graph: Any, self_edges: bool = False,
                top1_with_self: bool = False) -> Score:
    """Edge margin of a score matrix ``Z`` (``n x n``, ``Z[u, v]`` = score of ``u -> v``, e.g.
    ``E W E^T``): mean over nodes of (max over true neighbours - max over non-neighbours),
    self excluded (counted as a neighbour with ``self_edges``). > 0 means every node ranks a
    neighbour first. ``details["top1"]``: share of nodes whose top prediction is a neighbour,
    the node itself not a candidate; ``top1_with_self=True`` takes the argmax over every
    column instead, so a self prediction is a miss (the authors'
    ``analysis_spectral._top1_edge_accuracy``)."""
    g = as_graph(graph)
    Z = as_representations(logits, g.num_nodes, "logits")
    if Z.shape[1] != g.num_nodes:
        raise ValueError(f"logits must be (n, n) = ({g.num_nodes}, {g.num_nodes}), got {Z.shape}")
    if g.num_edges == 0:
        raise ValueError("the graph has no edges: the margin is undefined")
    margins, top1 = _margin_and_top1(lambda q: Z[q], g, self_edges, top1_with_self)
    return Score("edge_margin", float(margins.mean()),
                 details={"top1": float(top1.mean()), "per_node": margins})


def skewed_low_rank_margin(E: Any, W: Any, graph: Any, self_edges: bool = False) -> Score:
    """The paper's skewed low-rank margin for ``Z = E W E^T``: with ``E = U S V^T`` keep only the
    diagonal ``lambda_k = (V^T W V)_kk`` of ``W`` in ``E``'s right-singular basis and recompute
    margin and top-1 accuracy from ``E (V diag(lambda) V^T) E^T``. A geometric memory keeps
    a positive margin; an associative one (which needs off-diagonal ``W``) goes negative.

    Args:
        E: ``(n, D)`` node embeddings; W: ``(D, D)`` map (logits ``E W E^T``: ``W`` acts as
            ``score(u, v) = e_u^T W e_v``).
    Returns:
        :class:`Score` with value = skewed margin; ``details``: ``top1``, ``lambdas``,
        ``full_margin``, ``full_top1`` and ``basis_dependent`` (True when ``E`` has repeated
        singular values: the diagonal of ``W`` in that basis is then not unique, and the
        skewed margin depends on the SVD's pick).
    """
    g = as_graph(graph)
    E = as_representations(E, g.num_nodes, "E")
    W = as_representations(W, name="W")
    if W.shape != (E.shape[1], E.shape[1]):
        raise ValueError(f"W must be ({E.shape[1]}, {E.shape[1]}) to match E, got {W.shape}")
    _, sv, Vt = np.linalg.svd(E, full_matrices=False)
    V = Vt.T
    # inside a repeated singular value any basis is valid and diag(V^T W V) depends on the pick
    repeated = bool((np.diff(sv[::-1]) <= 1e-6 * max(float(sv.max(initial=0.0)), 1e-300)).any())
    lam = np.einsum("ik,ij,jk->k", V, W, V)
    W_skew = (V * lam) @ V.T
    m_s, t_s = _margin_and_top1(lambda q: E[q] @ W_skew @ E.T, g, self_edges)
    m_f, t_f = _margin_and_top1(lambda q: E[q] @ W @ E.T, g, self_edges)
    return Score("skewed_low_rank_margin", float(m_s.mean()),
                 details={"top1": float(t_s.mean()), "lambdas": lam,
                          "full_margin": float(m_f.mean()), "full_top1": float(t_f.mean()),
                          "basis_dependent": repeated})


# ---------------------------------------------------------------------- verdict
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


# ---------------------------------------------------------------------- everything
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
