"""Path-star views: leaf vs first hop (navigation accuracy) and the path-by-path distance
matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int
from ..graphs import Graph
from .inputs import _BLOCK, _inputs, _unit_rows
from .nulls import Score, _with_null

__all__ = ["leaf_first_hop", "path_distance_matrix"]

# the null's leaf sample draws from its own stream, apart from the permutations' (seed)
_QUERY_SEED_OFFSET = 1


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
    rng = np.random.default_rng(seed + _QUERY_SEED_OFFSET)
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
    max_arms = check_int("max_arms", max_arms, 2)
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
