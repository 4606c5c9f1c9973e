"""``hf-geommem train``: train a model preset on a task folder. The training flags derive
from :class:`~hf_geommem.training.TrainConfig`'s fields (their ``cli`` metadata), as
transformers' ``HfArgumentParser`` derives its flags from ``TrainingArguments``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..presets import RECIPE_FIELDS
from .options import (batch_size_arg, budget_arg, embedding_decay_arg, int_at_least,
                      min_epochs_arg, print_final, push_or_explain, report_to_arg, seed_arg,
                      stop_after_arg)

__all__ = ["add_parser", "run", "add_train_options", "train_config", "recipe_overrides"]

_RECIPE_NOTE = "(default: the model family's recipe, see `hf-geommem models`)"
# argparse types beyond the annotation's (int, float, str)
_TYPES = {"batch_size": batch_size_arg, "memory_budget_gb": budget_arg, "seed": seed_arg,
          "path_repeats": int_at_least(1), "min_epochs": min_epochs_arg,
          "stop_after_train_exact": stop_after_arg,
          "embedding_weight_decay": embedding_decay_arg}
# recipe fields whose None is a value (full batch, no epoch floor, no stopping rule, embeddings
# decayed like the rest): absent
# is not None
_NONE_IS_A_VALUE = ("batch_size", "min_epochs", "stop_after_train_exact",
                    "embedding_weight_decay")
_PLAIN = {"int": int, "float": float, "str": str}


def _cli_fields() -> list[Any]:
    from ..training.config import TrainConfig

    return [f for f in fields(TrainConfig) if "cli" in f.metadata]


def add_train_options(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field with ``cli`` metadata: ``--<name>`` (or its
    ``flag``) into ``args.<field>``; a recipe field defaults to ``None`` (the family recipe)."""
    for f in _cli_fields():
        meta = dict(f.metadata["cli"])
        flag = "--" + meta.pop("flag", f.name).replace("_", "-")
        help_ = meta.pop("help")
        if f.name in RECIPE_FIELDS:
            help_ = f"{help_} {_RECIPE_NOTE}"
        if f.type == "bool":  # a switch away from the default
            p.add_argument(flag, dest=f.name, help=help_,
                           action="store_false" if f.default else "store_true")
            continue
        kind = _TYPES.get(f.name) or _PLAIN[f.type.split("|")[0].strip()]
        default = None if f.name in RECIPE_FIELDS else f.default
        if f.name in _NONE_IS_A_VALUE:
            default = argparse.SUPPRESS
        p.add_argument(flag, dest=f.name, type=None if "choices" in meta else kind,
                       default=default, help=help_, **meta)


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given on the command line (the rest come from the family recipe).
    ``--batch-size``, ``--min-epochs`` and ``--stop-after-train-exact`` are suppressed when
    absent, since their ``None`` (``full``, ``none``) is a value."""
    out = {field: getattr(args, field) for field in RECIPE_FIELDS
           if getattr(args, field, None) is not None}
    out.update({field: getattr(args, field) for field in _NONE_IS_A_VALUE
                if field in vars(args)})
    return out


def train_config_from_flags(flags: list[str]):
    """The :class:`TrainConfig` that ``hf-geommem train`` builds from its optimizer and model
    ``flags`` (no ``--dataset`` / ``--out``): to check flags before a long job, or to compare
    two runs' recorded flags by what they train. Bad flags exit as ``train`` would."""
    from . import build_parser

    return train_config(build_parser().parse_args(["train", "--dataset", "-", "--out", "-",
                                                   *flags]))


def train_config(args: argparse.Namespace):
    """The :class:`TrainConfig` of ``train``'s flags."""
    from ..training import TrainConfig

    if getattr(args, "init_model", None):
        # the loaded model fixes its architecture: refuse flags that would not apply
        given = [flag for flag, on in (("--model", args.model is not None),
                                       ("--untied", not args.tie_embeddings),
                                       ("--embedding-init-std",
                                        args.embedding_init_std is not None)) if on]
        if given:
            raise ValueError(f"--init-model starts from a saved model; {', '.join(given)} "
                             f"cannot apply to it")
    plain = {f.name: getattr(args, f.name) for f in _cli_fields() if f.name not in RECIPE_FIELDS}
    return TrainConfig(model=args.model or "gpt2-small", **plain, **recipe_overrides(args))


def add_parser(sub: Any) -> None:
    tr = sub.add_parser("train", help="train a model preset on a task folder")
    tr.add_argument("--dataset", required=True, help="task folder (hf-geommem build)")
    tr.add_argument("--model", help="model preset (default gpt2-small; `hf-geommem models` lists "
                                    "them); not with --init-model")
    tr.add_argument("--out", required=True, help="run folder")
    add_train_options(tr)
    tr.add_argument("--init-model", help="start from this saved model instead of a preset")
    tr.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                    help="resume from CHECKPOINT (default: the last one in --out)")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    tr.add_argument("--push", metavar="REPO", help="upload the finished run as model repo REPO")
    tr.add_argument("--private", action="store_true", help="with --push: a private repo")
    tr.add_argument("--report-to", default="none",
                    help="Trainer loggers: none (default), tensorboard, wandb, all, ... (the "
                         "task metrics and geometry scores go there too)")
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..builder import load_task

    config = train_config(args)  # validates preset/recipe before loading anything
    if args.init_model and not Path(args.init_model).is_dir():
        raise FileNotFoundError(f"--init-model {args.init_model!r} not found: expected a saved "
                                f"model folder")
    task = load_task(args.dataset)
    from ..training import end_distributed

    try:
        code = _train_and_write(args, task, config)
    except BaseException:
        end_distributed(wait=False)  # a peer may be gone: waiting for it could hang
        raise
    end_distributed(wait=code == 0)
    return code


def _train_and_write(args: argparse.Namespace, task: Any, config: Any) -> int:
    from ..training import finish_run, rank_and_world, train

    try:
        result = train(task, args.out, config, resume_from_checkpoint=args.resume,
                       overwrite=args.overwrite, init_model=args.init_model,
                       report_to=report_to_arg(args.report_to))
    except KeyboardInterrupt:
        from ..training import last_complete_checkpoint

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
        print_final(result.final)
        print(f"model, tokenizer, metrics.jsonl, README.md (card) and report.md in {args.out}")
        if args.push:
            from ..training import push_run

            return push_or_explain(lambda: push_run(args.out, args.push, private=args.private), args.out,
                         args.push, "model", args.private, exclude="checkpoint-*")
    return 0
