"""Memorization and neighbourhood scores: top-k edge recovery (the paper's associative
memory), kNN edge recall and link-prediction AUC."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..checks import check_int
from .inputs import _BLOCK, _inputs, _undirected_pairs, _unit_rows, as_representations
from .nulls import Score, _with_null

__all__ = ["edge_recovery_from_topk", "topk_edge_recovery", "knn_edge_recall",
           "link_prediction_auc"]


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
                      degrees: np.ndarray | None = None,
                      divide_by: np.ndarray | None = None) -> float:
    """Mean share of true neighbours among the first ``k_per`` entries of ``lists`` (each
    node's hits over ``k_per``, or over ``divide_by`` when given); with ``degrees``, the share
    of all out-edges found (hits summed over nodes / degrees summed).

    ``relabel`` maps list entries / query rows to node ids (identity if ``None``): under a
    row permutation ``perm`` of X, node ``u = inv[q]`` has list ``inv[lists[q]]``."""
    if relabel is not None:
        lists, nodes = relabel[lists], relabel[nodes]
    hit = _member(keys, nodes[:, None] * n + lists)
    hit &= np.arange(lists.shape[1])[None, :] < k_per[:, None]
    if degrees is not None:
        return float(hit.sum() / degrees.sum())
    return float((hit.sum(axis=1) / (k_per if divide_by is None else divide_by)).mean())


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
            memory scores only ``n / |E|``) or ``"node_degree"`` (the authors' per-node
            recovery: hits in the top-``min(deg(u), k_max)`` divided by ``deg(u)``, not by
            ``min(deg(u), k_max)``; equal to ours when every degree is at most ``k_max``, lower
            on a node of higher degree, such as a path-star's root).
    Returns:
        :class:`Score` (best 1.0; ``details["queries"]``). The null relabels nodes (rows and
        columns of the score matrix alike).
    """
    if per not in ("node", "directed_edge", "node_degree"):
        raise ValueError(f"per must be 'node', 'directed_edge' or 'node_degree', got {per!r}")
    rank_self = self_edges if rank_self is None else bool(rank_self)
    k_max = check_int("k_max", k_max)
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
    cap = (lambda d: np.full_like(d, k)) if per == "directed_edge" else (
        lambda d: np.minimum(d, k_max))
    # the authors' per-node share divides by the degree
    divide = (lambda d: d) if per == "node_degree" else (lambda d: None)
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
    weights = deg if per == "directed_edge" else None  # per edge: hits over all out-edges
    value = _neighbour_recall(lists, queries, cap(deg[queries]), keys, n, None,
                              None if weights is None else weights[queries],
                              divide(deg[queries]))

    def draw(perm: np.ndarray) -> float:
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        nodes = inv[queries]
        return _neighbour_recall(lists, queries, cap(deg[nodes]), keys, n, inv,
                                 None if weights is None else weights[nodes],
                                 divide(deg[nodes]))

    return _with_null("topk_edge_recovery", value, draw, n, n_null, seed, True, best=1.0,
                      details={"queries": queries})


def knn_edge_recall(X: Any, graph: Any, k_max: int = 10, n_null: int = 100, seed: int = 0,
                    max_queries: int | None = 1024) -> Score:
    """kNN edge recall: for each node ``u`` the share of its graph neighbours among its
    ``min(deg(u), k_max)`` nearest nodes by cosine similarity (itself excluded). Best 1.0.
    ``max_queries`` caps the evaluated nodes (seeded sample)."""
    k_max = check_int("k_max", k_max)
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
    """ROC AUC = the Mann-Whitney U of positives over negatives / (n_pos n_neg), ties 1/2."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def link_prediction_auc(X: Any, graph: Any, max_pairs: int = 20_000, n_null: int = 100,
                        seed: int = 0) -> Score:
    """Link-prediction AUC: cosine similarity separating edges from random non-adjacent pairs
    (up to ``max_pairs`` of each, seeded). 0.5 at chance, best 1.0."""
    max_pairs = check_int("max_pairs", max_pairs)
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
