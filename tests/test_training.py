import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hf_geommem as H
from hf_geommem.modeling import PRESETS, _config_for, build_model
from hf_geommem.tokenization import NUM_SPECIAL_TOKENS
from hf_geommem.training import (AnswerOnlyCollator, GraphEvalCallback, TrainConfig,
                                 evaluate_edges, evaluate_paths, finish_run, read_metrics,
                                 tokenize_config, train)

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(model="gpt2-tiny", max_steps=6, eval_steps=3, learning_rate=1e-2)


@pytest.fixture(scope="module")
def task():
    return H.build_task("path_star", degree=8, length=3, seed=0)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory, task):
    return task.save_to_folder(tmp_path_factory.mktemp("data") / "g8_3")


# ---------------------------------------------------------------- presets and switches
def test_preset_configs():
    sp = dict(pad_token_id=0, bos_token_id=2, eos_token_id=3)
    mid = _config_for(PRESETS["gpt2-mid"], 100, 64, sp, True, 0.02)
    assert (mid.n_layer, mid.n_embd, mid.n_head, mid.resid_pdrop) == (12, 384, 8, 0.0)
    assert mid.tie_word_embeddings and mid.bos_token_id == 2
    assert _config_for(PRESETS["gpt2-mid-784"], 100, 64, sp, True, 0.02).n_embd == 784
    ll = _config_for(PRESETS["llama-mid"], 100, 64, sp, True, 0.02)
    assert (ll.num_hidden_layers, ll.hidden_size, ll.num_attention_heads) == (12, 384, 8)
    mb = _config_for(PRESETS["mamba-mid"], 100, 64, sp, True, 0.02)
    assert (mb.state_size, mb.conv_kernel, mb.expand, mb.num_hidden_layers) == (16, 4, 2, 12)
    small = _config_for(PRESETS["gpt2-small"], 100, 64, sp, True, 0.02)
    assert (small.n_layer, small.n_embd) == (2, 128)
    tiny = _config_for(PRESETS["llama-tiny"], 100, 64, sp, True, 0.02)
    assert (tiny.num_hidden_layers, tiny.hidden_size, tiny.num_attention_heads) == (1, 32, 1)


def test_gpt2_presets_use_the_fused_tanh_gelu():
    """The gpt2 presets' activation is GPT-2's tanh GELU as one fused op: the same function as
    transformers' eager ``gelu_new`` to float rounding, so only the speed differs."""
    from transformers.activations import ACT2FN

    m = build_model("gpt2-tiny", 40, 16, seed=2)
    assert m.config.activation_function == "gelu_pytorch_tanh"
    mlp = m.transformer.h[0].mlp
    x = torch.randn(3, 5, 32, generator=torch.Generator().manual_seed(0)) * 3
    fused = mlp(x)
    mlp.act = ACT2FN["gelu_new"]
    torch.testing.assert_close(fused, mlp(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny", "mamba-tiny", "linear-tiny"])
def test_presets_run_and_switches(preset, tmp_path):
    m = build_model(preset, 40, 16, freeze_embeddings=True, embedding_init_std=1.0)
    emb = m.get_input_embeddings().weight
    assert not emb.requires_grad and abs(float(emb.std()) - 1.0) < 0.15
    assert m.get_output_embeddings().weight.data_ptr() == emb.data_ptr()  # tied
    ids = torch.randint(NUM_SPECIAL_TOKENS, 40, (2, 4))
    assert m(input_ids=ids).logits.shape == (2, 4, 40)
    untied = build_model(preset, 40, 16, tie_embeddings=False)
    assert untied.get_output_embeddings().weight.data_ptr() != \
        untied.get_input_embeddings().weight.data_ptr()
    m.save_pretrained(tmp_path)
    from transformers import AutoModelForCausalLM

    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.allclose(again(input_ids=ids).logits, m(input_ids=ids).logits, atol=1e-5)


def test_linear_network_is_E_W_Et():
    m = build_model("linear-tiny", 30, seed=1)
    E, W = m.embed_tokens.weight, m.linear.weight
    ids = torch.arange(30)[None]
    expected = (E @ W.T) @ E.T
    assert torch.allclose(m(input_ids=ids).logits[0], expected, atol=1e-5)


def test_bad_preset_and_std():
    with pytest.raises(ValueError, match="unknown model preset 'gpt5'"):
        build_model("gpt5", 10)
    with pytest.raises(ValueError, match="unknown model preset"):
        TrainConfig(model="gpt5")
    with pytest.raises(ValueError, match="embedding_init_std must be > 0"):
        build_model("gpt2-tiny", 10, embedding_init_std=0.0)
    with pytest.raises(ValueError, match="recipe must be one of"):
        TrainConfig(recipe="shuffled")


# ---------------------------------------------------------------- tokenization and masking
def test_answer_only_labels(task):
    tok = task.tokenizer
    paths = tokenize_config(task["paths"]["train"], tok)
    row, src = paths[0], task["paths"]["train"][0]
    n_prompt = len(tok(src["prompt"])["input_ids"])
    assert row["labels"][:n_prompt] == [-100] * n_prompt
    assert row["labels"][n_prompt:] == [t + NUM_SPECIAL_TOKENS for t in src["target"]]
    assert row["input_ids"][n_prompt:] == row["labels"][n_prompt:]
    first = tokenize_config(task["paths"]["train"], tok, "first_token")[0]
    sup = [i for i, x in enumerate(first["labels"]) if x != -100]
    assert sup == [n_prompt + 1]  # v1 only
    assert first["labels"][n_prompt + 1] == src["target"][1] + NUM_SPECIAL_TOKENS
    edges = tokenize_config(task["edges"]["train"], tok, kind="edges")
    assert edges[0]["labels"][:2] == [-100, -100] and edges[0]["kind"] == "edges"


def test_tokenization_in_chunks_gives_the_same_rows(task, monkeypatch):
    from hf_geommem.training import data

    edges = task["edges"]["train"]
    whole = tokenize_config(edges, task.tokenizer, kind="edges")
    monkeypatch.setattr(data, "TOKENIZE_CHUNK", 7)  # several chunks and a short last one
    assert len(edges) % 7 and len(edges) > 14
    assert tokenize_config(edges, task.tokenizer, kind="edges")[:] == whole[:]
    with pytest.raises(ValueError, match="path_loss must be .* got 'last'"):
        tokenize_config(edges, task.tokenizer, "last")


def test_collator_pads_and_masks_phase(task):
    tok = task.tokenizer
    feats = [tokenize_config(task["edges"]["train"], tok, kind="edges")[0],
             tokenize_config(task["paths"]["train"], tok, kind="paths")[0]]
    col = AnswerOnlyCollator(tok.pad_token_id)
    b = col(feats)
    assert b["input_ids"].shape == (2, 6) and b["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0]
    assert b["labels"][0, 3:].tolist() == [-100] * 3 and b["input_ids"][0, 3] == tok.pad_token_id
    col.phase = "edges"
    assert (col(feats)["labels"][1] == -100).all() and (col(feats)["labels"][0] != -100).any()
    col.phase = "paths"
    assert (col(feats)["labels"][0] == -100).all()


# ---------------------------------------------------------------- evaluation
class _Oracle(torch.nn.Module):
    """generate() answers from a table: lets us check the metrics exactly."""

    def __init__(self, answers):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.answers = answers

    def generate(self, input_ids, max_new_tokens, **kw):
        rows = [self.answers[tuple(r.tolist())] for r in input_ids]
        return torch.cat([input_ids, torch.tensor(rows)[:, :max_new_tokens]], dim=1)

    def forward(self, input_ids, **kw):  # teacher forcing: logits one-hot on the answers
        out = torch.zeros(*input_ids.shape, 64)
        for r, row in enumerate(input_ids.tolist()):
            plen = next(k for k in range(len(row)) if tuple(row[:k]) in self.answers)
            for j, t in enumerate(self.answers[tuple(row[:plen])]):
                out[r, plen - 1 + j, t] = 1.0
        return type("Out", (), {"logits": out})()


@pytest.mark.parametrize("preset", ["gpt2-tiny", "mamba-tiny"])
def test_evaluation_in_bounded_chunks_gives_the_same_scores(task, preset, monkeypatch):
    # a logit budget of one row at a time (what a 50,010-token vocabulary needs at scale)
    # scores exactly as the unbounded pass; an untrained model answers a mix of right and wrong
    from hf_geommem.training import decoding

    model = build_model(preset, vocab_size=len(task.tokenizer), seed=3)
    paths, edges = task["paths"]["train"], task["edges"]["train"]
    n = task.graph.num_nodes
    whole = (decoding.evaluate_paths(model, task.tokenizer, paths),
             decoding.evaluate_edges(model, task.tokenizer, edges, n))
    monkeypatch.setattr(decoding, "EVAL_LOGIT_BYTES", 1)
    assert decoding._rows_per_chunk(model, 1024, 4) == 1
    assert (decoding.evaluate_paths(model, task.tokenizer, paths),
            decoding.evaluate_edges(model, task.tokenizer, edges, n)) == whole
    assert 0 < whole[1] < 1 or 0 < np.mean(whole[0]["teacher_forced"]) < 1


def test_evaluate_paths_counts_exact_first_and_positions(task):
    tok, ds = task.tokenizer, task["paths"]["train"]
    answers = {}
    for i, row in enumerate(ds):
        ids = tuple(tok(row["prompt"])["input_ids"])
        target = [t + NUM_SPECIAL_TOKENS for t in row["target"]]
        if i == 0:
            target[1] += 1          # wrong v1
        if i == 1:
            target[2] += 1          # wrong leaf only
        answers[ids] = target
    res = evaluate_paths(_Oracle(answers), tok, ds, batch_size=2)
    n = ds.num_rows
    assert res["n"] == n
    assert res["exact"] == pytest.approx((n - 2) / n)
    assert res["first_token"] == pytest.approx((n - 1) / n)  # teacher-forced v1
    assert res["per_position"] == pytest.approx([1.0, (n - 1) / n, (n - 1) / n])
    assert res["teacher_forced"] == pytest.approx([1.0, (n - 1) / n, (n - 1) / n])


def test_evaluate_edges_perfect_linear_model(task):
    g, tok = task.graph, task.tokenizer
    V = len(tok)
    m = build_model("linear-512", V)
    with torch.no_grad():
        m.embed_tokens.weight.copy_(torch.eye(V, 512))
        W = torch.zeros(512, 512)
        for u, v in g.edges.tolist():  # score(u -> v) high for both directions
            W[v + NUM_SPECIAL_TOKENS, u + NUM_SPECIAL_TOKENS] = 1.0
            W[u + NUM_SPECIAL_TOKENS, v + NUM_SPECIAL_TOKENS] = 1.0
        m.linear.weight.copy_(W)
    assert evaluate_edges(m, tok, task["edges"]["train"], g.num_nodes) == pytest.approx(1.0)
    with torch.no_grad():
        # neighbours score lowest: they never make the top-k
        m.linear.weight.copy_(-W + torch.eye(512))
    assert evaluate_edges(m, tok, task["edges"]["train"], g.num_nodes) == 0.0


# ---------------------------------------------------------------- training runs
def test_train_writes_everything_and_is_deterministic(task, tmp_path):
    a = train(task, tmp_path / "a", TrainConfig(**FAST), progress=False)
    b = train(task, tmp_path / "b", TrainConfig(**FAST), progress=False)
    rows = read_metrics(tmp_path / "a")
    assert [r["step"] for r in rows] == [0, 3, 6]
    assert {"eval_exact_path", "eval_first_token", "eval_per_position", "train_exact_path",
            "edge_topk_recovery", "chance"} <= set(rows[-1])
    assert rows[-1]["chance"] == pytest.approx(1 / 8)
    hist = [r for r in json.loads((tmp_path / "a/trainer_state.json").read_text())
            ["log_history"] if "eval_exact_path" in r]
    assert [r["step"] for r in hist] == [0, 3, 6]
    loss_a = [r["loss"] for r in json.loads((tmp_path / "a/trainer_state.json").read_text())
              ["log_history"] if "loss" in r]
    loss_b = [r["loss"] for r in json.loads((tmp_path / "b/trainer_state.json").read_text())
              ["log_history"] if "loss" in r]
    assert loss_a == loss_b and len(loss_a) == 2  # logged every min(eval_steps, 10) steps
    assert a.final == b.final
    for f in ("config.json", "model.safetensors", "tokenizer.json", "geommem_run.json"):
        assert (tmp_path / "a" / f).is_file()
    finish_run(a, task, "g8_3")
    from huggingface_hub import ModelCard

    card = ModelCard.load(tmp_path / "a/README.md")
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    # Hub metric ids; chance is text, not a result; a local dataset is named as local
    assert metrics["exact_match"] == pytest.approx(rows[-1]["eval_exact_path"])
    assert metrics["accuracy"] == pytest.approx(rows[-1]["eval_first_token"])
    assert "chance" not in metrics and "12.50%" in card.text
    assert card.data.datasets is None and "local dataset folder `g8_3`" in card.text
    report = (tmp_path / "a/report.md").read_text()
    assert [ln.split(" | ")[0] for ln in report.splitlines() if ln.startswith("| ") and
            ln[2].isdigit()] == ["| 0", "| 3", "| 6"]
    assert (tmp_path / "a/curves.png").is_file()


def test_training_learns_edges(task, tmp_path):
    res = train(task, tmp_path / "r", TrainConfig(model="gpt2-tiny", max_steps=60,
                                                    eval_steps=60, learning_rate=3e-2,
                                                    recipe="edges"), progress=False)
    assert res.final["edge_topk_recovery"] > 0.6  # from ~1/25 at init


def test_frozen_embeddings_stay_frozen(task, tmp_path):
    res = train(task, tmp_path / "f", TrainConfig(**FAST, freeze_embeddings=True),
                progress=False)
    init = build_model("gpt2-tiny", len(task.tokenizer), res.model.config.n_positions,
                       freeze_embeddings=True, seed=0)
    assert torch.equal(res.model.get_input_embeddings().weight,
                       init.get_input_embeddings().weight)


def test_resume_continues_the_same_run(task, tmp_path):
    cfg = TrainConfig(**{**FAST, "save_steps": 3})
    full = train(task, tmp_path / "r", cfg, progress=False)
    losses = [r["loss"] for r in json.loads((tmp_path / "r/trainer_state.json").read_text())
              ["log_history"] if "loss" in r]
    resumed = train(task, tmp_path / "r", cfg, resume_from_checkpoint=str(tmp_path /
                                                                        "r/checkpoint-3"),
                    progress=False)
    losses2 = [r["loss"] for r in json.loads((tmp_path / "r/trainer_state.json").read_text())
               ["log_history"] if "loss" in r]
    assert losses2 == losses
    assert [r["step"] for r in read_metrics(tmp_path / "r")] == [0, 3, 6]
    assert resumed.final == full.final
    other = TrainConfig(**{**FAST, "save_steps": 3, "learning_rate": 5e-3})
    with pytest.raises(ValueError, match="another run.*learning_rate"):
        train(task, tmp_path / "r", other, resume_from_checkpoint=True)
    (tmp_path / "fake/checkpoint-1").mkdir(parents=True)
    with pytest.raises(ValueError, match="no complete checkpoint"):  # half-written: skipped
        train(task, tmp_path / "fake", cfg, resume_from_checkpoint=True)
    with pytest.raises(ValueError, match="not an hf_geommem checkpoint"):
        train(task, tmp_path / "fake", cfg,
              resume_from_checkpoint=str(tmp_path / "fake/checkpoint-1"))
    # same sizes and parameters, one changed row: the data hash refuses it
    import pyarrow as pa
    from datasets import Dataset

    from hf_geommem.builder import TaskData

    edges = task["edges"]["train"].data.table
    col = edges.column("completion").to_pylist()
    col[0], col[1] = col[1], col[0]
    changed = edges.set_column(edges.column_names.index("completion"), "completion",
                               pa.array(col))
    configs = {c: dict(dd) for c, dd in task.configs.items()}
    configs["edges"]["train"] = Dataset(changed)
    other_task = TaskData(configs, task.tokenizer, task.graph, task.metadata)
    with pytest.raises(ValueError, match=r"another run.*\['dataset'\]"):
        train(other_task, tmp_path / "r", cfg, resume_from_checkpoint=True)


def test_staged_recipe_switches_phase(task, tmp_path):
    cfg = TrainConfig(**{**FAST, "recipe": "staged", "stage1_steps": 3})
    res = train(task, tmp_path / "s", cfg, progress=False)
    assert [r["step"] for r in res.history] == [0, 3, 6]
    col = AnswerOnlyCollator(0)
    cb = GraphEvalCallback(task, cfg, task.tokenizer, col)

    class S:
        global_step = 0

    cb._set_phase(S)
    assert col.phase == "edges"
    S.global_step = 3
    cb._set_phase(S)
    assert col.phase == "paths"


def test_errors_before_training(task, tmp_path):
    edges_only = H.build_task("cycle", n=6)
    with pytest.raises(ValueError, match="recipe 'mixed' needs config.*'paths'"):
        train(edges_only, tmp_path / "e", TrainConfig(**FAST))
    small = build_model("gpt2-tiny", 12)
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(ValueError, match="vocabulary has 26 tokens but the model's embedding "
                                         "has 12 rows"):
        train(task, tmp_path / "v", TrainConfig(**FAST), init_model=str(tmp_path / "small"))
    assert not (tmp_path / "v").exists() and not (tmp_path / "e").exists()
    with pytest.raises(ValueError, match="staged recipe needs an edges config"):
        ic = H.build_in_context_task(degree=2, length=3, num_train=8, num_test=4,
                                     num_node_ids=10)
        train(ic, tmp_path / "ic", TrainConfig(**{**FAST, "recipe": "staged"}))


def test_in_context_trains_with_same_machinery(tmp_path):
    ic = H.build_in_context_task(degree=2, length=3, num_train=32, num_test=8, num_node_ids=12)
    res = train(ic, tmp_path / "ic", TrainConfig(**FAST), progress=False)
    assert res.final["chance"] == 0.5 and res.final["eval_num_arms"] == 8
    assert "edge_topk_recovery" not in res.final


def test_cli_train(task_dir, tmp_path, capsys):
    from hf_geommem.cli import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", str(task_dir), "--model", "gpt2-tiny", "--out", str(out),
                 "--max-steps", "4", "--eval-steps", "2", "--lr", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "final: eval_exact_path=" in text and (out / "README.md").is_file()
    assert main(["train", "--dataset", str(task_dir), "--model", "nope", "--out",
                 str(tmp_path / "x")]) == 2
    assert "unknown model preset 'nope'" in capsys.readouterr().err


def test_accelerate_launch_two_process_ddp(task_dir, tmp_path):
    accelerate = Path(sys.executable).parent / "accelerate"
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
           "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hf_geommem.cli",
           "train", "--dataset", str(task_dir), "--model", "gpt2-tiny", "--out", str(out),
           "--max-steps", "60", "--eval-steps", "5", "--lr", "0.01",
           "--stop-after-train-exact", "2"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run_env.json").read_text())["world_size"] == 2
    rows = read_metrics(out)
    # rank 0 evaluates; the stop reaches rank 1 too (else the launch hangs or runs 60 steps)
    assert [r["step"] for r in rows] == list(range(0, rows[-1]["step"] + 1, 5))
    assert "stopped_by_rule" in rows[-1] and rows[-1]["step"] < 60
    assert [r["train_exact_path"] for r in rows[-2:]] == [1.0, 1.0]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == rows[-1]["step"]


def test_stop_after_train_exact_stops_at_the_kth_perfect_evaluation(task, tmp_path):
    full = train(task, tmp_path / "full", TrainConfig(**{**FAST, "max_steps": 40,
                                                         "eval_steps": 5}), progress=False)
    perfect = [r["step"] for r in full.history if r["train_exact_path"] == 1.0]
    assert perfect and perfect[0] + 5 in perfect, "the fixture no longer memorizes its train set"
    res = train(task, tmp_path / "stop", TrainConfig(**{**FAST, "max_steps": 40, "eval_steps": 5,
                                                        "stop_after_train_exact": 2}),
                progress=False)
    assert [r["step"] for r in res.history] == list(range(0, perfect[0] + 6, 5))
    assert res.final["stopped_by_rule"].startswith("train exact-path 100% at 2")
    # the held-out split plays no part: same curve as the full run up to the stop
    assert [r["eval_exact_path"] for r in res.history] == \
        [r["eval_exact_path"] for r in full.history[:len(res.history)]]


@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny", "mamba-tiny", "linear-tiny"])
def test_length_grouped_loss_equals_padded_loss(task, preset):
    """Length-grouped forward + LM head on answer positions only = the plain padded loss."""
    from transformers import TrainingArguments

    from hf_geommem.training import GraphTrainer

    tok = task.tokenizer
    feats = [tokenize_config(task["edges"]["train"], tok, kind="edges")[i] for i in range(5)] + \
        [tokenize_config(task["paths"]["train"], tok, kind="paths")[i] for i in range(3)]
    batch = AnswerOnlyCollator(tok.pad_token_id)(feats)
    model = build_model(preset, len(tok), 16)
    args = TrainingArguments(output_dir="/tmp/unused", report_to="none", use_cpu=True)
    trainer = GraphTrainer(model=model, args=args)
    grouped = trainer.compute_loss(model, dict(batch))
    padded = model(**batch).loss
    assert len(torch.unique(batch["attention_mask"].sum(1))) == 2
    assert torch.allclose(grouped, padded, atol=1e-5)
    grouped.backward()
    g1 = model.get_input_embeddings().weight.grad.clone()
    model.zero_grad()
    padded.backward()
    assert torch.allclose(g1, model.get_input_embeddings().weight.grad, atol=1e-6)


@pytest.mark.parametrize("preset", ["gpt2-tiny", "linear-tiny"])
def test_gradient_accumulation_matches_the_big_batch(task, tmp_path, preset, monkeypatch):
    """2 accumulation steps x batch B give the same update as one batch of 2B, and so does a
    full batch that a memory budget splits into micro-batches."""
    from hf_geommem.training import memory
    from hf_geommem.training.memory import step_estimate_gb

    monkeypatch.setattr(memory, "current_rss_gb", lambda: None)  # runtime: RUNTIME_GB

    n = task["edges"]["train"].num_rows + task["paths"]["train"].num_rows
    assert n % 2 == 0, n
    models = []
    for name, batch, accum in (("big", n, 1), ("accum", n // 2, 2)):
        res = train(task, tmp_path / name, TrainConfig(model=preset, max_steps=1, eval_steps=1,
                                                       batch_size=batch, learning_rate=1e-2),
                    progress=False, gradient_accumulation_steps=accum,
                    optim="sgd")  # SGD: the update is the gradient (Adam's first step hides it)
        models.append(res.model)
    plan = res.memory_plan
    assert (plan.micro_batch_size, plan.accumulation_steps) == (n // 2, 1)
    # a budget that holds half the full batch: two micro-batches of n/2
    ds = tokenize_config(task["edges"]["train"], task.tokenizer, kind="edges")
    lengths = [len(x) for x in ds["input_ids"]] + [
        len(x) for x in tokenize_config(task["paths"]["train"], task.tokenizer)["input_ids"]]
    budget = step_estimate_gb(n // 2, lengths, plan.bytes_per_token, plan.fixed_bytes,
                              sum(p.numel() * 4 for p in res.model.parameters()))
    res = train(task, tmp_path / "budget", TrainConfig(model=preset, max_steps=1, eval_steps=1,
                                                       learning_rate=1e-2, batch_size=None,
                                                       memory_budget_gb=budget),
                progress=False, optim="sgd")
    split = res.memory_plan
    assert (split.micro_batch_size, split.accumulation_steps) == (n // 2, 2), split
    assert split.full_batch_gb > budget >= split.estimated_gb
    env = json.loads((tmp_path / "budget/run_env.json").read_text())
    assert env["memory_plan"]["accumulation_steps"] == 2 and env["peak_rss_gb"] > 0.1
    models.append(res.model)
    for other in models[1:]:
        for (k, a), (_, b) in zip(models[0].state_dict().items(), other.state_dict().items()):
            assert torch.allclose(a, b, atol=1e-6), k


def test_memory_budget_too_small_is_refused_before_writing(task, tmp_path):
    with pytest.raises(ValueError, match=r"memory budget of 0\.5 GB \(--memory-budget-gb"):
        train(task, tmp_path / "run", TrainConfig(model="gpt2-tiny", memory_budget_gb=0.5),
              progress=False)
    assert not (tmp_path / "run").exists()


def test_micro_batches_divide_a_mini_batch():
    from hf_geommem.training.memory import GB, plan_micro_batches, step_estimate_gb

    lengths = [3] * 90 + [7] * 10
    cost = dict(bytes_per_token=GB / 100, fixed_bytes=0.0, param_bytes=0)
    budget = step_estimate_gb(30, lengths, **cost)
    whole = plan_micro_batches(100, lengths, budget_gb=budget, whole_epoch=True, **cost)
    assert (whole.micro_batch_size, whole.accumulation_steps) == (25, 4)
    mini = plan_micro_batches(98, lengths, budget_gb=budget, whole_epoch=False, **cost)
    assert 98 % mini.micro_batch_size == 0 and mini.micro_batch_size <= 30
    assert mini.micro_batch_size * mini.accumulation_steps == 98
    assert plan_micro_batches(98, lengths, budget_gb=None, whole_epoch=False,
                              **cost).accumulation_steps == 1


def test_plan_runtime_is_the_process_memory_plus_a_margin(monkeypatch):
    from hf_geommem.training import memory

    rss = memory.current_rss_gb()
    assert rss is not None and 0.05 < rss < 64  # this process, read from /proc/self/statm
    monkeypatch.setattr(memory, "current_rss_gb", lambda: 3.0)
    assert memory.runtime_gb() == pytest.approx(3.0 + memory.RUNTIME_MARGIN_GB)
    monkeypatch.setattr(memory, "current_rss_gb", lambda: 0.1)
    assert memory.runtime_gb() == memory.RUNTIME_GB
    lengths = [10] * 100
    cost = dict(bytes_per_token=memory.GB / 1000, fixed_bytes=0.0, param_bytes=0)
    light = memory.plan_micro_batches(100, lengths, budget_gb=4.0, whole_epoch=True, **cost)
    heavy = memory.plan_micro_batches(100, lengths, budget_gb=4.0, whole_epoch=True,
                                      runtime_gb=3.0, **cost)
    assert heavy.micro_batch_size < light.micro_batch_size and heavy.estimated_gb <= 4.0
    with pytest.raises(memory.MemoryBudgetError, match="process \\(about 3.90 GB"):
        memory.plan_micro_batches(100, lengths, budget_gb=3.9, whole_epoch=True,
                                  runtime_gb=3.9, **cost)


def test_memory_probe_stays_under_its_own_bound():
    # the probe holds its examples' activations: unbounded, 256 gpt2-mid in-context examples
    # took ~18 GB before training started
    from hf_geommem.training.memory import PILOT_SIZE, PROBE_SIZES, step_cost

    lengths = [10] * 1000
    width = 64
    probed = []

    def loss_for(idx):
        probed.append(len(idx))
        x = torch.ones(sum(lengths[i] for i in idx), width, requires_grad=True)
        return x.exp().sum()  # exp saves its output: 4 * width bytes per token

    per_token = 4 * width
    assert step_cost(loss_for, lengths, set(), seed=0) == pytest.approx((per_token, 0.0))
    assert probed == list(PROBE_SIZES)
    probed.clear()
    bound = 40 * 10 * per_token  # 40 examples' worth
    slope, fixed = step_cost(loss_for, lengths, set(), seed=0, max_probe_bytes=bound)
    assert probed[0] == PILOT_SIZE and max(probed) == 40 and probed[1] < probed[2]
    assert (slope, fixed) == pytest.approx((per_token, 0.0))


@pytest.mark.parametrize("preset", ["llama-tiny", "mamba-tiny"])
def test_llama_and_mamba_train_a_few_steps(task, tmp_path, preset):
    res = train(task, tmp_path / preset, TrainConfig(model=preset, max_steps=6, eval_steps=3,
                                                      learning_rate=1e-2), progress=False)
    assert [r["step"] for r in res.history] == [0, 3, 6]
    losses = [r["loss"] for r in json.loads((tmp_path / preset / "trainer_state.json")
                                            .read_text())["log_history"] if "loss" in r]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] + 1e-6


def test_reverse_paths_and_mini_batches(tmp_path):
    rev = H.build_task("path_star", degree=8, length=3, seed=0,
                       paths=H.PathTaskConfig(direction="reverse"))
    row = rev["paths"]["test"][0]
    assert row["target"][0] == row["source"]  # leaf first: the easy direction
    res = train(rev, tmp_path / "rev", TrainConfig(model="gpt2-tiny", max_steps=80,
                                                   eval_steps=80, learning_rate=1e-2,
                                                   batch_size=8), progress=False)
    # mini-batches of 8 examples (the last one of an epoch shorter): 16 epochs of 38 examples
    state = json.loads((tmp_path / "rev/trainer_state.json").read_text())
    n = rev["edges"]["train"].num_rows + rev["paths"]["train"].num_rows
    assert state["global_step"] == 80 and state["epoch"] == 80 // -(-n // 8)  # 5 batches/epoch
    assert res.final["train_exact_path"] > 0.5  # the reverse paths are being learned
