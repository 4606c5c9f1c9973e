"""Edge margins of a bilinear memory: the plain margin and the paper's skewed low-rank
margin."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..graphs import Graph
from .inputs import _BLOCK, as_graph, as_representations
from .nulls import Score

__all__ = ["edge_margin", "skewed_low_rank_margin"]


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
