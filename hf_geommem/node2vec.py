"""The paper's tied, one-hop, full-softmax Node2Vec and its spectral dynamics (science.md 7).

Objective (one table ``V``, ``n x m``)::

    J(V) = sum_i (1/|nbr(i)|) sum_{j in nbr(i)} log softmax_j(V v_i)     (softmax over all nodes)

trained by plain full-batch gradient ascent. The gradient is ``dJ/dV = C V`` with
``C = (D^-1 A - P) + (D^-1 A - P)^T`` and ``P = row_softmax(V V^T)``, so training is
``V <- V + lr * C V``: computed in closed form here (no autograd), on CPU or GPU. The untied
variant has an input table ``V`` and an output table ``U`` (logits ``V U^T``).

:func:`train_node2vec` records, at a schedule of steps (dense early, sparse later), ``V``, the
loss, and ``||V^T e_i||`` and ``||C e_i||`` for every eigenvector ``e_i`` of ``-L``
(``L = (I - D^-1 A) + (I - D^-1 A)^T``), which is what the paper plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .graphs import Graph
from .training.recording import record_schedule  # noqa: F401  (re-exported: part of this API)
from .spectral import DENSE_LIMIT, paper_laplacian, smallest_eigenvectors

__all__ = ["Node2VecConfig", "Node2VecResult", "record_schedule", "train_node2vec"]


@dataclass
class Node2VecConfig:
    """Node2Vec settings (paper defaults).

    Args:
        dim: embedding width ``m`` (paper: 100, more than the nodes of a tiny graph).
        lr: gradient-ascent step (paper: 0.01).
        epochs: full-batch steps (paper: 10,000).
        init_std: std of the N(0, std) init (paper: 1).
        tied: one table (the paper's) or separate input/output tables.
        record_steps: steps to record at (default :func:`record_schedule`); must lie in
            ``0..epochs``.
        num_eigenvectors: eigenvectors of ``-L`` tracked (default: all on graphs up to the dense
            limit, 16 above).
        keep_embeddings: store ``V`` at every recorded step.
        keep_C: also store the ``n x n`` matrix ``C(t)`` (tiny graphs).
        device: torch device; dtype: torch dtype (float64 by default: the dynamics are slow
            and float32 round-off shows on tiny graphs).
        seed: init seed.
    """

    dim: int = 100
    lr: float = 0.01
    epochs: int = 10_000
    init_std: float = 1.0
    tied: bool = True
    record_steps: list[int] | None = None
    num_eigenvectors: int | None = None
    keep_embeddings: bool = True
    keep_C: bool = False
    device: str = "cpu"
    dtype: Any = torch.float64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim (m) must be >= 1, got {self.dim}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.record_steps is not None:
            bad = [s for s in self.record_steps if not 0 <= s <= self.epochs]
            if bad:
                raise ValueError(f"record steps {bad[:5]} lie outside the run's 0..{self.epochs} "
                                 f"steps")


@dataclass
class Node2VecResult:
    """What :func:`train_node2vec` returns.

    Attributes:
        V: ``(n, m)`` final (input) embeddings; U: output table (untied) or ``None``.
        eigenvalues: ``(k,)`` eigenvalues of ``-L``, descending (top first).
        eigenvectors: ``(n, k)`` the matching eigenvectors.
        groups: ``(k,)`` degenerate-eigenspace index of each eigenvector.
        history: one dict per recorded step: ``step``, ``loss`` (-J / n), ``proj_V``
            (``||V^T e_i||``, k values), ``proj_C`` (``||C e_i||``), their basis-free
            per-eigenspace versions ``proj_V_group`` / ``proj_C_group`` (norm of the projection
            onto each eigenspace; the per-vector values depend on the solver's basis inside a
            degenerate eigenspace) and ``V`` if kept.
    """

    V: np.ndarray
    U: np.ndarray | None
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    groups: np.ndarray | None = None


def _memory_check(n: int, itemsize: int) -> None:
    need = 6 * n * n * itemsize  # logits, P, C and temporaries
    try:
        import os

        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > 0.8 * avail:
        raise MemoryError(
            f"full-softmax Node2Vec on {n} nodes needs about {need / 2**30:.1f} GiB (n x n "
            f"logits, softmax and C), but {avail / 2**30:.1f} GiB is available; use float32, a "
            f"GPU (device='cuda') or a smaller graph")


def train_node2vec(graph: Graph, config: Node2VecConfig | None = None,
                   callback: Callable[[int, np.ndarray], None] | None = None) -> Node2VecResult:
    """Full-batch gradient ascent on the tied (or untied) one-hop Node2Vec objective.

    Args:
        graph: any graph without isolated nodes (the objective is degree-normalized).
        callback: called as ``callback(step, V)`` at every recorded step (e.g. a
            :class:`~hf_geommem.training.recording.GeometryRecorder`).
    """
    config = config or Node2VecConfig()
    # the softmax has many tiny entries: float32 denormals make CPU matmuls ~10x slower
    # (torch's default is off; it cannot be queried, so it is switched back off afterwards)
    torch.set_flush_denormal(True)
    try:
        return _train(graph, config, callback)
    finally:
        torch.set_flush_denormal(False)


def _train(graph: Graph, config: Node2VecConfig,
           callback: Callable[[int, np.ndarray], None] | None) -> Node2VecResult:
    n = graph.num_nodes
    deg = graph.degrees
    if (deg == 0).any():
        raise ValueError(f"Node2Vec's degree-normalized objective needs every node to have a "
                         f"neighbour; node {int(np.flatnonzero(deg == 0)[0])} is isolated")
    dev, dt = torch.device(config.device), config.dtype
    _memory_check(n, torch.tensor([], dtype=dt).element_size())
    adj = graph.adjacency().toarray() if n <= 20_000 else None
    if adj is None:
        raise ValueError(f"Node2Vec with a full softmax over {n} nodes is limited to 20,000 "
                         f"nodes here (n x n matrices)")
    Pg = torch.tensor(adj / deg[:, None], dtype=dt, device=dev)  # D^-1 A
    lap = paper_laplacian(graph)
    k = config.num_eigenvectors or (n if n <= DENSE_LIMIT else 16)
    basis = smallest_eigenvectors(lap, k=min(k, n) if n <= DENSE_LIMIT else k, psd=False)
    evals, evecs = -basis.values, basis.vectors  # eigenvalues of -L, descending
    groups = basis.groups
    E = torch.tensor(evecs, dtype=dt, device=dev)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    V = (torch.randn(n, config.dim, generator=gen, dtype=dt) * config.init_std).to(dev)
    U = None if config.tied else \
        (torch.randn(n, config.dim, generator=gen, dtype=dt) * config.init_std).to(dev)
    record = set(config.record_steps if config.record_steps is not None
                 else record_schedule(config.epochs))
    history: list[dict[str, Any]] = []
    for step in range(config.epochs + 1):
        out = V if U is None else U
        logits = V @ out.T
        logp = torch.log_softmax(logits, dim=1)
        R = Pg - logp.exp()  # D^-1 A - P
        if step in record:
            C = R + R.T
            loss = float(-(Pg * logp).sum() / n)
            pv = torch.linalg.norm(V.T @ E, dim=0).cpu().numpy()
            pc = torch.linalg.norm(C @ E, dim=0).cpu().numpy()
            row = {"step": step, "loss": loss, "proj_V": pv, "proj_C": pc,
                   "proj_V_group": np.sqrt(np.bincount(groups, weights=pv ** 2)),
                   "proj_C_group": np.sqrt(np.bincount(groups, weights=pc ** 2))}
            if config.keep_embeddings:
                row["V"] = V.cpu().numpy().copy()
            if config.keep_C:
                row["C"] = C.cpu().numpy().copy()
            history.append(row)
            if callback is not None:
                callback(step, V.cpu().numpy())
        if step == config.epochs:
            break
        if U is None:
            V = V + config.lr * ((R + R.T) @ V)
        else:
            V, U = V + config.lr * (R @ U), U + config.lr * (R.T @ V)
    return Node2VecResult(V=V.cpu().numpy(), U=None if U is None else U.cpu().numpy(),
                          eigenvalues=evals, eigenvectors=evecs, history=history,
                          groups=groups)
