"""Calibration and power of the library's verdicts: how often each significance call fires on
embeddings with no geometry of the graph (false-positive rate, target <= ``ALPHA``) and on
planted geometry (power).

* Nulls (:data:`NULL_KINDS`, :func:`null_sampler`): isotropic Gaussian rows; anisotropic
  Gaussian rows (three dominant directions over a ``1/j`` decaying spectrum); the token
  embeddings of a frozen-embedding linear memory model trained on the graph
  (:func:`~hf_geommem.studies.train_linear`); a trained geometric model (Node2Vec on the graph)
  with its node ids permuted: geometry present, unrelated to the graph's edges.
* Planted geometry (:func:`planted_sampler`): the Laplacian eigenmap of the graph, rotated into
  ``dim`` dimensions, plus Gaussian noise of row norm ``noise`` (signal row norm 1).
* Calls (:func:`draw_calls`): the memory verdict (any word but ``"associative"``), navigation
  accuracy (rooted graphs) and the probe's per-layer verdict (the memory verdict of the
  standardized representations, as :func:`~hf_geommem.probing.probe` prepares a layer).

:func:`calibration_cell` counts calls over independent draws (a fresh embedding and a fresh
null seed per draw) and gives each rate its exact (Clopper-Pearson) binomial 95% interval.
``benchmarks/calibration.py`` runs the table; ``docs/calibration.md`` is generated from its
JSON.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .checks import check_int
from .graphs import Graph
from .metrics import (ALPHA, leaf_first_hop, memory_verdict, prepare_representations,
                      verdict_scores)

__all__ = ["NULL_KINDS", "CALLS", "binomial_interval", "null_sampler", "planted_sampler",
           "draw_calls", "calibration_cell"]

NULL_KINDS = ("isotropic", "anisotropic", "frozen_model", "permuted_geometric")
CALLS = ("memory_verdict", "navigation", "probe_layer")

Sampler = Callable[[np.random.Generator, int], np.ndarray]


def binomial_interval(successes: int, trials: int, confidence: float = 0.95
                      ) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided ``confidence`` interval of a binomial rate."""
    from scipy.stats import binomtest

    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of "
                         f"{trials}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high)


def _check_dim(dim: int) -> int:
    return check_int("dim", dim, 2)


def null_sampler(kind: str, graph: Graph, dim: int = 64, seed: int = 0) -> Sampler:
    """``sample(rng, draw) -> X`` (``n x dim``) of a null with exchangeable rows (no geometry
    of ``graph``): see :data:`NULL_KINDS`. Whatever is trained once (the geometric model of
    ``permuted_geometric``) is trained here, with ``seed``."""
    dim = _check_dim(dim)
    n = graph.num_nodes
    if kind == "isotropic":
        return lambda rng, draw: rng.standard_normal((n, dim))
    if kind == "anisotropic":
        # a few dominant directions over a decaying spectrum, as in raw hidden states
        std = np.concatenate([np.full(3, 10.0), 1.0 / np.arange(1, dim - 2)])
        return lambda rng, draw: rng.standard_normal((n, dim)) * std
    if kind == "frozen_model":
        from .studies import train_linear

        # the associative control: only W trains (a full fit takes a few steps at lr 0.1)
        return lambda rng, draw: train_linear(
            graph, dim=dim, lr=0.1, steps=10, init_std=1.0, freeze_embeddings=True,
            seed=int(rng.integers(2 ** 31)), record_steps=[]).E
    if kind == "permuted_geometric":
        from .node2vec import Node2VecConfig, train_node2vec

        V = train_node2vec(graph, Node2VecConfig(dim=dim, epochs=2000, seed=seed,
                                                 keep_embeddings=False,
                                                 record_steps=[0])).V
        return lambda rng, draw: V[rng.permutation(n)]
    raise ValueError(f"unknown null kind {kind!r}; expected one of {NULL_KINDS}")


def planted_sampler(graph: Graph, noise: float, dim: int = 64, seed: int = 0) -> Sampler:
    """Planted geometry: the Laplacian eigenmap of ``graph`` (``L = D - A``, the smoothest
    whole eigenspaces, at least 3 columns), scaled to mean squared row norm 1 and rotated into
    ``dim`` dimensions by a fixed random orthonormal map, plus i.i.d. Gaussian noise of expected
    row norm ``noise`` (``noise`` = noise-to-signal ratio of row norms)."""
    from .spectral import laplacian_embedding

    dim = _check_dim(dim)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    E = laplacian_embedding(graph, 3, laplacian="combinatorial")
    if E.shape[1] > dim:
        raise ValueError(f"the eigenmap has {E.shape[1]} columns, more than dim={dim}")
    E = E / np.sqrt((E ** 2).sum(axis=1).mean())
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, E.shape[1])))
    signal = E @ Q.T
    scale = noise / np.sqrt(dim)
    return lambda rng, draw: signal + scale * rng.standard_normal(signal.shape)


def draw_calls(X: np.ndarray, graph: Graph, n_null: int = 200, seed: int = 0
               ) -> dict[str, Any]:
    """Every significance call of the library on one embedding: ``memory_verdict`` (the verdict
    is not ``"associative"``), ``navigation`` (navigation accuracy significant; ``None`` on
    graphs without arms), ``probe_layer`` (the memory verdict of the standardized
    representations is not ``"associative"``) and ``verdict`` (the memory verdict's word)."""
    verdict = memory_verdict(**verdict_scores(X, graph, n_null, seed))
    probe_verdict = memory_verdict(**verdict_scores(
        prepare_representations(X, standardize=True), graph, n_null, seed))
    nav = None
    if graph.arms is not None and graph.arms.shape[0] >= 2:
        nav = leaf_first_hop(X, graph, n_null=n_null, seed=seed).significant
    return {"memory_verdict": verdict != "associative", "navigation": nav,
            "probe_layer": probe_verdict != "associative", "verdict": verdict}


def calibration_cell(sampler: Sampler, graph: Graph, draws: int, n_null: int = 200,
                     seed: int = 0) -> dict[str, Any]:
    """Rates of every call of :func:`draw_calls` over ``draws`` independent draws (draw ``i``:
    embedding from ``sampler(rng, i)``, null seed ``seed * 1_000_003 + i``).

    Returns:
        ``draws``, ``n_null``, ``verdicts`` (count per memory-verdict word) and, per call,
        ``{"count", "rate", "low", "high"}`` (95% Clopper-Pearson interval); navigation is
        absent on graphs without arms.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(CALLS, 0)
    words: dict[str, int] = {}
    for i in range(draws):
        calls = draw_calls(sampler(rng, i), graph, n_null, seed * 1_000_003 + i)
        for name in CALLS:
            counts[name] += bool(calls[name])
        words[calls["verdict"]] = words.get(calls["verdict"], 0) + 1
    if graph.arms is None or graph.arms.shape[0] < 2:
        counts.pop("navigation")
    out: dict[str, Any] = {"draws": draws, "n_null": n_null, "alpha": ALPHA, "verdicts": words}
    for name, k in counts.items():
        low, high = binomial_interval(k, draws)
        out[name] = {"count": k, "rate": k / draws, "low": low, "high": high}
    return out
