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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets
from transformers import Trainer, TrainerCallback, TrainingArguments

from .builder import TaskData, load_task
from .metrics import edge_recovery_from_topk
from .modeling import PRESETS, build_model
from .tokenization import NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_IDS

__all__ = [
    "TrainConfig",
    "tokenize_config",
    "AnswerOnlyCollator",
    "GraphEvalCallback",
    "GraphTrainer",
    "evaluate_paths",
    "evaluate_edges",
    "edge_query_logits",
    "train",
    "finish_run",
    "read_metrics",
    "TrainResult",
]

RUN_FILE = "geommem_run.json"
METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``geommem_run.json``).

    Args:
        model: a preset of :data:`hf_geommem.modeling.PRESETS`.
        recipe: ``"mixed"``, ``"staged"`` or ``"edges"``.
        path_loss: ``"dataset"`` (the dataset's ``loss_mask``), ``"full"`` or ``"first_token"``.
        stage1_steps: ``staged`` only: edge-only steps before the path phase (default half).
        learning_rate, weight_decay, warmup_ratio, lr_scheduler: AdamW and its schedule.
        max_steps: optimizer steps.
        batch_size: examples per device and step; ``None`` is full batch (the whole train set).
        eval_steps: evaluate every this many steps (and at step 0 and the last step).
        eval_batch_size: prompts per ``generate`` call.
        eval_max_test_arms / eval_max_train_arms / eval_max_edge_nodes: caps on evaluated
            examples (``None``: all test arms); sampled with the run seed.
        save_steps: checkpoint every this many steps (``None``: only the final model).
        geometry_points: record node embeddings and geometry metrics at about this many steps
            (log-spaced) into ``geometry.jsonl`` / ``geometry/`` (``None``: off).
        freeze_embeddings, tie_embeddings, embedding_init_std: model switches.
        stop_after_train_exact: stop once the *training* paths' exact-path accuracy has been
            100% at this many consecutive evaluations (a stopping rule that never looks at the
            held-out split; ``None``: run all ``max_steps``). Single process only.
        seed: seed of init, data order and evaluation samples.
    """

    model: str = "gpt2-small"
    recipe: str = "mixed"
    path_loss: str = "dataset"
    stage1_steps: int | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    lr_scheduler: str = "constant"
    max_steps: int = 200
    batch_size: int | None = None
    eval_steps: int = 25
    eval_batch_size: int = 1024
    eval_max_test_arms: int | None = None
    eval_max_train_arms: int = 256
    eval_max_edge_nodes: int = 2048
    save_steps: int | None = None
    geometry_points: int | None = None
    freeze_embeddings: bool = False
    tie_embeddings: bool = True
    embedding_init_std: float | None = None
    stop_after_train_exact: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in PRESETS:
            raise ValueError(f"unknown model preset {self.model!r}; expected one of "
                             f"{sorted(PRESETS)}")
        for name, allowed in (("recipe", ("mixed", "staged", "edges")),
                              ("path_loss", ("dataset", "full", "first_token"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("max_steps", "eval_steps", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got "
                             f"{self.batch_size}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got "
                             f"{self.learning_rate}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got "
                             f"{self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1) (a fraction of max_steps), got "
                             f"{self.warmup_ratio}")
        if self.embedding_init_std is not None and not (
                math.isfinite(self.embedding_init_std) and self.embedding_init_std > 0):
            raise ValueError(f"embedding_init_std must be a finite number > 0 or None, got "
                             f"{self.embedding_init_std}")
        if self.geometry_points is not None and self.geometry_points < 2:
            raise ValueError(f"geometry_points must be >= 2 or None, got {self.geometry_points}")
        for name in ("eval_max_test_arms", "eval_max_train_arms", "eval_max_edge_nodes",
                     "save_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.stop_after_train_exact is not None and self.stop_after_train_exact < 1:
            raise ValueError(f"stop_after_train_exact must be >= 1 or None, got "
                             f"{self.stop_after_train_exact}")
        if self.stage1_steps is not None and not 0 < self.stage1_steps < self.max_steps:
            raise ValueError(f"stage1_steps must be in 1..max_steps-1 = {self.max_steps - 1}, "
                             f"got {self.stage1_steps}")

    @property
    def edge_phase_steps(self) -> int:
        return self.stage1_steps if self.stage1_steps is not None else self.max_steps // 2


# ---------------------------------------------------------------------- tokenization
def column(ds: Dataset, name: str) -> list:
    """A column as a Python list (datasets >= 4 returns lazy Column objects)."""
    return ds.data.column(name).to_pylist() if ds._indices is None else list(ds[name])


def tokenize_config(ds: Dataset, tokenizer: Any, path_loss: str = "dataset",
                    kind: str = "paths") -> Dataset:
    """Add ``input_ids`` (prompt + completion) and ``labels`` (-100 off the answer) to a split.

    ``kind`` ("edges" or "paths") is stored per row, so the staged recipe can mask by phase.
    Returns a Dataset with columns ``input_ids``, ``labels``, ``kind``."""
    prompts = tokenizer(column(ds, "prompt"), add_special_tokens=False)["input_ids"]
    completions = tokenizer(column(ds, "completion"), add_special_tokens=False)["input_ids"]
    masks = column(ds, "loss_mask") if "loss_mask" in ds.column_names else [None] * len(prompts)
    input_ids, labels = [], []
    unk = tokenizer.unk_token_id
    for p, c, m in zip(prompts, completions, masks):
        if unk in p or unk in c:
            raise ValueError(f"the tokenizer does not cover example {p + c}: unknown tokens")
        if path_loss == "full" or m is None:
            m = [True] * len(c)
        elif path_loss == "first_token":
            m = [i == 1 if len(c) > 1 else True for i in range(len(c))]
        input_ids.append(p + c)
        labels.append([-100] * len(p) + [t if keep else -100 for t, keep in zip(c, m)])
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels,
                              "kind": [kind] * len(input_ids)})


class AnswerOnlyCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (-100); builds ``attention_mask``.

    ``phase`` ("edges", "paths" or ``None``) masks the labels of the other kind of example
    (staged recipe)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id
        self.phase: str | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        n = len(features)
        length = max(len(f["input_ids"]) for f in features)
        ids = torch.full((n, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((n, length), -100, dtype=torch.long)
        mask = torch.zeros((n, length), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.as_tensor(f["input_ids"])
            mask[i, :k] = 1
            if self.phase is None or f.get("kind") == self.phase:
                labels[i, :k] = torch.as_tensor(f["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_head_loss(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     labels: torch.Tensor, num_items: torch.Tensor | int) -> torch.Tensor:
    """Causal-LM loss that runs the LM head only on the positions that carry a label.

    The backbone (``model.base_model``: GPT-2's ``transformer``, Llama's ``model``, Mamba's
    ``backbone``) runs on every position; the unembedding and softmax, a large share of a small
    model's compute with vocabularies of ``n`` nodes, run only where ``labels`` (shifted by one,
    as in any causal LM) are not -100. The loss is transformers' own ``model.loss_function``
    (``ForCausalLMLoss``) on those positions, summed and divided by ``num_items`` (the
    supervised tokens of the whole, possibly accumulated, batch), so it equals the full-head
    loss. Models without a separate backbone and head fall back to the full forward.
    """
    target = labels[:, 1:]
    keep = target != -100
    head = model.get_output_embeddings()
    base = model.base_model
    if head is None or base is model:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
    else:
        hidden = base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = head(hidden[:, :-1][keep])
    return model.loss_function(logits=logits, labels=None, vocab_size=logits.shape[-1],
                               num_items_in_batch=num_items, shift_labels=target[keep])


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite (e.g. a learning rate far too large)."""


class GraphTrainer(Trainer):
    """``Trainer`` with its loss computed by :func:`answer_head_loss`:

    * length-grouped forward: a batch mixing 3-token edge examples with longer path examples is
      run as one forward per distinct length (rows trimmed to their length). With right padding
      and causal attention this gives exactly the padded batch's loss while skipping the padding
      (2.3x less compute on G(300,5)). Under DDP the padded batch goes through the wrapped
      model's own forward and loss (its gradient hooks must see one forward per step).
    * the LM head runs only on supervised positions (one token in three of an edge example).
    * a batch with no supervised token (possible in the staged recipe with mini-batches) has
      loss 0 instead of NaN.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        if return_outputs or self.args.world_size > 1:
            # DDP: the wrapped model's own forward (its gradient hooks) on the padded batch
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if not (labels != -100).any():
            outputs = model(input_ids=inputs["input_ids"],
                            attention_mask=inputs["attention_mask"])
            return outputs.logits.sum() * 0.0
        num_items = num_items_in_batch if num_items_in_batch is not None else \
            (labels[:, 1:] != -100).sum()
        lengths = inputs["attention_mask"].sum(dim=1)
        total = None
        for length in torch.unique(lengths).tolist():
            rows, end = lengths == length, length
            lab = labels[rows, :end]
            if not (lab[:, 1:] != -100).any():
                continue
            part = answer_head_loss(model, inputs["input_ids"][rows, :end],
                                    inputs["attention_mask"][rows, :end], lab, num_items)
            total = part if total is None else total + part
        if num_items_in_batch is not None and not self.model_accepts_loss_kwargs:
            total = total * self.current_gradient_accumulation_steps  # Trainer divides by it
        if not torch.isfinite(total):
            raise NonFiniteLossError(
                f"the training loss became {float(total.detach())} at step {self.state.global_step + 1}"
                f" (learning rate {self.args.learning_rate:g}): training stopped, no weights "
                f"were saved; lower the learning rate or check the data")
        return total


# ---------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_paths(model: Any, tokenizer: Any, ds: Dataset, batch_size: int = 1024,
                   indices: np.ndarray | None = None) -> dict[str, Any]:
    """Greedy-decode the target of every prompt and compare with ``target``.

    Prompts of equal length are batched together (no padding, so positions are exact for every
    architecture); ``generate`` uses the model's KV cache.

    Returns: ``{"exact", "first_token", "per_position", "teacher_forced", "n"}``: ``exact`` and
    ``per_position`` score greedy decoding; ``teacher_forced`` is the per-position accuracy
    with the true prefix fed in; ``first_token`` is the teacher-forced accuracy at target
    position 1 (v1 of a forward path: the hardest token, given the constant root), so it is
    meaningful for first-token-only training too.
    """
    if indices is not None:
        ds = ds.select(indices)
    prompts = tokenizer(column(ds, "prompt"), add_special_tokens=False)["input_ids"]
    targets = column(ds, "target")
    if not targets:
        return {"exact": float("nan"), "first_token": float("nan"), "per_position": [], "n": 0}
    t_len = max(len(t) for t in targets)
    target_arr = np.full((len(targets), t_len), -1, dtype=np.int64)
    for i, t in enumerate(targets):
        target_arr[i, :len(t)] = np.asarray(t) + NUM_SPECIAL_TOKENS
    pred = np.full_like(target_arr, -2)
    forced = np.full_like(target_arr, -2)
    lengths = np.array([len(p) for p in prompts])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            ids = torch.tensor([prompts[i] for i in chunk], dtype=torch.long, device=device)
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=t_len, min_new_tokens=t_len, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=None, num_beams=1)
            gen = out[:, length:].cpu().numpy()
            pred[chunk, :gen.shape[1]] = gen
            full = torch.cat([ids, torch.as_tensor(np.maximum(target_arr[chunk], 0),
                                                   device=device)], dim=1)
            logits = model(input_ids=full, attention_mask=torch.ones_like(full)).logits
            forced[chunk] = logits[:, length - 1:length - 1 + t_len].argmax(-1).cpu().numpy()
    model.train(was_training)
    valid = target_arr >= 0
    correct = (pred == target_arr) | ~valid
    per_pos = [(correct[:, j] & valid[:, j]).sum() / max(valid[:, j].sum(), 1)
               for j in range(t_len)]
    tf = [((forced[:, j] == target_arr[:, j]) & valid[:, j]).sum() / max(valid[:, j].sum(), 1)
          for j in range(t_len)]
    return {
        "exact": float(correct.all(axis=1).mean()),
        "first_token": float(tf[1] if t_len > 1 else tf[0]),
        "per_position": [float(x) for x in per_pos],
        "teacher_forced": [float(x) for x in tf],
        "n": int(len(targets)),
    }


@torch.no_grad()
def edge_query_logits(model: Any, nodes: np.ndarray, num_nodes: int, batch_size: int = 4096):
    """Yield ``(chunk, logits)``: the next-token logits over the node tokens after
    ``[EDGE] u`` for each ``u`` in ``chunk`` (blocks of ``nodes``; ``logits`` is
    ``(len(chunk), num_nodes)`` float32 on the model's device). The model is in eval mode
    while iterating."""
    ids_edge = SPECIAL_TOKEN_IDS["[EDGE]"]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(nodes), batch_size):
            chunk = np.asarray(nodes[start:start + batch_size])
            ids = torch.stack([torch.full((len(chunk),), ids_edge),
                               torch.as_tensor(chunk + NUM_SPECIAL_TOKENS)], dim=1).to(device)
            logits = model(input_ids=ids).logits[:, -1, NUM_SPECIAL_TOKENS:
                                                  NUM_SPECIAL_TOKENS + num_nodes]
            yield chunk, logits.float()
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_edges(model: Any, tokenizer: Any, edges: Dataset, num_nodes: int,
                   nodes: np.ndarray | None = None, batch_size: int = 4096,
                   k_max: int = 5) -> float:
    """Top-k edge recovery of a model: for each source node u (or the sampled ``nodes``),
    feed ``[EDGE] u`` and count the true targets among the top-min(out-degree, k_max) next
    tokens (over node tokens only). Returns the mean over nodes (science.md section 6)."""
    src = np.asarray(column(edges, "source"), dtype=np.int64)
    dst = np.asarray(column(edges, "target"), dtype=np.int64)
    if nodes is None:
        nodes = np.unique(src)
    if tokenizer.convert_tokens_to_ids("[EDGE]") != SPECIAL_TOKEN_IDS["[EDGE]"]:
        raise ValueError("the tokenizer is not an hf_geommem tokenizer ([EDGE] id differs)")
    tops = [torch.topk(logits, k=min(k_max, num_nodes), dim=-1).indices.cpu()
            for _, logits in edge_query_logits(model, nodes, num_nodes, batch_size)]
    return edge_recovery_from_topk(torch.cat(tops).numpy(), nodes, np.stack([src, dst], 1),
                                   k_max=k_max)["value"]


class GraphEvalCallback(TrainerCallback):
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
        state.log_history.append(dict(row))
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
            if self._record(args, state, model):
                control.should_training_stop = True


class _RunFileCallback(TrainerCallback):
    """Writes the run fingerprint into every checkpoint, so resume can check it."""

    def __init__(self, run: dict):
        self.run = run

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            (ckpt / RUN_FILE).write_text(json.dumps(self.run, indent=2))


def _chance(task: TaskData) -> float | None:
    if task.graph is not None and task.graph.root is not None:
        return 1.0 / float(task.graph.degrees[task.graph.root])
    ic = task.metadata.get("in_context")
    return 1.0 / ic["degree"] if ic else None


# ---------------------------------------------------------------------- train
@dataclass
class TrainResult:
    """What :func:`train` returns: final metrics, the history, where things were written."""

    output_dir: str
    final: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    model: Any = None


def _dataset_fingerprint(task: TaskData) -> str:
    """Hash of the task's metadata *and data*: every Arrow buffer of every config and split,
    so a resumed run refuses a dataset whose rows changed even if its sizes did not."""
    meta = {k: v for k, v in task.metadata.items() if k not in ("version", "source")}
    meta["sizes"] = task.sizes()
    h = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in sorted(task.configs):
        for split in sorted(task.configs[name]):
            table = task.configs[name][split].data.table
            for col in table.column_names:
                h.update(col.encode())
                for chunk in table.column(col).chunks:
                    for buf in chunk.buffers():
                        if buf is not None:
                            h.update(memoryview(buf))
    return h.hexdigest()[:16]


def _check_task(task: TaskData, config: TrainConfig) -> None:
    needs = {"mixed": ("edges", "paths"), "staged": ("edges", "paths"), "edges": ("edges",)}
    in_context = task.metadata.get("task") == "in_context_path_star"
    if in_context:
        needs = {r: ("paths",) for r in needs}
    missing = [c for c in needs[config.recipe] if c not in task]
    if missing:
        raise ValueError(f"recipe {config.recipe!r} needs config(s) {missing}, but the dataset "
                         f"has only {list(task.configs)}"
                         + (" (in-context tasks train on 'paths' alone)" if in_context else ""))
    if in_context and config.recipe == "staged":
        raise ValueError("the staged recipe needs an edges config; in-context tasks have none")


def _check_model_fits(model: Any, tokenizer: Any, max_len: int) -> None:
    vocab = model.get_input_embeddings().weight.shape[0]
    if vocab < len(tokenizer):
        raise ValueError(f"the dataset's vocabulary has {len(tokenizer)} tokens but the model's "
                         f"embedding has {vocab} rows")
    n_pos = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None)
    if n_pos is not None and n_pos < max_len:
        raise ValueError(f"the longest example has {max_len} tokens but the model takes at most "
                         f"{n_pos} positions")


def train(
    dataset: str | os.PathLike | TaskData,
    output_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    resume_from_checkpoint: str | bool | None = None,
    overwrite: bool = False,
    init_model: str | None = None,
    progress: bool = True,
    **training_args: Any,
) -> TrainResult:
    """Train a preset on a task folder (or a loaded :class:`TaskData`) and save everything.

    Writes ``output_dir``: model and tokenizer (``save_pretrained``), ``metrics.jsonl``,
    ``geommem_run.json``, ``trainer_state.json``, checkpoints (``save_steps``), and returns a
    :class:`TrainResult`. All input checks (preset, recipe vs configs, vocabulary and length
    vs model, resume checkpoint vs run) happen before any training step.

    Args:
        init_model: start from this saved model instead of a fresh preset (its vocabulary must
            cover the dataset's).
        training_args: extra ``TrainingArguments`` fields (e.g. ``ddp_backend="gloo"``).
    """
    import time

    from .builder import check_output_dir

    config = config or TrainConfig()
    task = dataset if isinstance(dataset, TaskData) else load_task(dataset)
    _check_task(task, config)
    output_dir = str(output_dir)
    if resume_from_checkpoint is None:
        check_output_dir(output_dir, overwrite)
    tok = task.tokenizer

    # tokenized train set
    parts = []
    if config.recipe in ("mixed", "staged", "edges") and "edges" in task:
        parts.append(tokenize_config(task["edges"]["train"], tok, kind="edges"))
    if config.recipe in ("mixed", "staged") or "edges" not in task:
        parts.append(tokenize_config(task["paths"]["train"], tok, config.path_loss, "paths"))
    train_ds = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    max_len = max(len(x) for x in column(train_ds, "input_ids"))
    if "paths" in task:  # held-out prompts are decoded to their full target length
        test = task["paths"]["test"]
        max_len = max(max_len, max(len(tok(p)["input_ids"]) for p in column(test, "prompt"))
                      + max(map(len, column(test, "target"))))

    run = {"config": asdict(config), "dataset": _dataset_fingerprint(task),
           "init_model": init_model}
    # model
    if init_model is not None:
        from transformers import AutoModelForCausalLM

        if not Path(init_model).is_dir():
            raise FileNotFoundError(f"init_model {init_model!r} not found: expected a saved "
                                    f"model folder")
        model = AutoModelForCausalLM.from_pretrained(init_model)
        if config.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        # record what was loaded, not the preset fields that did not apply to it
        mc = model.config
        preset = getattr(mc, "geommem_preset", None)
        if preset not in PRESETS:
            raise ValueError(f"init_model {init_model!r} is a {mc.model_type} model not built "
                             f"from an hf_geommem preset")
        if config.embedding_init_std is not None:
            raise ValueError("embedding_init_std cannot apply to a loaded init_model")
        run["config"].update(model=preset, tie_embeddings=bool(mc.tie_word_embeddings),
                             embedding_init_std=getattr(mc, "geommem_embedding_init_std", None))
    else:
        model = build_model(config.model, len(tok), max_positions=max(64, max_len + 8),
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, tie_embeddings=config.tie_embeddings,
                            freeze_embeddings=config.freeze_embeddings,
                            embedding_init_std=config.embedding_init_std, seed=config.seed)
    _check_model_fits(model, tok, max_len)

    resume = resume_from_checkpoint
    if resume is True:
        resume = last_complete_checkpoint(output_dir)
        if resume is None:
            raise ValueError(f"--resume: no complete checkpoint-* folder in {output_dir!r}")
    if resume:
        run_file = Path(resume) / RUN_FILE
        if not run_file.is_file():
            raise ValueError(f"{str(resume)!r} is not an hf_geommem checkpoint (no {RUN_FILE})")
        saved = json.loads(run_file.read_text())
        diff = sorted(k for k in set(saved["config"]) | set(run["config"])
                      if saved["config"].get(k) != run["config"].get(k))
        if saved["dataset"] != run["dataset"] or diff:
            what = ["dataset"] if saved["dataset"] != run["dataset"] else []
            raise ValueError(f"checkpoint {str(resume)!r} belongs to another run: it differs in "
                             f"{what + diff}")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if config.stop_after_train_exact is not None and (world > 1 or "paths" not in task):
        raise ValueError("stop_after_train_exact needs path examples and a single process "
                         f"(WORLD_SIZE={world}, configs {sorted(task.configs)})")
    # without CUDA, Trainer only runs DDP (gloo) under accelerate launch when use_cpu is set
    training_args.setdefault("use_cpu", not torch.cuda.is_available())
    batch = config.batch_size or math.ceil(len(train_ds) / world)
    args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.lr_scheduler,
        max_steps=config.max_steps,
        logging_steps=max(1, min(config.eval_steps, 10)),
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or config.max_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        remove_unused_columns=False,
        dataloader_drop_last=False,
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not progress,
        **training_args,
    )
    collator = AnswerOnlyCollator(tok.pad_token_id)
    created = not Path(output_dir).exists()
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if not resume:
        (Path(output_dir) / METRICS_FILE).unlink(missing_ok=True)
    else:  # drop metrics rows past the checkpoint: the resumed run writes them again
        _truncate_metrics(Path(output_dir) / METRICS_FILE, _checkpoint_step(resume))
    if args.process_index == 0:
        (Path(output_dir) / RUN_FILE).write_text(json.dumps(run, indent=2))
        (Path(output_dir) / "run_env.json").write_text(json.dumps({
            "world_size": args.world_size, "device": str(args.device),
            "dataset": str(dataset) if not isinstance(dataset, TaskData)
            else task.metadata.get("source"),
            "torch": torch.__version__, "num_threads": torch.get_num_threads()}, indent=2))
    callback = GraphEvalCallback(task, config, tok, collator, output_dir)
    callbacks = [callback, _RunFileCallback(run)]
    if config.geometry_points and task.graph is not None:
        from .geometry import GeometryCallback, GeometryRecorder
        from .node2vec import record_schedule

        if not resume:
            (Path(output_dir) / "geometry.jsonl").unlink(missing_ok=True)
        recorder = GeometryRecorder(task.graph, output_dir,
                                    record_schedule(config.max_steps, config.geometry_points))
        edges = task["edges"]["train"] if "edges" in task else None
        callbacks.append(GeometryCallback(recorder, None if edges is None else (
            lambda m: evaluate_edges(m, tok, edges, task.graph.num_nodes,
                                     callback.edge_nodes))))
    trainer = GraphTrainer(model=model, args=args, train_dataset=train_ds,
                           data_collator=collator, processing_class=tok, callbacks=callbacks)
    t0 = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume or None)
    except NonFiniteLossError:
        if created and args.process_index == 0:  # nothing worth keeping: the rerun starts clean
            import shutil

            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    seconds = time.perf_counter() - t0
    if trainer.is_world_process_zero():
        trainer.save_model(output_dir)
        trainer.save_state()
    history = [r for r in trainer.state.log_history if "step" in r and any(
        k.startswith(("eval_", "edge_")) for k in r)]
    final = history[-1] if history else {}
    return TrainResult(output_dir=output_dir, final=final, history=history,
                       train_seconds=seconds, model=trainer.model)


def finish_run(result: TrainResult, task: TaskData, dataset_name: str,
               geometry: dict[str, dict[str, Any]] | None = None) -> None:
    """Write the model card (``README.md``, with ``geometry``:
    :func:`hf_geommem.geometry.geometry_summary` of the trained model) and ``report.md`` +
    ``curves.png`` of a run."""
    from .cards import write_model_card, write_report

    if result.model is None:
        return
    write_model_card(result.output_dir, result.final, task, dataset_name, result.model,
                     result.train_seconds, geometry)
    cfg = json.loads((Path(result.output_dir) / RUN_FILE).read_text())["config"]
    write_report(result.output_dir, result.history,
                 f"{cfg['model']} on {dataset_name} ({cfg['recipe']} recipe)",
                 [f"Trained {cfg['max_steps']} steps in {result.train_seconds:.0f} s; chance "
                  f"{100 * result.final.get('chance', float('nan')):.2f}%."])


def last_complete_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """The newest ``checkpoint-N`` of ``run_dir`` whose trainer state and run file were written
    (Trainer writes them last, so a checkpoint cut short by an interrupt lacks them and is
    skipped)."""
    best = None
    for ck in Path(run_dir).glob("checkpoint-*"):
        step = ck.name.split("-")[-1]
        if step.isdigit() and (ck / "trainer_state.json").is_file() and \
                (ck / RUN_FILE).is_file() and (best is None or int(step) > best[0]):
            best = (int(step), str(ck))
    return None if best is None else best[1]


def _checkpoint_step(path: str | os.PathLike) -> int:
    name = Path(path).name
    return int(name.split("-")[-1]) if name.startswith("checkpoint-") else 0


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.is_file():
        return
    rows = [ln for ln in path.read_text().splitlines()
            if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))


def read_metrics(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    path = Path(output_dir) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: not a training run folder")
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
