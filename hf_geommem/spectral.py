"""Graph Laplacians and their eigenvectors (sparse; dense only for small graphs).

Two Laplacians appear in the paper (science.md sections 6-7):

* the paper's ``L = (I - D^-1 A) + (I - D^-1 A)^T`` (symmetric), whose top eigenvectors of
  ``-L`` (= smallest of ``L``) the tied one-hop Node2Vec converges to: :func:`paper_laplacian`;
* the combinatorial ``L = D - A`` of the standard smoothness scores (Dirichlet energy,
  spectral energy fraction): :func:`combinatorial_laplacian`.

:func:`authors_spectrum` gives the authors' spectral-bias bars (one per eigenvector of ``P + P^T``,
their normalization and tie order) for comparing with the paper's figures.

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
    "AuthorsSpectrum",
    "authors_spectrum",
    "DENSE_LIMIT",
]

DENSE_LIMIT = 4000  # graphs up to this many nodes use a dense, complete eigendecomposition


def _degrees_or_raise(graph: Graph, what: str) -> np.ndarray:
    deg = graph.degrees.astype(np.float64)
    if (deg == 0).any():
        bad = int(np.flatnonzero(deg == 0)[0])
        raise ValueError(f"{what} needs every node to have an edge; node {bad} is isolated")
    return deg


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def paper_laplacian(graph: Graph, self_loops: bool = False) -> sp.csr_matrix:
    """``L = (I - D^-1 A) + (I - D^-1 A)^T`` as a sparse ``n x n`` matrix (science.md 6).

    ``self_loops=True`` puts one self-loop on every node first (``A + I``, ``D + I``), as the
    authors' self-edge notebooks do: their edge list then holds ``(u, u)`` for every node."""
    self_loops = _check_bool("self_loops", self_loops)
    a = graph.adjacency().astype(np.float64)
    deg = _degrees_or_raise(graph, "the degree-normalized Laplacian") if not self_loops \
        else graph.degrees.astype(np.float64)
    if self_loops:
        a = a + sp.identity(graph.num_nodes, format="csr")
        deg = deg + 1.0
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
    from scipy.sparse.linalg import ArpackError, eigsh

    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(n)

    def solve(ncv: int | None) -> tuple[np.ndarray, np.ndarray]:
        if psd:
            return eigsh(laplacian.tocsc(), k=k, sigma=-1e-3, which="LM", v0=v0, ncv=ncv)
        return eigsh(laplacian.tocsr(), k=k, which="SA", v0=v0, ncv=ncv)

    try:
        vals, vecs = solve(None)
    except ArpackError:
        # highly degenerate spectra (a path-star's eigenspaces have d - 1 dimensions) can stall
        # the implicit restarts with ARPACK's default subspace of 2k + 1 vectors ("no shifts
        # could be applied", seen on G(1000,5)); a larger subspace gets past it
        vals, vecs = solve(min(n - 1, max(4 * k + 1, 64)))
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


@dataclass
class AuthorsSpectrum:
    """The authors' spectral-bias bars (:func:`authors_spectrum`), bar ``i`` first to last.

    Attributes:
        eigenvalues: ``(b,)`` their bar heights for the graph spectrum: eigenvalues of
            ``P + P^T`` (``P = D^-1 A``), descending, the top one dropped, divided by the
            largest remaining one.
        projections: ``(b,)`` their embedding bars, ``||X^T e_i||`` per eigenvector divided by
            the largest; ``None`` without ``X``. Basis-dependent inside a repeated eigenvalue.
        groups: ``(b,)`` eigenspace index of each bar (0 = the top remaining eigenspace), the
            numbering of :func:`~hf_geommem.metrics.spectral_profile`'s groups.
        group_norms: per eigenspace, the norm of ``X``'s projection onto it (unnormalized,
            basis-free): equals ``spectral_profile(...).details["projection_norms"]``.
        raw_eigenvalues: ``(b,)`` the eigenvalues of ``P + P^T`` behind the bars (unscaled).
        raw_projections: ``(b,)`` the per-vector norms behind the bars (unscaled).
        eigenvalue_scale, projection_scale: the divisors (their floor: 1e-12).
    """

    eigenvalues: np.ndarray
    projections: np.ndarray | None
    groups: np.ndarray
    group_norms: np.ndarray | None
    raw_eigenvalues: np.ndarray
    raw_projections: np.ndarray | None
    eigenvalue_scale: float
    projection_scale: float | None


def _authors_inputs(graph: Graph, X: np.ndarray | None, self_loops: bool, drop_top: bool,
                    tie_tol: float) -> tuple[bool, bool, np.ndarray | None]:
    """:func:`authors_spectrum`'s arguments checked: ``(self_loops, drop_top, X as float64)``."""
    self_loops = _check_bool("self_loops", self_loops)
    drop_top = _check_bool("drop_top", drop_top)
    if isinstance(tie_tol, bool) or not isinstance(tie_tol, (int, float, np.floating)) \
            or not np.isfinite(tie_tol) or tie_tol <= 0:
        raise ValueError(f"tie_tol must be a finite number > 0, got {tie_tol!r}")
    n = graph.num_nodes
    if n > DENSE_LIMIT:
        raise ValueError(f"authors_spectrum decomposes densely; the graph has {n} nodes "
                         f"(limit {DENSE_LIMIT})")
    if n < 2 + drop_top:
        raise ValueError(f"authors_spectrum needs at least {2 + drop_top} nodes, got {n}")
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"X must be (num_nodes, dim) = ({n}, m), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X has a non-finite value")
    return self_loops, drop_top, X


def authors_spectrum(graph: Graph, X: np.ndarray | None = None, self_loops: bool = False,
                     drop_top: bool = True, tie_tol: float = 1e-5) -> AuthorsSpectrum:
    """The spectral-bias bars of the authors' tiny-graph notebooks
    (``tiny_graphs_notebooks/analysis/analysis_spectral``: ``build_graph_spectral_state`` then
    ``compute_spectral_bias_from_state``), in their normalization and order.

    * Graph bars: the eigenvalues of ``P + P^T``, ``P = D^-1 A`` (which are those of ``-L``
      plus 2, ``L`` the paper's Laplacian), sorted descending, the top one dropped
      (``drop_top``), divided by the largest remaining (floored at 1e-12, as theirs: a graph
      whose remaining eigenvalues are all <= 0, such as a complete graph, gets huge bars).
      Ours (``spectral_profile``'s ``details["spectrum"]``) are the eigenvalues of ``-L``, one
      per eigenspace, divided by the largest magnitude: not the same numbers.
    * Embedding bars: ``||X^T e_i||`` for each eigenvector ``e_i`` of ``-L`` (paired with the
      graph bars by rank), divided by the largest remaining one; inside a tie of eigenvalues
      (their rule: equal ``round(bar / tie_tol)``) the bars are re-sorted by projection,
      largest first, except for negative eigenvalues (bar < ``-tie_tol``), smallest first.
    * ``self_loops=True``: one self-loop per node in ``A`` and in ``D`` (``A + I``, ``D + I``),
      as in their self-edge notebooks, whose edge list holds ``(u, u)``.

    What is and is not basis-dependent: inside a repeated eigenvalue (a cycle's 2-fold ones, a
    path-star's ``(d-1)``-fold ones) any orthonormal basis of the eigenspace is valid, and each
    per-vector norm ``||X^T e_i||`` depends on which one ``eigh`` returns; only the sum of their
    squares over the eigenspace (``group_norms``, equal to ours) is a property of ``X`` and the
    graph, and the sort by projection makes only their order, not their values, canonical. We
    form ``-L`` with the same arithmetic as theirs (``(A - D) / d_row`` plus its transpose) and
    decompose it with the same ``numpy.linalg.eigh``, so the same numpy/LAPACK build returns the
    same basis and the same per-vector bars; another build may split a repeated eigenvalue's
    mass differently between its bars. The graph bars, the bars of simple eigenvalues and
    ``group_norms`` are basis-free. (Their ``reorder_prefix`` option, unused by their
    notebooks, is not offered.)

    Args:
        graph: the graph (no isolated node unless ``self_loops``; up to
            :data:`DENSE_LIMIT` nodes: the decomposition is dense and complete).
        X: ``(n, m)`` node embeddings, or ``None`` for the graph bars alone.
        self_loops, drop_top: as above. tie_tol: their tie tolerance (> 0).
    """
    self_loops, drop_top, X = _authors_inputs(graph, X, self_loops, drop_top, tie_tol)
    n = graph.num_nodes
    a = graph.adjacency().toarray().astype(np.float64)
    if self_loops:
        a[np.arange(n), np.arange(n)] = 1.0
    else:
        _degrees_or_raise(graph, "authors_spectrum")
    d = a.sum(axis=1)
    neg_lap = (a - np.diag(d)) / d[:, None]
    neg_lap = neg_lap + neg_lap.T  # -L, formed as theirs
    vals_neg_l, vecs = np.linalg.eigh(neg_lap)  # ascending
    sym = a / d[:, None]
    sym = sym + sym.T  # P + P^T
    mu = np.linalg.eigh(sym)[0]  # ascending, paired by rank with vals_neg_l
    order = np.argsort(mu)[::-1]
    start = 1 if drop_top else 0
    idx = order[start:]
    raw_eig = mu[idx]
    eig_scale = max(float(raw_eig.max()), 1e-12)
    bars = raw_eig / eig_scale
    # eigenspaces by -L's own eigenvalues (those of the vectors), numbered from the top
    groups = group_eigenvalues(-vals_neg_l[idx])
    raw_proj = proj_scale = group_norms = proj = None
    if X is not None:
        raw_proj = np.linalg.norm(X.T @ vecs, axis=0)[idx]
        group_norms = np.sqrt(np.bincount(groups, weights=raw_proj ** 2))
        proj_scale = max(float(raw_proj.max()), 1e-12)
        proj = raw_proj / proj_scale
        if len(bars) > 1:
            buckets = np.round(bars / tie_tol).astype(np.int64)
            within = np.where(bars < -tie_tol, proj, -proj)
            resort = np.lexsort((within, -buckets))
            bars, proj, raw_eig, raw_proj, groups = (bars[resort], proj[resort],
                                                     raw_eig[resort], raw_proj[resort],
                                                     groups[resort])
    return AuthorsSpectrum(bars, proj, groups, group_norms, raw_eig, raw_proj, eig_scale,
                           proj_scale)
