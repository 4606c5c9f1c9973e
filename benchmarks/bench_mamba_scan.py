"""Mamba on CPU: ``hf_geommem.mamba_scan`` (selective scan and causal convolution) against
transformers' reference loop and oneDNN convolution.

    OMP_NUM_THREADS=1 python benchmarks/bench_mamba_scan.py [--model mamba-small] [--batch 256] \
        [--lengths 3 10] [--steps 5]

One training step (forward, loss, backward) of a freshly built model on random token ids of each
length, timed with both (CPU time of this process and wall time; the first step of each is
warm-up and not counted; the two alternate, so a busy machine slows both alike). Prints
seconds per step, the speed-up, whether the losses are equal bit for bit, and the largest
gradient difference relative to the largest gradient entry of that parameter; then the same
for an evaluation forward without autograd (logits compared bit for bit). Path
examples are about 10 tokens (leaf, pauses, path); edge examples 3. Not a timed test: it prints
what it measured.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mamba-small")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lengths", type=int, nargs="+", default=[3, 10])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--vocab", type=int, default=4010)
    args = p.parse_args()

    from transformers.models.mamba import modeling_mamba

    from hf_geommem.modeling import build_model

    model = build_model(args.model, vocab_size=args.vocab)
    model.train()
    ours, ours_conv = modeling_mamba.mamba_selective_scan, modeling_mamba.causal_conv1d_fn
    # (scan, causal convolution) of each side
    scans = {"hf_geommem": (ours, ours_conv),
             "transformers": (ours.transformers_scan, ours_conv.transformers_conv)}

    def use(pair: tuple) -> None:
        modeling_mamba.mamba_selective_scan, modeling_mamba.causal_conv1d_fn = pair

    print(f"{args.model}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    for length in args.lengths:
        x = torch.randint(10, args.vocab - 1, (args.batch, length),
                          generator=torch.Generator().manual_seed(length))
        results, seconds = {}, {name: ([], []) for name in scans}

        def step() -> tuple[torch.Tensor, list[torch.Tensor]]:
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
            grads = [q.grad.clone() for q in model.parameters() if q.grad is not None]
            model.zero_grad(set_to_none=True)
            return loss.detach(), grads

        for name, pair in scans.items():  # warm-up, and the values compared
            use(pair)
            results[name] = step()
        for _ in range(args.steps):
            for name, pair in scans.items():
                use(pair)
                w, c = time.perf_counter(), time.process_time()
                step()
                seconds[name][0].append(time.perf_counter() - w)
                seconds[name][1].append(time.process_time() - c)
        # evaluation: a forward without autograd (model.eval, no_grad), as in evaluate_paths
        logits, eval_cpu = {}, {name: [] for name in scans}
        model.eval()
        with torch.no_grad():
            for rep in range(args.steps + 1):
                for name, pair in scans.items():
                    use(pair)
                    c = time.process_time()
                    logits[name] = model(input_ids=x).logits
                    if rep:  # the first is warm-up
                        eval_cpu[name].append(time.process_time() - c)
        model.train()
        use(scans["hf_geommem"])
        (la, ga), (lb, gb) = results.values()
        same = torch.equal(la, lb)
        rel = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
                  for a, b in zip(ga, gb))
        cpu = {name: sum(s[1]) / len(s[1]) for name, s in seconds.items()}
        wall = {name: sum(s[0]) / len(s[0]) for name, s in seconds.items()}
        print(f"length {length}: " + "; ".join(
            f"{name} {cpu[name]:.3f} s CPU ({wall[name]:.3f} s wall) per step" for name in scans)
            + f"; speed-up {cpu['transformers'] / cpu['hf_geommem']:.2f}x CPU; loss equal bit "
            f"for bit: {same}; largest relative gradient difference {rel:.1e}")
        ev = {name: sum(v) / len(v) for name, v in eval_cpu.items()}
        print(f"length {length}, evaluation forward: " + "; ".join(
            f"{name} {ev[name]:.3f} s CPU" for name in scans)
            + f"; speed-up {ev['transformers'] / ev['hf_geommem']:.2f}x; logits equal bit for "
            f"bit: {torch.equal(*logits.values())}")


if __name__ == "__main__":
    main()
