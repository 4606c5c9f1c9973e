"""Family recipes: one default per model family, user overrides win, the recipe reaches the run
file, the card, the start-of-run line and `hf-geommem models`."""

import json

import pytest

import hf_geommem as H
from hf_geommem.cli import build_parser, main
from hf_geommem.cli import _train_config
from hf_geommem.presets import PRESETS, RECIPE_FIELDS, RECIPES, describe_weight_decay, recipe_for
from hf_geommem.training import TrainConfig, train


@pytest.mark.parametrize("model", ["gpt2-small", "llama-small", "mamba-small", "linear-tiny",
                                   "llama-mid"])
def test_recipe_lookup_per_family(model):
    recipe = RECIPES[PRESETS[model].arch]
    assert recipe_for(model) is recipe
    cfg = TrainConfig(model=model)
    for name in RECIPE_FIELDS:
        assert getattr(cfg, name) == getattr(recipe, name), name
    assert set(cfg.recipe_defaults) == set(RECIPE_FIELDS)
    assert cfg.recipe_summary()["overridden"] == {}


def test_recipe_follows_the_family_not_the_default():
    # a linear-network user does not get the sequence models' mini-batch recipe, and vice versa
    assert TrainConfig(model="linear-tiny").batch_size is None
    assert TrainConfig(model="llama-small").batch_size == RECIPES["llama"].batch_size == 256


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model preset 'gpt5'"):
        recipe_for("gpt5")
    with pytest.raises(ValueError, match="unknown model preset"):
        TrainConfig(model="gpt5")


def test_user_overrides_win():
    mamba = recipe_for("mamba-small")
    cfg = TrainConfig(model="mamba-small", learning_rate=1e-4, batch_size=None, max_steps=7)
    assert (cfg.learning_rate, cfg.batch_size, cfg.max_steps) == (1e-4, None, 7)
    assert cfg.weight_decay == mamba.weight_decay  # not overridden: the recipe's
    assert cfg.recipe_summary()["overridden"] == {"learning_rate": 1e-4, "batch_size": None,
                                                  "max_steps": 7, "min_epochs": None}
    assert "overridden: learning_rate=0.0001, batch_size=None, max_steps=7, min_epochs=None" \
        in cfg.describe_recipe()
    # an override that is invalid is still validated
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(model="llama-small", learning_rate=-1.0)


def test_cli_flags_default_to_the_recipe_and_override_it():
    parse = build_parser().parse_args
    base = ["train", "--dataset", "d", "--out", "o", "--model", "mamba-small"]
    cfg = _train_config(parse(base))
    assert cfg.batch_size == recipe_for("mamba-small").batch_size
    assert cfg.learning_rate == recipe_for("mamba-small").learning_rate
    cfg = _train_config(parse(base + ["--batch-size", "full", "--lr", "0.01",
                                      "--max-steps", "5"]))
    assert (cfg.batch_size, cfg.learning_rate, cfg.max_steps) == (None, 0.01, 5)
    assert _train_config(parse(base + ["--batch-size", "64"])).batch_size == 64
    with pytest.raises(SystemExit):
        parse(base + ["--batch-size", "0"])


def test_recipe_in_run_file_card_and_start_line(tmp_path, capsys):
    task = H.build_task("path_star", degree=8, length=3, seed=0)
    cfg = TrainConfig(model="llama-tiny", max_steps=3, eval_steps=3, min_epochs=None, seed=0)
    res = train(task, tmp_path / "run", cfg, progress=True)
    assert "llama recipe: lr 0.003" in capsys.readouterr().out
    run = json.loads((tmp_path / "run" / "geommem_run.json").read_text())
    assert run["family_recipe"]["family"] == "llama"
    assert run["family_recipe"]["overridden"] == {"max_steps": 3, "min_epochs": None,
                                                  "eval_steps": 3}
    assert run["config"]["weight_decay"] == recipe_for("llama-tiny").weight_decay
    from hf_geommem.training import finish_run

    finish_run(res, task, "g8_3")
    card = (tmp_path / "run" / "README.md").read_text()
    assert ("the `llama` family recipe, overridden: `max_steps` = 3, `min_epochs` = None, "
            "`eval_steps` = 3") in card
    recipe = recipe_for("llama-tiny")
    assert run["config"]["embedding_weight_decay"] == recipe.embedding_weight_decay
    assert describe_weight_decay(recipe.weight_decay, recipe.embedding_weight_decay) in card


def test_models_command_lists_recipes(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for family, recipe in RECIPES.items():
        assert f"{family:7s} {recipe.describe()}" in out


def test_path_repeats_reweight_paths_against_edges(tmp_path):
    task = H.build_task("path_star", degree=8, length=3, seed=0)
    n_edges, n_paths = task["edges"]["train"].num_rows, task["paths"]["train"].num_rows
    sizes = {}
    for repeats in (1, 3):
        res = train(task, tmp_path / f"r{repeats}", TrainConfig(
            model="gpt2-tiny", max_steps=1, eval_steps=1, batch_size=None,
            path_repeats=repeats), progress=False)
        sizes[repeats] = res.memory_plan.micro_batch_size  # full batch = the whole train set
    assert sizes == {1: n_edges + n_paths, 3: n_edges + 3 * n_paths}
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="path_repeats must be an integer >= 1"):
            TrainConfig(path_repeats=bad)


@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny", "mamba-tiny"])
def test_weight_decay_spares_norms_biases_and_state_space_parameters(preset):
    # transformers' name patterns miss Mamba's final norm (norm_f), A_log and D: under the
    # recipes' weight decay 1.0 they shrank towards 0; the optimizer must not decay them
    import torch
    from transformers import TrainingArguments

    from hf_geommem.modeling import build_model
    from hf_geommem.training.trainer import GraphTrainer

    model = build_model(preset, 40)
    args = TrainingArguments(output_dir="unused", weight_decay=1.0, report_to=[],
                             use_cpu=True)
    trainer = GraphTrainer(model=model, args=args)
    optimizer = trainer.create_optimizer()
    decay = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    names = {n: id(p) in decay for n, p in model.named_parameters()}
    norm_or_bias = [n for n, m in model.named_modules() if type(m).__name__.endswith("Norm")]
    for name, decayed in names.items():
        module = name.rsplit(".", 1)[0]
        spared = (name.endswith("bias") or module in norm_or_bias
                  or name.rsplit(".", 1)[-1] in ("A_log", "D"))
        assert decayed != spared, name
    # the projection and embedding weights still decay (the recipe's regularizer)
    assert any(decayed for n, decayed in names.items() if "emb" in n or "wte" in n)
    if preset.startswith("mamba"):
        assert not names["backbone.norm_f.weight"] and not any(
            decayed for n, decayed in names.items() if n.endswith(("A_log", ".D")))
    assert isinstance(optimizer, torch.optim.Optimizer)


def test_min_epochs_raises_the_steps_of_a_big_training_set(tmp_path, capsys):
    cfg = TrainConfig(model="gpt2-tiny", max_steps=4, batch_size=8, min_epochs=2)
    assert cfg.train_steps(10) == 4          # 2 epochs of 2 steps (8 + 2 examples): 4 <= 4
    assert cfg.train_steps(100) == 26        # 2 epochs of ceil(100 / 8) = 13 steps
    assert cfg.train_steps(100, world_size=2) == 14   # 50 a process: 7 steps an epoch
    assert TrainConfig(model="gpt2-tiny", max_steps=4, batch_size=None,
                       min_epochs=3).train_steps(100) == 4   # full batch: a step is an epoch
    assert TrainConfig(model="gpt2-tiny", max_steps=4, batch_size=8,
                       min_epochs=None).train_steps(10 ** 6) == 4
    resolved = cfg.for_training_set(100)
    assert resolved.max_steps == 26 and resolved.recipe_defaults == cfg.recipe_defaults
    for bad in (0, -1.0, float("nan"), True, "2"):
        with pytest.raises(ValueError, match="min_epochs must be a finite number > 0"):
            TrainConfig(min_epochs=bad)
    # a run trains, schedules and records the raised step count
    task = H.build_task("path_star", degree=6, length=3, seed=0)
    n = task["edges"]["train"].num_rows + task["paths"]["train"].num_rows
    res = train(task, tmp_path / "run", TrainConfig(
        model="gpt2-tiny", max_steps=1, eval_steps=100, batch_size=16, min_epochs=2), progress=True)
    expected = 2 * -(-n // 16)  # 2 epochs of ceil(n / 16) steps
    assert expected > 1
    assert f"{expected:,} steps instead of 1" in capsys.readouterr().out
    run = json.loads((tmp_path / "run" / "geommem_run.json").read_text())
    assert run["config"]["max_steps"] == expected and run["config"]["min_epochs"] == 2
    assert json.loads((tmp_path / "run" / "trainer_state.json").read_text())[
        "global_step"] == expected
    assert res.history[-1]["step"] == expected  # the final evaluation ran at the last step
    # a step count given without min_epochs is the step count (the recipe's floor yields)
    given = TrainConfig(model="gpt2-tiny", max_steps=4)
    assert given.min_epochs is None and given.train_steps(10 ** 6) == 4
    assert given.recipe_summary()["overridden"] == {"max_steps": 4, "min_epochs": None}
    assert TrainConfig(model="gpt2-tiny").min_epochs == recipe_for("gpt2-tiny").min_epochs
    # the CLI flag: a number, or none (no floor); absent: the recipe's
    parse = build_parser().parse_args
    base = ["train", "--dataset", "d", "--out", "o"]
    assert _train_config(parse(base + ["--min-epochs", "150"])).min_epochs == 150
    assert _train_config(parse(base + ["--min-epochs", "none"])).min_epochs is None
    assert _train_config(parse(base)).min_epochs == recipe_for("gpt2-small").min_epochs
    assert _train_config(parse(base + ["--max-steps", "7"])).train_steps(10 ** 6) == 7
    for bad in ("0", "-2", "nan", "many"):
        with pytest.raises(SystemExit):
            parse(base + ["--min-epochs", bad])


def test_epoch_floor_counts_the_dataloaders_steps():
    # 7,000 examples in batches of 256: 28 steps an epoch (the last batch partial), not 27.34
    cfg = TrainConfig(model="gpt2-tiny", batch_size=256, min_epochs=150)
    assert cfg.steps_per_epoch(7000) == 28
    assert cfg.train_steps(7000) == max(cfg.max_steps, 150 * 28)
    # two processes: each takes 3,500 examples, 14 steps an epoch
    assert cfg.train_steps(7000, world_size=2) == max(cfg.max_steps, 150 * 14)
    # gradient accumulation of 4: 7 optimizer steps an epoch
    assert cfg.steps_per_epoch(7000, accumulation=4) == 7
    # a batch larger than the training set: one step is one epoch
    big = TrainConfig(model="gpt2-tiny", batch_size=512, min_epochs=300, max_steps=1)
    assert big.train_steps(100) == 300
    with pytest.raises(ValueError, match="num_examples must be >= 1, got 0"):
        cfg.train_steps(0)
    import numpy as np

    assert TrainConfig(min_epochs=np.int64(150)).min_epochs == 150


def test_a_run_file_from_before_the_epoch_floor_still_resumes():
    from hf_geommem.training.config import saved_config

    cfg = TrainConfig(model="gpt2-tiny", max_steps=100)
    from dataclasses import asdict

    old = {k: v for k, v in asdict(cfg).items() if k != "min_epochs"}  # written before it
    assert saved_config(old) == asdict(cfg)


def test_cli_none_overrides_a_recipe_field_and_absent_leaves_it():
    import argparse

    from hf_geommem.cli.train import add_train_options, recipe_overrides

    p = argparse.ArgumentParser()
    add_train_options(p)
    given = recipe_overrides(p.parse_args(["--stop-after-train-exact", "none", "--min-epochs",
                                           "none", "--batch-size", "full", "--lr", "0.01"]))
    assert given == {"stop_after_train_exact": None, "min_epochs": None, "batch_size": None,
                     "learning_rate": 0.01}
    assert recipe_overrides(p.parse_args([])) == {}
    assert recipe_overrides(p.parse_args(["--stop-after-train-exact", "3"])) == {
        "stop_after_train_exact": 3}
    with pytest.raises(SystemExit):
        p.parse_args(["--stop-after-train-exact", "soon"])


def _trainer(preset, tmp_path, untied=False, freeze=False, **args):
    from transformers import TrainingArguments

    from hf_geommem.modeling import build_model
    from hf_geommem.training.trainer import GraphTrainer

    model = build_model(preset, 40, tie_embeddings=not untied, freeze_embeddings=freeze)
    ewd = args.pop("embedding_weight_decay", None)
    targs = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, **args)
    return model, GraphTrainer(model=model, args=targs, embedding_weight_decay=ewd)


@pytest.mark.parametrize("preset,untied", [("gpt2-tiny", False), ("gpt2-tiny", True),
                                           ("llama-tiny", False), ("mamba-tiny", False)])
def test_embedding_weight_decay_is_its_own_group(preset, untied, tmp_path):
    # weight decay 0 on the body, 5 on the token embeddings: one AdamW step with zero
    # gradients shrinks exactly the embeddings (tied: one matrix; untied: both) by lr * 5
    import torch

    from hf_geommem.training.trainer import token_embedding_parameters

    model, trainer = _trainer(preset, tmp_path, untied=untied, learning_rate=0.01,
                              weight_decay=0.0, embedding_weight_decay=5.0)
    optimizer = trainer.create_optimizer()
    emb = token_embedding_parameters(model)
    assert len(emb) == (2 if untied else 1)
    grouped = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(grouped) == len({id(p) for p in grouped}) == len(list(model.parameters()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    emb_ids = {id(p) for p in emb}
    for n, p in model.named_parameters():
        expected = before[n] * (1 - 0.01 * 5.0) if id(p) in emb_ids else before[n]
        torch.testing.assert_close(p.detach(), expected, msg=n)


def test_embedding_weight_decay_none_keeps_one_decay_and_frozen_embeddings_stay_out(tmp_path):
    from hf_geommem.training.trainer import token_embedding_parameters

    model, trainer = _trainer("gpt2-tiny", tmp_path, weight_decay=1.0)
    groups = trainer.create_optimizer().param_groups
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 1.0]
    model, trainer = _trainer("gpt2-tiny", tmp_path, freeze=True, weight_decay=1.0,
                              embedding_weight_decay=3.0)
    groups = trainer.create_optimizer().param_groups
    assert all(g["weight_decay"] != 3.0 or not g["params"] for g in groups)
    (emb,) = token_embedding_parameters(model)
    assert all(emb is not p for g in groups for p in g["params"])


def test_embedding_weight_decay_config_cli_and_description():
    import argparse

    from hf_geommem.cli.train import add_train_options, recipe_overrides
    from hf_geommem.presets import describe_weight_decay

    cfg = TrainConfig(model="gpt2-small", weight_decay=0.0, embedding_weight_decay=3.0)
    assert cfg.recipe_summary()["overridden"]["embedding_weight_decay"] == 3.0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="embedding_weight_decay must be"):
            TrainConfig(embedding_weight_decay=bad)
    p = argparse.ArgumentParser()
    add_train_options(p)
    assert recipe_overrides(p.parse_args(["--embedding-weight-decay", "0"])) == {
        "embedding_weight_decay": 0.0}
    assert recipe_overrides(p.parse_args(["--embedding-weight-decay", "none"])) == {
        "embedding_weight_decay": None}
    assert "embedding_weight_decay" not in recipe_overrides(p.parse_args([]))
    with pytest.raises(SystemExit):
        p.parse_args(["--embedding-weight-decay", "-2"])
    assert describe_weight_decay(1.0, None) == "weight decay 1"
    assert describe_weight_decay(0.0, 3.0) == ("weight decay 3 on the token embeddings, 0 on "
                                               "the other weights")
    assert describe_weight_decay(0.0, 3.0, short=True) == "wd 3 emb, 0 rest"


def test_run_key_ignores_embedding_weight_decay_only_at_its_old_meaning():
    from hf_geommem.reproduce.runspec import RunSpec

    base = dict(model="gpt2-small", weight_decay=1.0)
    key = RunSpec("gpt2", "train", {"degree": 8}, base, 0).key()
    same = RunSpec("gpt2", "train", {"degree": 8}, {**base, "embedding_weight_decay": None}, 0)
    other = RunSpec("gpt2", "train", {"degree": 8}, {**base, "embedding_weight_decay": 3.0}, 0)
    assert same.key() == key != other.key()
