"""Memorization and geometry metrics: plain numpy functions with documented return values."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["edge_recovery_from_topk"]


def edge_recovery_from_topk(topk: np.ndarray, sources: np.ndarray, edges: np.ndarray,
                            k_max: int = 5) -> dict[str, Any]:
    """Top-k edge recovery ("associative memorization", science.md section 6).

    For each source node ``u`` with out-degree ``deg(u)`` among the directed ``edges``, the
    share of its out-neighbours among its first ``min(deg(u), k_max)`` predictions.

    Args:
        topk: ``(m, >= k)`` predicted node ids per source, best first.
        sources: ``(m,)`` the source node of each row.
        edges: ``(E, 2)`` directed edges ``(u, v)``.
        k_max: cap on k (paper: 5).
    Returns:
        ``{"value": mean over sources, "per_node": (m,) shares}``; sources without out-edges
        are rejected.
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
    hit = np.isin(sources[:, None] * n + topk, keys)
    hit &= np.arange(topk.shape[1])[None, :] < k[:, None]
    per_node = hit.sum(axis=1) / k
    return {"value": float(per_node.mean()), "per_node": per_node}
