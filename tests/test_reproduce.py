"""`hf-geommem reproduce --preset smoke`: the whole pipeline, its report and its verdict rule."""

import copy
import json
import re

import pytest

from hf_geommem import reproduce as RP
from hf_geommem.cli import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "smoke"
    assert main(["reproduce", "--preset", "smoke", "--out", str(out)]) == 0
    return out


def test_smoke_report_structure(smoke):
    report = (smoke / "REPORT.md").read_text()
    results = json.loads((smoke / "results.json").read_text())
    ids = [r["id"] for r in results["verdicts"]]
    assert ids == list(RP.CLAIM_IDS)
    for r in results["verdicts"]:
        assert r["verdict"] in ("reproduced", "partly", "not reproduced", "not run")
        # the table row carries the claim, its measurement and its verdict
        assert f"| {r['id']}. {r['statement']} |" in report and f"**{r['verdict']}**" in report
        if r["verdict"] != "not run":
            assert r["verdict"] == RP.claim_verdict([RP.Check(**c) for c in r["checks"]])
    assert "## Environment" in report and "torch" in report
    # the smoke preset: claim 1's GPT-2, the controls and the knobs two seeds, Llama one
    assert len(results["runs"]["gpt2"]) == 2 and len(results["runs"]["llama"]) == 1
    assert len(results["runs"]["frozen"]) == 2 and len(results["runs"]["knobs"]) == 2
    assert "seeds 0, 1" in report.lower() and "every seed" in report
    assert "after v1 (teacher-forced)" in report and "after Holm" not in report  # no probe
    assert "eval_after_v1" in results["runs"]["in_context"][0]["final"]
    # every run records its CPU time beside its wall time (one-core cost on a shared machine)
    assert all(0 < r["cpu_seconds"] for rs in results["runs"].values() for r in rs)
    # every in-weights model is scored for geometry with its null, and its card shows it
    for name in ("gpt2", "llama", "mamba", "frozen"):
        geo = results["runs"][name][0]["geometry"]["embedding"]
        assert {"navigation_accuracy", "geometric_level", "dirichlet_energy", "verdict"} <= set(geo)
        assert geo["navigation_accuracy"]["n_null"] > 0
        card = (smoke / "runs" / results["runs"][name][0]["folder"].split("/")[-1] /
                "README.md").read_text()
        assert "## Geometry of the memory" in card and "navigation accuracy" in card
    for fig in ("accuracy_curves.png", "leaf_first_hop_gpt2.png", "leaf_first_hop_frozen.png",
                "node2vec_spectrum_cycle_15.png"):
        assert (smoke / "figures" / fig).is_file() and f"figures/{fig}" in report


def test_verdict_follows_the_numbers(smoke):
    results = json.loads((smoke / "results.json").read_text())
    row = {r["id"]: r for r in RP.evaluate_claims(results)}
    assert row == {r["id"]: r for r in results["verdicts"]}  # pure: same input, same rows
    hi = copy.deepcopy(results)
    for name in ("gpt2", "llama", "mamba"):
        for run in hi["runs"][name]:
            run["final"]["eval_exact_path"] = 1.0
    lo = copy.deepcopy(hi)
    lo["runs"]["mamba"][0]["final"]["eval_exact_path"] = RP.HIGH_ACCURACY - 0.01
    none = copy.deepcopy(hi)
    for name in ("gpt2", "llama", "mamba"):
        for run in none["runs"][name]:
            run["final"]["eval_exact_path"] = 0.0
    v = {name: {r["id"]: r["verdict"] for r in RP.evaluate_claims(res)}
         for name, res in (("hi", hi), ("lo", lo), ("none", none))}
    assert v["hi"]["1"] == "reproduced" and v["lo"]["1"] == "partly"
    assert v["none"]["1"] == "not reproduced"
    # claim 3 (frozen fails): a frozen model far above chance turns the verdict
    frozen = copy.deepcopy(results)
    frozen["runs"]["frozen"][0]["final"]["eval_exact_path"] = 1.0
    assert {r["id"]: r["verdict"] for r in RP.evaluate_claims(frozen)}["3"] == "not reproduced"


def test_rerun_reuses_runs_and_claims_subset(smoke, capsys):
    assert main(["reproduce", "--preset", "smoke", "--out", str(smoke), "--claims", "3,7"]) == 0
    results = json.loads((smoke / "results.json").read_text())
    assert [r["id"] for r in results["verdicts"]] == ["3", "7"]
    assert all(r["reused"] for runs in results["runs"].values() for r in runs)
    assert set(results["runs"]) == {"frozen", "node2vec"}


def test_bad_arguments(tmp_path, capsys):
    assert main(["reproduce", "--preset", "smoke", "--out", str(tmp_path / "x"),
                 "--claims", "1,12"]) == 2
    assert "unknown claim(s) ['12']" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "smoke", "--out", str(tmp_path / "x"),
                 "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_settings_key_and_resume_point(tmp_path):
    from hf_geommem.training import last_complete_checkpoint

    a = RP.RunSpec("gpt2", "train", {"degree": 5}, {"learning_rate": 1e-3}, 0)
    b = RP.RunSpec("gpt2", "train", {"degree": 5}, {"learning_rate": 2e-3}, 0)
    assert a.key() != b.key() and a.key() == RP.RunSpec("gpt2", "train", {"degree": 5},
                                                        {"learning_rate": 1e-3}, 0).key()
    run = tmp_path / "run"
    for step, complete in ((10, True), (20, True), (30, False)):
        ck = run / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        if complete:
            (ck / "trainer_state.json").write_text("{}")
            (ck / "geommem_run.json").write_text("{}")
    # checkpoint-30 was cut short by an interrupt: resume from 20
    assert last_complete_checkpoint(run).endswith("checkpoint-20")


def test_plan_seeds():
    runs = RP.plan("cpu", ["1"], None)
    # issue 16: every claim-1 model carries the "use" tests, so every family runs 3 seeds
    assert [r.name for r in runs].count("gpt2") == 3 and [r.name for r in runs].count("llama") == 3
    runs = RP.plan("cpu", ["1"], 2)
    assert [r.name for r in runs].count("llama") == 2
    assert len({r.seed for r in runs if r.name == "gpt2"}) == 2


def test_dry_run_plans_and_times_without_training_runs(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["reproduce", "--preset", "smoke", "--out", str(out), "--dry-run", "--claims",
                 "1,2"]) == 0
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if "s/step on" in ln]
    # one line per planned training run (gpt2 x2, llama, mamba, in_context x2), each with a
    # size, steps and a measured time; the runs are not trained and nothing is written
    assert len(lines) == 6 and all(" steps " in ln and re.search(r"-> \d+(\.\d+)? (h|min|s)$", ln)
                                   for ln in lines)
    assert sorted(ln.split()[0] for ln in lines) == ["gpt2-s0", "gpt2-s1", "in_context-s0",
                                                     "in_context-s1", "llama-s0", "mamba-s0"]
    assert "total estimate for the training runs" in printed
    assert not out.exists()


def test_per_device_batch_splits_the_global_batch():
    assert RP.per_device({"batch_size": 1024, "lr": 1}, 2) == {"batch_size": 512, "lr": 1}
    assert RP.per_device({"batch_size": None}, 4) == {"batch_size": None}
    assert RP.per_device({"batch_size": 6}, 1) == {"batch_size": 6}
    with pytest.raises(ValueError, match="batch_size 1024 does not split over 3 processes"):
        RP.per_device({"batch_size": 1024}, 3)


def test_reproduce_under_accelerate_launch_two_processes(tmp_path):
    """Every rank trains (DDP over gloo on CPU); rank 0 alone scores, writes the runs' results,
    results.json and REPORT.md; the launch exits 0."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "ddp"
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "hf_geommem.cli", "reproduce", "--preset", "smoke",
           "--claims", "1", "--out", str(out)]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert [v["id"] for v in res["verdicts"]] == ["1"] and "x 2 processes" in \
        res["environment"]["device"]
    runs = [r for rs in res["runs"].values() for r in rs]
    assert sorted(r["name"] for r in runs) == ["gpt2", "gpt2", "llama", "mamba"]
    for r in runs:
        assert json.loads((Path(r["folder"]) / "run_env.json").read_text())["world_size"] == 2
        assert (Path(r["folder"]) / "result.json").is_file() and "geometry" in r
    assert not [p for p in (out / "data").iterdir() if p.name.startswith(".")]  # no temp left
    assert (out / "REPORT.md").read_text().count("## Claim 1:") == 1


def _run(seed: int = 0, **final) -> dict:
    return {"seed": seed, "num_test_arms": 200, "final": {"chance": 0.1, **final}}


def _claims(runs: dict, ids: list[str]) -> dict[str, dict]:
    return {r["id"]: r for r in RP.evaluate_claims({"runs": runs}, ids)}


def test_failure_claims_need_a_model_that_trained():
    """Claim 2 passed for an in-context model that learned nothing: v1 at chance is not
    evidence unless the tokens after v1 (the Clever-Hans tokens) were learned."""
    untrained = _run(eval_first_token=0.1, eval_after_v1=0.12, train_exact_path=0.0)
    row = _claims({"in_context": [untrained]}, ["2"])["2"]
    assert row["verdict"] in ("partly", "not reproduced")
    assert any("after v1" in c["what"] and not c["passed"] for c in row["checks"])
    clever_hans = _run(eval_first_token=0.1, eval_after_v1=0.97, train_exact_path=0.1)
    assert _claims({"in_context": [clever_hans]}, ["2"])["2"]["verdict"] == "reproduced"
    # a run from before the number was recorded cannot pass the check
    old = _run(eval_first_token=0.1, train_exact_path=0.0)
    row = _claims({"in_context": [old]}, ["2"])["2"]
    assert row["verdict"] == "partly" and "not recorded" in row["checks"][1]["what"]
    # claims 3 and 4: "train exact path >= 80%" is a check of its own, in every seed
    frozen = [_run(0, eval_exact_path=0.0, train_exact_path=1.0),
              _run(1, eval_exact_path=0.0, train_exact_path=0.3)]
    row = _claims({"frozen": frozen}, ["3"])["3"]
    assert row["verdict"] == "partly" and "100.0%, 30.0%" in row["checks"][1]["what"]
    gpt2 = [_run(eval_exact_path=0.95)]
    row = _claims({"forward": [_run(eval_exact_path=0.0, train_exact_path=0.2)], "gpt2": gpt2},
                  ["4"])["4"]
    assert row["verdict"] == "partly" and not row["checks"][1]["passed"]


def test_knob_claim_uses_every_seed_and_flags_disagreement():
    def knobs(seed, verdict):
        return {"seed": seed, "rows": [{"knob": "default init, lr 1e-2", "paper": "geometric",
                                        "verdict": verdict,
                                        "agrees": verdict in ("geometric", "zig-zag")}]}

    agree = [knobs(0, "zig-zag"), knobs(1, "geometric"), knobs(2, "zig-zag")]
    row = _claims({"knobs": agree}, ["8"])["8"]
    assert row["verdict"] == "reproduced" and "seeds disagree" in row["checks"][0]["what"]
    split = agree[:2] + [knobs(2, "weakly geometric")]
    row = _claims({"knobs": split}, ["8"])["8"]
    assert row["verdict"] == "not reproduced" and "0/1 knobs agree in every seed (n=3)" in \
        row["measured"]
    table = RP.knob_seed_table({"knobs": split})
    assert table[0]["verdicts"] == ["zig-zag", "geometric", "weakly geometric"]
    assert table[0]["seeds_disagree"] and not table[0]["agrees"]


def test_preset_seed_counts():
    cpu = RP.REPRODUCTION_PRESETS["cpu"]
    assert min(cpu.model_seeds, cpu.control_seeds, cpu.knob_seeds, cpu.gpt2_seeds) >= 3
    names = [r.name for r in cpu.runs()]
    assert names.count("knobs") == 3 and names.count("frozen") == 3
    assert names.count("llama") == 3 and names.count("node2vec") == 1
    assert [r.name for r in cpu.runs(1)].count("gpt2") == 1
    with pytest.raises(ValueError, match="knob_seeds must be an integer >= 1, got 0"):
        RP.Preset("x", "", {}, {}, {}, {}, {}, {}, {}, None, knob_seeds=0)


def test_cpu_large_runs_claim_1_on_the_big_graph_and_the_controls_small():
    large = RP.REPRODUCTION_PRESETS["cpu-large"]
    runs = {r.name: r for r in large.runs()}
    assert (runs["gpt2"].data["degree"], runs["gpt2"].config["max_steps"]) == (5000, 960)
    assert runs["gpt2"].config["batch_size"] == 4096  # not the family recipe's 256
    for name in ("frozen", "forward", "first_token", "edges_only"):
        assert runs[name].data["degree"] == 300, name
    assert runs["forward"].data["edges"] == "forward"
    assert "llama" not in runs and RP.REPRODUCTION_PRESETS["cpu"].controls_graph["degree"] == 300
    claim3 = next(c for c in RP.CLAIMS if c.id == "3")
    assert claim3.setting(large).startswith("G(300,5)")


def test_claim_5_trains_as_claim_1s_gpt2_with_only_the_loss_changed():
    from hf_geommem.presets import RECIPES

    for name in ("cpu", "cpu-large"):
        preset = RP.REPRODUCTION_PRESETS[name]
        runs = {r.name: r for r in preset.runs(1)}
        ft, frozen = runs["first_token"].config, runs["frozen"].config
        assert ft["path_loss"] == "first_token" and ft["model"] == "gpt2-small"
        recipe = RECIPES["gpt2"]
        assert (ft["learning_rate"], ft["weight_decay"], ft["batch_size"]) == (
            recipe.learning_rate, recipe.weight_decay, recipe.batch_size), name
        # the other controls keep their own pinned settings
        assert (frozen["learning_rate"], frozen["max_steps"]) == (1e-3, 120)
        claim5 = next(c for c in RP.CLAIMS if c.id == "5")
        assert claim5.setting(preset) == (
            f"G(300,5), 2 pause(s); gpt2-small, first-token-only loss, lr "
            f"{recipe.learning_rate:g}, wd {recipe.weight_decay:g}, batch {recipe.batch_size}, "
            f"{recipe.lr_scheduler}, {ft['max_steps']} steps (at least {recipe.min_epochs:g} "
            f"epochs)")
    # a preset without its own first-token settings trains it as the controls
    smoke = {r.name: r for r in RP.REPRODUCTION_PRESETS["smoke"].runs(1)}
    assert smoke["first_token"].config == {**smoke["frozen"].config, "path_loss": "first_token",
                                           "freeze_embeddings": False}


def test_a_claim_is_one_object_and_the_ids_derive_from_the_list():
    assert RP.CLAIM_IDS == tuple(c.id for c in RP.CLAIMS)
    assert RP.CLAIM_RUNS == {c.id: c.needs for c in RP.CLAIMS}
    preset = RP.REPRODUCTION_PRESETS["smoke"]
    for claim in RP.CLAIMS:  # every claim states its setting, details and figures itself
        assert isinstance(claim.setting(preset), str)
        assert callable(claim.details) and callable(claim.figures)
    # the old one-module names keep working
    from hf_geommem.reproduce import PRESETS, write_report

    assert PRESETS is RP.REPRODUCTION_PRESETS and write_report is RP.write_reproduction_report
