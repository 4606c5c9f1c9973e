"""Trainer callbacks: the periodic task evaluation (with the train-only stopping rule), the
run fingerprint written into every checkpoint, geometry over training
(:class:`GeometryCallback`, around :class:`~hf_geommem.training.recording.GeometryRecorder`)
and a step timer (``reproduce --dry-run``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from transformers import TrainerCallback

from ..builder import TaskData
from .config import METRICS_FILE, RUN_FILE, TrainConfig
from .data import AnswerOnlyCollator, column
from .decoding import evaluate_edges, evaluate_paths

__all__ = ["LoggingCallback", "GraphEvalCallback", "GeometryCallback", "StepTimerCallback"]


class LoggingCallback(TrainerCallback):
    """A callback whose rows reach the Trainer's loggers.

    Once attached to its Trainer (:meth:`attach`; :class:`GraphTrainer` attaches its callbacks
    itself) a row goes through ``Trainer.log``: into ``state.log_history`` *and* to every
    ``report_to`` integration (TensorBoard, W&B, ...), which receive its numbers; lists and
    strings are added to the ``log_history`` row only. Unattached, rows are appended to
    ``state.log_history`` directly."""

    trainer: Any = None

    def attach(self, trainer: Any) -> "LoggingCallback":
        self.trainer = trainer
        return self

    def log_row(self, state: Any, row: dict[str, Any]) -> None:
        numbers = {k: v for k, v in row.items() if k != "step" and not isinstance(v, bool)
                   and isinstance(v, (int, float))}
        rest = {k: v for k, v in row.items() if k != "step" and k not in numbers}
        if self.trainer is not None:
            # Trainer.log clears control.should_log: keep the Trainer's own (loss) log due now
            due = self.trainer.control.should_log
            self.trainer.log(dict(numbers))
            self.trainer.control.should_log = due
            state.log_history[-1].update(rest)
        else:
            state.log_history.append({**numbers, **rest, "step": state.global_step})


class GraphEvalCallback(LoggingCallback):
    """Evaluates the task every ``eval_steps`` (and at steps 0 and ``max_steps``) on the main
    process, appends the results to ``state.log_history`` and ``<output_dir>/metrics.jsonl``,
    and sets the staged recipe's phase on the collator."""

    def __init__(self, task: TaskData, config: TrainConfig, tokenizer: Any,
                 collator: AnswerOnlyCollator | None = None, output_dir: str | None = None):
        self.task, self.config, self.tokenizer = task, config, tokenizer
        self.collator, self.output_dir = collator, output_dir
        rng = np.random.default_rng(config.seed)
        self.chance = _chance(task)
        self.test_idx = self.train_idx = None
        if "paths" in task:
            n_test = task["paths"]["test"].num_rows
            n_train = task["paths"]["train"].num_rows
            if config.eval_max_test_arms and n_test > config.eval_max_test_arms:
                self.test_idx = np.sort(rng.choice(n_test, config.eval_max_test_arms, False))
            self.train_idx = np.sort(rng.choice(n_train, min(n_train,
                                                             config.eval_max_train_arms), False))
        self.edge_nodes = None
        if "edges" in task:
            src = np.unique(np.asarray(column(task["edges"]["train"], "source")))
            cap = config.eval_max_edge_nodes
            self.edge_nodes = np.sort(rng.choice(src, cap, False)) if len(src) > cap else src
        self._last_step = -1
        self._perfect_evals = 0  # consecutive evaluations with train exact-path 100%

    def evaluate(self, model: Any, step: int) -> dict[str, Any]:
        row: dict[str, Any] = {"step": int(step)}
        if "paths" in self.task:
            test = evaluate_paths(model, self.tokenizer, self.task["paths"]["test"],
                                  self.config.eval_batch_size, self.test_idx)
            train = evaluate_paths(model, self.tokenizer, self.task["paths"]["train"],
                                   self.config.eval_batch_size, self.train_idx)
            row.update({"eval_exact_path": test["exact"], "eval_first_token": test["first_token"],
                        "eval_per_position": test["per_position"],
                        "eval_teacher_forced": test["teacher_forced"], "eval_num_arms": test["n"],
                        "train_exact_path": train["exact"],
                        "train_first_token": train["first_token"]})
        if self.edge_nodes is not None and self.task.graph is not None:
            row["edge_topk_recovery"] = evaluate_edges(
                model, self.tokenizer, self.task["edges"]["train"], self.task.graph.num_nodes,
                self.edge_nodes)
        if self.chance is not None:
            row["chance"] = self.chance
        return row

    def _record(self, args, state, model) -> bool:
        """Evaluate and log; True when the train-only stopping rule fires."""
        if state.global_step == self._last_step:
            return False
        self._last_step = state.global_step
        if not state.is_world_process_zero:
            return False
        row = self.evaluate(model, state.global_step)
        k = self.config.stop_after_train_exact
        self._perfect_evals = self._perfect_evals + 1 \
            if row.get("train_exact_path") == 1.0 else 0
        if k is not None and self._perfect_evals >= k and state.global_step > 0:
            row["stopped_by_rule"] = f"train exact-path 100% at {k} consecutive evaluations"
        self.log_row(state, row)
        out = self.output_dir or args.output_dir
        with open(os.path.join(out, METRICS_FILE), "a") as f:
            f.write(json.dumps(row) + "\n")
        return "stopped_by_rule" in row

    def _set_phase(self, state) -> None:
        if self.collator is not None and self.config.recipe == "staged":
            self.collator.phase = "edges" if state.global_step < self.config.edge_phase_steps \
                else "paths"

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._set_phase(state)
        if state.global_step == 0:
            self._record(args, state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._set_phase(state)
        if state.global_step % self.config.eval_steps == 0 or \
                state.global_step >= state.max_steps:
            stop = self._record(args, state, model)
            if self.config.stop_after_train_exact is not None:
                stop = _from_rank_zero(stop)  # rank 0 evaluates; every rank must stop with it
            if stop:
                control.should_training_stop = True


def _from_rank_zero(value: bool) -> bool:
    """``value`` as rank 0 has it (a broadcast under ``torch.distributed``; as is otherwise)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


class _RunFileCallback(TrainerCallback):
    """Writes the run fingerprint into every checkpoint, so resume can check it."""

    def __init__(self, run: dict):
        self.run = run

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            from ..files import share_files

            (ckpt / RUN_FILE).write_text(json.dumps(self.run, indent=2))
            share_files(ckpt)


def _chance(task: TaskData) -> float | None:
    if task.graph is not None and task.graph.root is not None:
        return 1.0 / float(task.graph.degrees[task.graph.root])
    ic = task.metadata.get("in_context")
    return 1.0 / ic["degree"] if ic else None


class StepTimerCallback(TrainerCallback):
    """Wall seconds of every optimizer step, in ``times``."""

    def __init__(self):
        self.times: list[float] = []
        self._t0 = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._t0)


class GeometryCallback(LoggingCallback):
    """Trainer hook: at the recorder's steps, takes the node-token input embeddings (and,
    with ``model_topk``, the model's own top-k edge recovery) and records them in
    ``geometry.jsonl`` and, as ``geometry/<score>``, in the Trainer's logs.

    Works in any ``transformers.Trainer`` whose model has one token per node after the
    special tokens; call ``callback.attach(trainer)`` after building the Trainer so the scores
    also reach its ``report_to`` trackers (without it they go to ``log_history`` only)::

        recorder = GeometryRecorder(graph, "runs/mine", schedule=[0, 10, 100])
        callback = GeometryCallback(recorder)
        trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate,
                          callbacks=[callback])
        callback.attach(trainer)
        trainer.train()
    """

    def __init__(self, recorder: Any,
                 model_topk: Callable[[Any], float] | None = None):
        self.recorder, self.model_topk = recorder, model_topk

    def _record(self, state, model) -> None:
        if not state.is_world_process_zero or not self.recorder.wants(state.global_step):
            return
        from ..modeling import node_embeddings

        X = node_embeddings(model, self.recorder.graph.num_nodes)
        topk = self.model_topk(model) if self.model_topk is not None else None
        row = self.recorder(state.global_step, X, topk)
        if row is not None:
            self.log_row(state, {f"geometry/{k}": v for k, v in row.items() if k != "step"})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._record(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._record(state, model)
