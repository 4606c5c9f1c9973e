"""Graph Laplacians and their eigenvectors (sparse; dense only for small graphs).

Two Laplacians appear in the paper (science.md sections 6-7):

* the paper's ``L = (I - D^-1 A) + (I - D^-1 A)^T`` (symmetric), whose top eigenvectors of
  ``-L`` (= smallest of ``L``) the tied one-hop Node2Vec converges to: :func:`paper_laplacian`;
* the combinatorial ``L = D - A`` of the standard smoothness scores (Dirichlet energy,
  spectral energy fraction): :func:`combinatorial_laplacian`.

Eigenvalues come grouped: degenerate eigenvalues (path-stars have (d-1)-fold ones, cycles 2-fold)
form one group, since a basis inside an eigenspace is arbitrary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .graphs import Graph

__all__ = [
    "paper_laplacian",
    "combinatorial_laplacian",
    "Eigenbasis",
    "smallest_eigenvectors",
    "group_eigenvalues",
    "laplacian_embedding",
    "DENSE_LIMIT",
]

DENSE_LIMIT = 4000  # graphs up to this many nodes use a dense, complete eigendecomposition


def _degrees_or_raise(graph: Graph, what: str) -> np.ndarray:
    deg = graph.degrees.astype(np.float64)
    if (deg == 0).any():
        bad = int(np.flatnonzero(deg == 0)[0])
        raise ValueError(f"{what} needs every node to have an edge; node {bad} is isolated")
    return deg


def paper_laplacian(graph: Graph) -> sp.csr_matrix:
    """``L = (I - D^-1 A) + (I - D^-1 A)^T`` as a sparse ``n x n`` matrix (science.md 6)."""
    a = graph.adjacency()
    deg = _degrees_or_raise(graph, "the degree-normalized Laplacian")
    p = sp.diags(1.0 / deg) @ a
    eye = sp.identity(graph.num_nodes, format="csr")
    return ((eye - p) + (eye - p).T).tocsr()


def combinatorial_laplacian(graph: Graph) -> sp.csr_matrix:
    """``L = D - A`` as a sparse ``n x n`` matrix (scipy's ``csgraph.laplacian``)."""
    from scipy.sparse.csgraph import laplacian

    return sp.csr_matrix(laplacian(graph.adjacency().astype(np.float64)))


def group_eigenvalues(values: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Group index of each (sorted) eigenvalue: consecutive values closer than
    ``tol * max(1, |value|)`` share a group."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    gaps = np.diff(values) > tol * np.maximum(1.0, np.abs(values[1:]))
    return np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)


@dataclass
class Eigenbasis:
    """Eigenpairs of a symmetric Laplacian, smallest first.

    Attributes:
        values: ``(k,)`` eigenvalues in ascending order.
        vectors: ``(n, k)`` orthonormal eigenvectors (columns).
        groups: ``(k,)`` degenerate-group index of each eigenvalue.
        complete: True when all ``n`` eigenpairs were computed (dense path).
    """

    values: np.ndarray
    vectors: np.ndarray
    groups: np.ndarray
    complete: bool


def smallest_eigenvectors(laplacian: sp.spmatrix, k: int | None = None,
                          dense_limit: int = DENSE_LIMIT, tol: float = 1e-8,
                          psd: bool = True) -> Eigenbasis:
    """The ``k`` smallest eigenpairs of a symmetric sparse Laplacian.

    Up to ``dense_limit`` nodes the full decomposition is computed densely (``k`` is then a
    cap on what is returned, default all). Larger graphs use ARPACK in shift-invert mode around
    a small negative shift (``k`` required; ``psd=True``, for ``D - A``) or plain Lanczos for the
    smallest algebraic eigenvalues (``psd=False``: the paper's ``L`` is indefinite on graphs
    with high-degree nodes, e.g. a path-star's root): no ``n x n`` matrix is formed. ``tol`` is
    the relative gap below which eigenvalues share a degenerate group (at least 1e-6 on the
    sparse path, ARPACK's accuracy). Note that a Krylov
    solver finds only a few vectors of a highly degenerate eigenspace; the returned ``groups``
    then under-count that eigenspace's dimension.
    """
    n = laplacian.shape[0]
    if n <= dense_limit:
        vals, vecs = np.linalg.eigh(laplacian.toarray())
        if k is not None:
            vals, vecs = vals[:k], vecs[:, :k]
        return Eigenbasis(vals, vecs, group_eigenvalues(vals, tol), k is None or k >= n)
    if k is None:
        raise ValueError(f"a graph of {n} nodes needs an explicit k (number of eigenpairs); "
                         f"only graphs of <= {dense_limit} nodes are decomposed completely")
    if not 1 <= k < n - 1:
        raise ValueError(f"k must be in 1..{n - 2} for a graph of {n} nodes, got {k}")
    from scipy.sparse.linalg import eigsh

    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(n)
    if psd:
        vals, vecs = eigsh(laplacian.tocsc(), k=k, sigma=-1e-3, which="LM", v0=v0)
    else:
        vals, vecs = eigsh(laplacian.tocsr(), k=k, which="SA", v0=v0)
    order = np.argsort(vals)
    vals, vecs = vals[order], vecs[:, order]
    # ARPACK's eigenvalues are accurate to its own tolerance, not to round-off: group with a
    # tolerance no tighter than 1e-6
    return Eigenbasis(vals, vecs, group_eigenvalues(vals, max(tol, 1e-6)), False)


def laplacian_embedding(graph: Graph, dim: int = 3, zero_tol: float = 1e-8,
                        laplacian: str = "paper") -> np.ndarray:
    """The spectral reference embedding: the top non-trivial eigenvectors of ``-L`` (the
    paper's ``L``; ``laplacian="combinatorial"`` for ``D - A``, the Laplacian eigenmap), taken
    as *whole eigenspaces*.

    Starting after the trivial top eigenvector, eigenspaces of ``-L`` are added in order until
    at least ``dim`` columns are taken *and* every node has a non-zero row (a node on which the
    chosen eigenspaces all vanish, such as a path-star's root under its ``(d-1)``-fold
    eigenspace, has no direction and no cosine). Because whole eigenspaces are taken, ``X X^T``
    (the orthogonal projector onto their span) does not depend on the basis a solver picks
    inside a degenerate eigenspace, so every rotation-invariant score (cosines, distances,
    Dirichlet energy, spectral fractions) is basis-free.

    Args:
        dim: minimum number of columns.
        zero_tol: a row counts as zero when its norm is below ``zero_tol`` times the largest
            row norm (round-off must not decide whether a node has a direction).

    Returns:
        ``(n, k)`` array with ``k >= dim`` orthonormal columns.

    Raises:
        ValueError: graphs above :data:`DENSE_LIMIT` nodes (the whole-eigenspace rule needs the
            complete decomposition), or no set of eigenspaces gives every node a direction.
    """
    n = graph.num_nodes
    if not 1 <= dim <= n - 1:
        raise ValueError(f"dim must be in 1..{n - 1} for a graph of {n} nodes, got {dim}")
    if n > DENSE_LIMIT:
        raise ValueError(f"laplacian_embedding decomposes completely; the graph has {n} nodes "
                         f"(limit {DENSE_LIMIT})")
    makers = {"paper": paper_laplacian, "combinatorial": combinatorial_laplacian}
    if laplacian not in makers:
        raise ValueError(f"laplacian must be one of {sorted(makers)}, got {laplacian!r}")
    basis = smallest_eigenvectors(makers[laplacian](graph))
    groups = basis.groups
    cut = 1
    for g in np.unique(groups[1:]):
        cut = int(np.flatnonzero(groups == g).max()) + 1
        norms = np.linalg.norm(basis.vectors[:, 1:cut], axis=1)
        if cut - 1 >= dim and norms.min() > zero_tol * norms.max():
            return basis.vectors[:, 1:cut].copy()
    raise ValueError("no set of eigenspaces of -L gives every node a non-zero row")
