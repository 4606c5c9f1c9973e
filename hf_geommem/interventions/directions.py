"""Which directions to intervene on (numpy only): the geometric directions of a graph's node
representations (:func:`geometric_directions`) and random frames of matched variance, the
null (:func:`random_frames`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int

__all__ = ["ABLATION_METHODS", "geometric_directions", "random_frames", "variance_share"]

ABLATION_METHODS = ("arm-means", "laplacian")


def _check_k(k: int, limit: int, what: str) -> int:
    return check_int("k", k, 1, limit, f" ({what})")


def geometric_directions(R: np.ndarray, graph: Any, k: int, method: str = "arm-means"
                         ) -> np.ndarray:
    """``(D, k)`` orthonormal directions of the representations ``R`` that carry the graph's
    geometry.

    Args:
        R: ``(num_nodes, D)`` node representations.
        graph: a rooted :class:`~hf_geommem.graphs.Graph` (``method="arm-means"``) or any graph
            without isolated nodes (``"laplacian"``).
        k: number of directions.
        method: ``"arm-means"``: the top-``k`` principal directions of the centred per-arm means
            of the non-root nodes (the directions that tell arms apart); ``"laplacian"``: the
            top-``k`` left singular vectors of ``Rc^T Y``, ``Y`` the smoothest non-trivial
            eigenspaces of the paper's Laplacian taken whole
            (:func:`~hf_geommem.spectral.laplacian_embedding` with ``dim=k``), i.e. the span of
            the representations' projection onto them. Both are basis-free.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != graph.num_nodes:
        raise ValueError(f"R must be ({graph.num_nodes}, D) for this graph, got {R.shape}")
    if method not in ABLATION_METHODS:
        raise ValueError(f"method must be one of {ABLATION_METHODS}, got {method!r}")
    Rc = R - R.mean(axis=0)
    if method == "arm-means":
        graph.require_rooted("arm-mean directions")
        M = R[graph.arms[:, 1:]].mean(axis=1)
        k = _check_k(k, min(M.shape[0] - 1, R.shape[1]), "arms - 1 and the width")
        _, _, vt = np.linalg.svd(M - M.mean(axis=0), full_matrices=False)
        return np.ascontiguousarray(vt[:k].T)
    from ..spectral import laplacian_embedding

    k = _check_k(k, min(graph.num_nodes - 2, R.shape[1]), "nodes - 2 and the width")
    Y = laplacian_embedding(graph, dim=k)
    u, _, _ = np.linalg.svd(Rc.T @ Y, full_matrices=False)
    if u.shape[1] < k:
        raise ValueError(f"the Laplacian eigenspaces span only {u.shape[1]} < k={k} directions")
    return np.ascontiguousarray(u[:, :k])


def variance_share(Rc: np.ndarray, Q: np.ndarray) -> float:
    return float(np.square(Rc @ Q).sum() / max(np.square(Rc).sum(), 1e-30))


def random_frames(R: np.ndarray, k: int, n: int, target_share: float | None = None,
                  seed: int = 0, candidates: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random ``(D, k)`` orthonormal frames and the share of the variance of ``R`` each
    captures.

    Candidates are ``orth(V S^a G)`` with ``R - mean = U S V^T`` (``S`` relative to its largest
    value, floored at 1e-3), ``G`` Gaussian and ``a`` uniform in ``[-3, 3]`` (from nearly the
    bottom principal directions through isotropic ones at ``a = 0`` to nearly the top ones), so
    their captured variance spans about the bottom-``k`` to the top-``k`` principal share; with
    ``target_share`` the ``n`` candidates (of ``candidates * n``) whose share is closest to it
    are kept: random directions *of the same variance* as the geometric ones.

    Returns:
        ``(frames (n, D, k), shares (n,))``.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"R must be (num_nodes, D), got shape {R.shape}")
    k = _check_k(k, R.shape[1], "the width")
    if n < 1 or candidates < 1:
        raise ValueError(f"n and candidates must be >= 1, got n={n}, candidates={candidates}")
    Rc = R - R.mean(axis=0)
    _, s, vt = np.linalg.svd(Rc, full_matrices=False)
    V = vt.T
    scale = np.maximum(s / max(s[0], 1e-30), 1e-3)
    rng = np.random.default_rng(seed)
    m = n if target_share is None else n * candidates
    frames, shares = [], []
    for _ in range(m):
        a = rng.uniform(-3.0, 3.0)
        G = rng.standard_normal((V.shape[1], k)) * (scale ** a)[:, None]
        Q, _ = np.linalg.qr(V @ G)
        if Q.shape[1] < k:  # R has fewer non-zero directions than k: pad isotropically
            Q, _ = np.linalg.qr(np.concatenate([Q, rng.standard_normal((R.shape[1], k))], 1))
            Q = Q[:, :k]
        frames.append(Q)
        shares.append(variance_share(Rc, Q))
    shares_a = np.asarray(shares)
    order = np.arange(m) if target_share is None else \
        np.argsort(np.abs(shares_a - target_share), kind="stable")[:n]
    return np.stack([frames[i] for i in order]), shares_a[order]


