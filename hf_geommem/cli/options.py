"""What the commands share: argparse types (each names the option in argparse's error) and
the upload that explains a failure instead of a traceback."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable

__all__ = ["int_at_least", "seed_arg", "count_arg", "verdict_null", "batch_size_arg",
           "budget_arg", "report_to_arg", "push_or_explain", "print_final"]


def int_at_least(minimum: int) -> Callable[[str], int]:
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
seed_arg = int_at_least(0)

# null draws, components, batch sizes: 0 would give a p-value with no test behind it
count_arg = int_at_least(1)



def verdict_null(text: str) -> int:
    """argparse type of --null where a memory verdict is given: enough draws for every verdict
    to be reachable after Holm's correction (``metrics.VERDICT_MIN_NULL``)."""
    from ..metrics.report import VERDICT_MIN_NULL

    return int_at_least(VERDICT_MIN_NULL)(text)



def _int_or(word: str, minimum: int | None) -> Callable[[str], int | None]:
    """argparse type: ``word`` (``None``, the field's "no value") or an integer, checked
    against ``minimum`` here when given (else by the config that receives it)."""
    expected = f"an integer >= 1 or {word!r}"

    def parse(text: str) -> int | None:
        if text.lower() == word:
            return None
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value
    return parse


batch_size_arg = _int_or("full", 1)
"""argparse type of --batch-size: an integer >= 1, or ``full`` (the whole train set)."""



def _positive_or_none(what: str, zero: bool = False) -> Callable[[str], float | None]:
    """argparse type: a finite number > 0 (``zero``: >= 0; ``what`` names it in errors), or
    'none'."""
    bound = ">= 0" if zero else "> 0"

    def parse(text: str) -> float | None:
        if text.lower() == "none":
            return None
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {bound} or 'none', got "
                                             f"{text!r}") from None
        if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
            raise argparse.ArgumentTypeError(f"expected {what} {bound} or 'none', got {value}")
        return value
    return parse


budget_arg = _positive_or_none("a number of GB")
"""argparse type of --memory-budget-gb: a number of GB > 0, or 'none'."""

min_epochs_arg = _positive_or_none("a number of epochs")
"""argparse type of --min-epochs: a number of epochs > 0, or 'none' (no epoch floor)."""

embedding_decay_arg = _positive_or_none("a weight decay", zero=True)
"""argparse type of --embedding-weight-decay: a weight decay >= 0, or 'none' (the token
embeddings decay like every other weight, at --weight-decay)."""


stop_after_arg = _int_or("none", None)
"""argparse type of --stop-after-train-exact: a number of evaluations, or ``none`` (run every
step; TrainConfig checks the number)."""



def report_to_arg(text: str) -> str | list[str]:
    """``--report-to a,b`` as the list TrainingArguments takes (one name stays a string, so
    ``none`` and ``all`` keep their meaning)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names if len(names) > 1 else (names[0] if names else "none")



def push_or_explain(upload: Callable[[], str], folder: str, repo: str, repo_type: str, private: bool,
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



def print_final(final: dict) -> None:
    keys = ("eval_exact_path", "eval_first_token", "train_exact_path", "edge_topk_recovery",
            "chance")
    print("final: " + ", ".join(f"{k}={100 * final[k]:.2f}%" for k in keys if k in final))
