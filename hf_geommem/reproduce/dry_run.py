"""``reproduce --dry-run``: the plan of a reproduction with a time estimate measured by a few
real training steps of every setting on this device; nothing is kept."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .execute import per_device, task_for
from .runspec import RunSpec

__all__ = ["step_probe", "dry_run"]


def step_probe(spec: RunSpec, steps: int = 2) -> dict[str, Any]:
    """Size of a training run and seconds per optimizer step, measured on this device over
    ``steps`` real steps after one warm-up step."""
    from ..training import TrainConfig, rank_and_world, train
    from ..training.callbacks import StepTimerCallback
    from ..training.data import training_set_size

    timer = StepTimerCallback()
    n_examples = None
    if spec.data.get("in_context"):
        # a step costs the same on fewer examples: time it on a few batches' worth (building
        # and tokenizing 200,000 in-context examples takes more memory than this probe needs)
        n_examples = spec.data["num_train"]
        spec = RunSpec(spec.name, spec.kind, {**spec.data, "num_train": min(
            spec.data["num_train"], 8 * (spec.config.get("batch_size") or 1024)),
            "num_test": 16}, spec.config, spec.seed)
    with tempfile.TemporaryDirectory() as tmp:
        task = task_for(spec, Path(tmp) / "data")
        n_examples = n_examples or training_set_size(task, TrainConfig(**spec.config))
        cfg = {k: v for k, v in per_device(spec.config, rank_and_world()[1]).items()
               if k not in ("geometry_points", "save_steps", "stop_after_train_exact")}
        # evaluation capped: the probe times training steps, not the step-0 evaluation
        cfg.update(max_steps=steps + 1, min_epochs=None, eval_steps=10 ** 9, eval_max_test_arms=8,
                   eval_max_train_arms=8, eval_max_edge_nodes=8)
        train(task, Path(tmp) / "run", TrainConfig(**cfg), overwrite=True, progress=False,
              callbacks=[timer])
    per_step = float(np.mean(timer.times[1:]))  # the first step warms up
    run_cfg = TrainConfig(**spec.config)  # a preset's batch is global: one process's view
    steps, per_epoch = run_cfg.train_steps(n_examples), run_cfg.steps_per_epoch(n_examples)
    return {"nodes": task.graph.num_nodes if task.graph is not None else None,
            "examples": n_examples, "steps": steps,
            "epochs": steps / per_epoch,
            "steps_per_epoch": per_epoch,
            "seconds_per_step": per_step,
            "estimate_hours": per_step * steps / 3600}


def hours(h: float) -> str:
    return f"{h:.2f} h" if h >= 1 else f"{60 * h:.1f} min" if h * 60 >= 1 else f"{3600 * h:.0f} s"


def dry_run(preset: str, runs: list[RunSpec], device: str, progress: bool,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Time every training setting of ``runs`` (and the paper's other graphs with the paper
    preset) and log the plan; returns ``{"preset", "dry_run", "plan", "device"}``."""
    from tqdm.auto import tqdm

    from .presets import PAPER_EXTRA

    extra = PAPER_EXTRA if preset == "paper" else []
    rows, probed = [], {}
    for spec in tqdm([r for r in runs + extra if r.kind == "train"], desc="probing steps",
                     unit="run", disable=not progress):
        # seeds change ids and init, not the cost of a step: probe each setting once
        same = json.dumps([spec.data, spec.config], sort_keys=True)
        est = probed[same] if same in probed else probed.setdefault(same, step_probe(spec))
        rows.append({"run": spec.folder, "model": spec.config["model"],
                     "data": spec.data, **est})
        log(f"{spec.name + '-s' + str(spec.seed):16s} {spec.config['model']:14s} nodes "
            f"{est['nodes']} examples "
            f"{est['examples']:,} steps {est['steps']:,} ({est['epochs']:.0f} epochs) "
            f"{est['seconds_per_step']:.3f} s/step on {device} -> "
            f"{hours(est['estimate_hours'])}")
    for spec in runs:
        if spec.kind != "train":
            log(f"{spec.name:16s} {spec.kind} {spec.config}")
    log(f"total estimate for the training runs: "
        f"{hours(sum(r['estimate_hours'] for r in rows))} on {device}")
    return {"preset": preset, "dry_run": True, "plan": rows, "device": device}
