"""Geometry over training: record node embeddings and geometry metrics at a schedule of steps.

:class:`GeometryRecorder` is the shared hook: give it ``(step, node embeddings)`` (and optionally
the model's top-k edge recovery) and it appends a row to ``<out>/geometry.jsonl`` and saves the
embeddings as ``<out>/geometry/step_<step>.npy``. :class:`GeometryCallback` plugs it into
``transformers.Trainer``; :func:`hf_geommem.node2vec.train_node2vec` takes it as ``callback``.
The rows hold: geometric level and spectral-profile top mass (with null z), top-k edge recovery
(model logits or embedding dot products) and, on path-stars, navigation accuracy: the
"associative vs geometric memorization" curves of any run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from transformers import TrainerCallback

from .graphs import Graph
from .metrics import geometric_level, leaf_first_hop, spectral_profile, topk_edge_recovery

__all__ = ["GeometryRecorder", "GeometryCallback", "read_geometry", "GEOMETRY_FILE"]

GEOMETRY_FILE = "geometry.jsonl"


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


class GeometryCallback(TrainerCallback):
    """Trainer hook: at the recorder's steps, takes the node-token input embeddings (and,
    with ``model_topk``, the model's own top-k edge recovery) and records them."""

    def __init__(self, recorder: GeometryRecorder,
                 model_topk: Callable[[Any], float] | None = None):
        self.recorder, self.model_topk = recorder, model_topk

    def _record(self, state, model) -> None:
        if not state.is_world_process_zero or not self.recorder.wants(state.global_step):
            return
        from .probing import node_embeddings

        X = node_embeddings(model, self.recorder.graph.num_nodes)
        topk = self.model_topk(model) if self.model_topk is not None else None
        self.recorder(state.global_step, X, topk)

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
                                f"(train with --geometry-steps)")
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
