"""Run folders work with the ecosystem's own APIs, without hf_geommem."""

import json
import os
import subprocess
import sys

import pytest

import hf_geommem as H
from hf_geommem.training import TrainConfig, evaluate_paths, train


@pytest.fixture(scope="module")
def task():
    return H.build_task("path_star", degree=8, length=3, seed=0)


def test_linear_network_loads_with_trust_remote_code_in_a_fresh_process(task, tmp_path):
    res = train(task, tmp_path / "lin", TrainConfig(model="linear-tiny", max_steps=3,
                                                   eval_steps=3), progress=False)
    cfg = json.loads((tmp_path / "lin/config.json").read_text())
    assert cfg["auto_map"]["AutoModelForCausalLM"].endswith("LinearMemoryForCausalLM")
    assert (tmp_path / "lin/linear_memory.py").is_file()
    code = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path / 'lin')!r}, "
        "trust_remote_code=True)\n"
        "assert not any(k.startswith('hf_geommem') for k in sys.modules), 'imported hf_geommem'\n"
        "print(type(m).__name__, m(torch.tensor([[9, 10]])).logits.shape[-1])\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["LinearMemoryForCausalLM",
                                  str(res.model.config.vocab_size)]


def test_pipeline_default_call_returns_the_scored_path(task, tmp_path):
    from transformers import pipeline

    res = train(task, tmp_path / "g", TrainConfig(model="gpt2-tiny", max_steps=30,
                                                 eval_steps=30, learning_rate=1e-2),
                progress=False)
    gen = pipeline("text-generation", model=str(tmp_path / "g"))
    row = task["paths"]["test"][0]
    text = gen(row["prompt"])[0]["generated_text"]
    completion = text[len(row["prompt"]):].split()
    assert len(completion) == len(row["target"])  # exactly one path, no IndexError
    # the same tokens as the greedy decoding evaluate_paths scores
    import torch

    tok = task.tokenizer
    ids = torch.tensor([tok(row["prompt"])["input_ids"]])
    greedy = res.model.generate(ids, attention_mask=torch.ones_like(ids),
                                max_new_tokens=len(row["target"]), do_sample=False,
                                eos_token_id=None, pad_token_id=tok.pad_token_id)
    assert tok.convert_tokens_to_ids(completion) == greedy[0, ids.shape[1]:].tolist()
    one = H.build_task("path_star", degree=8, length=3, seed=0)
    one.configs["paths"]["test"] = one["paths"]["test"].select([0])
    exact = evaluate_paths(res.model, tok, one["paths"]["test"])["exact"]
    assert exact == float(completion == row["completion"].split())


def test_report_to_and_geometry_reach_the_loggers(task, tmp_path):
    """Task metrics and GeometryCallback scores go through Trainer.log: log_history and every
    logger's on_log (what TensorBoard / W&B integrations receive)."""
    from transformers import TrainerCallback

    seen = []

    class Recorder(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            seen.append(dict(logs))

    from hf_geommem.training import trainer as trainer_mod

    orig = trainer_mod.GraphTrainer.__init__

    def init(self, *a, **kw):
        kw["callbacks"] = list(kw.get("callbacks", [])) + [Recorder()]
        orig(self, *a, **kw)

    trainer_mod.GraphTrainer.__init__ = init
    try:
        res = train(task, tmp_path / "r", TrainConfig(model="gpt2-tiny", max_steps=4,
                                                     eval_steps=2, geometry_points=3),
                    progress=False, report_to="none")
    finally:
        trainer_mod.GraphTrainer.__init__ = orig
    keys = set().union(*seen)
    assert {"eval_exact_path", "geometry/geometric_level", "geometry/navigation_accuracy"} <= keys
    assert all(isinstance(v, (int, float)) for row in seen for v in row.values())
    history = json.loads((tmp_path / "r/trainer_state.json").read_text())["log_history"]
    assert any("geometry/spectral_top_mass" in r for r in history)
    assert any("eval_per_position" in r for r in history)  # lists stay in log_history
    assert [r["step"] for r in res.history] == [0, 2, 4]


def test_report_to_flag_passes_through(task, tmp_path, capsys):
    from hf_geommem.cli import main

    out = tmp_path / "ds"
    task.save_to_folder(out)
    assert main(["train", "--dataset", str(out), "--model", "gpt2-tiny", "--out",
                 str(tmp_path / "run"), "--max-steps", "2", "--eval-steps", "2",
                 "--report-to", "none"]) == 0
    args = json.loads((tmp_path / "run/trainer_state.json").read_text())
    assert args["global_step"] == 2


def test_geometry_callback_in_a_users_own_trainer(task, tmp_path):
    """The README example: user model, user collator, our callback, plain Trainer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from hf_geommem.geometry import GeometryCallback, GeometryRecorder, read_geometry

    tok = task.tokenizer
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=16, n_embd=32,
                                       n_layer=1, n_head=1))
    rows = [tok(f"{r['prompt']} {r['completion']}")["input_ids"]
            for r in task["edges"]["train"]]

    def collate(batch):
        ids = torch.tensor([b["ids"] for b in batch])
        return {"input_ids": ids, "labels": ids}

    from datasets import Dataset

    ds = Dataset.from_dict({"ids": rows})
    recorder = GeometryRecorder(task.graph, tmp_path / "mine", schedule=[0, 3, 6])
    callback = GeometryCallback(recorder)
    args = TrainingArguments(output_dir=str(tmp_path / "mine"), max_steps=6, report_to="none",
                             per_device_train_batch_size=8, use_cpu=True,
                             remove_unused_columns=False, save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate,
                      callbacks=[callback])
    callback.attach(trainer)
    trainer.train()
    geo = read_geometry(tmp_path / "mine")
    assert [r["step"] for r in geo] == [0, 3, 6]
    assert all(-1 <= r["geometric_level"] <= 1 for r in geo)
    logged = [r for r in trainer.state.log_history if "geometry/geometric_level" in r]
    assert [r["step"] for r in logged] == [0, 3, 6]


def test_push_run_with_mocked_hub(task, tmp_path, capsys):
    from unittest import mock

    from hf_geommem.cli import main
    from hf_geommem.training import push_run

    data = tmp_path / "ds"
    task.save_to_folder(data)
    with mock.patch("huggingface_hub.HfApi") as api_cls:
        api = api_cls.return_value
        api.create_repo.return_value = "https://huggingface.co/me/run"
        assert main(["train", "--dataset", str(data), "--model", "gpt2-tiny", "--out",
                     str(tmp_path / "run"), "--max-steps", "2", "--eval-steps", "2",
                     "--save-steps", "1", "--push", "me/run", "--private"]) == 0
    api.create_repo.assert_called_once_with("me/run", repo_type="model", private=True,
                                            exist_ok=True)
    kw = api.upload_folder.call_args.kwargs
    assert kw["folder_path"] == str(tmp_path / "run") and kw["repo_type"] == "model"
    assert "checkpoint-*" in kw["ignore_patterns"]
    assert "pushed to https://huggingface.co/me/run" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="not a finished hf_geommem run"):
        push_run(tmp_path, "me/x")


def test_dataset_card_sizes_as_datasets_counts_them(task, tmp_path):
    from huggingface_hub import DatasetCard

    folder = task.save_to_folder(tmp_path / "ds")
    info = {c["config_name"]: c for c in DatasetCard.load(folder / "README.md").data.dataset_info}
    edges = info["edges"]
    assert edges["splits"][0]["num_bytes"] == task["edges"]["train"].data.nbytes
    assert edges["dataset_size"] == task["edges"]["train"].data.nbytes
    assert edges["download_size"] == (folder / "edges/train-00000-of-00001.parquet").stat().st_size


def test_import_hf_geommem_registers_the_linear_network(tmp_path):
    """`from transformers import ...; import hf_geommem` is enough for the Auto classes."""
    code = ("from transformers import AutoConfig, AutoModelForCausalLM\n"
            "import hf_geommem\n"
            "c = AutoConfig.for_model('geommem_linear', vocab_size=12, hidden_size=4)\n"
            "print(type(AutoModelForCausalLM.from_config(c)).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "LinearMemoryForCausalLM"


def test_markdown_table_lines_and_ragged_row():
    from hf_geommem.cards import markdown_table

    assert markdown_table(["a", "b"], [(1, "x"), (2.5, None)]) == [
        "| a | b |", "|---|---|", "| 1 | x |", "| 2.5 | None |"]
    with pytest.raises(ValueError, match=r"row 1 has 3 cells, expected 2"):
        markdown_table(["a", "b"], [(1, 2), (1, 2, 3)])
