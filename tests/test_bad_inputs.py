"""Bad inputs and interrupts from the command line: one clear line naming the bad value, exit 2
(130 for an interrupt), and nothing left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hf_geommem as H
from hf_geommem.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "g8_3"
    H.build_task("path_star", degree=8, length=3, seed=0).save_to_folder(out)
    return out


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("extra,message", [
    (["--lr", "nan"], "learning_rate must be a finite number > 0, got nan"),
    (["--lr", "inf"], "learning_rate must be a finite number > 0, got inf"),
    (["--warmup-ratio", "2"], "warmup_ratio must be in [0, 1)"),
    (["--weight-decay", "-1"], "weight_decay must be a finite number >= 0, got -1.0"),
    (["--geometry-points", "1"], "geometry_points must be >= 2 or None, got 1"),
    (["--save-steps", "0"], "save_steps must be >= 1 or None, got 0"),
    (["--stop-after-train-exact", "0"], "stop_after_train_exact must be >= 1"),
    (["--model", "gpt9"], "unknown model preset 'gpt9'"),
])
def test_train_knobs_refused_before_any_file(data, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    code, err = _run(["train", "--dataset", str(data), "--out", str(out), *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_paths_say_not_found(data, tmp_path, capsys):
    for argv, message in (
            (["train", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
             "dataset folder"),
            (["train", "--dataset", str(data), "--out", str(tmp_path / "r"), "--init-model",
              str(tmp_path / "nomodel")], "--init-model"),
            (["probe", "--model", "smollm2", "--pack", str(tmp_path / "p.json")], "pack file")):
        code, err = _run(argv, capsys)
        assert code == 2 and "not found" in err and message in err, err
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(data, broken)
    shutil.rmtree(broken / "tokenizer")
    code, err = _run(["train", "--dataset", str(broken), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "tokenizer" in err and "not found" in err
    (broken / "README.md").write_text("---\nfoo: [unclosed\n---\n")
    code, err = _run(["train", "--dataset", str(broken), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "README.md" in err and "invalid dataset card" in err
    pack = tmp_path / "p.json"
    pack.write_text("{not json")
    code, err = _run(["probe", "--model", "smollm2", "--pack", str(pack)], capsys)
    assert code == 2 and "p.json" in err and "not valid JSON" in err


def test_init_model_refuses_flags_that_cannot_apply(data, tmp_path, capsys):
    code, err = _run(["train", "--dataset", str(data), "--out", str(tmp_path / "r"),
                      "--init-model", str(data), "--model", "llama-tiny"], capsys)
    assert code == 2 and "--model cannot apply" in err


def test_init_model_records_the_loaded_config(data, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--dataset", str(data), "--model", "llama-tiny", "--out", str(first),
                 "--max-steps", "2", "--eval-steps", "2", "--untied"]) == 0
    second = tmp_path / "second"
    assert main(["train", "--dataset", str(data), "--out", str(second), "--init-model",
                 str(first), "--max-steps", "2", "--eval-steps", "2"]) == 0
    cfg = json.loads((second / "geommem_run.json").read_text())["config"]
    assert cfg["model"] == "llama-tiny" and cfg["tie_embeddings"] is False
    assert "llama" in (second / "README.md").read_text()


def test_output_paths(data, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep me")
    for out, message in ((str(f), "is a file, not a folder"),
                         (str(f / "sub"), "is a file"), ("", "must be a folder path")):
        code, err = _run(["build", "path-star", "--degree", "3", "--length", "3", "--out", out,
                          "--overwrite"], capsys)
        assert code == 2 and message in err, err
    assert f.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temp folders left


@pytest.mark.parametrize("argv,message", [
    (["build", "path-star", "--degree", "1000000000", "--length", "5"], "GiB"),
    (["build", "path-star", "--degree", "300", "--length", "5", "--pauses", "1000000000"],
     "GiB of prompts"),
])
def test_sizes_that_cannot_fit(tmp_path, capsys, argv, message):
    code, err = _run([*argv, "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and message in err and not (tmp_path / "x").exists()


def test_negative_seed_names_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["build", "path-star", "--degree", "3", "--length", "3", "--seed", "-1", "--out",
              str(tmp_path / "x")])
    assert exc.value.code == 2 and "--seed: expected an integer >= 0, got -1" in \
        capsys.readouterr().err


def test_non_finite_loss_stops_and_leaves_nothing(data, tmp_path, capsys, monkeypatch):
    from hf_geommem import training

    out = tmp_path / "run"
    # a learning rate that passes validation but blows the weights up
    code, err = _run(["train", "--dataset", str(data), "--out", str(out), "--lr", "1e30",
                      "--max-steps", "5", "--eval-steps", "5"], capsys)
    assert code == 2 and "loss became" in err and "lower the learning rate" in err
    assert not out.exists()
    assert issubclass(training.NonFiniteLossError, ValueError)


def test_sigterm_one_line_and_resume_from_a_complete_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "hf_geommem.cli", "train", "--dataset", str(data), "--model",
           "gpt2-tiny", "--out", str(out), "--max-steps", "400", "--eval-steps", "400",
           "--save-steps", "5"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 600  # a loaded 2-core machine takes minutes to import and start
    while time.time() < deadline and not list(out.glob("checkpoint-*/geommem_run.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    # one line (after whatever progress bar was on screen) saying how to go on
    said = [ln[ln.index("hf-geommem:"):] for ln in err.splitlines() if "hf-geommem:" in ln]
    assert len(said) == 1 and "interrupted" in said[0] and "--resume" in said[0], err[-1500:]
    assert "Traceback" not in err
    # a checkpoint cut short (no trainer state / run file) is skipped by --resume
    from hf_geommem.training import last_complete_checkpoint

    good = last_complete_checkpoint(out)
    half = out / "checkpoint-99999"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    assert last_complete_checkpoint(out) == good
    done = subprocess.run(cmd + ["--resume"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 400


def test_hub_branch_of_load_task_is_mocked(data, tmp_path, monkeypatch):
    """A repo id goes through hf_hub_download (card) and load_dataset (configs)."""
    import huggingface_hub
    import datasets

    calls = []
    real_load = datasets.load_dataset

    def fake_download(repo_id, filename, repo_type=None, revision=None, token=None,
                      subfolder=None, **kw):
        calls.append((repo_id, filename, repo_type, revision))
        return str(data / filename)

    def fake_load_dataset(source, config, cache_dir=None, revision=None, token=None):
        return real_load(str(data), config, cache_dir=str(tmp_path / "cache"))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    from transformers import PreTrainedTokenizerFast

    real = PreTrainedTokenizerFast.from_pretrained.__func__
    monkeypatch.setattr(PreTrainedTokenizerFast, "from_pretrained", classmethod(
        lambda cls, src, subfolder=None, **kw: real(cls, str(Path(data) / subfolder)
                                                    if subfolder else src)))
    task = H.load_task("me/g8_3", revision="v1")
    assert calls[0] == ("me/g8_3", "README.md", "dataset", "v1")
    assert task.graph.num_nodes == 17 and task["paths"]["test"].num_rows == 2


def test_generated_readme_section_is_replaced_whole_or_not_at_all(tmp_path):
    from hf_geommem.files import replace_between_markers

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- x:begin -->\nold line\n<!-- x:end -->\noutro\n")
    replace_between_markers(readme, "<!-- x:begin -->", "<!-- x:end -->", "new line")
    assert readme.read_text() == "intro\n<!-- x:begin -->\nnew line\n<!-- x:end -->\noutro\n"
    with pytest.raises(ValueError, match="lacks the <!-- y:begin --> ... <!-- y:end -->"):
        replace_between_markers(readme, "<!-- y:begin -->", "<!-- y:end -->", "lost")
    assert "new line" in readme.read_text() and list(tmp_path.iterdir()) == [readme]
