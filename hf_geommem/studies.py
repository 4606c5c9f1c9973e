"""The paper's tiny-graph studies (science.md section 8), edge-only, both directions.

* :func:`tiny_study` - six models on the four tiny graphs: associative control (frozen
  embeddings), Node2Vec, the Laplacian eigenvectors themselves, a 1-layer Transformer, the
  linear network and Mamba; each scored for memorization (top-k edge recovery) and geometry
  (geometric level, spectral energy fraction, spectral top mass, with shuffled-node nulls).
* :func:`knob_study` - initialization / learning rate / weight decay / dropout / self-edges on
  the 15-cycle linear network (D512, 10,000 steps).
* :func:`timing_contrast` - frozen-embedding associative fit vs the appearance of geometry.

:func:`train_linear` is a lean full-batch loop over the registered linear network
(:class:`~hf_geommem.modeling.LinearMemoryForCausalLM`, ``logits = E W E^T``): thousands of tiny
steps where Trainer's per-step overhead would dominate. The Transformer and
Mamba rows train through :func:`hf_geommem.training.train` like any other run.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .graphs import Graph, tiny_graphs
from .metrics import (geometric_level, memory_verdict, skewed_low_rank_margin,
                      spectral_energy_fraction, spectral_profile, topk_edge_recovery,
                      verdict_scores)
from .node2vec import Node2VecConfig, record_schedule, train_node2vec
from .spectral import laplacian_embedding

__all__ = ["LinearRun", "train_linear", "geometry_scores", "node2vec_embedding", "score_memory",
           "tiny_study", "knob_study",
           "knob_agrees", "timing_contrast", "TINY_MODELS", "KNOBS"]

TINY_MODELS = ("associative", "node2vec", "laplacian", "transformer", "linear", "mamba")


@dataclass
class LinearRun:
    """Result of :func:`train_linear`: final ``E`` (n x D) and ``W`` (D x D), and the
    recorded ``history`` rows (step, loss, topk, top1, geometric_level)."""

    E: np.ndarray
    W: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _directed_edges(graph: Graph, self_edges: bool) -> np.ndarray:
    e = np.concatenate([graph.edges, graph.edges[:, ::-1]])
    if self_edges:
        nodes = np.arange(graph.num_nodes)
        e = np.concatenate([e, np.stack([nodes, nodes], 1)])
    return e


def train_linear(graph: Graph, dim: int = 32, lr: float = 1e-2, steps: int = 2000,
                 init_std: float = 0.02, weight_decay: float = 0.0, dropout: float = 0.0,
                 self_edges: bool = False, freeze_embeddings: bool = False, seed: int = 0,
                 record_steps: list[int] | None = None, keep_embeddings: bool = False
                 ) -> LinearRun:
    """Full-batch AdamW on the linear network (:class:`~hf_geommem.modeling.
    LinearMemoryForCausalLM`, one token per node) ``score(u, v) = e_u^T W e_v`` over the
    graph's directed edges (both directions, plus ``u -> u`` with ``self_edges``).

    Args:
        init_std: std of the embedding init (0.02 default, 1.0 the "non-geometric" one); ``W``
            starts at N(0, 0.02).
        dropout: on the embedding before ``W`` (training only).
        freeze_embeddings: the associative control (only ``W`` trains).
        record_steps: steps at which to record the history (default: a log schedule).
        keep_embeddings: also keep ``E`` (a copy) in each history row.
    """
    if dim < 1 or steps < 1:
        raise ValueError(f"dim and steps must be >= 1, got dim={dim}, steps={steps}")
    from .modeling import LinearMemoryConfig, LinearMemoryForCausalLM, model_mode

    n = graph.num_nodes
    e = torch.as_tensor(_directed_edges(graph, self_edges))
    # the registered linear network, one token per node (no special tokens in this study)
    model = LinearMemoryForCausalLM(LinearMemoryConfig(
        vocab_size=n, hidden_size=dim, dropout=dropout, pad_token_id=None, bos_token_id=None,
        eos_token_id=None))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.embed_tokens.weight.copy_(torch.randn(n, dim, generator=gen) * init_std)
        # nn.Linear computes x A^T: A = W^T gives score(u, v) = e_u^T W e_v
        model.linear.weight.copy_((torch.randn(dim, dim, generator=gen) * 0.02).T)
    E = model.embed_tokens.weight  # tied with the unembedding
    if freeze_embeddings:
        E.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            weight_decay=weight_decay)
    record = set(record_steps if record_steps is not None else record_schedule(steps, 40))
    history = []
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    for step in range(steps + 1):
        if step in record:
            with model_mode(model), torch.no_grad():
                X = E.detach().numpy()
                Z = model(input_ids=torch.arange(n)[:, None]).logits[:, 0].numpy()
                # self excluded by the metric unless self_edges
                rec = topk_edge_recovery(X, graph, logits=Z, n_null=0,
                                         self_edges=self_edges).value
                row = {"step": step, "topk": rec}
                if keep_embeddings:
                    row["E"] = X.copy()
                try:
                    row["geometric_level"] = geometric_level(X, graph, n_null=0).value
                except ValueError:
                    pass
                history.append(row)
        if step == steps:
            break
        model.train()  # the loop's own mode: recording (above) restores it
        logits = model(input_ids=e[:, :1]).logits[:, 0]
        loss = torch.nn.functional.cross_entropy(logits, e[:, 1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if history and history[-1]["step"] == step:
            history[-1]["loss"] = float(loss.detach())
    W = model.linear.weight.detach().T
    return LinearRun(E.detach().numpy().copy(), W.numpy().copy(), history,
                     time.perf_counter() - t0)


def geometry_scores(X: np.ndarray, graph: Graph, n_null: int = 200, seed: int = 0,
                    k: int = 2) -> dict[str, Any]:
    """The geometry of node embeddings ``X``, each score with its ``n_null`` shuffled-node null:
    :func:`~hf_geommem.metrics.verdict_scores` (geometric level, Dirichlet energy), the spectral
    energy fraction of the ``k`` smoothest directions (``"spectral_fraction"``), the spectral
    profile (``"spectral_top_mass"``) and the verdict of those scores (``"verdict"``). The one
    scoring of an embedding's geometry shared by the studies and the reproduction (Node2Vec)."""
    scores = verdict_scores(X, graph, n_null, seed)
    return {**scores,
            "spectral_fraction": spectral_energy_fraction(X, graph, k=k, n_null=n_null,
                                                          seed=seed),
            "spectral_top_mass": spectral_profile(X, graph, n_null=n_null, seed=seed),
            "verdict": memory_verdict(**scores)}


def node2vec_embedding(graph: Graph, epochs: int, seed: int, dim: int | None = None
                       ) -> np.ndarray:
    """Node2Vec's ``V`` of ``graph`` after ``epochs`` full-batch steps (``dim``: the config's
    default width when None), no history kept."""
    extra = {} if dim is None else {"dim": dim}
    return train_node2vec(graph, Node2VecConfig(epochs=epochs, seed=seed, keep_embeddings=False,
                                                **extra)).V


def score_memory(X: np.ndarray, graph: Graph, logits: np.ndarray | None = None,
                 n_null: int = 200, seed: int = 0, k: int = 2,
                 self_edges: bool = False) -> dict[str, Any]:
    """Memorization and geometry of node embeddings ``X`` (and, if given, the model's
    ``logits`` over nodes): top-k recovery and :func:`geometry_scores` (geometric level,
    Dirichlet energy, spectral energy fraction of the ``k`` smoothest directions, spectral top
    mass, each with its null, and the verdict of :func:`~hf_geommem.metrics.memory_verdict`
    from :func:`~hf_geommem.metrics.verdict_scores`, like every verdict of the library)."""
    rec = topk_edge_recovery(X, graph, logits=logits, n_null=0,
                             self_edges=self_edges and logits is not None).value
    geo = geometry_scores(X, graph, n_null, seed, k)
    gl, de = geo["geometric_level"], geo["dirichlet_energy"]
    sk, sp, verdict = geo["spectral_fraction"], geo["spectral_top_mass"], geo["verdict"]
    return {"topk_recovery": rec, "geometric_level": gl.value, "geometric_level_null_high":
            gl.null_high, "dirichlet_energy": de.value, "dirichlet_energy_null_low":
            de.null_low, "spectral_fraction": sk.value, "spectral_fraction_null_high":
            sk.null_high, "spectral_top_mass": sp.value, "spectral_top_mass_null_high":
            sp.null_high, "verdict": verdict, "geometric": verdict == "geometric",
            "profile": sp.details["profile"],
            "spectrum": sp.details["spectrum"]}


def _model_logits(model: Any, n: int) -> np.ndarray:
    """``(n, n)`` next-token logits over node tokens after ``[EDGE] u`` for every node ``u``
    (whether ``u`` itself counts is the metric's ``self_edges`` choice)."""
    from .training import edge_query_logits

    return torch.cat([lg.cpu() for _, lg in edge_query_logits(model, np.arange(n), n)]).numpy()


def _train_sequence_model(graph: Graph, preset: str, steps: int, lr: float, seed: int,
                          self_edges: bool = False):
    from .builder import build_task
    from .modeling import node_embeddings
    from .tasks import EdgeTaskConfig
    from .training import TrainConfig, train

    task = build_task(graph, edges=EdgeTaskConfig(self_edges=self_edges), paths=False)
    with tempfile.TemporaryDirectory() as d:
        # every optimizer setting explicit: the study's (science.md 8), not the family recipe
        cfg = TrainConfig(model=preset, recipe="edges", max_steps=steps, eval_steps=steps,
                          learning_rate=lr, lr_scheduler="cosine", weight_decay=0.0,
                          batch_size=None, warmup_ratio=0.0, stop_after_train_exact=None,
                          min_epochs=None, seed=seed)
        res = train(task, d + "/run", cfg, progress=False)
    return node_embeddings(res.model, graph.num_nodes), _model_logits(res.model,
                                                                      graph.num_nodes)


def tiny_study(graphs: dict[str, Graph] | None = None, models: tuple[str, ...] = TINY_MODELS,
               transformer_steps: int = 500, mamba_steps: int = 300, linear_steps: int = 2000,
               node2vec_epochs: int = 10_000, n_null: int = 200, seed: int = 0,
               laplacian_dim: int = 3, self_edges: bool = True,
               progress: Any = None) -> list[dict[str, Any]]:
    """Six models x four tiny graphs (edge-only, both directions). One row per (graph, model)
    with :func:`score_memory`'s fields plus ``seconds`` and ``X``. The embeddings scored are: the frozen
    random code (associative), Node2Vec's V, the top eigenvectors of -L (laplacian), and the
    node-token input embeddings of the trained models.

    ``self_edges`` (default on) adds ``u -> u`` examples for the trained models. The authors'
    code counts self-edges among the training edges (science.md 6), and without them the linear
    network's softmax competition with ``u`` itself drives it to a "zig-zag" code (neighbours
    anti-aligned, edge cosines -0.2 to -0.5 here) rather than the aligned geometry (science.md
    8: self-edges remove the zig-zag); pass ``False`` to see it."""
    graphs = graphs or tiny_graphs(seed)
    unknown = set(models) - set(TINY_MODELS)
    if unknown:
        raise ValueError(f"unknown tiny-study models {sorted(unknown)}; expected {TINY_MODELS}")
    # cheap references first: a graph on which the Laplacian reference is undefined fails here,
    # before any model trains
    references = {gname: laplacian_embedding(g, laplacian_dim) for gname, g in graphs.items()} \
        if "laplacian" in models else {}
    rows = []
    for gname, g in graphs.items():
        for model in models:
            t0 = time.perf_counter()
            logits = None
            if model == "associative":
                run = train_linear(g, dim=32, lr=0.1, steps=100, init_std=1.0,
                                   freeze_embeddings=True, seed=seed, self_edges=self_edges)
                X, logits = run.E, run.E @ run.W @ run.E.T
            elif model == "node2vec":
                X = node2vec_embedding(g, node2vec_epochs, seed)
            elif model == "laplacian":
                X = references[gname]
            elif model == "linear":
                run = train_linear(g, dim=32, lr=1e-2, steps=linear_steps, seed=seed,
                                   self_edges=self_edges)
                X, logits = run.E, run.E @ run.W @ run.E.T
            else:
                preset = "gpt2-tiny" if model == "transformer" else "mamba-tiny"
                steps = transformer_steps if model == "transformer" else mamba_steps
                X, logits = _train_sequence_model(g, preset, steps, 1e-2, seed, self_edges)
            row = {"graph": gname, "model": model,
                   **score_memory(X, g, logits, n_null, seed, self_edges=self_edges),
                   "seconds": time.perf_counter() - t0, "X": np.asarray(X)}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


# knob -> train_linear arguments (cycle 15, D512, 10,000 steps; science.md section 8)
KNOBS: dict[str, dict[str, Any]] = {
    "default init, lr 1e-2": dict(init_std=0.02, lr=1e-2),
    "default init, lr 1e-4": dict(init_std=0.02, lr=1e-4),
    "N(0,1) init, lr 1e-4": dict(init_std=1.0, lr=1e-4),
    "N(0,1) init, lr 0.1": dict(init_std=1.0, lr=0.1),
    "N(0,1) init, lr 1e-4, weight decay 10": dict(init_std=1.0, lr=1e-4, weight_decay=10.0),
    "N(0,1) init, lr 1e-4, dropout 0.4": dict(init_std=1.0, lr=1e-4, dropout=0.4),
    "default init, lr 1e-2, self-edges": dict(init_std=0.02, lr=1e-2, self_edges=True),
}
PAPER_KNOB_VERDICT = {
    "default init, lr 1e-2": "geometric", "default init, lr 1e-4": "weakly geometric",
    "N(0,1) init, lr 1e-4": "associative", "N(0,1) init, lr 0.1": "geometric",
    "N(0,1) init, lr 1e-4, weight decay 10": "geometric",
    "N(0,1) init, lr 1e-4, dropout 0.4": "geometric",
    "default init, lr 1e-2, self-edges": "geometric (no zig-zag)",
}
# which of our verdicts each of the paper's words admits: the paper judged the knob runs by the
# skewed low-rank margin and calls the zig-zag code (neighbours anti-aligned through strongly
# negative eigen-directions) a geometry that self-edges remove (science.md 8)
_PAPER_ADMITS = {"geometric": {"geometric", "zig-zag"},
                 "geometric (no zig-zag)": {"geometric"},
                 "weakly geometric": {"weakly geometric"},
                 "associative": {"associative"}}


def knob_agrees(verdict: str, paper: str) -> bool:
    """Does our :func:`~hf_geommem.metrics.memory_verdict` match the paper's word for a knob?
    The paper's "geometric" admits our "geometric" and "zig-zag" (a geometry of anti-aligned
    neighbours, which the paper counts as geometric and says self-edges remove); "geometric (no
    zig-zag)" only "geometric"; "weaker" (our "weakly geometric") and "associative" only
    themselves."""
    if paper not in _PAPER_ADMITS:
        raise ValueError(f"unknown paper verdict {paper!r}; expected one of "
                         f"{sorted(_PAPER_ADMITS)}")
    return verdict in _PAPER_ADMITS[paper]



def knob_study(graph: Graph | None = None, dim: int = 512, steps: int = 10_000,
               knobs: dict[str, dict[str, Any]] | None = None, n_null: int = 200,
               seed: int = 0, progress: Any = None) -> list[dict[str, Any]]:
    """The knob table on the 15-cycle linear network: geometric level, skewed low-rank margin,
    top-1 accuracy, Dirichlet energy, spectral energy fraction (k=2: the two smoothest
    directions; descriptive), the verdict of :func:`~hf_geommem.metrics.memory_verdict` (from
    :func:`~hf_geommem.metrics.verdict_scores`, with the skewed margin) and the paper's
    verdict (the paper's "weaker" read as "weakly geometric"); ``agrees``: :func:`knob_agrees`."""
    from .graphs import cycle

    graph = graph or cycle(15)
    rows = []
    for name, kw in (knobs or KNOBS).items():
        run = train_linear(graph, dim=dim, steps=steps, seed=seed,
                           record_steps=[0, steps], **kw)
        sk = skewed_low_rank_margin(run.E, run.W, graph, self_edges=kw.get("self_edges", False))
        scores = verdict_scores(run.E, graph, n_null, seed)
        sf = spectral_energy_fraction(run.E, graph, k=2, n_null=n_null, seed=seed)
        verdict = memory_verdict(**scores, skewed_margin=sk.value)
        paper = PAPER_KNOB_VERDICT.get(name, "")
        row = {"knob": name, "geometric_level": scores["geometric_level"].value,
               "dirichlet_energy": scores["dirichlet_energy"].value, "skewed_margin": sk.value,
               "skewed_top1": sk.details["top1"], "top1": sk.details["full_top1"],
               "spectral_fraction": sf.value, "spectral_chance": sf.chance,
               "verdict": verdict, "paper": paper,
               "agrees": knob_agrees(verdict, paper) if paper else None,
               "basis_dependent": sk.details["basis_dependent"], "seconds": run.seconds}
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def timing_contrast(graph: Graph | None = None, seed: int = 0, n_null: int = 200
                    ) -> dict[str, Any]:
    """Steps to a full associative fit with frozen N(0,1) embeddings at lr 0.1, versus the
    first step at which a trainable linear network (default init, lr 1e-2, with self-edges so
    that its geometry is the aligned kind rather than zig-zag) is geometric: its geometric
    level significant against the shuffled-node null *of that step's embeddings*."""
    from .graphs import cycle

    graph = graph or cycle(15)
    frozen = train_linear(graph, dim=32, lr=0.1, steps=50, init_std=1.0,
                          freeze_embeddings=True, seed=seed, record_steps=list(range(51)))
    fit = next((h["step"] for h in frozen.history if h["topk"] >= 1.0), None)
    live = train_linear(graph, dim=32, lr=1e-2, steps=2000, seed=seed, self_edges=True,
                        record_steps=sorted(set(range(0, 101, 5)) | set(range(100, 2001, 50))),
                        keep_embeddings=True)
    geo, null_high = None, float("nan")
    for h in live.history:
        gl = geometric_level(h["E"], graph, n_null, seed)
        if gl.significant:
            geo, null_high = h["step"], gl.null_high
            break
    live_fit = next((h["step"] for h in live.history if h["topk"] >= 1.0), None)
    return {"associative_fit_steps": fit, "geometry_steps": geo,
            "trainable_fit_steps": live_fit, "geometric_level_null_high": null_high}
