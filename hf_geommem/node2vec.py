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
        keep_C: also store the ``n x n`` matrix ``C(t)`` (tiny graphs; needs the dense path).
        chunk_rows: rows of the ``n x n`` softmax held at once. ``None``: all of them while
            the dense matrices take at most :data:`DENSE_BYTES`, else chunks of about
            :data:`CHUNK_BYTES` (the same update up to float summation order; memory ``O(n m
            + chunk n)`` instead of ``O(n^2)``, so graphs of 5x10^4 nodes train on a laptop).
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
    chunk_rows: int | None = None
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
        if self.chunk_rows is not None and (not isinstance(self.chunk_rows, int)
                                            or self.chunk_rows < 1):
            raise ValueError(f"chunk_rows must be an integer >= 1 or None, got "
                             f"{self.chunk_rows!r}")
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


DENSE_BYTES = 2**30  # the dense path's n x n matrices (logits, P, C, temporaries) up to this
CHUNK_BYTES = 2**28  # one chunk of softmax rows on the chunked path


def _chunk_rows(n: int, itemsize: int, config: "Node2VecConfig") -> int:
    """Softmax rows per chunk: ``n`` (the dense path) when its matrices are small."""
    if config.chunk_rows is not None:
        return min(config.chunk_rows, n)
    if 6 * n * n * itemsize <= DENSE_BYTES:
        return n
    return max(1, min(n, CHUNK_BYTES // (2 * n * itemsize)))


def _memory_check(n: int, m: int, rows: int, itemsize: int) -> None:
    # dense: logits, P, C and temporaries; chunked: a chunk's logits and P, plus the n x m
    # tables and products
    need = (6 * n * n if rows >= n else 2 * rows * n + 8 * n * m) * itemsize
    try:
        import os

        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > 0.8 * avail:
        raise MemoryError(
            f"full-softmax Node2Vec on {n} nodes with {rows} softmax rows at once needs about "
            f"{need / 2**30:.1f} GiB, but {avail / 2**30:.1f} GiB is available; set a smaller "
            f"chunk_rows, use float32 or a GPU (device='cuda')")


def _softmax_products(V: torch.Tensor, out: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                      rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Products with ``P = row_softmax(V out^T)`` (n x n) without holding ``P``: it is built
    ``rows`` rows at a time. Returns ``P @ A`` (n x k), ``P^T @ B`` (n x k') and the rows'
    log-normalizers ``logsumexp(V out^T, dim=1)`` (n,), so that ``log P_ij = v_i . out_j -
    lse_i``."""
    n = V.shape[0]
    PA = torch.empty(n, A.shape[1], dtype=V.dtype, device=V.device)
    PTB = torch.zeros(out.shape[0], B.shape[1], dtype=V.dtype, device=V.device)
    lse = torch.empty(n, dtype=V.dtype, device=V.device)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        logits = V[lo:hi] @ out.T
        lse[lo:hi] = torch.logsumexp(logits, dim=1)
        P = torch.exp(logits - lse[lo:hi, None])
        PA[lo:hi] = P @ A
        PTB += P.T @ B[lo:hi]
    return PA, PTB, lse


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
    itemsize = torch.tensor([], dtype=dt).element_size()
    rows = _chunk_rows(n, itemsize, config)
    if config.keep_C and rows < n:
        raise ValueError(f"keep_C stores the n x n matrix C at every recorded step; with {n} "
                         f"nodes and chunk_rows={rows} there is none to keep (use keep_C=False "
                         f"or chunk_rows=None on a graph whose n x n matrices fit)")
    _memory_check(n, config.dim, rows, itemsize)
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

    def on_record(step: int, V: torch.Tensor, loss: float, C: torch.Tensor | None,
                  CE: torch.Tensor) -> None:
        pv = torch.linalg.norm(V.T @ E, dim=0).cpu().numpy()
        pc = torch.linalg.norm(CE, dim=0).cpu().numpy()
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

    steps = _dense_steps if rows >= n else _chunked_steps
    V, U = steps(graph, V, U, E, config, record, rows, on_record)
    return Node2VecResult(V=V.cpu().numpy(), U=None if U is None else U.cpu().numpy(),
                          eigenvalues=evals, eigenvectors=evecs, history=history,
                          groups=groups)


def _dense_steps(graph: Graph, V: torch.Tensor, U: torch.Tensor | None, E: torch.Tensor,
                 config: Node2VecConfig, record: set[int], rows: int,
                 on_record: Callable[..., None]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training with the whole ``n x n`` softmax in memory (graphs whose matrices fit)."""
    n, deg = graph.num_nodes, graph.degrees
    Pg = torch.tensor(graph.adjacency().toarray() / deg[:, None], dtype=config.dtype,
                      device=V.device)  # D^-1 A
    for step in range(config.epochs + 1):
        out = V if U is None else U
        logp = torch.log_softmax(V @ out.T, dim=1)
        R = Pg - logp.exp()  # D^-1 A - P
        if step in record:
            C = R + R.T
            on_record(step, V, float(-(Pg * logp).sum() / n), C, C @ E)
        if step == config.epochs:
            break
        if U is None:
            V = V + config.lr * ((R + R.T) @ V)
        else:
            V, U = V + config.lr * (R @ U), U + config.lr * (R.T @ V)
    return V, U


def _chunked_steps(graph: Graph, V: torch.Tensor, U: torch.Tensor | None, E: torch.Tensor,
                   config: Node2VecConfig, record: set[int], rows: int,
                   on_record: Callable[..., None]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The same updates with ``P`` built ``rows`` rows at a time and ``D^-1 A`` sparse:
    ``(R + R^T) V = Pg V + Pg^T V - P V - P^T V`` (tied), ``R U`` and ``R^T V`` (untied)."""
    n, deg = graph.num_nodes, graph.degrees
    coo = graph.adjacency().tocoo()
    idx = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    Pg = torch.sparse_coo_tensor(idx, torch.tensor(coo.data / deg[coo.row], dtype=config.dtype),
                                 (n, n), check_invariants=True).coalesce().to(V.device)
    PgT = Pg.t().coalesce()
    m = V.shape[1]
    PgE_sym = torch.sparse.mm(Pg, E) + torch.sparse.mm(PgT, E)  # (Pg + Pg^T) E: E is fixed
    for step in range(config.epochs + 1):
        out = V if U is None else U
        rec = step in record
        # one pass over the softmax for the update, and for C E when this step is recorded
        A = torch.cat([out, E], 1) if rec else out
        B = torch.cat([V, E], 1) if rec else V
        PA, PTB, lse = _softmax_products(V, out, A, B, rows)
        Pg_out = torch.sparse.mm(Pg, out)
        if rec:
            # loss = -(1/n) sum_ij Pg_ij (v_i . out_j - lse_i); rows of Pg sum to 1
            loss = float(-((V * Pg_out).sum() - lse.sum()) / n)
            on_record(step, V, loss, None, PgE_sym - PA[:, m:] - PTB[:, m:])
        if step == config.epochs:
            break
        RU = Pg_out - PA[:, :m]  # R out
        RTV = torch.sparse.mm(PgT, V) - PTB[:, :m]  # R^T V
        if U is None:
            V = V + config.lr * (RU + RTV)
        else:
            V, U = V + config.lr * RU, U + config.lr * RTV
    return V, U
