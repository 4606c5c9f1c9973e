"""Training throughput: hf_geommem's Trainer path vs a plain PyTorch loop (issue: training).

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--steps 12] [--model gpt2-small]

Same model init, same full batches (tokens/s counts real, unpadded tokens) (G(300,5), mixed
recipe: 2,625 examples per step), same AdamW. Prints tokens/s for both, the Trainer overhead in %,
what one held-out evaluation costs next to one training step, and the share of this core's dense
matmul peak that a training step reaches: the step's matmul FLOPs (forward + backward = 3x the
forward's, counted analytically from the model's shapes, LM head on answer positions only) over
the step time, against ``torch.matmul``'s FLOP/s measured in the same run at the model's GEMM
shapes. Steps are timed from inside the loop (first step of each excluded as warm-up), so dataset
loading and model building are not counted.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import TrainerCallback

import hf_geommem as hg
from hf_geommem.modeling import build_model
from hf_geommem.training import (AnswerOnlyCollator, GraphEvalCallback, TrainConfig,
                                  answer_head_loss, tokenize_config, train)


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times, self._t = [], None

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="gpt2-small")
    parser.add_argument("--degree", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = hg.build_task("path_star", degree=args.degree, length=5, seed=0)
    tok = task.tokenizer
    from datasets import concatenate_datasets

    ds = concatenate_datasets([tokenize_config(task["edges"]["train"], tok, kind="edges"),
                               tokenize_config(task["paths"]["train"], tok, kind="paths")])
    collator = AnswerOnlyCollator(tok.pad_token_id)
    batch = collator([ds[i] for i in range(len(ds))])
    tokens = int(batch["attention_mask"].sum())

    # plain PyTorch loop: same model, same full batch, same optimizer settings
    model = build_model(args.model, len(tok), 64, pad_token_id=tok.pad_token_id, seed=0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                            weight_decay=0.01)
    def grouped_loss(b):
        lengths = b["attention_mask"].sum(1)
        items = (b["labels"][:, 1:] != -100).sum()
        total = 0.0
        for n in torch.unique(lengths).tolist():
            rows = lengths == n
            total = total + answer_head_loss(model, b["input_ids"][rows, :n],
                                             b["attention_mask"][rows, :n],
                                             b["labels"][rows, :n], items)
        return total

    def plain_loop(loss_fn):
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            perm = torch.randperm(len(ds))
            b = collator([ds[int(i)] for i in perm])
            loss = loss_fn(b)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        return sum(times[1:]) / (len(times) - 1)

    padded_step = plain_loop(lambda b: model(**b).loss)
    plain_step = plain_loop(grouped_loss)

    import tempfile

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as d:
        from unittest import mock

        # run our train() with the step timer attached and evaluation only at start/end
        orig = hg.training.GraphTrainer.__init__

        def init(self, *a, **kw):
            kw["callbacks"] = list(kw.get("callbacks", [])) + [timer]
            orig(self, *a, **kw)

        with mock.patch.object(hg.training.GraphTrainer, "__init__", init):
            train(task, d + "/run", TrainConfig(model=args.model, max_steps=args.steps,
                                                eval_steps=10**6), progress=False)
    ours_step = sum(timer.times[1:]) / (len(timer.times) - 1)

    cb = GraphEvalCallback(task, TrainConfig(model=args.model), tok)
    t0 = time.perf_counter()
    cb.evaluate(model, 0)
    eval_s = time.perf_counter() - t0

    print(f"model {args.model}, G({args.degree},5), full batch of {len(ds)} examples = "
          f"{tokens:,} tokens/step, {args.steps} steps (first excluded)")
    print(f"plain PyTorch loop, padded batch      : {padded_step:.3f} s/step = "
          f"{tokens / padded_step:,.0f} tokens/s")
    print(f"plain PyTorch loop, length-grouped    : {plain_step:.3f} s/step = "
          f"{tokens / plain_step:,.0f} tokens/s  (same computation as ours)")
    print(f"hf_geommem Trainer (length-grouped)   : {ours_step:.3f} s/step = "
          f"{tokens / ours_step:,.0f} tokens/s")
    print(f"Trainer overhead vs the same plain loop: {100 * (ours_step / plain_step - 1):+.1f}% "
          f"(target <= 10%)")
    # matmul FLOPs of one step and this core's matmul peak at the same shapes
    cfg = model.config
    d = cfg.hidden_size
    layers = cfg.num_hidden_layers
    inner = getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d
    answers = int((batch["labels"][:, 1:] != -100).sum())
    vocab = len(tok)
    # per token and layer: q,k,v,o (4 d^2) + MLP (2 or 3 d x inner: SwiGLU has a gate)
    mlp_mats = 3 if cfg.model_type == "llama" else 2
    gemms = [(tokens, d, 3 * d), (tokens, d, d), (tokens, d, inner), (tokens, inner, d)]
    if mlp_mats == 3:
        gemms.append((tokens, d, inner))
    fwd = layers * sum(2 * m * k * n for m, k, n in gemms) + 2 * answers * d * vocab
    step_flops = 3 * fwd  # backward = 2x forward
    total_t, total_f = 0.0, 0.0
    for m, k, n in gemms * layers + [(answers, d, vocab)]:
        a, w = torch.randn(m, k), torch.randn(k, n)
        torch.matmul(a, w)
        t0 = time.perf_counter()
        for _ in range(5):
            torch.matmul(a, w)
        total_t += (time.perf_counter() - t0) / 5
        total_f += 2 * m * k * n
    peak = total_f / total_t
    achieved = step_flops / ours_step
    print(f"matmul FLOPs per step {step_flops / 1e9:.2f} GFLOP (analytic, {cfg.model_type}); "
          f"torch.matmul at the model's shapes {peak / 1e9:.1f} GFLOP/s on this core; "
          f"our step reaches {achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.0f}% of it "
          f"(target >= 50%)")
    print(f"one evaluation (75 held-out + 225 train paths by greedy generate, top-k on "
          f"{task.graph.num_nodes} nodes): {eval_s:.3f} s = {eval_s / ours_step:.2f} training "
          f"steps; at eval_steps=25 that is {100 * eval_s / (25 * ours_step):.1f}% of training")


if __name__ == "__main__":
    main()
