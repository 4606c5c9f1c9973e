"""Memory that does not grow with the batch: the estimated cost of a training step, and the
split of a batch into micro-batches (gradient accumulation, the same update) that keeps a step
under a memory budget.

The estimate is measured, not modelled per architecture: one forward of two seeded samples of
the training set (``PROBE_SIZES`` examples) through the real loss, with
``torch.autograd.graph.saved_tensors_hooks`` adding up the bytes autograd keeps for the backward
pass (parameters excluded). The two samples give the bytes per token (the slope) and the bytes
that do not grow with the batch (the intercept: e.g. the head's weight gradient). A step's peak
is then ``runtime + PARAM_COPIES x parameter bytes + intercept + STEP_FACTOR x slope x tokens``
with the tokens of a micro-batch bounded at four standard deviations above its mean.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

__all__ = ["PROBE_SIZES", "PILOT_SIZE", "RUNTIME_GB", "RUNTIME_MARGIN_GB", "STEP_FACTOR",
           "PARAM_COPIES", "GB", "MicroBatchPlan", "current_rss_gb", "runtime_gb", "peak_rss_gb",
           "saved_bytes", "step_cost", "step_estimate_gb", "plan_micro_batches",
           "MemoryBudgetError"]

GB = 2**30
PROBE_SIZES = (64, 256)
PILOT_SIZE = 8
"""Examples of the pilot probe that sizes the two probes when their memory is bounded: a probe
holds the activations of its examples, so on a deep model with long sequences (gpt2-mid, 130
tokens) 256 examples alone take ~18 GB, more than the budget the probe exists to enforce."""
RUNTIME_GB = 1.25
"""Memory of the process besides the step's saved tensors: Python, torch, transformers, datasets,
the task's tables and tokenized set, evaluation. Measured: 0.56-0.57 GB RSS right after building
G(1000,5) / G(2000,5); with the factor below, the default run on G(5000,5) (gpt2-small, 5
pauses, 3 micro-batches) was estimated at 3.12 GB with 1.0 here and peaked at 3.24 GB, so 1.25."""
RUNTIME_MARGIN_GB = 0.7
"""What a run adds after the memory plan besides its steps (evaluation, the Trainer's state):
:data:`RUNTIME_GB` minus the 0.56-0.57 GB measured right after building a graph. The runtime term
of a plan is the process's resident memory when it plans plus this margin, at least
:data:`RUNTIME_GB`: a 200,000-graph in-context set holds ~1.5 GB before its first step, which
the constant alone missed (a 4 GB plan peaked at 5.0 GB)."""
PARAM_COPIES = 4
"""Parameters, their gradients and AdamW's two moments."""
STEP_FACTOR = 1.5
"""Peak of a step over the bytes saved for its backward pass (the backward holds gradient
temporaries beside the saved tensors it has not freed yet). Measured with gpt2-small on full
batches (peak RSS minus RSS before training, over the saved bytes): 1.17 on G(1000,5), 1.02 on
G(2000,5); 1.5 leaves a margin."""


class MemoryBudgetError(ValueError):
    """Even one example per micro-batch would exceed the memory budget."""


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (``getrusage``'s ``ru_maxrss``:
    kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / GB if sys.platform == "darwin" else peak * 1024 / GB


def current_rss_gb() -> float | None:
    """Resident memory of this process now, in GB (``/proc/self/statm``; ``None`` where there
    is no such file)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / GB


def runtime_gb() -> float:
    """The runtime term of a memory plan made now: resident memory plus
    :data:`RUNTIME_MARGIN_GB`, at least :data:`RUNTIME_GB`."""
    rss = current_rss_gb()
    return RUNTIME_GB if rss is None else max(RUNTIME_GB, rss + RUNTIME_MARGIN_GB)


def saved_bytes(loss_fn: Callable[[], torch.Tensor], exclude: set[int]) -> int:
    """Bytes autograd saves for the backward pass of ``loss_fn()`` (each storage counted once,
    storages whose ``data_ptr`` is in ``exclude``, e.g. the parameters, left out); the graph is
    freed again without a backward."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in exclude:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn()
    del loss
    return sum(seen.values())


@dataclass(frozen=True)
class MicroBatchPlan:
    """How one optimizer step's batch runs (per device).

    Attributes:
        batch_size: examples per optimizer step.
        micro_batch_size: examples per forward and backward pass.
        accumulation_steps: passes per optimizer step (``ceil(batch / micro)``).
        estimated_gb: estimated peak of a step with micro-batches of ``micro_batch_size``.
        full_batch_gb: the same estimate without a split.
        budget_gb: the budget (``None``: none).
        bytes_per_token, fixed_bytes: the measured slope and intercept of the saved tensors.
        runtime_gb: the memory of the process besides its steps (:func:`runtime_gb`).
    """

    batch_size: int
    micro_batch_size: int
    accumulation_steps: int
    estimated_gb: float
    full_batch_gb: float
    budget_gb: float | None
    bytes_per_token: float
    fixed_bytes: float
    runtime_gb: float = RUNTIME_GB

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_cost(loss_for: Callable[[list[int]], torch.Tensor], lengths: list[int],
              exclude: set[int], seed: int,
              max_probe_bytes: float | None = None) -> tuple[float, float]:
    """(bytes per token, fixed bytes) of a training step's saved tensors, fitted on two seeded
    samples of :data:`PROBE_SIZES` examples (``loss_for(indices)`` runs the real loss on those
    examples of the training set; ``lengths`` are their token counts).

    With ``max_probe_bytes``, a pilot of :data:`PILOT_SIZE` examples first measures the bytes
    per token, and the two samples shrink (never below the pilot) until the larger one's saved
    tensors, at the longest example's length, stay under ``max_probe_bytes``: the probe never
    takes the memory it is meant to keep a step from taking."""
    n = len(lengths)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()

    def probe(k: int) -> tuple[int, int]:
        idx = order[:min(n, k)]
        return sum(lengths[i] for i in idx), saved_bytes(lambda: loss_for(idx), exclude)

    small_k, large_k = PROBE_SIZES
    if max_probe_bytes is not None:
        t0, b0 = probe(PILOT_SIZE)
        per_example = b0 / max(t0, 1) * max(lengths)
        large_k = max(PILOT_SIZE, min(large_k, int(max_probe_bytes // max(per_example, 1.0))))
        small_k = min(small_k, max(1, large_k // 4))
    (t1, b1), (t2, b2) = probe(small_k), probe(large_k)
    if t2 == t1:  # the whole set fits in the small sample: all of it is per-token
        return b2 / t2, 0.0
    slope = max(0.0, (b2 - b1) / (t2 - t1))
    return slope, max(0.0, b1 - slope * t1)


def step_estimate_gb(m: int, lengths: list[int], bytes_per_token: float, fixed_bytes: float,
                     param_bytes: int, runtime_gb: float = RUNTIME_GB) -> float:
    """Estimated peak memory (GB) of a step on ``m`` random examples of a training set whose
    examples have ``lengths`` tokens: ``runtime_gb``, :data:`PARAM_COPIES` copies of the
    parameters, the fixed bytes and :data:`STEP_FACTOR` x the saved bytes of the micro-batch's
    tokens, taken four standard deviations above their mean (at most ``m`` x the longest)."""
    mean = sum(lengths) / len(lengths)
    std = math.sqrt(sum((x - mean) ** 2 for x in lengths) / len(lengths))
    tokens = min(m * max(lengths), m * mean + 4.0 * math.sqrt(m) * std)
    return (runtime_gb * GB + PARAM_COPIES * param_bytes + fixed_bytes
            + STEP_FACTOR * bytes_per_token * tokens) / GB


def plan_micro_batches(batch_size: int, lengths: list[int], bytes_per_token: float,
                       fixed_bytes: float, param_bytes: int, budget_gb: float | None,
                       whole_epoch: bool, runtime_gb: float = RUNTIME_GB) -> MicroBatchPlan:
    """Split a batch of ``batch_size`` examples into the fewest micro-batches whose estimated
    step fits ``budget_gb``.

    With ``whole_epoch`` (the batch is the whole training set) any micro-batch size gives the
    same update (the last micro-batch is shorter); otherwise the micro-batch size divides
    ``batch_size``, so every optimizer step sees the same examples as without the split.

    Raises:
        MemoryBudgetError: the budget cannot hold even one example per micro-batch.
    """
    if batch_size < 1 or not lengths:
        raise ValueError(f"batch_size must be >= 1 with a non-empty training set, got "
                         f"{batch_size} and {len(lengths)} examples")

    def estimate(m: int) -> float:
        return step_estimate_gb(m, lengths, bytes_per_token, fixed_bytes, param_bytes, runtime_gb)

    full = estimate(batch_size)
    plan = dict(batch_size=batch_size, full_batch_gb=full, budget_gb=budget_gb,
                bytes_per_token=bytes_per_token, fixed_bytes=fixed_bytes, runtime_gb=runtime_gb)
    if budget_gb is None or full <= budget_gb:
        return MicroBatchPlan(micro_batch_size=batch_size, accumulation_steps=1,
                              estimated_gb=full, **plan)
    if estimate(1) > budget_gb:
        raise MemoryBudgetError(
            f"the memory budget of {budget_gb:g} GB (--memory-budget-gb, TrainConfig."
            f"memory_budget_gb) cannot hold one training example: the process (about "
            f"{runtime_gb:.2f} GB with its margin), the model's parameters with their gradients "
            f"and optimizer state and one example need about {estimate(1):.2f} GB; raise the "
            f"budget or use a smaller model")
    lo, hi = 1, batch_size  # largest micro-batch that fits (the estimate grows with m)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if estimate(mid) <= budget_gb else (lo, mid - 1)
    steps = math.ceil(batch_size / lo)
    if not whole_epoch:  # the fewest passes whose micro-batch size divides the batch
        while batch_size % steps:
            steps += 1
    micro = math.ceil(batch_size / steps)
    return MicroBatchPlan(micro_batch_size=micro, accumulation_steps=math.ceil(batch_size / micro),
                          estimated_gb=estimate(micro), **plan)
