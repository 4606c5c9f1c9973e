"""Every stage of ``reproduce --preset paper`` at its real size, a few steps each, on CPU:
time and peak RSS per stage (issue 17).

    OMP_NUM_THREADS=1 python benchmarks/bench_paper_stages.py --json docs/paper_stages.json
    python scripts/bench_tables.py docs/paper_stages.json    # -> docs/paper_stages.md

Stages, with the preset's own settings (``hf_geommem.reproduce.REPRODUCTION_PRESETS["paper"]``) except the
number of steps: build (the preset's G(5000,5), the dry-run plan's G(10^4,6), the in-context set
of 200,000 graphs, through reproduce's own dataset builder); tokenize and collate (the whole
training set of each); 2 training steps of each trained family (gpt2-mid and mamba-mid on
G(5000,5), gpt2-mid in context; batch sizes of the preset); evaluation (greedy paths of 1,024
held-out arms); geometry scoring of the trained embeddings (20,001 nodes) and of a gpt2-mid's
embeddings on G(10^4,6) (50,001 nodes), 200 null draws each; Node2Vec on the four tiny graphs
and the knob table (a few steps each: their memory does not grow with steps); the probe
(SmolLM2-135M, months, the preset's 1,000 null draws); report (the leaf vs first-hop figure
of the trained model and a Markdown page). One process; each stage's peak RSS is its own
(``stage_meter``), CPU time of the process (the machine may be shared: wall time in the JSON).
A training stage's memory budget is the default 4 GB on top of what the process already holds
(the budget counts the whole process, and this one keeps the earlier stages' tasks and models).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import traceback
from pathlib import Path

import torch
from stage_meter import measure

from hf_geommem import reproduce as R
from hf_geommem.files import write_text_atomic

TARGET_GB = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="write the figures here")
    parser.add_argument("--steps", type=int, default=2, help="training steps per family")
    parser.add_argument("--skip", nargs="*", default=[], help="stage names not to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from datasets import concatenate_datasets

    from hf_geommem.geometry import trained_geometry
    from hf_geommem.modeling import build_model
    from hf_geommem.plotting import plot_leaf_first_hop
    from hf_geommem.training import (AnswerOnlyCollator, TrainConfig, evaluate_paths,
                                     tokenize_config, train)
    from hf_geommem.training.memory import current_rss_gb

    paper = R.REPRODUCTION_PRESETS["paper"]
    out = {"torch": torch.__version__, "num_threads": torch.get_num_threads(),
           "target_gb": TARGET_GB, "stages": []}
    state: dict = {}

    def stage(name: str, what: str, fn) -> None:
        if name in args.skip:
            out["stages"].append({"name": name, "what": what, "skipped": "--skip"})
        else:
            try:
                _, m = measure(fn)
                out["stages"].append({"name": name, "what": what, **m})
            except Exception as e:  # a stage that fails is recorded, the others still run
                traceback.print_exc()
                out["stages"].append({"name": name, "what": what,
                                      "skipped": f"failed: {type(e).__name__}: {e}"[:300]})
        gc.collect()
        print(json.dumps(out["stages"][-1]), flush=True)
        write_text_atomic(args.json, json.dumps(out, indent=1))

    g5 = R.train_spec("gpt2", paper.graph, 0, **paper.models["gpt2"])
    g6 = R.PAPER_EXTRA[0]
    ic = R.train_spec("in_context", paper.in_context["data"], 0, **paper.in_context["config"])
    with tempfile.TemporaryDirectory() as tmp:
        data, runs = Path(tmp) / "data", Path(tmp) / "runs"

        def build(spec, key):
            return lambda: state.__setitem__(key, R.task_for(spec, data))

        stage("build G(5000,5)", "path-star, 5 pauses, 20,001 nodes", build(g5, "t5"))
        stage("build G(10^4,6)", "path-star, 6 pauses, 50,001 nodes", build(g6, "t6"))
        stage("build in-context", "200,000 + 2,000 graphs G(10,5)", build(ic, "ic"))

        def tokenize(key):
            def run():
                task = state[key]
                parts = [tokenize_config(task["paths"]["train"], task.tokenizer)]
                if "edges" in task:
                    parts.append(tokenize_config(task["edges"]["train"], task.tokenizer,
                                                 kind="edges"))
                ds = concatenate_datasets(parts)
                AnswerOnlyCollator(task.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))])
            return run

        stage("tokenize+collate G(5000,5)", "whole training set, one padded batch",
              tokenize("t5"))
        stage("tokenize+collate in-context", "whole training set, one padded batch",
              tokenize("ic"))

        def train_steps(spec, key, name, keep=None):
            def run():
                # the default budget on top of what this process already holds (a
                # standalone `train` starts from ~0.6 GB)
                budget = (current_rss_gb() or 0.0) + TrainConfig().memory_budget_gb
                cfg = {**spec.config, "max_steps": args.steps, "eval_steps": 10**6,
                       "memory_budget_gb": round(budget, 2),
                       "eval_max_test_arms": 8, "eval_max_train_arms": 8,
                       "eval_max_edge_nodes": 8, "save_steps": None, "geometry_points": None}
                res = train(state[key], runs / name, TrainConfig(**cfg), progress=False)
                if keep:
                    state[keep] = res.model.eval()
            return run

        stage("train gpt2-mid", f"{args.steps} steps, batch 1024, G(5000,5)",
              train_steps(g5, "t5", "gpt2", keep="gpt2"))
        mb = R.train_spec("mamba", paper.graph, 0, **paper.models["mamba"])
        stage("train mamba-mid", f"{args.steps} steps, batch 1024, G(5000,5)",
              train_steps(mb, "t5", "mamba"))
        stage("train in-context", f"{args.steps} steps, batch 256, gpt2-mid",
              train_steps(ic, "ic", "ic"))
        state.pop("ic", None)

        def evaluation():
            test = state["t5"]["paths"]["test"]
            with torch.no_grad():
                evaluate_paths(state["gpt2"], state["t5"].tokenizer, test.select(range(1024)))

        stage("evaluation", "greedy paths of 1,024 held-out arms, gpt2-mid", evaluation)

        def geometry5():
            state["geo"] = trained_geometry(state["gpt2"], state["t5"], n_null=paper.geometry_null)

        stage("geometry 20,001 nodes", f"trained gpt2-mid, {paper.geometry_null} nulls",
              geometry5)

        def geometry6():
            task = state["t6"]
            tok = task.tokenizer
            model = build_model("gpt2-mid", len(tok), 64, pad_token_id=tok.pad_token_id, seed=0)
            trained_geometry(model.eval(), task, n_null=paper.geometry_null)

        stage("geometry 50,001 nodes", f"gpt2-mid (untrained) on G(10^4,6), "
              f"{paper.geometry_null} nulls", geometry6)
        state.pop("t6", None)
        stage("node2vec", "four tiny graphs, dim 100, 50 epochs (preset: 10,000)",
              lambda: R._execute_node2vec(R.RunSpec("node2vec", "node2vec",
                                                    config={**paper.node2vec, "epochs": 50})))
        stage("knobs", "knob table, dim 512, 20 steps (preset: 10,000)",
              lambda: R._execute_knobs(R.RunSpec("knobs", "knobs",
                                                 config={**paper.knobs, "steps": 20})))
        stage("probe", f"SmolLM2-135M, months, {paper.probe['n_null']} nulls",
              lambda: R._execute_probe(R.RunSpec("probe", "probe", config=dict(paper.probe))))

        def report():
            emb = state["geo"]["embedding"]
            fig = plot_leaf_first_hop(emb["heatmap"], emb["path_matrix"],
                                      Path(tmp) / "leaf_first_hop.png")
            write_text_atomic(Path(tmp) / "REPORT.md", f"![leaf vs first hop]({fig.name})\n")

        stage("report", "leaf vs first-hop figure (1,250 held-out arms) + Markdown", report)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
