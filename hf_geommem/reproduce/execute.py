"""Executing one reproduction run: one function per run kind (``train``, ``node2vec``,
``knobs``, ``probe``), the shared dataset cache, the DDP batch policy, and :func:`execute`,
which reuses a finished run (its ``result.json``) or runs it and writes that file last."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_text_atomic
from .runspec import RunSpec

__all__ = ["execute", "task_for", "per_device", "train_run", "write_json_atomic", "USE_RUNS",
           "DDP_TIMEOUT_S"]

USE_RUNS = ("gpt2", "llama", "mamba", "frozen")  # runs that get the causal tests
DDP_TIMEOUT_S = 4 * 3600


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def task_for(spec: RunSpec, data_root: Path):
    """Build (once) and load the run's dataset; datasets are shared between runs by key."""
    from ..builder import build_in_context_task, build_task, load_task
    from ..tasks import EdgeTaskConfig, PathTaskConfig

    d = dict(spec.data)
    key = hashlib.sha256(json.dumps({**d, "seed": spec.seed}, sort_keys=True).encode()
                         ).hexdigest()[:10]
    folder = data_root / key
    if not folder.is_dir():  # written atomically: a folder that exists is complete
        if d.get("in_context"):
            task = build_in_context_task(degree=d["degree"], length=d["length"],
                                         num_train=d["num_train"], num_test=d["num_test"],
                                         seed=spec.seed)
        else:
            task = build_task("path_star", degree=d["degree"], length=d["length"],
                              seed=spec.seed, edges=EdgeTaskConfig(d.get("edges", "both")),
                              paths=PathTaskConfig(num_pauses=d["pauses"], seed=spec.seed))
        try:
            task.save_to_folder(folder)
        except FileExistsError:
            pass  # another rank of the same launch saved the same (seeded) data first
    return load_task(folder)


def per_device(config: dict[str, Any], world: int) -> dict[str, Any]:
    """A preset's batch size is global (the paper's 1024); ``TrainConfig.batch_size`` is per
    device. Full batch (``None``) needs no split."""
    b = config.get("batch_size")
    if world == 1 or b is None:
        return config
    if b % world:
        raise ValueError(f"batch_size {b} does not split over {world} processes: launch a "
                         f"number of processes that divides it")
    return {**config, "batch_size": b // world}


def train_run(spec: RunSpec, run_dir: Path, data_root: Path, progress: bool,
               resume: bool = True):
    """Train one run, from its last complete checkpoint when ``resume``; every rank of a
    launch calls this (DDP). Returns ``(task, TrainResult, checkpoint resumed from, seconds)``."""
    from ..training import TrainConfig, last_complete_checkpoint, rank_and_world, train

    task = task_for(spec, data_root)
    cfg = per_device(dict(spec.config), rank_and_world()[1])
    if cfg.get("save_steps") is None:
        cfg["save_steps"] = max(cfg["eval_steps"], cfg["max_steps"] // 4)
    config = TrainConfig(seed=spec.seed, **cfg)
    ckpt = last_complete_checkpoint(run_dir) if resume and run_dir.exists() else None
    t0 = time.perf_counter()
    # under several processes the other ranks wait in the next run's first collective while
    # rank 0 scores this one (geometry, interventions): a generous timeout
    res = train(task, run_dir, config, resume_from_checkpoint=ckpt, overwrite=True,
                progress=progress, ddp_timeout=DDP_TIMEOUT_S)
    return task, res, ckpt, time.perf_counter() - t0


def _execute_train(spec: RunSpec, run_dir: Path, data_root: Path, n_null: int,
                   progress: bool) -> dict[str, Any]:
    from ..geometry import geometry_summary, read_geometry, score_trained_run

    task, res, resume, seconds = train_run(spec, run_dir, data_root, progress)
    final = res.final
    scalars = {k: v for k, v in final.items() if not isinstance(v, (list, dict))}
    if len(final.get("eval_teacher_forced") or []) > 2:
        # target = root, v1, ...: the tokens after v1 are those the in-context "Clever Hans"
        # cheat predicts (each the unique successor of the previous one in the edge list)
        scalars["eval_after_v1"] = float(np.mean(final["eval_teacher_forced"][2:]))
    out: dict[str, Any] = {
        "final": scalars, "teacher_forced": final.get("eval_teacher_forced"),
        "curve": [{k: r[k] for k in ("step", "eval_exact_path", "eval_first_token",
                                     "train_exact_path", "edge_topk_recovery") if k in r}
                  for r in res.history],
        "num_test_arms": int(final.get("eval_num_arms", 0)),
        "stopped_by_rule": final.get("stopped_by_rule"),
        "resumed_from": resume,
    }
    if task.graph is not None and task.graph.arms is not None:
        arms = "all" if spec.config.get("recipe") == "edges" else "held-out"
        geo = score_trained_run(res, task, f"G({spec.data['degree']},{spec.data['length']})",
                                n_null=n_null, seed=spec.seed, arms=arms)
        out["geometry"] = geometry_summary(geo)
        out["geometry_arms"] = arms
        if spec.name in USE_RUNS:
            from ..interventions import geometry_use

            out["use"] = geometry_use(res.model, task, n_null=n_null, seed=spec.seed)
        np.savez_compressed(run_dir / "heldout_geometry.npz",
                            heatmap=geo["embedding"]["heatmap"],
                            path_matrix=geo["embedding"]["path_matrix"])
        if spec.config.get("geometry_points"):
            out["geometry_curve"] = [
                {k: r[k] for k in ("step", "geometric_level", "dirichlet_energy",
                                   "navigation_accuracy", "spectral_top_mass",
                                   "topk_edge_recovery") if k in r}
                for r in read_geometry(run_dir)]
    out["train_seconds"] = seconds
    return out


def _execute_node2vec(spec: RunSpec) -> dict[str, Any]:
    from ..graphs import tiny_graphs
    from ..studies import geometry_scores, node2vec_embedding

    rows = {}
    for name, g in tiny_graphs(0).items():
        V = node2vec_embedding(g, spec.config["epochs"], spec.seed, dim=spec.config["dim"])
        geo = geometry_scores(V, g, n_null=200, seed=spec.seed, k=2)
        sp = geo["spectral_top_mass"]
        rows[name] = {"top_mass": {**sp.as_dict(), "significant": sp.significant},
                      "geometric_level": geo["geometric_level"].value,
                      "dirichlet_energy": geo["dirichlet_energy"].value,
                      "spectral_fraction": geo["spectral_fraction"].value,
                      "verdict": geo["verdict"],
                      "spectrum": sp.details["spectrum"].tolist(),
                      "profile": sp.details["profile"].tolist()}
    return {"graphs": rows}


def _execute_knobs(spec: RunSpec) -> dict[str, Any]:
    from ..studies import knob_study

    return {"rows": knob_study(dim=spec.config["dim"], steps=spec.config["steps"],
                               seed=spec.seed)}


def _execute_probe(spec: RunSpec) -> dict[str, Any]:
    from ..probing import probe_checkpoint

    res = probe_checkpoint(spec.config["model"], spec.config["pack"], "last",
                           n_null=spec.config["n_null"], seed=spec.seed)
    lv = res.verdicts
    layers = []
    for i, (row, v) in enumerate(zip(res.rows, lv["layers"])):
        layers.append({"layer": i, **{n: {**s.as_dict(), "significant": s.significant}
                                      for n, s in row.items()}, **v})
    return {"model": spec.config["model"], "pack": res.pack.name, "precision": res.precision,
            "layers": layers, "geometric": lv["geometric"],
            "geometric_holm": lv["geometric_holm"]}


def execute(spec: RunSpec, root: Path, force: bool = False, n_null: int = 200,
            progress: bool = True) -> dict[str, Any]:
    """Run ``spec`` under ``root/runs`` unless a finished result with the same key exists
    (``force`` redoes it); returns its result record (also ``<run>/result.json``). Under
    several processes only rank 0 calls this (the others train with it: :func:`train_run`)."""
    run_dir = root / "runs" / spec.folder
    done = run_dir / "result.json"
    if done.is_file() and not force:
        from ..training.run_folder import read_run_json

        return {**read_run_json(done), "reused": True}
    if force and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # CPU time too: on a shared machine the wall time also counts other jobs' turns
    t0, c0 = time.perf_counter(), time.process_time()
    if spec.kind == "train":
        body = _execute_train(spec, run_dir, root / "data", n_null, progress)
    elif spec.kind == "node2vec":
        body = _execute_node2vec(spec)
    elif spec.kind == "knobs":
        body = _execute_knobs(spec)
    elif spec.kind == "probe":
        body = _execute_probe(spec)
    else:
        raise ValueError(f"unknown run kind {spec.kind!r}")
    record = {"name": spec.name, "kind": spec.kind, "seed": spec.seed, "key": spec.key(),
              "settings": asdict(spec), "folder": str(run_dir), **body,
              "wall_seconds": time.perf_counter() - t0,
              "cpu_seconds": time.process_time() - c0}
    write_json_atomic(done, record)
    return {**record, "reused": False}


