"""Edge margins of a bilinear memory: the plain margin and the paper's skewed low-rank
margin."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..graphs import Graph
from .inputs import _BLOCK, as_graph, as_representations
from .nulls import Score

__all__ = ["edge_margin", "skewed_low_rank_margin"]


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _margin_and_top1(Z_rows: Callable[[np.ndarray], np.ndarray], g: Graph,
                     self_edges: bool, top1_with_self: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-node margins (nodes with a positive and a negative candidate) and top-1 hits.

    Top-1 rows: by default the nodes that have a margin; with ``top1_with_self`` (the authors'
    ``_top1_edge_accuracy``) every node with a neighbour other than itself, the argmax taken
    over every column and a self prediction a miss whatever ``self_edges`` says."""
    n = g.num_nodes
    adj = g.adjacency(np.int8).tocsr()
    margins = np.empty(n)
    top1 = np.empty(n, dtype=bool)
    for s in range(0, n, _BLOCK):
        q = np.arange(s, min(n, s + _BLOCK))
        rows = np.arange(len(q))
        Z = np.asarray(Z_rows(q), dtype=np.float64)
        nb = adj[q].toarray().astype(bool)  # true neighbours; a Graph has no self-loops
        pos_mask = nb.copy()
        neg_mask = ~nb
        neg_mask[rows, q] = False  # self never a non-neighbour
        pos_mask[rows, q] = self_edges  # self a neighbour only with self_edges
        margins[q] = (np.where(pos_mask, Z, -np.inf).max(axis=1)
                      - np.where(neg_mask, Z, -np.inf).max(axis=1))
        if top1_with_self:
            top1[q] = nb[rows, np.argmax(Z, axis=1)]
        else:
            Zt = Z if self_edges else np.where(pos_mask | neg_mask, Z, -np.inf)
            top1[q] = pos_mask[rows, np.argmax(Zt, axis=1)]
    has = np.isfinite(margins)
    if not has.any():  # e.g. a complete graph: a mean over no nodes would be NaN
        raise ValueError(f"no node of the graph ({n} nodes, {g.num_edges} edges) has both a "
                         f"neighbour and a non-neighbour (a complete graph?): the margin is "
                         f"undefined")
    top_rows = g.degrees > 0 if top1_with_self else has
    return margins[has], top1[top_rows]


def edge_margin(logits: Any, graph: Any, self_edges: bool = False,
                top1_with_self: bool = False) -> Score:
    """Edge margin of a score matrix ``Z`` (``n x n``, ``Z[u, v]`` = score of ``u -> v``, e.g.
    ``E W E^T``): mean over nodes of (max over true neighbours - max over non-neighbours),
    self excluded (counted as a neighbour with ``self_edges``), over the nodes that have both.
    > 0 means every node ranks a neighbour first.

    ``details["top1"]`` (a share, not a percentage): by default, over the nodes with a margin,
    the share whose top prediction is a neighbour, the node itself not a candidate (a
    candidate and a hit with ``self_edges``). ``top1_with_self=True`` gives the authors'
    ``analysis/analysis_spectral._top1_edge_accuracy`` (which reports it x 100): the argmax over
    every column, a self prediction a miss even with ``self_edges``, over every node with a
    neighbour (a node adjacent to all others counts; it has no margin).

    The authors' margin (``analysis_spectral._edge_margin``) excludes the diagonal from both
    sides even in runs trained with self-edges: match it with ``self_edges=False``.
    """
    self_edges = _check_flag("self_edges", self_edges)
    top1_with_self = _check_flag("top1_with_self", top1_with_self)
    g = as_graph(graph)
    Z = as_representations(logits, g.num_nodes, "logits")
    if Z.shape[1] != g.num_nodes:
        raise ValueError(f"logits must be (n, n) = ({g.num_nodes}, {g.num_nodes}), got {Z.shape}")
    if g.num_edges == 0:
        raise ValueError("the graph has no edges: the margin is undefined")
    margins, top1 = _margin_and_top1(lambda q: Z[q], g, self_edges, top1_with_self)
    return Score("edge_margin", float(margins.mean()),
                 details={"top1": float(top1.mean()), "per_node": margins})


def skewed_low_rank_margin(E: Any, W: Any, graph: Any, self_edges: bool = False,
                           top1_with_self: bool = False) -> Score:
    """The paper's skewed low-rank margin for ``Z = E W E^T``: with ``E = U S V^T`` keep only the
    diagonal ``lambda_k = (V^T W V)_kk`` of ``W`` in ``E``'s right-singular basis and recompute
    margin and top-1 accuracy from ``E (V diag(lambda) V^T) E^T``. A geometric memory keeps
    a positive margin; an associative one (which needs off-diagonal ``W``) goes negative.

    The authors' ``analysis/analysis_spectral.compute_margin_and_accuracy`` returns
    (full margin, skewed margin, skewed top-1 x 100), the margins with the diagonal excluded and
    the top-1 of ``_top1_edge_accuracy``: here ``value``, ``details["full_margin"]`` and
    ``details["top1"]`` with ``self_edges=False, top1_with_self=True`` (also for runs trained
    with self-edges), passing their ``middle_layer.weight`` as ``W`` (they form ``E W E^T``).

    Args:
        E: ``(n, D)`` node embeddings; W: ``(D, D)`` map (logits ``E W E^T``: ``W`` acts as
            ``score(u, v) = e_u^T W e_v``).
        self_edges, top1_with_self: as in :func:`edge_margin`, for the skewed and the full
            logits alike.
    Returns:
        :class:`Score` with value = skewed margin; ``details``: ``top1`` (the skewed model's),
        ``lambdas``, ``full_margin``, ``full_top1`` and ``basis_dependent`` (True when ``E``
        has repeated singular values: the diagonal of ``W`` in that basis is then not unique,
        and the skewed margin depends on the SVD's pick).
    """
    self_edges = _check_flag("self_edges", self_edges)
    top1_with_self = _check_flag("top1_with_self", top1_with_self)
    g = as_graph(graph)
    E = as_representations(E, g.num_nodes, "E")
    W = as_representations(W, name="W")
    if W.shape != (E.shape[1], E.shape[1]):
        raise ValueError(f"W must be ({E.shape[1]}, {E.shape[1]}) to match E, got {W.shape}")
    if g.num_edges == 0:
        raise ValueError("the graph has no edges: the margin is undefined")
    _, sv, Vt = np.linalg.svd(E, full_matrices=False)
    V = Vt.T
    # inside a repeated singular value any basis is valid and diag(V^T W V) depends on the pick
    repeated = bool((np.diff(sv[::-1]) <= 1e-6 * max(float(sv.max(initial=0.0)), 1e-300)).any())
    lam = np.einsum("ik,ij,jk->k", V, W, V)
    W_skew = (V * lam) @ V.T
    m_s, t_s = _margin_and_top1(lambda q: E[q] @ W_skew @ E.T, g, self_edges, top1_with_self)
    m_f, t_f = _margin_and_top1(lambda q: E[q] @ W @ E.T, g, self_edges, top1_with_self)
    return Score("skewed_low_rank_margin", float(m_s.mean()),
                 details={"top1": float(t_s.mean()), "lambdas": lam,
                          "full_margin": float(m_f.mean()), "full_top1": float(t_f.mean()),
                          "basis_dependent": repeated})
