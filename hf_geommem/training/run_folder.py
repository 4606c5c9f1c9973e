"""Reading a finished run folder back: its recorded environment, its model, and the task it was
trained on, checked against the dataset fingerprint the run recorded (``intervene`` and
``plot`` pair a run with a dataset; another graph of the same size would silently give
numbers for a graph the model never saw)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..files import push_folder
from .config import RUN_FILE

__all__ = ["RUN_ENV_FILE", "read_run_json", "recorded_dataset", "run_task", "check_run_dataset",
           "load_run_model", "run_folder", "load_run", "push_run"]

RUN_ENV_FILE = "run_env.json"


def read_run_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON file of a run folder, or one ``ValueError`` naming it when it is damaged."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}): "
                         f"the file is truncated or damaged; restore or delete it (a deleted "
                         f"result.json makes reproduce redo that run)") from None


def recorded_dataset(run_dir: str | os.PathLike) -> str | None:
    """The dataset path or Hub id the run's ``run_env.json`` recorded (``None``: none)."""
    run = Path(run_dir)
    env_file = run / RUN_ENV_FILE
    if not env_file.is_file():
        return None
    recorded = read_run_json(env_file).get("dataset")
    if not recorded:
        return None
    if os.path.isabs(recorded) or Path(recorded).exists():
        return recorded
    # older runs recorded the path as typed, relative to the folder train ran from: one of the
    # run folder's ancestors (the fingerprint check then refuses a namesake)
    for folder in run.resolve().parents:
        if (folder / recorded).is_dir():
            return str(folder / recorded)
    raise FileNotFoundError(f"{str(run)!r} records the dataset {recorded!r}, a path relative "
                            f"to the folder train ran from, and it is not found from here: "
                            f"pass --dataset")
    return recorded


def check_run_dataset(run_dir: str | os.PathLike, task: Any, source: str) -> None:
    """Refuse ``task`` unless it is the dataset the run in ``run_dir`` was trained on (the
    fingerprint of its rows and metadata that ``train`` recorded). A folder without a run file
    (a model not trained here) cannot be checked and passes."""
    from .run import _dataset_fingerprint

    run_file = Path(run_dir) / RUN_FILE
    if not run_file.is_file():
        return
    recorded = read_run_json(run_file).get("dataset")
    if recorded and recorded != _dataset_fingerprint(task):
        raise ValueError(f"dataset {source!r} is not the one {str(run_dir)!r} was trained on "
                         f"(its fingerprint differs from the run's): pass the run's own task "
                         f"folder as --dataset")


def run_task(run_dir: str | os.PathLike, dataset: str | None = None) -> Any:
    """The task of a run: ``dataset`` or the one its ``run_env.json`` recorded, loaded and
    checked against the run's dataset fingerprint."""
    from ..builder import load_task

    run = Path(run_dir)
    source = dataset or recorded_dataset(run)
    if not source:
        raise ValueError(f"{str(run)!r} records no dataset ({RUN_ENV_FILE}): pass --dataset")
    task = load_task(source)
    check_run_dataset(run, task, source)
    return task


def load_run_model(run_dir: str | os.PathLike) -> Any:
    """The saved model of a run folder, in eval mode (damaged files: one clear error), through
    the one loader :func:`~hf_geommem.modeling.load_causal_lm`."""
    import hf_geommem.modeling as modeling  # registers the linear network with the Auto classes

    return modeling.load_causal_lm(run_folder(run_dir))


def run_folder(run_dir: str | os.PathLike) -> Path:
    """``run_dir`` as a Path, or ``FileNotFoundError`` saying whether it is missing or a
    file."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder {str(run)!r} " + (
            "is a file, not a folder" if run.exists() else "does not exist"))
    return run


def load_run(run_dir: str | os.PathLike, dataset: str | None = None) -> tuple[Any, Any]:
    """``(model, task)`` of a finished run: its task checked against the run's fingerprint
    (:func:`run_task`) and its model (:func:`load_run_model`)."""
    run = run_folder(run_dir)
    task = run_task(run, dataset)
    return load_run_model(run), task


def push_run(run_dir: str | os.PathLike, repo_id: str, private: bool = False,
             token: str | None = None, commit_message: str | None = None) -> str:
    """Upload a finished run folder (model, tokenizer, generation config, card, metrics) as
    model repo ``repo_id``; checkpoints stay local. Returns the repo URL."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file() or not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a finished hf_geommem run (no "
                                f"{RUN_FILE} or config.json)")
    return push_folder(run_dir, repo_id, "model", private=private, token=token,
                       commit_message=commit_message or "Upload hf_geommem run",
                       ignore_patterns=["checkpoint-*", "checkpoint-*/**"])
