"""``train()``: check inputs, build data and model, run ``GraphTrainer``, save; and the run
folder's helpers (resume point, metrics, card and report)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import concatenate_datasets
from transformers import TrainingArguments

from ..builder import TaskData, load_task
from ..files import share_files
from ..machine import cpu_environment
from ..modeling import PRESETS, build_model, load_causal_lm, model_mode
from .callbacks import GraphEvalCallback, _RunFileCallback
from .config import GEOMETRY_FILE, METRICS_FILE, RUN_FILE, TrainConfig, saved_config
from .data import (AnswerOnlyCollator, batch_per_device, column, tokenize_config,
                   training_parts)
from .decoding import evaluate_edges
from .checkpoints import (_checkpoint_step, _restart_check, _truncate_metrics,  # noqa: F401
                          last_complete_checkpoint, read_metrics)
from .run_folder import RUN_ENV_FILE, push_run  # noqa: F401  (its old home)
from . import memory
from .memory import GB, PARAM_COPIES, MicroBatchPlan, peak_rss_gb, plan_micro_batches, step_cost
from .trainer import GraphTrainer, NonFiniteLossError, batch_loss

MIN_POSITIONS = 64  # position table of a fresh GPT-2 / Llama preset, at least
POSITION_MARGIN = 8  # spare positions beyond the longest example (a few extra decode steps)

__all__ = ["TrainResult", "train", "finish_run", "last_complete_checkpoint", "read_metrics",
           "push_run"]


@dataclass
class TrainResult:
    """What :func:`train` returns: final metrics, the history, where things were written."""

    output_dir: str
    final: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    model: Any = None
    peak_rss_gb: float | None = None
    memory_plan: MicroBatchPlan | None = None


def _dataset_fingerprint(task: TaskData) -> str:
    """Hash of the task's metadata *and data*: every Arrow buffer of every config and split,
    so a resumed run refuses a dataset whose rows changed even if its sizes did not."""
    meta = {k: v for k, v in task.metadata.items() if k not in ("version", "source", "hub_id")}
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
    if in_context and config.recipe != "mixed":
        # "edges" would train on paths and record "edges": refuse what does not apply
        raise ValueError(f"the {config.recipe} recipe needs an edges config; in-context tasks "
                         f"have none (they train on 'paths' with the mixed recipe)")
    if config.geometry_points is not None and task.graph is None:
        raise ValueError("geometry_points (--geometry-points) needs a fixed graph whose node "
                         "embeddings can be scored; an in-context task has none")


def _check_report_to(report_to: Any) -> None:
    """Refuse a tracker whose package is missing before any folder exists (Trainer would raise
    once the run folder was created, and the corrected rerun would need --overwrite)."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_reporting_integration_callbacks,
    )

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = [n.strip() for name in names for n in name.split(",") if n.strip()]
    for name in names:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise ValueError(f"--report-to {name!r} is not a transformers integration; expected "
                             f"none, all or one of {sorted(INTEGRATION_TO_CALLBACK)}")
        for callback in get_reporting_integration_callbacks([name]):
            try:
                callback()  # the constructors check that the package imports
            except (RuntimeError, ImportError) as exc:
                raise ValueError(f"--report-to {name}: {str(exc).strip().splitlines()[0]} "
                                 f"(pip install {name}, or drop --report-to)") from None


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


def _training_set(task: TaskData, config: TrainConfig, tok: Any) -> tuple[Any, int]:
    """The tokenized training set (:func:`training_parts`) and the longest example the model
    must hold (held-out prompts are decoded to their full target length)."""
    parts = []
    for name, copies in training_parts(task, config):
        loss = config.path_loss if name == "paths" else "dataset"
        parts += [tokenize_config(task[name]["train"], tok, loss, name)] * copies
    train_ds = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    max_len = max(len(x) for x in column(train_ds, "input_ids"))
    if "paths" in task:  # held-out prompts are decoded to their full target length
        test = task["paths"]["test"]
        max_len = max(max_len, max(len(tok(p)["input_ids"]) for p in column(test, "prompt"))
                      + max(map(len, column(test, "target"))))

    return train_ds, max_len


def _model(config: TrainConfig, init_model: str | None, tok: Any, max_len: int,
           run: dict[str, Any]) -> Any:
    """A fresh preset, or the saved ``init_model`` (recorded in ``run``'s config)."""
    if init_model is not None:
        if not Path(init_model).is_dir():
            raise FileNotFoundError(f"init_model {init_model!r} not found: expected a saved "
                                    f"model folder")
        model = load_causal_lm(init_model)
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
        model = build_model(config.model, len(tok),
                            max_positions=max(MIN_POSITIONS, max_len + POSITION_MARGIN),
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, tie_embeddings=config.tie_embeddings,
                            freeze_embeddings=config.freeze_embeddings,
                            embedding_init_std=config.embedding_init_std, seed=config.seed)
    return model


def _resume_point(resume: str | bool | None, output_dir: str, run: dict[str, Any]
                  ) -> str | bool | None:
    """The checkpoint to resume from (checked to belong to this run), or a false value."""
    if resume is True:
        resume = last_complete_checkpoint(output_dir)
        if resume is None:
            _restart_check(output_dir, run)
            resume = False
    if resume:
        run_file = Path(resume) / RUN_FILE
        if not run_file.is_file():
            raise ValueError(f"{str(resume)!r} is not an hf_geommem checkpoint (no {RUN_FILE})")
        saved = json.loads(run_file.read_text())
        before = saved_config(saved["config"])  # fields added since: what the run meant
        diff = sorted(k for k in set(before) | set(run["config"])
                      if before.get(k) != run["config"].get(k))
        if saved["dataset"] != run["dataset"] or diff:
            what = ["dataset"] if saved["dataset"] != run["dataset"] else []
            raise ValueError(f"checkpoint {str(resume)!r} belongs to another run: it differs in "
                             f"{what + diff}")

    return resume


def _geometry_callbacks(task: TaskData, config: TrainConfig, tok: Any, output_dir: str,
                        resume: Any, callback: GraphEvalCallback) -> list[Any]:
    """Geometry over training (``config.geometry_points``) on a task with a graph."""
    if not (config.geometry_points and task.graph is not None):
        return []
    from .callbacks import GeometryCallback
    from .recording import GeometryRecorder, record_schedule

    if not resume:
        (Path(output_dir) / GEOMETRY_FILE).unlink(missing_ok=True)
    recorder = GeometryRecorder(task.graph, output_dir,
                                record_schedule(config.max_steps, config.geometry_points))
    edges = task["edges"]["train"] if "edges" in task else None
    return [GeometryCallback(recorder, None if edges is None else (
        lambda m: evaluate_edges(m, tok, edges, task.graph.num_nodes, callback.edge_nodes)))]


def train(
    dataset: str | os.PathLike | TaskData,
    output_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    resume_from_checkpoint: str | bool | None = None,
    overwrite: bool = False,
    init_model: str | None = None,
    progress: bool = True,
    callbacks: list[Any] | None = None,
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
        callbacks: extra ``TrainerCallback`` objects (after ours).
        training_args: extra ``TrainingArguments`` fields (e.g. ``ddp_backend="gloo"``).
    """
    from ..files import check_output_dir

    config = config or TrainConfig()
    task = dataset if isinstance(dataset, TaskData) else load_task(dataset)
    _check_task(task, config)
    output_dir = str(output_dir)
    _check_report_to(training_args.get("report_to"))
    if resume_from_checkpoint is None:
        check_output_dir(output_dir, overwrite)
    tok = task.tokenizer
    train_ds, max_len = _training_set(task, config, tok)
    accumulation = training_args.pop("gradient_accumulation_steps", 1)
    config, run = _resolve_run(config, task, train_ds, init_model, accumulation, progress)
    model = _model(config, init_model, tok, max_len, run)
    _check_model_fits(model, tok, max_len)
    resume = _resume_point(resume_from_checkpoint, output_dir, run)
    if config.stop_after_train_exact is not None and "paths" not in task:
        raise ValueError(f"stop_after_train_exact needs path examples; the task has configs "
                         f"{sorted(task.configs)}")
    collator = AnswerOnlyCollator(tok.pad_token_id)
    plan = _planned_memory(model, train_ds, collator, config, accumulation, progress)
    args = _training_arguments(config, plan, output_dir, accumulation, progress, training_args)
    created = not Path(output_dir).exists()
    run_env = _start_run_folder(output_dir, resume, run, dataset, task, args, plan)
    callback = GraphEvalCallback(task, config, tok, collator, output_dir)
    trainer = GraphTrainer(model=model, args=args, train_dataset=train_ds,
                           data_collator=collator, processing_class=tok,
                           output_layer=config.output_layer,
                           embedding_weight_decay=config.embedding_weight_decay,
                           callbacks=[callback, _RunFileCallback(run),
                                      *_geometry_callbacks(task, config, tok, output_dir,
                                                           resume, callback),
                                      *(callbacks or [])])
    if not progress:  # Trainer prints every log dict when its progress bar is off
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    seconds = _run_trainer(trainer, resume, created, output_dir)
    return _finish(trainer, task, tok, output_dir, run_env, plan, seconds, progress)


def _resolve_run(config: TrainConfig, task: TaskData, train_ds: Any, init_model: str | None,
                 accumulation: int, progress: bool) -> tuple[TrainConfig, dict[str, Any]]:
    """The config a run trains with (a copy: ``min_epochs`` applied to this training set, the
    world size and the caller's gradient accumulation; no stopping rule from the recipe on a
    task without paths) and its run-file record."""
    planned = config.max_steps
    config = config.for_training_set(len(train_ds), rank_and_world()[1], accumulation)
    if "paths" not in task and "stop_after_train_exact" in config.recipe_defaults:
        config.stop_after_train_exact = None  # the family's stopping rule needs path examples
    run = {"config": asdict(config), "dataset": _dataset_fingerprint(task),
           "init_model": init_model, "family_recipe": config.recipe_summary()}
    if progress and rank_and_world()[0] == 0:
        print(f"training {config.model}: {config.describe_recipe()}", flush=True)
        if config.max_steps != planned:
            print(f"min_epochs {config.min_epochs:g} on {len(train_ds):,} training examples: "
                  f"{config.max_steps:,} steps instead of {planned:,}", flush=True)
    return config, run


def _planned_memory(model: Any, train_ds: Any, collator: AnswerOnlyCollator,
                    config: TrainConfig, accumulation: int, progress: bool) -> MicroBatchPlan:
    """:func:`_memory_plan` of the run's batch, announced when it splits batches."""
    world = rank_and_world()[1]
    batch = batch_per_device(config.batch_size, len(train_ds), world)
    plan = _memory_plan(model, train_ds, collator, config, batch, world,
                        whole_epoch=config.batch_size is None and accumulation == 1)
    if plan.accumulation_steps > 1 and progress:
        print(f"memory: a step on batches of {batch:,} examples would take about "
              f"{plan.full_batch_gb:.1f} GB, over the budget of {plan.budget_gb:g} GB "
              f"(--memory-budget-gb): running each as {plan.accumulation_steps} micro-batches "
              f"of {plan.micro_batch_size:,} (gradient accumulation, the same update; about "
              f"{plan.estimated_gb:.1f} GB)")
    return plan


def _training_arguments(config: TrainConfig, plan: MicroBatchPlan, output_dir: str,
                        accumulation: int, progress: bool,
                        training_args: dict[str, Any]) -> TrainingArguments:
    """``TrainingArguments`` of a run: the config's optimizer and schedule, the memory plan's
    micro-batches, and the caller's extra fields (which win)."""
    # without CUDA, Trainer only runs DDP (gloo) under accelerate launch when use_cpu is set
    training_args.setdefault("use_cpu", not torch.cuda.is_available())
    training_args.setdefault("report_to", "none")  # e.g. "tensorboard", "wandb" (--report-to)
    return TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=plan.micro_batch_size,
        gradient_accumulation_steps=accumulation * plan.accumulation_steps,
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
        remove_unused_columns=False,
        dataloader_drop_last=False,
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not progress,
        **training_args,
    )


def _start_run_folder(output_dir: str, resume: Any, run: dict[str, Any], dataset: Any,
                      task: TaskData, args: TrainingArguments,
                      plan: MicroBatchPlan) -> dict[str, Any]:
    """Create the run folder, reset (or, on resume, truncate) its metrics, and write the run
    file and ``run_env.json`` (rank 0); returns the environment record."""
    from ..files import write_text_atomic

    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if not resume:
        (Path(output_dir) / METRICS_FILE).unlink(missing_ok=True)
    else:  # drop metrics rows past the checkpoint: the resumed run writes them again
        _truncate_metrics(Path(output_dir) / METRICS_FILE, _checkpoint_step(resume))
    source = str(dataset) if not isinstance(dataset, TaskData) else task.metadata.get("source")
    if source and Path(source).exists():  # absolute: intervene / plot run from anywhere
        source = str(Path(source).resolve())
    run_env = {
        "world_size": args.world_size, "device": str(args.device), "dataset": source,
        "torch": torch.__version__, "num_threads": torch.get_num_threads(),
        **cpu_environment(), "memory_plan": plan.as_dict()}
    if args.process_index == 0:
        (Path(output_dir) / RUN_FILE).write_text(json.dumps(run, indent=2))
        write_text_atomic(Path(output_dir) / RUN_ENV_FILE, json.dumps(run_env, indent=2))
    return run_env


def _run_trainer(trainer: GraphTrainer, resume: Any, created: bool, output_dir: str) -> float:
    """``trainer.train()``; seconds it took. A run that diverges (non-finite loss) in a folder
    it created leaves no folder behind."""
    import time

    t0 = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume or None)
    except NonFiniteLossError:
        if created and trainer.args.process_index == 0:  # the rerun starts clean
            import shutil

            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    return time.perf_counter() - t0


def _finish(trainer: GraphTrainer, task: TaskData, tok: Any, output_dir: str,
            run_env: dict[str, Any], plan: MicroBatchPlan, seconds: float,
            progress: bool) -> TrainResult:
    """Save model, tokenizer and state (rank 0), wait for every rank, record the peak RSS."""
    from ..files import write_text_atomic

    args = trainer.args
    if trainer.is_world_process_zero():
        _set_generation_defaults(trainer.model, task, tok)
        trainer.save_model(output_dir)
        trainer.save_state()
        share_files(output_dir)
    if args.world_size > 1:  # every rank returns once the model is saved
        trainer.accelerator.wait_for_everyone()
        # a script that ends without end_distributed() still tears the group down before exit
        _register_teardown()
    history = [r for r in trainer.state.log_history if "step" in r and any(
        k.startswith(("eval_", "edge_")) for k in r)]
    peak = peak_rss_gb()
    if args.process_index == 0:
        run_env["peak_rss_gb"] = round(peak, 3)
        write_text_atomic(Path(output_dir) / RUN_ENV_FILE, json.dumps(run_env, indent=2))
    if progress:
        print(f"peak memory of this process (RSS): {peak:.2f} GB")
    return TrainResult(output_dir=output_dir, final=history[-1] if history else {},
                       history=history, train_seconds=seconds, model=trainer.model,
                       peak_rss_gb=peak, memory_plan=plan)


def _memory_plan(model: Any, train_ds: Any, collator: AnswerOnlyCollator, config: TrainConfig,
                 batch: int, world: int, whole_epoch: bool) -> MicroBatchPlan:
    """The micro-batch split of ``batch`` under ``config.memory_budget_gb``, from the measured
    cost of the real loss on samples of the training set (:func:`.memory.step_cost`); no probe
    without a budget."""
    lengths = [len(x) for x in column(train_ds, "input_ids")]
    params = [p for p in model.parameters()]
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    per_token, fixed, runtime = 0.0, 0.0, memory.runtime_gb()
    if config.memory_budget_gb is not None:
        def loss_for(idx: list[int]) -> torch.Tensor:
            b = collator([train_ds[i] for i in idx])
            if world > 1:  # DDP runs the padded batch through the model's own loss
                return model(**b).loss
            return batch_loss(model, b, int((b["labels"][:, 1:] != -100).sum()),
                              config.output_layer)

        # train mode (e.g. dropout), which must not shift the run's RNG
        with model_mode(model, training=True), torch.random.fork_rng(devices=[]):
            # half of what the budget leaves for a step's activations; a probe under 256 MB
            # never matters, and bounding it tighter would only blur the fit
            room = (config.memory_budget_gb - runtime) * GB - PARAM_COPIES * param_bytes
            per_token, fixed = step_cost(loss_for, lengths,
                                         {p.untyped_storage().data_ptr() for p in params},
                                         config.seed, max_probe_bytes=max(room / 2, GB / 4))
    return plan_micro_batches(batch, lengths, per_token, fixed, param_bytes,
                              config.memory_budget_gb, whole_epoch, runtime)


def _set_generation_defaults(model: Any, task: TaskData, tok: Any) -> None:
    """Greedy decoding of one whole path as the saved model's default, so that
    ``pipeline("text-generation", model=run)(prompt)`` returns what :func:`evaluate_paths`
    scores (not 256 tokens past the position table)."""
    gc = model.generation_config
    gc.do_sample = False
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = (tok.pad_token_id, tok.eos_token_id,
                                                         tok.bos_token_id)
    if "paths" in task:
        gc.max_new_tokens = max(len(t) for t in column(task["paths"]["test"], "target"))
    else:  # edge memorization: one node per query
        gc.max_new_tokens = 1
    gc.max_length = None


def finish_run(result: TrainResult, task: TaskData, dataset_name: str,
               geometry: dict[str, dict[str, Any]] | None = None) -> None:
    """Write the model card (``README.md``, with ``geometry``:
    :func:`hf_geommem.geometry.geometry_summary` of the trained model) and ``report.md`` +
    ``curves.png`` of a run."""
    from ..cards import write_model_card, write_report

    if result.model is None:
        return
    write_model_card(result.output_dir, result.final, task, dataset_name, result.model,
                     result.train_seconds, geometry)
    cfg = json.loads((Path(result.output_dir) / RUN_FILE).read_text())["config"]
    write_report(result.output_dir, result.history,
                 f"{cfg['model']} on {dataset_name} ({cfg['recipe']} recipe)",
                 [f"Trained {cfg['max_steps']} steps in {result.train_seconds:.0f} s; chance "
                  f"{100 * result.final.get('chance', float('nan')):.2f}%."])


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process: ``RANK`` / ``WORLD_SIZE`` as ``accelerate launch``
    and ``torchrun`` set them; ``(0, 1)`` in a plain process."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


@functools.cache
def _register_teardown() -> None:
    atexit.register(end_distributed, wait=False)


def end_distributed(wait: bool = True) -> None:
    """Tear down the process group that ``accelerate launch`` set up, after a barrier when
    ``wait`` (leave it off on error paths, where a peer may already be gone).

    For the process that owns the run (the CLI) to call last: a gloo group left alive until
    interpreter exit made a rank abort ("terminate called without an active exception") in
    about one launch of six, failing the whole launch. A no-op in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
