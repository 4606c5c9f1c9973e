"""``run_reproduction``: plan the runs the chosen claims need, run (or reuse) them on every
rank of a launch, evaluate the claims and write ``results.json``, ``REPORT.md`` and
``figures/``."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

from ..metrics import ALPHA
from .claim import HIGH_ACCURACY
from .claims import CLAIM_IDS, CLAIM_RUNS, evaluate_claims
from .execute import execute, train_run, write_json_atomic
from .presets import REPRODUCTION_PRESETS
from .report import write_reproduction_report
from .runspec import RunSpec

__all__ = ["plan", "run_reproduction"]


def plan(preset: str, claims: list[str], seeds: int | None) -> list[RunSpec]:
    """The runs the chosen claims need, in execution order."""
    if preset not in REPRODUCTION_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of "
                         f"{sorted(REPRODUCTION_PRESETS)}")
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    needed = {n for c, needs in CLAIM_RUNS.items() if c in claims for n in needs}
    return [r for r in REPRODUCTION_PRESETS[preset].runs(seeds) if r.name in needed]


def environment(device: str) -> dict[str, Any]:
    """Python, platform, device, threads, CPU and package versions of this invocation."""
    import importlib.metadata as md

    import torch

    from ..machine import cpu_environment

    versions = {}
    for pkg in ("hf-geommem", "torch", "transformers", "tokenizers", "datasets", "evaluate",
                "accelerate", "numpy", "scipy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"python": platform.python_version(), "platform": platform.platform(),
            "device": device, "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "packages": versions,
            **cpu_environment()}


def _check_results_preset(root: Path, preset: str) -> None:
    """Refuse an ``--out`` whose ``results.json`` belongs to another preset: the new report
    would replace it without a word."""
    from ..training.run_folder import read_run_json

    path = root / "results.json"
    if path.is_file():
        held = read_run_json(path).get("preset")
        if held != preset:
            raise FileExistsError(f"--out {str(root)!r} holds the results of preset {held!r} "
                                  f"(results.json), not {preset!r}: use another --out, or "
                                  f"delete that results.json to replace them")


def _train_with_rank_zero(runs: list[RunSpec], root: Path, force: bool) -> None:
    """A rank other than 0 trains each run with rank 0 (DDP); rank 0 alone scores, studies
    and writes."""
    for spec in runs:
        run_dir = root / "runs" / spec.folder
        if spec.kind == "train" and (force or not (run_dir / "result.json").is_file()):
            # with --force rank 0 removes the folder: never resume from what it removes
            train_run(spec, run_dir, root / "data", progress=False, resume=not force)


def _run_all(preset: str, runs: list[RunSpec], root: Path, force: bool, progress: bool,
             log: Callable[[str], None]) -> dict[str, list[dict]]:
    """Execute (or reuse) every run; a probe whose model is missing is logged and skipped."""
    from tqdm.auto import tqdm

    out: dict[str, list[dict]] = {}
    bar = tqdm(runs, desc="reproduce", unit="run", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.folder)
        try:
            rec = execute(spec, root, force, REPRODUCTION_PRESETS[preset].geometry_null,
                          progress)
        except FileNotFoundError as exc:
            if spec.kind != "probe":
                raise
            log(f"probe not run: {exc}")
            continue
        out.setdefault(spec.name, []).append(rec)
    return out


def run_reproduction(preset: str, out: str | os.PathLike, claims: list[str] | None = None,
                     seeds: int | None = None, force: bool = False, dry_run: bool = False,
                     progress: bool = True, log: Callable[[str], None] = print
                     ) -> dict[str, Any]:
    """Run (or, with ``dry_run``, plan and time) the reproduction and write ``results.json``,
    ``REPORT.md`` and ``figures/`` under ``out``. Returns the results dict."""
    import torch

    from ..files import check_output_path
    from ..training import rank_and_world

    claims = list(CLAIM_IDS) if claims is None else claims
    runs = plan(preset, claims, seeds)
    root = check_output_path(out, "--out")
    _check_results_preset(root, preset)
    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    rank, world = rank_and_world()
    if rank != 0:  # under accelerate launch: rank 0 reports; the others only train with it
        progress = False

        def log(_msg: str) -> None:
            pass
    if world > 1:
        device += f" x {world} processes"
    if dry_run:
        from .dry_run import dry_run as plan_and_time

        return plan_and_time(preset, runs, device, progress, log)
    if rank != 0:
        _train_with_rank_zero(runs, root, force)
        return {"preset": preset, "rank": rank, "world_size": world}
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"preset": preset,
                               "description": REPRODUCTION_PRESETS[preset].description,
                               "claims": claims, "runs": {}, "environment":
                               environment(device), "alpha": ALPHA,
                               "high_accuracy": HIGH_ACCURACY}
    t0 = time.perf_counter()
    results["runs"] = _run_all(preset, runs, root, force, progress, log)
    results["wall_seconds"] = time.perf_counter() - t0
    results["gpu_run"] = "not measured" if device == "cpu" else "see the runs"
    results["verdicts"] = evaluate_claims(results, claims)
    write_json_atomic(root / "results.json", results)
    write_reproduction_report(results, root)
    return results
