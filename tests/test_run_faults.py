"""Faults on the commands that pair a run with a dataset, a pack or an output folder (issue 19):
nothing silently wrong, no stuck state, no traceback; one line naming the bad value or file,
exit 2, and nothing left that blocks the corrected command."""

import json
import os
import resource
from pathlib import Path

import pytest

import hf_geommem as H
from hf_geommem.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    H.build_task("path_star", degree=8, length=3, seed=0).save_to_folder(root / "g8")
    H.build_task("path_star", degree=8, length=3, seed=1).save_to_folder(root / "other")
    return root


@pytest.fixture(scope="module")
def run(data):
    out = data / "run"
    assert main(["train", "--dataset", str(data / "g8"), "--model", "gpt2-tiny", "--out",
                 str(out), "--max-steps", "2", "--eval-steps", "2"]) == 0
    return out


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------- silently wrong
def test_another_graph_of_the_same_size_is_refused(data, run, capsys):
    for argv in (["intervene", str(run), "--null", "2", "--curve-null", "1"], ["plot", str(run)]):
        assert main(argv + ["--dataset", str(data / "other")]) == 2
        err = _err(capsys)
        assert "is not the one" in err and "other" in err and len(err.splitlines()) == 1
    assert not (run / "interventions").exists() and not (run / "figures").exists()


def test_what_does_not_apply_is_refused(data, tmp_path, capsys):
    ic = tmp_path / "ic"
    assert main(["build", "in-context", "--degree", "2", "--length", "3", "--num-train", "20",
                 "--num-test", "4", "--num-node-ids", "12", "--out", str(ic)]) == 0
    capsys.readouterr()
    for extra, message in ((["--recipe", "edges"], "the edges recipe needs an edges config"),
                           (["--geometry-points", "3"], "needs a fixed graph")):
        assert main(["train", "--dataset", str(ic), "--model", "gpt2-tiny", "--out",
                     str(tmp_path / "r"), *extra]) == 2
        assert message in _err(capsys)
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit):  # a p-value with no null draw behind it
        main(["intervene", str(tmp_path), "--null", "0"])
    assert "--null: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_reproduce_refuses_empty_claims_and_another_presets_results(tmp_path, capsys):
    assert main(["reproduce", "--preset", "smoke", "--out", str(tmp_path / "x"),
                 "--claims", ""]) == 2
    assert "--claims" in _err(capsys)
    for out in ("", str(tmp_path / "f")):
        (tmp_path / "f").write_text("keep")
        assert main(["reproduce", "--preset", "smoke", "--claims", "7", "--out", out]) == 2
        assert "--out" in _err(capsys)
    held = tmp_path / "held"
    held.mkdir()
    (held / "results.json").write_text(json.dumps({"preset": "cpu"}))
    assert main(["reproduce", "--preset", "smoke", "--claims", "7", "--out", str(held)]) == 2
    assert "holds the results of preset 'cpu'" in _err(capsys)
    assert json.loads((held / "results.json").read_text()) == {"preset": "cpu"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "held"]


@pytest.mark.parametrize("pack,message", [
    ({"entities": "abc"}, "entities must be a list of non-empty strings"),
    ({"edges": [[0, 1.7]]}, "pair of integer entity indices"),
    ({"edges": [[0, 1, 2]]}, "pair of integer entity indices"),
    ({"edges": [[0, True]]}, "pair of integer entity indices"),
    ({"templates": "The {}."}, "templates must be a list"),
    ({"edge": []}, "unknown keys ['edge']"),
])
def test_pack_json_is_read_strictly(tmp_path, capsys, pack, message):
    base = {"name": "p", "entities": ["a", "b", "c"], "edges": [[0, 1], [1, 2]],
            "templates": ["The {}."]}
    (tmp_path / "p.json").write_text(json.dumps({**base, **pack}))
    assert main(["probe", "--model", "smollm2", "--pack", str(tmp_path / "p.json")]) == 2
    assert message in _err(capsys)


# ---------------------------------------------------------------- stuck state
def test_resume_after_an_interrupt_in_the_first_checkpoint(data, tmp_path, capsys, monkeypatch):
    from hf_geommem.training import callbacks

    out = tmp_path / "run"
    argv = ["train", "--dataset", str(data / "g8"), "--model", "gpt2-tiny", "--out", str(out),
            "--max-steps", "4", "--eval-steps", "4", "--save-steps", "2"]

    def cut(self, *a, **k):  # Ctrl-C after the weights, before the run file: incomplete
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(callbacks._RunFileCallback, "on_save", cut)
        assert main(argv) == 130
    err = _err(capsys)
    assert "--save-steps 2" in err and "--resume" in err and "use --save-steps" not in err
    assert main(argv + ["--resume"]) == 0
    assert "starting the same run again from step 0" in capsys.readouterr().out
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4
    # other settings are refused, saying what differs
    assert main(argv + ["--resume", "--lr", "0.5"]) == 2
    assert "belongs to another run: it differs in ['learning_rate']" in _err(capsys)


def test_a_killed_save_leaves_no_temp_folder_for_long(tmp_path):
    task = H.build_task("path_star", degree=3, length=3, seed=0)
    dead = tmp_path / ".g.tmp-999999999-0badcafe"  # the pid of no live process
    old = tmp_path / ".g.tmp-0badcafe"  # the name older versions used
    live = tmp_path / f".g.tmp-{os.getppid()}-0badcafe"  # a live writer's: kept
    for d in (dead, old, live):
        d.mkdir()
    task.save_to_folder(tmp_path / "g")
    assert not dead.exists() and not old.exists() and live.exists()


def test_disk_full_while_saving_names_the_cause_and_resumes(data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(data / "g8"), "--model", "gpt2-tiny", "--out", str(out),
            "--max-steps", "2", "--eval-steps", "2"]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # a real file-size limit (Python ignores SIGXFSZ, so writes fail with EFBIG): the weights
    # (~60 KB) exceed it, the small JSON files do not
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, hard))
    try:
        code = main(argv)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    said = [ln for ln in _err(capsys).splitlines() if "hf-geommem:" in ln]
    assert code == 2 and len(said) == 1, said
    assert "file too large" in said[0] and str(out) in said[0] and "--resume" in said[0]
    assert main(argv + ["--resume"]) == 0
    assert (out / "model.safetensors").is_file()


# ---------------------------------------------------------------- tracebacks
def test_damaged_run_folders_name_the_file(run, tmp_path, capsys):
    import shutil

    for name, damage, message in (
            ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:500]),
             "cannot load the model"),
            ("config.json", lambda p: p.write_text('{"model_type": '), "config.json"),
            ("run_env.json", lambda p: p.write_text('{"dataset": "x'), "run_env.json")):
        bad = tmp_path / name
        shutil.copytree(run, bad)
        damage(bad / name)
        for argv in (["intervene", str(bad), "--null", "2", "--curve-null", "1"],
                     ["plot", str(bad)]):
            assert main(argv) == 2, argv
            err = _err(capsys)
            assert message in err and len(err.splitlines()) == 1, err
        assert not (bad / "interventions").exists() and not (bad / "figures").exists()


def test_truncated_result_json_and_swapped_parquet_name_the_file(data, tmp_path, capsys):
    import shutil

    out = tmp_path / "rep"
    assert main(["reproduce", "--preset", "smoke", "--claims", "7", "--out", str(out)]) == 0
    capsys.readouterr()
    result = next((out / "runs").glob("*/result.json"))
    result.write_text(result.read_text()[:40])
    assert main(["reproduce", "--preset", "smoke", "--claims", "7", "--out", str(out)]) == 2
    err = _err(capsys)
    assert "result.json" in err and "not valid JSON" in err
    swapped = tmp_path / "swapped"
    shutil.copytree(data / "g8", swapped)
    shutil.copy(swapped / "edges" / "train-00000-of-00001.parquet",
                swapped / "paths" / "test-00000-of-00001.parquet")
    assert main(["train", "--dataset", str(swapped), "--out", str(tmp_path / "r")]) == 2
    err = _err(capsys)
    assert "test-00000-of-00001.parquet" in err and "swapped" in err


def test_more_one_line_errors(data, run, tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    months = ["probe", "--model", str(run), "--pack", "months", "--null", "200"]
    for argv, message in (
            (months + ["--out", str(tmp_path / "o")], "tokenizes to the unknown token"),
            (months + ["--out", str(tmp_path / "f")], "is a file, not a folder"),
            (["intervene", str(run), "--out", str(tmp_path / "f")], "is a file, not a folder"),
            (["plot", str(data / "g8")], "is not a training run folder"),
            (["train", "--dataset", str(data / "g8"), "--out", str(tmp_path / "r"),
              "--report-to", "wandb,tensorboard"], "--report-to wandb"),
            (["demo", "--model", "NOPE", "--out", str(tmp_path / "d")], "unknown model preset"),
            (["demo", "--degree", "3", "--length", "3", "--out", str(tmp_path / "d")],
             "too small for the demo"),
            (["tiny", "--models", "nope", "--out", str(tmp_path / "t")], "--models")):
        if argv[-1] == "wandb,tensorboard" and _installed("wandb"):
            continue
        assert main(argv) == 2, argv
        said = [ln for ln in _err(capsys).splitlines() if "hf-geommem:" in ln]
        assert len(said) == 1 and message in said[0], said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    for argv, message in ((["probe", "--model", str(run), "--pcs", "0"], "--pcs: expected"),
                          (["intervene", str(run), "--seed", "-1"], "--seed: expected")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_push_without_network_says_what_was_saved(data, run, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    def offline(*a, **k):
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    out = tmp_path / "g"
    assert main(["build", "path-star", "--degree", "3", "--length", "3", "--out", str(out),
                 "--push", "me/g"]) == 2
    err = _err(capsys)
    assert f"saved {out}" in err and "me/g" in err and "hf upload me/g" in err
    assert (out / "README.md").is_file()


def test_runs_are_portable_and_describe_their_machine(data, run, tmp_path, monkeypatch, capsys):
    env = json.loads((run / "run_env.json").read_text())
    assert Path(env["dataset"]).is_absolute() and env["cpu"] and env["cpu_capability"]
    mask = os.umask(0)
    os.umask(mask)
    assert (run / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
    # an older run recorded its dataset as typed, relative to where train ran
    (run / "run_env.json").write_text(json.dumps({**env, "dataset": "g8"}))
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["intervene", str(run), "--k", "1", "--null", "2", "--curve-null", "1",
                     "--out", str(tmp_path / "o")]) == 0
    finally:
        (run / "run_env.json").write_text(json.dumps(env))
    assert (tmp_path / "o" / "ablation_layer0.json").is_file()
