"""The configuration of a training run (:class:`TrainConfig`) and the run folder's file
names. Light: importing it loads no torch, transformers or datasets (the CLI parser uses it)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..presets import PRESETS, RECIPE_FIELDS, recipe_for

__all__ = ["TrainConfig", "saved_config", "ADDED_FIELD_MEANINGS", "RUN_FILE",
           "METRICS_FILE", "GEOMETRY_FILE", "FROM_RECIPE", "OUTPUT_LAYERS"]


class _FromRecipe:
    """Marks a :class:`TrainConfig` field the user left unset: it takes the model family's
    recipe value (:data:`hf_geommem.presets.RECIPES`)."""

    _instance = None

    def __new__(cls) -> "_FromRecipe":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FROM_RECIPE"

    def __reduce__(self) -> str:
        return "FROM_RECIPE"


FROM_RECIPE: Any = _FromRecipe()
"""Default of the recipe fields of :class:`TrainConfig`
(:data:`hf_geommem.presets.RECIPE_FIELDS`): "use the family recipe"."""


RUN_FILE = "geommem_run.json"


METRICS_FILE = "metrics.jsonl"


GEOMETRY_FILE = "geometry.jsonl"
"""Geometry over training (:class:`~hf_geommem.training.recording.GeometryRecorder`)."""


ADDED_FIELD_MEANINGS: dict[str, Any] = {"min_epochs": None, "embedding_weight_decay": None}
"""What a :class:`TrainConfig` field added later meant in run files written before it (no
epoch floor; token embeddings decayed like every other weight); other missing fields count as
their default. See :func:`saved_config`."""


def saved_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run file's ``config`` with every field it lacks filled in as the run meant it, so a
    checkpoint written before a field existed still resumes with the settings it ran."""
    return {**asdict(TrainConfig()), **ADDED_FIELD_MEANINGS, **config}


OUTPUT_LAYERS = ("chunked", "plain")
"""How the LM head and the cross-entropy run (:attr:`TrainConfig.output_layer`): ``chunked``
(:func:`hf_geommem.training.output_layer.linear_cross_entropy`, one chunk of logits at a time)
or ``plain`` (the head's ``nn.Linear`` on every supervised position at once, then
``model.loss_function``)."""


def _flag(default: Any, help: str | None = None, **cli: Any) -> Any:
    """A field the ``train`` command exposes as ``--<name>`` (``flag``: another name), with
    its help and argparse extras (``choices``, ``metavar``); ``hf_geommem.cli.train`` derives
    the flags from these, so a new field needs no CLI edit."""
    return field(default=default, metadata={"cli": {"help": help, **cli}})


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``geommem_run.json``).

    Args:
        model: a preset of :data:`hf_geommem.modeling.PRESETS`.
        recipe: ``"mixed"``, ``"staged"`` or ``"edges"``.
        path_loss: ``"dataset"`` (the dataset's ``loss_mask``), ``"full"`` or ``"first_token"``.
        stage1_steps: ``staged`` only: edge-only steps before the path phase (default half).
        learning_rate, weight_decay, warmup_ratio, lr_scheduler: AdamW and its schedule.
        embedding_weight_decay: ``None`` (every decayed weight at ``weight_decay``), or the
            AdamW weight decay of the token embeddings (input and output, tied or not), with
            ``weight_decay`` then applying to the other weights. Biases and norms are never
            decayed (:func:`~hf_geommem.training.trainer.no_decay_parameter_names`).
        max_steps: optimizer steps (at least: ``min_epochs`` may ask for more).
        min_epochs: ``None``, or the fewest passes over the training set: a run takes
            ``max(max_steps, ceil(min_epochs * steps per epoch))`` steps (:meth:`train_steps`),
            so a bigger graph gets as many epochs as a small one instead of fewer. The run
            file records the steps taken as ``max_steps``. A ``max_steps`` you pass without
            ``min_epochs`` is taken as is (the recipe's floor then does not apply:
            ``min_epochs`` becomes ``None``).
        batch_size: examples per device and step; ``None`` is full batch (the whole train set).
        eval_steps: evaluate every this many steps (and at step 0 and the last step).

        The fields of :data:`hf_geommem.presets.RECIPE_FIELDS` (the nine above,
        ``stop_after_train_exact`` and ``path_repeats``) default to the model family's recipe
        (:data:`hf_geommem.presets.RECIPES`, e.g. ``TrainConfig(model="llama-small")`` gets
        Llama's): a value you pass wins. ``recipe_defaults`` (not a field) names the
        fields that came from the recipe. ``dataclasses.replace`` keeps resolved values, so
        build a new config to switch families.
        eval_batch_size: prompts per ``generate`` call.
        eval_max_test_arms / eval_max_train_arms / eval_max_edge_nodes: caps on evaluated
            examples (``None``: all test arms); sampled with the run seed.
        save_steps: checkpoint every this many steps (``None``: only the final model).
        geometry_points: record node embeddings and geometry metrics at about this many steps
            (log-spaced) into ``geometry.jsonl`` / ``geometry/`` (``None``: off).
        freeze_embeddings, tie_embeddings, embedding_init_std: model switches.
        path_repeats: copies of each path example per epoch in the ``mixed`` and ``staged``
            recipes (a path-star arm gives 2(l-1) edge examples but 0.75 path examples, so
            path examples are under 10% of a plain mix); 1 is the plain mix.
        stop_after_train_exact: stop once the *training* paths' exact-path accuracy has been
            100% at this many consecutive evaluations (a stopping rule that never looks at the
            held-out split; ``None``: run all ``max_steps``). Under several processes rank 0
            evaluates and every rank stops with it.
        seed: seed of init, data order and evaluation samples.
        output_layer: ``"chunked"`` (default: the LM head and cross-entropy run over chunks of
            the supervised positions, so their logits never all exist at once) or ``"plain"``
            (all at once; same loss and gradients, for comparison).
        memory_budget_gb: the most memory (GB = 2**30 bytes) a training step may take; a batch
            whose estimated step would exceed it runs as micro-batches with gradient
            accumulation (the same update), and a run that cannot fit even one example per
            micro-batch is refused before training. ``None``: no budget (one pass per batch).
    """

    model: str = "gpt2-small"
    recipe: str = _flag("mixed", choices=("mixed", "staged", "edges"))
    path_loss: str = _flag("dataset", choices=("dataset", "full", "first_token"))
    stage1_steps: int | None = _flag(None, "staged: edge-only steps (default half)")
    learning_rate: float = _flag(FROM_RECIPE, "peak learning rate", flag="lr")
    weight_decay: float = _flag(FROM_RECIPE, "AdamW weight decay (of every weight but the "
                                             "token embeddings when --embedding-weight-decay "
                                             "is given)")
    embedding_weight_decay: float | None = _flag(
        FROM_RECIPE, "AdamW weight decay of the token embeddings (input and output), or 'none' "
                     "(decayed at --weight-decay like the other weights)")
    warmup_ratio: float = _flag(FROM_RECIPE, "warmup fraction of the steps")
    lr_scheduler: str = _flag(FROM_RECIPE, "transformers scheduler name: constant, cosine, "
                                           "linear, ...")
    max_steps: int = _flag(FROM_RECIPE, "optimizer steps (at least; see --min-epochs)")
    min_epochs: float | None = _flag(FROM_RECIPE, "train at least this many epochs (raises "
                                                  "--max-steps on big training sets), or none")
    batch_size: int | None = _flag(FROM_RECIPE, "examples per device and step, or 'full' "
                                                "(whole train set)")
    eval_steps: int = _flag(FROM_RECIPE, "evaluate every N steps")
    eval_batch_size: int = 1024
    eval_max_test_arms: int | None = _flag(None)
    eval_max_train_arms: int = 256
    eval_max_edge_nodes: int = 2048
    save_steps: int | None = _flag(None, "checkpoint every N steps")
    geometry_points: int | None = _flag(None, "record embeddings + geometry at ~N log-spaced "
                                              "steps (hf-geommem plot)")
    freeze_embeddings: bool = _flag(False, "associative control: token embeddings are not "
                                           "trained")
    tie_embeddings: bool = _flag(True, "separate unembedding", flag="untied")
    embedding_init_std: float | None = _flag(None, "token-embedding init std (1.0: the "
                                                   "'non-geometric' init)")
    stop_after_train_exact: int | None = _flag(
        FROM_RECIPE, "stop once train exact-path accuracy has been 100%% at K consecutive "
                     "evaluations (uses training data only)", metavar="K")
    path_repeats: int = _flag(FROM_RECIPE, "copies of each path example per epoch (mixed, "
                                           "staged)")
    seed: int = _flag(0)
    output_layer: str = _flag("chunked", "LM head + cross-entropy in chunks of positions "
                                         "(bounded memory) or all logits at once",
                              choices=OUTPUT_LAYERS)
    memory_budget_gb: float | None = _flag(
        4.0, "most memory a training step may take: a larger batch runs as micro-batches with "
             "gradient accumulation (the same update); 'none': no budget (default: "
             "%(default)s)")

    def __post_init__(self) -> None:
        if self.model not in PRESETS:
            raise ValueError(f"unknown model preset {self.model!r}; expected one of "
                             f"{sorted(PRESETS)}")
        recipe = recipe_for(self.model)
        # not a dataclass field: asdict() (the run file, resume checks) sees resolved values only
        self.recipe_defaults = tuple(n for n in RECIPE_FIELDS if getattr(self, n) is FROM_RECIPE)
        for name in self.recipe_defaults:
            setattr(self, name, getattr(recipe, name))
        if "min_epochs" in self.recipe_defaults and "max_steps" not in self.recipe_defaults:
            # a step count you give is the step count: the recipe's epoch floor does not raise it
            self.min_epochs = None
            self.recipe_defaults = tuple(n for n in self.recipe_defaults if n != "min_epochs")
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
        if self.embedding_weight_decay is not None and not (
                math.isfinite(self.embedding_weight_decay) and self.embedding_weight_decay >= 0):
            raise ValueError(f"embedding_weight_decay must be a finite number >= 0 or None, got "
                             f"{self.embedding_weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1) (a fraction of max_steps), got "
                             f"{self.warmup_ratio}")
        for name in ("embedding_init_std", "memory_budget_gb"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0 or None, got {value}")
        if self.geometry_points is not None and self.geometry_points < 2:
            raise ValueError(f"geometry_points must be >= 2 or None, got {self.geometry_points}")
        for name in ("eval_max_test_arms", "eval_max_train_arms", "eval_max_edge_nodes",
                     "save_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if isinstance(self.path_repeats, bool) or not isinstance(self.path_repeats, int) \
                or self.path_repeats < 1:
            raise ValueError(f"path_repeats must be an integer >= 1, got {self.path_repeats!r}")
        if self.min_epochs is not None and not (
                isinstance(self.min_epochs, numbers.Real) and not isinstance(self.min_epochs, bool)
                and math.isfinite(self.min_epochs) and self.min_epochs > 0):
            raise ValueError(f"min_epochs must be a finite number > 0 or None, got "
                             f"{self.min_epochs!r}")
        if self.stop_after_train_exact is not None and self.stop_after_train_exact < 1:
            raise ValueError(f"stop_after_train_exact must be >= 1 or None, got "
                             f"{self.stop_after_train_exact}")
        if self.stage1_steps is not None and not 0 < self.stage1_steps < self.max_steps:
            raise ValueError(f"stage1_steps must be in 1..max_steps-1 = {self.max_steps - 1}, "
                             f"got {self.stage1_steps}")
        if self.output_layer not in OUTPUT_LAYERS:
            raise ValueError(f"output_layer must be one of {list(OUTPUT_LAYERS)}, got "
                             f"{self.output_layer!r}")

    def steps_per_epoch(self, num_examples: int, world_size: int = 1,
                        accumulation: int = 1) -> float:
        """Optimizer steps in one pass over ``num_examples`` training examples, as the
        Trainer's dataloader makes them: each of ``world_size`` processes takes
        ``ceil(num_examples / world_size)`` examples in batches of ``batch_size`` (the last one
        partial; full batch: one batch), and ``accumulation`` batches make a step (so a step
        may span several epochs: the result can be a fraction)."""
        for name, value in (("num_examples", num_examples), ("world_size", world_size),
                            ("accumulation", accumulation)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        per_rank = math.ceil(num_examples / world_size)
        batches = 1 if self.batch_size is None else math.ceil(per_rank / self.batch_size)
        return batches / accumulation

    def train_steps(self, num_examples: int, world_size: int = 1, accumulation: int = 1) -> int:
        """Optimizer steps of a run on ``num_examples`` training examples: ``max_steps``,
        raised to ``ceil(min_epochs * steps_per_epoch)`` when ``min_epochs`` is set
        (:meth:`steps_per_epoch`; the Trainer's epoch counter then reads >= ``min_epochs``)."""
        per_epoch = self.steps_per_epoch(num_examples, world_size, accumulation)
        if self.min_epochs is None:
            return self.max_steps
        return max(self.max_steps, math.ceil(self.min_epochs * per_epoch - 1e-9))

    def for_training_set(self, num_examples: int, world_size: int = 1,
                         accumulation: int = 1) -> "TrainConfig":
        """A copy of this config with ``max_steps`` = :meth:`train_steps` (what a run records
        and schedules with); ``recipe_defaults`` is kept."""
        resolved = replace(self, max_steps=self.train_steps(num_examples, world_size,
                                                            accumulation))
        resolved.recipe_defaults = self.recipe_defaults
        return resolved

    @property
    def family(self) -> str:
        """The model family (``gpt2``, ``llama``, ``mamba``, ``linear``): whose recipe applies."""
        return PRESETS[self.model].arch

    def recipe_summary(self) -> dict[str, Any]:
        """What the run file and card record: the family, the recipe's values, and which
        fields the user overrode (name -> value used)."""
        recipe = recipe_for(self.model)
        return {"family": self.family, "recipe": recipe.fields(),
                "overridden": {n: getattr(self, n) for n in RECIPE_FIELDS
                               if n not in self.recipe_defaults}}

    def describe_recipe(self) -> str:
        """One line for the start of a run: the family recipe and what overrides it."""
        over = ", ".join(f"{n}={getattr(self, n)!r}" for n in RECIPE_FIELDS
                         if n not in self.recipe_defaults)
        return (f"{self.family} recipe: {recipe_for(self.model).describe()}"
                + (f"; overridden: {over}" if over else ""))

    @property
    def edge_phase_steps(self) -> int:
        return self.stage1_steps if self.stage1_steps is not None else self.max_steps // 2
