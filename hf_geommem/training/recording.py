"""Geometry over training, recorded: :func:`record_schedule` (which steps), the
:class:`GeometryRecorder` (node embeddings and geometry metrics at those steps, appended to
``<out>/geometry.jsonl`` with snapshots ``<out>/geometry/step_<step>.npy``) and
:func:`read_geometry`. Light: numpy and the metrics only, so :mod:`hf_geommem.node2vec` uses it
without transformers; :class:`~hf_geommem.training.callbacks.GeometryCallback` plugs the
recorder into ``transformers.Trainer``.

The rows hold: geometric level, Dirichlet energy and spectral-profile top mass (with null z),
top-k edge recovery (model logits or embedding dot products) and, on path-stars, navigation
accuracy: the "associative vs geometric memorization" curves of any run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..graphs import Graph
from ..metrics import (dirichlet_energy, geometric_level, leaf_first_hop, spectral_profile,
                       topk_edge_recovery)
from .config import GEOMETRY_FILE

__all__ = ["record_schedule", "GeometryRecorder", "read_geometry", "GEOMETRY_FILE"]


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


def read_geometry(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a run's ``geometry.jsonl``."""
    path = Path(run_dir) / GEOMETRY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: the run recorded no geometry "
                                f"(train with --geometry-points N)")
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
