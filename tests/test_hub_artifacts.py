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
