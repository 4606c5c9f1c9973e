"""Train causal LMs on graph memory with ``transformers.Trainer``.

Recipes (science.md section 2):

* ``mixed`` (default): edge and path examples shuffled together.
* ``staged``: edges only for ``stage1_steps``, then paths only; one Trainer run (the collator
  masks the labels of the other phase), so checkpoints and resume work across the switch.
* ``edges``: edge memorization alone (geometry studies; no path examples).

Loss: answer-only labels (-100 on the prompt). Path examples supervise what the dataset's
``loss_mask`` says, or ``path_loss="full"`` / ``"first_token"`` overrides it.

During training :class:`GraphEvalCallback` evaluates every ``eval_steps``: held-out exact-path
accuracy (batched greedy ``generate`` with KV cache), first-token and per-position accuracy,
train-path accuracy, top-k edge recovery and chance (1/d). Results go to Trainer's
``log_history`` (so into ``trainer_state.json`` and every checkpoint) and to ``metrics.jsonl``.

Rooms: :mod:`.config` (:class:`TrainConfig`, light), :mod:`.data` (tokenizing, answer-only
collator), :mod:`.output_layer` (the chunked LM head + cross-entropy), :mod:`.trainer`
(:class:`GraphTrainer`), :mod:`.memory` (micro-batches under a memory budget), :mod:`.decoding`
(greedy path evaluation and edge queries), :mod:`.callbacks` (evaluation, geometry, run file,
step timer), :mod:`.recording` (geometry over training, light), :mod:`.run` (:func:`train`),
:mod:`.checkpoints` (resume point, metrics rows), :mod:`.run_folder` (a finished run's model
and its checked task).
Every public name stays importable from ``hf_geommem.training``; they load on first use, so
importing the package (e.g. for :class:`TrainConfig` in the CLI parser) costs no torch or
transformers import.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_WHERE = {
    "TrainConfig": "config", "RUN_FILE": "config", "METRICS_FILE": "config",
    "OUTPUT_LAYERS": "config", "linear_cross_entropy": "output_layer",
    "head_loss": "trainer", "batch_loss": "trainer", "MicroBatchPlan": "memory",
    "MemoryBudgetError": "memory", "peak_rss_gb": "memory", "supervised_hidden_states": "trainer",
    "column": "data", "tokenize_config": "data", "AnswerOnlyCollator": "data",
    "answer_head_loss": "trainer", "NonFiniteLossError": "trainer", "GraphTrainer": "trainer",
    "evaluate_paths": "decoding", "edge_query_logits": "decoding", "evaluate_edges": "decoding",
    "GraphEvalCallback": "callbacks", "GeometryCallback": "callbacks",
    "StepTimerCallback": "callbacks", "GeometryRecorder": "recording",
    "record_schedule": "recording", "read_geometry": "recording", "GEOMETRY_FILE": "config",
    "training_parts": "data", "training_set_size": "data", "batch_per_device": "data",
    "load_run": "run_folder",
    "TrainResult": "run", "train": "run", "finish_run": "run",
    "end_distributed": "run", "rank_and_world": "run",
    "last_complete_checkpoint": "checkpoints", "read_metrics": "checkpoints", "push_run": "run_folder",
    "run_task": "run_folder", "check_run_dataset": "run_folder", "load_run_model": "run_folder",
    "read_run_json": "run_folder",
}
__all__ = sorted(_WHERE)


__getattr__ = lazy_getattr(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
