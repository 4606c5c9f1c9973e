"""A run folder's resume point: the last complete checkpoint, the step-0 restart of a run cut
short before its first one, and the metrics rows past a checkpoint (dropped on resume)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .config import METRICS_FILE, RUN_FILE, saved_config

__all__ = ["last_complete_checkpoint", "read_metrics"]


def _restart_check(output_dir: str, run: dict[str, Any]) -> None:
    """``--resume`` without a complete checkpoint (interrupted during the first one, or before
    it): the same run starts again from step 0 in its folder, if its settings and data match;
    a finished run or another run's folder is refused."""
    folder = Path(output_dir)
    run_file = folder / RUN_FILE
    if not run_file.is_file():
        raise ValueError(f"--resume: no complete checkpoint and no hf_geommem run in "
                         f"{output_dir!r} (no {RUN_FILE}); drop --resume to start one")
    from .run_folder import read_run_json

    saved = read_run_json(run_file)
    if saved_config(saved.get("config", {})) != run["config"] or \
            saved.get("dataset") != run["dataset"]:
        raise ValueError(f"--resume: {output_dir!r} has no complete checkpoint and holds another "
                         f"run (other settings or data); pass --overwrite to replace it")
    if (folder / "trainer_state.json").is_file():
        raise ValueError(f"--resume: the run in {output_dir!r} is finished and kept no "
                         f"checkpoint; pass --overwrite to train it again")
    for ck in folder.glob("checkpoint-*"):  # cut short: Trainer would write into them again
        import shutil

        shutil.rmtree(ck, ignore_errors=True)
    print(f"--resume: no complete checkpoint in {output_dir!r}: starting the same run again "
          f"from step 0", flush=True)


def last_complete_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """The newest ``checkpoint-N`` of ``run_dir`` whose trainer state and run file were written
    (Trainer writes them last, so a checkpoint cut short by an interrupt lacks them and is
    skipped)."""
    best = None
    for ck in Path(run_dir).glob("checkpoint-*"):
        step = ck.name.split("-")[-1]
        if step.isdigit() and (ck / "trainer_state.json").is_file() and \
                (ck / RUN_FILE).is_file() and (best is None or int(step) > best[0]):
            best = (int(step), str(ck))
    return None if best is None else best[1]


def _checkpoint_step(path: str | os.PathLike) -> int:
    name = Path(path).name
    return int(name.split("-")[-1]) if name.startswith("checkpoint-") else 0


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.is_file():
        return
    rows = [ln for ln in path.read_text().splitlines()
            if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))


def read_metrics(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    path = Path(output_dir) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: not a training run folder")
    try:
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} has a line that is not valid JSON ({exc.msg}): the file "
                         f"is truncated or damaged; restore it or rerun the training") from None
