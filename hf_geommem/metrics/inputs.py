"""Coercion and validation of the inputs of every score: representations ``X`` and graphs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graphs import Graph, from_edge_list, from_networkx, graph_from_table

__all__ = ["as_graph", "as_representations", "prepare_representations"]


_BLOCK = 512  # rows per block for blockwise similarity products (block x n floats)


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
