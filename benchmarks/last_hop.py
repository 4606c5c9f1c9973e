"""Why does a model that gets v1 ... v(l-2) right miss the leaf of a held-out arm?

    OMP_NUM_THREADS=1 python benchmarks/last_hop.py RUN [RUN ...] --json docs/last_hop.json \
        --md docs/last_hop.md

RUN is a training run folder (``hf-geommem train``; its dataset is the one recorded in
``run_env.json``, or give ``--dataset``). The last target is the leaf, the very node the prompt
gives. Three explanations predict different answers to one test, a **prompt swap**: teacher-force
the true path root, v1, ..., v(l-2) of an arm but put the leaf of *another* arm of the same split
in the prompt, and read the argmax at the last position:

- *copied* from the prompt: the model answers the swapped prompt leaf;
- *recalled* from the memorized edge (v(l-2), leaf): it answers the arm's true leaf;
- *suppressed* because held-out leaves never end a training path: on held-out arms it answers
  neither (typically v(l-2) again or v(l-3)), while on train arms it does not.

Per split (held-out, and as many train arms), the table gives the share of last-position argmaxes
that are the true leaf, the prompt's leaf, v(l-2) (a repeat), v(l-3) (a step back) or another
token, on the unswapped and the swapped prompts, and the mean probability of the true leaf. Not a
timed test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CATEGORIES = ("true leaf", "prompt leaf", "repeat v(l-2)", "step back v(l-3)", "other")


def _last_position(model, tok, rows: list[dict], prompt_leaves: list[int]) -> np.ndarray:
    """Softmax over the vocabulary at the position that predicts the leaf, with each row's
    prompt leaf replaced by ``prompt_leaves[i]``: (n, vocab)."""
    import torch

    from hf_geommem.tokenization import NUM_SPECIAL_TOKENS

    seqs = []
    for row, leaf in zip(rows, prompt_leaves):
        prompt = tok(row["prompt"], add_special_tokens=False)["input_ids"]
        source = NUM_SPECIAL_TOKENS + row["source"]
        prompt = [NUM_SPECIAL_TOKENS + leaf if t == source else t for t in prompt]
        seqs.append(prompt + [NUM_SPECIAL_TOKENS + v for v in row["target"][:-1]])
    ids = torch.tensor(seqs)  # every prompt + prefix of a split has the same length
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, -1].float()
    return torch.softmax(logits, -1).numpy()


def _categorize(probs: np.ndarray, rows: list[dict], prompt_leaves: list[int]) -> dict:
    from hf_geommem.tokenization import NUM_SPECIAL_TOKENS

    counts = dict.fromkeys(CATEGORIES, 0)
    top = probs.argmax(-1) - NUM_SPECIAL_TOKENS
    for pred, row, leaf in zip(top, rows, prompt_leaves):
        t = row["target"]
        if pred == t[-1]:
            counts["true leaf"] += 1
        elif pred == leaf:
            counts["prompt leaf"] += 1
        elif pred == t[-2]:
            counts["repeat v(l-2)"] += 1
        elif len(t) > 2 and pred == t[-3]:
            counts["step back v(l-3)"] += 1
        else:
            counts["other"] += 1
    n = len(rows)
    true_p = probs[np.arange(n), [NUM_SPECIAL_TOKENS + r["target"][-1] for r in rows]]
    return {"n": n, **{k: v / n for k, v in counts.items()}, "p_true_leaf": float(true_p.mean())}


def analyse(run: Path, dataset: str | None, seed: int = 0) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_geommem.builder import load_task

    if dataset is None:
        dataset = json.loads((run / "run_env.json").read_text())["dataset"]
    task = load_task(dataset)
    tok = AutoTokenizer.from_pretrained(run)
    model = AutoModelForCausalLM.from_pretrained(run).eval()
    rng = np.random.default_rng(seed)
    test = list(task["paths"]["test"])
    train = list(task["paths"]["train"])
    train = [train[i] for i in rng.choice(len(train), size=min(len(train), len(test)),
                                          replace=False)]
    out = {"run": str(run), "dataset": str(dataset)}
    for split, rows in (("held-out", test), ("train", train)):
        own = [r["source"] for r in rows]
        # another arm's leaf of the same split: a derangement by rotation of a shuffled order
        order = rng.permutation(len(rows))
        swapped = [0] * len(rows)
        for i, j in zip(order, np.roll(order, 1)):
            swapped[i] = rows[j]["source"]
        out[split] = {
            "unswapped": _categorize(_last_position(model, tok, rows, own), rows, own),
            "swapped": _categorize(_last_position(model, tok, rows, swapped), rows, swapped)}
    return out


def report(results: list[dict]) -> list[str]:
    from hf_geommem.cards import markdown_table

    rows = []
    for r in results:
        for split in ("held-out", "train"):
            for variant in ("unswapped", "swapped"):
                c = r[split][variant]
                rows.append((Path(r["run"]).name, split, variant, c["n"],
                             *(f"{100 * c[k]:.1f}%" for k in CATEGORIES),
                             f"{c['p_true_leaf']:.3f}"))
    lines = markdown_table(["run", "arms", "prompt", "n", *CATEGORIES, "mean p(true leaf)"],
                           rows)
    copied = max(r["held-out"]["swapped"]["prompt leaf"] for r in results)
    lines += ["", f"Summary: with another arm's leaf in the prompt, the models answered that "
                  f"prompt leaf in at most {100 * copied:.1f}% of held-out arms (any run): the "
                  f"leaf is not copied from the prompt. Mean probability of the true leaf, "
                  f"held-out vs train arms (unswapped): " + "; ".join(
                      f"{Path(r['run']).name} {r['held-out']['unswapped']['p_true_leaf']:.3f} vs "
                      f"{r['train']['unswapped']['p_true_leaf']:.3f}" for r in results) + "."]
    return lines


def plot_curves(runs: list[Path], figure: Path) -> None:
    """Greedy held-out accuracy per path position over training, one panel per run (from each
    run's ``metrics.jsonl``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hf_geommem.training import read_metrics

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False)
    for ax, run in zip(axes[0], runs):
        rows = [r for r in read_metrics(run) if r.get("eval_per_position")]
        steps = [r["step"] for r in rows]
        n = len(rows[-1]["eval_per_position"])
        for j in range(1, n):
            ax.plot(steps, [r["eval_per_position"][j] for r in rows],
                    lw=2.5 if j == n - 1 else 1.2, label="leaf" if j == n - 1 else f"v{j}")
        ax.plot(steps, [r["eval_exact_path"] for r in rows], "k--", label="exact path")
        ax.set_title(run.name, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("held-out greedy accuracy")
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset")
    p.add_argument("--json", default="outputs/last_hop.json")
    p.add_argument("--md")
    p.add_argument("--figure", help="per-position held-out curves of the runs (PNG)")
    p.add_argument("--from-json", action="store_true",
                   help="read the results from --json instead of analysing the runs again")
    p.add_argument("--merge", action="store_true",
                   help="add the runs' analyses to those already in --json (a run of the same "
                            "name is replaced); the figure of the earlier runs is kept as it is")
    args = p.parse_args()
    from hf_geommem.files import write_text_atomic

    if args.from_json:  # regenerate the page and figure from a finished analysis
        results = json.loads(Path(args.json).read_text())
    else:
        results = [analyse(Path(r), args.dataset) for r in args.runs]
        if args.merge:
            new = {Path(r["run"]).name for r in results}
            results = [r for r in json.loads(Path(args.json).read_text())
                       if Path(r["run"]).name not in new] + results
        write_text_atomic(Path(args.json), json.dumps(results, indent=1) + "\n")
    lines = report(results)
    print("\n".join(lines))
    if args.figure and not args.merge:
        plot_curves([Path(r) for r in args.runs], Path(args.figure))
    if args.md:
        fig = (f"\n![per-position curves]({Path(args.figure).relative_to(Path(args.md).parent)})"
               f"\n" if args.figure else "")
        write_text_atomic(Path(args.md), "# The last hop: prompt-swap test (generated by "
                          "`benchmarks/last_hop.py`)\n\n" + __doc__.split("\n\n", 2)[2]
                          + "\n" + "\n".join(lines) + "\n" + fig)


if __name__ == "__main__":
    main()
