"""Smoothness of representations over the graph: geometric level, Dirichlet energy,
spectral energy fraction and profile, distance correlation."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..checks import check_int
from ..graphs import Graph
from ..spectral import (
    DENSE_LIMIT,
    combinatorial_laplacian,
    group_eigenvalues,
    paper_laplacian,
    smallest_eigenvectors,
)
from .inputs import _inputs, _undirected_pairs, _unit_rows
from .nulls import Score, _edge_dot_null, _with_null

# eigenpairs asked of ARPACK beyond the k + 1 needed, so the k-th eigenvalue's whole eigenspace
# (a few degenerate vectors) is usually inside the computed ones
_ARPACK_SPARE = 8

__all__ = ["geometric_level", "dirichlet_energy", "spectral_energy_fraction",
           "spectral_profile", "distance_correlation"]


def geometric_level(X: Any, graph: Any, n_null: int = 100, seed: int = 0,
                    self_edges: bool = False) -> Score:
    """Mean cosine similarity of the two endpoints' embeddings over the graph's edges
    (self-edges excluded; both directions of an edge give the same cosine). Best 1.0.

    ``self_edges=True`` gives the authors' level of a run trained with self-edges: the mean
    over the directed training edges (both directions, ``2|E|``) and the ``n`` self-edges, each
    self-edge counting ``cos(u, u) = 1``: ``w * ours + (1 - w)`` with ``w = 2|E| / (2|E| + n)``
    (value and null alike, so the p-values are ours)."""
    X, g = _inputs(X, graph)
    Xn = _unit_rows(X, "geometric_level").astype(np.float32)
    u, v = _undirected_pairs(g)
    w = 2 * len(u) / (2 * len(u) + g.num_nodes) if self_edges else 1.0
    value = w * float(np.einsum("ij,ij->i", Xn[u], Xn[v]).mean()) + (1 - w)
    draw = _edge_dot_null(Xn, u, v, seed)
    return _with_null("geometric_level", value, lambda p: w * draw(p) + (1 - w), g.num_nodes,
                      n_null, seed, True, best=1.0, details={"self_edge_weight": 1 - w})


_FIEDLER: "weakref.WeakKeyDictionary[Graph, float]" = weakref.WeakKeyDictionary()


def _fiedler_value(g: Graph) -> float:
    """The second-smallest eigenvalue of ``L = D - A``; one eigendecomposition per graph (the
    geometry recorder scores the same graph at every recorded step)."""
    if g not in _FIEDLER:
        if g.num_components > 1:
            _FIEDLER[g] = 0.0
        elif g.num_nodes <= DENSE_LIMIT:
            _FIEDLER[g] = float(np.linalg.eigvalsh(combinatorial_laplacian(g).toarray())[1])
        else:
            _FIEDLER[g] = float(smallest_eigenvectors(combinatorial_laplacian(g), k=2).values[1])
    return _FIEDLER[g]


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
        basis = smallest_eigenvectors(lap, k=min(n - 2, k + 1 + _ARPACK_SPARE))
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
                     n_null: int = 100, seed: int = 0, self_loops: bool = False) -> Score:
    """The paper's spectral profile: ``p_i = ||X^T e_i||`` over the eigenvectors ``e_i`` of
    ``-L``, ``L = (I - D^-1 A) + (I - D^-1 A)^T``, sorted by eigenvalue of ``-L`` (descending),
    the trivial top one dropped, degenerate eigenvalues grouped (``p_group`` = norm of the
    projection onto the eigenspace), normalized by the max.

    The score is the share of ``sum p^2`` (over all non-trivial directions) that falls in the
    ``top_groups`` top eigenspaces: geometric embeddings put their mass there.

    ``self_loops=True`` builds ``L`` with one self-loop per node (``A + I``, ``D + I``), as the
    authors' self-edge notebooks do.

    The authors' bars (one per eigenvector, eigenvalues of ``P + P^T`` divided by the largest,
    ties sorted by projection) are :func:`hf_geommem.spectral.authors_spectrum`; their
    per-eigenspace norms (``group_norms``) equal ``details["projection_norms"]`` here.

    Returns:
        :class:`Score`; ``details`` has ``spectrum`` (eigenvalues of -L per group, normalized
        by the largest magnitude), ``profile`` (normalized p per group), ``projection_norms``
        (p per group, unnormalized: ``||X^T E_g||_F`` for the group's eigenvectors ``E_g``),
        ``group_sizes``.
    """
    top_groups = check_int("top_groups", top_groups)
    if k is not None:
        k = check_int("k", k, 2)
    X, g = _inputs(X, graph)
    n = g.num_nodes
    lap = paper_laplacian(g, self_loops=self_loops)
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
               "projection_norms": np.sqrt(p2),
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


def distance_correlation(X: Any, graph: Any, n_sources: int = 64,
                         targets_per_source: int = 512, metric: str = "cosine",
                         n_null: int = 100, seed: int = 0) -> Score:
    """Spearman correlation between embedding distance (``cosine`` or ``euclidean``) and
    shortest-path distance over sampled pairs (``n_sources`` BFS sources x
    ``targets_per_source`` random targets; pairs in different components are skipped).
    Best 1.0; 0 at chance."""
    from scipy.sparse.csgraph import shortest_path
    from scipy.stats import spearmanr

    n_sources = check_int("n_sources", n_sources)
    targets_per_source = check_int("targets_per_source", targets_per_source)
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
