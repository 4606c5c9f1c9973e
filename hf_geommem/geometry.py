"""Geometry over training: record node embeddings and geometry metrics at a schedule of steps.

:class:`GeometryRecorder` is the shared hook: give it ``(step, node embeddings)`` (and optionally
the model's top-k edge recovery) and it appends a row to ``<out>/geometry.jsonl`` and saves the
embeddings as ``<out>/geometry/step_<step>.npy``. :class:`GeometryCallback` plugs it into
``transformers.Trainer``; :func:`hf_geommem.node2vec.train_node2vec` takes it as ``callback``.
The rows hold: geometric level, Dirichlet energy and spectral-profile top mass (with null z),
top-k edge recovery (model logits or embedding dot products) and, on path-stars, navigation
accuracy: the "associative vs geometric memorization" curves of any run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .graphs import Graph
from .training.callbacks import LoggingCallback
from .metrics import (dirichlet_energy, geometric_level, leaf_first_hop, memory_verdict,
                      path_distance_matrix, spectral_profile, topk_edge_recovery,
                      verdict_scores)

__all__ = ["record_schedule", "GeometryRecorder", "GeometryCallback", "read_geometry", "trained_geometry",
           "geometry_summary", "GEOMETRY_FILE"]

GEOMETRY_FILE = "geometry.jsonl"


def record_schedule(total_steps: int, num: int = 60) -> list[int]:
    """Steps ``0 .. total_steps`` to record at: geometric spacing (dense early, sparse late)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    steps = np.unique(np.round(np.geomspace(1, total_steps, num)).astype(int))
    return [0] + [int(s) for s in steps]


class GeometryRecorder:
    """Records geometry metrics and embeddings at the steps of ``schedule``.

    Args:
        graph: the memorized graph.
        output_dir: where ``geometry.jsonl`` and ``geometry/step_*.npy`` go (``None``: memory
            only, see ``rows``).
        schedule: steps to record (``None``: every call).
        n_null: null draws for each score (small: recorded often).
        save_embeddings: write the embedding snapshots.
    """

    def __init__(self, graph: Graph, output_dir: str | os.PathLike | None = None,
                 schedule: list[int] | None = None, n_null: int = 20,
                 save_embeddings: bool = True, seed: int = 0):
        self.graph, self.schedule = graph, None if schedule is None else set(schedule)
        self.n_null, self.seed, self.save_embeddings = n_null, seed, save_embeddings
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.rows: list[dict[str, Any]] = []
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)

    def wants(self, step: int) -> bool:
        return self.schedule is None or step in self.schedule

    def __call__(self, step: int, embeddings: np.ndarray,
                 model_topk: float | None = None) -> dict[str, Any] | None:
        if not self.wants(step):
            return None
        X = np.asarray(embeddings, dtype=np.float64)
        g = self.graph
        row: dict[str, Any] = {"step": int(step)}
        try:
            gl = geometric_level(X, g, self.n_null, self.seed)
            row.update(geometric_level=gl.value, geometric_level_z=gl.z)
        except ValueError as exc:  # e.g. a zero-norm row at init
            row["geometric_level_error"] = str(exc)
        de = dirichlet_energy(X, g, self.n_null, self.seed)
        row.update(dirichlet_energy=de.value, dirichlet_energy_z=de.z)
        sp = spectral_profile(X, g, n_null=self.n_null, seed=self.seed)
        row.update(spectral_top_mass=sp.value, spectral_top_mass_z=sp.z,
                   spectral_profile=[float(x) for x in sp.details["profile"][:16]])
        row["topk_edge_recovery"] = model_topk if model_topk is not None else \
            topk_edge_recovery(X, g, n_null=0).value
        if g.arms is not None and g.arms.shape[0] >= 2:
            try:
                row["navigation_accuracy"] = leaf_first_hop(X, g, n_null=0).value
            except ValueError:
                pass
        self.rows.append(row)
        if self.output_dir is not None:
            with open(self.output_dir / GEOMETRY_FILE, "a") as f:
                f.write(json.dumps(row) + "\n")
            if self.save_embeddings:
                snap = self.output_dir / "geometry"
                snap.mkdir(exist_ok=True)
                np.save(snap / f"step_{step:07d}.npy", X.astype(np.float32))
        return row


class GeometryCallback(LoggingCallback):
    """Trainer hook: at the recorder's steps, takes the node-token input embeddings (and,
    with ``model_topk``, the model's own top-k edge recovery) and records them in
    ``geometry.jsonl`` and, as ``geometry/<score>``, in the Trainer's logs.

    Works in any ``transformers.Trainer`` whose model has one token per node after the
    special tokens; call ``callback.attach(trainer)`` after building the Trainer so the scores
    also reach its ``report_to`` trackers (without it they go to ``log_history`` only)::

        recorder = GeometryRecorder(graph, "runs/mine", schedule=[0, 10, 100])
        callback = GeometryCallback(recorder)
        trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate,
                          callbacks=[callback])
        callback.attach(trainer)
        trainer.train()
    """

    def __init__(self, recorder: GeometryRecorder,
                 model_topk: Callable[[Any], float] | None = None):
        self.recorder, self.model_topk = recorder, model_topk

    def _record(self, state, model) -> None:
        if not state.is_world_process_zero or not self.recorder.wants(state.global_step):
            return
        from .modeling import node_embeddings

        X = node_embeddings(model, self.recorder.graph.num_nodes)
        topk = self.model_topk(model) if self.model_topk is not None else None
        row = self.recorder(state.global_step, X, topk)
        if row is not None:
            self.log_row(state, {f"geometry/{k}": v for k, v in row.items() if k != "step"})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._record(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._record(state, model)


def read_geometry(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a run's ``geometry.jsonl``."""
    path = Path(run_dir) / GEOMETRY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: the run recorded no geometry "
                                f"(train with --geometry-points N)")
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def trained_geometry(model: Any, task: Any, arms: str = "held-out", n_null: int = 200,
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """The paper's title claim measured on a trained model: is its memory of the graph
    geometric?

    Scores the node-token input embeddings (and, when the model is untied, the node rows of its
    unembedding) with :func:`~hf_geommem.metrics.leaf_first_hop` (navigation accuracy, on the
    held-out arms by default), :func:`~hf_geommem.metrics.geometric_level` and
    :func:`~hf_geommem.metrics.dirichlet_energy` (the verdict's scores,
    :func:`~hf_geommem.metrics.verdict_scores`), each against its shuffled-node null, and
    gives :func:`~hf_geommem.metrics.memory_verdict` of the last two.

    Args:
        model: a causal LM trained on ``task`` (node ``v`` is token ``NUM_SPECIAL_TOKENS + v``).
        task: the :class:`~hf_geommem.builder.TaskData` it was trained on (a rooted graph).
        arms: ``"held-out"`` (the arms of the ``paths/test`` split) or ``"all"``.

    Returns:
        ``{"embedding": {...}, "unembedding": {...}}`` (the second only when untied); each maps
        ``navigation_accuracy``, ``geometric_level``, ``dirichlet_energy`` to a
        :class:`~hf_geommem.metrics.Score`, ``verdict`` to a string, ``heatmap`` to the
        leaf-vs-first-hop cosine-distance matrix and ``path_matrix`` to the path-by-path one.
    """
    from .modeling import node_embeddings
    from .tokenization import NUM_SPECIAL_TOKENS

    if arms not in ("held-out", "all"):
        raise ValueError(f"arms must be 'held-out' or 'all', got {arms!r}")
    g = task.graph
    if g is None or g.arms is None:
        raise ValueError("trained_geometry needs a task on a rooted graph with arms")
    sel = None
    if arms == "held-out":
        if "paths" not in task:
            raise ValueError("arms='held-out' needs a task with a paths/test split")
        sel = np.asarray(task["paths"]["test"]["arm"], dtype=np.int64)
    n = g.num_nodes
    mats = {"embedding": node_embeddings(model, n)}
    out_emb = model.get_output_embeddings()
    if out_emb is not None and not getattr(model.config, "tie_word_embeddings", True):
        W = out_emb.weight.detach().float().cpu().numpy()
        mats["unembedding"] = W[NUM_SPECIAL_TOKENS:NUM_SPECIAL_TOKENS + n]
    result = {}
    for name, X in mats.items():
        nav = leaf_first_hop(X, g, arms=sel, n_null=n_null, seed=seed)
        scores = verdict_scores(X, g, n_null, seed)
        pm = path_distance_matrix(X, g, arms=sel, n_null=0, seed=seed)
        result[name] = {"navigation_accuracy": nav, **scores,
                        "verdict": memory_verdict(**scores),
                        "heatmap": nav.details["heatmap"], "path_matrix": pm.details["matrix"]}
    return result


def geometry_summary(geometry: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """JSON-ready form of :func:`trained_geometry`: each score as its
    :meth:`~hf_geommem.metrics.Score.as_dict` plus ``significant``, and the verdict (matrices
    left out)."""
    out = {}
    for name, part in geometry.items():
        row = {}
        for key, val in part.items():
            if key in ("heatmap", "path_matrix"):
                continue
            row[key] = val if isinstance(val, str) else {**val.as_dict(),
                                                         "significant": val.significant}
        out[name] = row
    return out
