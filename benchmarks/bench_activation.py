"""GPT-2's activation: transformers' ``gelu_new`` (the tanh GELU in eager Python ops) against
``gelu_pytorch_tanh`` (the same formula, one fused torch op), which the gpt2 presets use.

    OMP_NUM_THREADS=1 python benchmarks/bench_activation.py [--model gpt2-small] [--steps 10]

One training step (forward, loss, backward) of the same freshly built model with each activation,
on random token ids at two shapes: the cpu preset's in-context examples (batch 128, 33 tokens)
and a path-star mini-batch (batch 256, 10 tokens). The two alternate, so a busy machine slows
both alike; the first step of each is warm-up and not counted. Prints CPU seconds per step, the
speed-up, and the largest difference of the logits and of the loss between the two. Not a timed
test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers.activations import ACT2FN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gpt2-small")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--vocab", type=int, default=1210)
    args = p.parse_args()
    if args.steps < 1 or args.vocab < 11:
        p.error(f"expected --steps >= 1 and --vocab >= 11, got {args.steps} and {args.vocab}")

    from hf_geommem.modeling import build_model

    model = build_model(args.model, vocab_size=args.vocab, max_positions=64)
    model.train()
    print(f"{args.model}, torch threads {torch.get_num_threads()}")
    for batch, length in ((128, 33), (256, 10)):
        x = torch.randint(10, args.vocab - 1, (batch, length),
                          generator=torch.Generator().manual_seed(length))
        cpu = {name: [] for name in ("gelu_new", "gelu_pytorch_tanh")}
        out = {}
        for rep in range(args.steps + 1):
            for name in cpu:
                for block in model.transformer.h:
                    block.mlp.act = ACT2FN[name]
                c = time.process_time()
                result = model(input_ids=x, labels=x)
                result.loss.backward()
                if rep:
                    cpu[name].append(time.process_time() - c)
                out[name] = (result.loss.detach(), result.logits.detach())
                model.zero_grad(set_to_none=True)
        (la, ga), (lb, gb) = out.values()
        old, new = (sum(v) / len(v) for v in cpu.values())
        print(f"batch {batch} x {length} tokens: gelu_new {old * 1e3:.1f} ms, gelu_pytorch_tanh "
              f"{new * 1e3:.1f} ms per step (CPU), {old / new:.2f}x; max |logit diff| "
              f"{float((ga - gb).abs().max()):.2e}, |loss diff| {float((la - lb).abs()):.2e}")


if __name__ == "__main__":
    main()
