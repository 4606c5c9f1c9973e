import hashlib
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from datasets import load_dataset

import hf_geommem as H
from hf_geommem import builder

ROOT = Path(__file__).resolve().parents[1]


def _hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_returns_datasetdicts():
    task = H.build_task("path_star", degree=12, length=4, seed=1)
    assert set(task.configs) == {"edges", "paths", "graph"}
    assert set(task["paths"]) == {"train", "test"} and list(task["graph"]) == ["nodes"]
    assert task["edges"]["train"].num_rows == 2 * 36
    assert task["paths"]["train"].num_rows == 9 and task["paths"]["test"].num_rows == 3
    assert task["paths"]["test"].features["path"].feature.dtype == "int64"
    assert "[PATH]" in task.summary()


def test_save_load_dataset_and_graph_roundtrip(tmp_path, cache_dir):
    task = H.build_task("path_star", degree=10, length=5, seed=4)
    folder = task.save_to_folder(tmp_path / "ds")
    assert (folder / "paths/train-00000-of-00001.parquet").is_file()
    assert (folder / "tokenizer/tokenizer.json").is_file()
    paths = load_dataset(str(folder), "paths", cache_dir=cache_dir)
    assert paths["test"].to_dict() == task["paths"]["test"].to_dict()
    edges = load_dataset(str(folder), "edges", cache_dir=cache_dir)
    assert edges["train"].features["kind"].names == ["forward", "backward", "self"]
    default = load_dataset(str(folder), cache_dir=cache_dir)  # default config = paths
    assert set(default) == {"train", "test"}
    graph_ds = load_dataset(str(folder), "graph", cache_dir=cache_dir)
    from hf_geommem.tasks import graph_from_table

    assert graph_from_table(graph_ds).same_as(task.graph)
    loaded = H.load_task(folder)
    assert loaded.graph.same_as(task.graph) and np.array_equal(loaded.graph.arms, task.graph.arms)
    assert loaded.metadata["graph"]["params"]["degree"] == 10
    assert loaded.tokenizer("[EDGE] 3")["input_ids"] == task.tokenizer("[EDGE] 3")["input_ids"]
    card = (folder / "README.md").read_text()
    assert "configs:" in card and "dataset_info:" in card and "hf_geommem:" in card
    assert "num_examples: 80" in card  # 40 undirected edges, both directions


def test_card_sizes_match(tmp_path):
    from huggingface_hub import DatasetCard

    task = H.build_task("path_star", degree=10, length=5, seed=4)
    folder = task.save_to_folder(tmp_path / "ds")
    data = DatasetCard.load(folder / "README.md").data.to_dict()
    infos = {i["config_name"]: {s["name"]: s["num_examples"] for s in i["splits"]}
             for i in data["dataset_info"]}
    assert infos == task.sizes()
    assert [c for c in data["configs"] if c.get("default")][0]["config_name"] == "paths"


def test_deterministic_bytes_and_seed(tmp_path):
    a = H.build_task("path_star", degree=20, length=5, seed=7).save_to_folder(tmp_path / "a")
    b = H.build_task("path_star", degree=20, length=5, seed=7).save_to_folder(tmp_path / "b")
    c = H.build_task("path_star", degree=20, length=5, seed=8).save_to_folder(tmp_path / "c")
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb
    assert ha["paths/train-00000-of-00001.parquet"] != hc["paths/train-00000-of-00001.parquet"]
    ga, gc = H.load_task(a).graph, H.load_task(c).graph
    assert not np.array_equal(ga.arms, gc.arms)


def test_overwrite_and_atomic_writes(tmp_path):
    task = H.build_task("cycle", n=6)
    out = task.save_to_folder(tmp_path / "ds")
    before = _hashes(out)
    with pytest.raises(FileExistsError, match="already exists.*overwrite"):
        task.save_to_folder(out)

    # a failure half-way leaves the old folder intact and no temp folder behind
    with mock.patch.object(builder, "_write_card", side_effect=RuntimeError("disk full")):
        with pytest.raises(RuntimeError, match="disk full"):
            H.build_task("cycle", n=9).save_to_folder(out, overwrite=True)
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    # a failure on a fresh path leaves nothing
    with mock.patch.object(builder, "_write_card", side_effect=RuntimeError("boom")):
        with pytest.raises(RuntimeError):
            task.save_to_folder(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    H.build_task("cycle", n=9).save_to_folder(out, overwrite=True)
    assert H.load_task(out).graph.num_nodes == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_unrooted_and_explicit_paths():
    t = H.build_task("grid", rows=3, cols=3)
    assert set(t.configs) == {"edges", "graph"}
    with pytest.raises(ValueError, match="no root"):
        H.build_task("grid", rows=3, cols=3, paths=True)
    with pytest.raises(ValueError, match="unknown graph family"):
        H.build_task("hypercube", n=3)


def test_in_context_task_roundtrip(tmp_path, cache_dir):
    task = H.build_in_context_task(degree=10, length=5, num_train=64, num_test=16, seed=1)
    assert task.graph is None and list(task.configs) == ["paths"]
    folder = task.save_to_folder(tmp_path / "ic")
    ds = load_dataset(str(folder), "paths", cache_dir=cache_dir)
    assert ds["train"].num_rows == 64 and len(ds["train"][0]["edge_list"]) == 2 * 40
    loaded = H.load_task(folder)
    assert loaded.graph is None and loaded.metadata["in_context"]["degree"] == 10
    prompt = ds["test"][0]["prompt"]
    ids = loaded.tokenizer(prompt)["input_ids"]
    assert loaded.tokenizer.unk_token_id not in ids and len(ids) <= loaded.tokenizer.model_max_length


def test_push_with_mocked_hub(tmp_path):
    folder = H.build_task("path_star", degree=4, length=3).save_to_folder(tmp_path / "ds")
    with mock.patch("huggingface_hub.HfApi") as api_cls:
        api = api_cls.return_value
        api.create_repo.return_value = "https://huggingface.co/datasets/me/ps"
        url = H.push_task(folder, "me/ps", private=True, token="hf_x")
    api_cls.assert_called_once_with(token="hf_x")
    api.create_repo.assert_called_once_with("me/ps", repo_type="dataset", private=True,
                                            exist_ok=True)
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["folder_path"] == str(folder) and kwargs["repo_type"] == "dataset"
    assert url.endswith("me/ps")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not an hf_geommem task folder"):
        H.push_task(tmp_path / "empty", "me/x")


def test_task_data_push_to_hub_uses_saved_folder():
    task = H.build_task("path_star", degree=4, length=3)
    seen = {}

    def fake_upload(folder_path, **kw):
        seen["files"] = sorted(str(p.relative_to(folder_path)) for p in
                               Path(folder_path).rglob("*.parquet"))

    with mock.patch("huggingface_hub.HfApi") as api_cls:
        api_cls.return_value.upload_folder.side_effect = fake_upload
        task.push_to_hub("me/ps")
    assert seen["files"] == ["edges/train-00000-of-00001.parquet",
                             "graph/nodes-00000-of-00001.parquet",
                             "paths/test-00000-of-00001.parquet",
                             "paths/train-00000-of-00001.parquet"]


def test_dataset_scripts_tiny_graphs(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "dataset_scripts/tiny_graphs.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cycle_15", "grid_4x4",
                                                          "irregular16", "path_star_4_5"]
    assert H.load_task(tmp_path / "cycle_15").graph.num_edges == 15 and "== cycle_15" in out


def test_dataset_scripts_push_names(tmp_path):
    calls = []
    with mock.patch.object(builder, "push_task", side_effect=lambda f, r, **k: calls.append(r)):
        builder.materialize({"a": lambda: H.build_task("cycle", n=5),
                             "b": lambda: H.build_task("cycle", n=6)}, tmp_path, push="me/x")
    assert calls == ["me/x-a", "me/x-b"]


@pytest.mark.parametrize("script,args,expect", [
    ("path_star.py", ["--preset", "g5000_5"], {"path_star_g5000_5": 20_001}),
    ("tree_star.py", ["--degree", "5", "--length", "4", "--pauses", "2"], None),
    ("in_context.py", ["--degrees", "2", "3", "--num-train", "50", "--num-test", "10"], None),
])
def test_dataset_scripts(tmp_path, script, args, expect):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    subprocess.run([sys.executable, str(ROOT / "dataset_scripts" / script), *args, "--out",
                    str(tmp_path)], capture_output=True, text=True, check=True, env=env)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made, script
    for name in made:
        task = H.load_task(tmp_path / name)
        if expect:
            assert task.graph.num_nodes == expect[name]
        elif script == "tree_star.py":
            assert task.graph.num_nodes == 1 + 5 * (2 ** 3 - 1) and "paths" in task
        else:
            assert task.graph is None and task["paths"]["train"].num_rows == 50


def test_atomic_output_dir_loses_a_race_cleanly(tmp_path):
    """Two processes writing the same folder: the one that finishes second gets
    FileExistsError, leaves the winner's folder as it is and no temp folder behind."""
    from hf_geommem.builder import atomic_output_dir

    target = tmp_path / "data"
    with pytest.raises(FileExistsError, match="already exists|appeared while it was being written"):
        with atomic_output_dir(target) as tmp:
            (tmp / "mine.txt").write_text("second")
            target.mkdir()
            (target / "theirs.txt").write_text("first")
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]
