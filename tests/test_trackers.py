"""``--report-to`` with the trackers people use: a real tiny run's task metrics and geometry
scores, read back from TensorBoard's event files and trackio's local database."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

import hf_geommem as H

pytest.importorskip("tensorboard")
pytest.importorskip("trackio")


def test_task_metrics_and_geometry_reach_tensorboard_and_trackio(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, out, trackio_dir = tmp_path / "g8", tmp_path / "run", tmp_path / "trackio"
    H.build_task("path_star", degree=8, length=3, seed=0).save_to_folder(data)
    # a fresh process: trackio reads TRACKIO_DIR when it is imported
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TRACKIO_DIR=str(trackio_dir))
    done = subprocess.run(
        [sys.executable, "-m", "hf_geommem.cli", "train", "--dataset", str(data), "--model",
         "gpt2-tiny", "--out", str(out), "--max-steps", "4", "--eval-steps", "2",
         "--geometry-points", "2", "--report-to", "tensorboard,trackio"],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    final = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()][-1]

    # TensorBoard: Trainer's logger writes event files under the run's runs/ folder
    (logdir,) = (out / "runs").iterdir()
    events = EventAccumulator(str(logdir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/exact_path", "eval/first_token", "train/edge_topk_recovery",
            "train/geometry/geometric_level", "train/geometry/navigation_accuracy"} <= tags
    last = events.Scalars("train/edge_topk_recovery")[-1]
    assert last.step == 4 and last.value == pytest.approx(final["edge_topk_recovery"])

    # trackio: one SQLite database per project (Trainer's default project is "huggingface")
    (db,) = trackio_dir.glob("*.db")
    with sqlite3.connect(db) as conn:
        rows = [(step, json.loads(blob)) for step, blob in
                conn.execute("select step, metrics from metrics order by id")]
    logged = {k for _, m in rows for k in m}
    assert {"eval/exact_path", "train/edge_topk_recovery",
            "train/geometry/geometric_level", "train/geometry/dirichlet_energy"} <= logged
    edge = [m["train/edge_topk_recovery"] for _, m in rows if "train/edge_topk_recovery" in m]
    assert edge[-1] == pytest.approx(final["edge_topk_recovery"])
