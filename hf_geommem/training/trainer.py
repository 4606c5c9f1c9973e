"""``GraphTrainer``: Trainer with a length-grouped forward and the LM head on answer positions
only, chunked (:mod:`.output_layer`) or through transformers' own loss function."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from .config import OUTPUT_LAYERS
from .output_layer import linear_cross_entropy

__all__ = ["answer_head_loss", "batch_loss", "head_loss", "supervised_hidden_states",
           "no_decay_parameter_names", "token_embedding_parameters", "NonFiniteLossError",
           "GraphTrainer"]

# state-space parameters that the reference Mamba implementation marks ``_no_weight_decay``:
# decaying A_log pulls every channel's timescale to the same value, decaying D removes the skip
_SSM_NO_DECAY = ("A_log", "D")


def _check_output_layer(output_layer: str) -> None:
    if output_layer not in OUTPUT_LAYERS:
        raise ValueError(f"output_layer must be one of {list(OUTPUT_LAYERS)}, got "
                         f"{output_layer!r}")


def _has_separate_head(model: Any) -> bool:
    return model.get_output_embeddings() is not None and model.base_model is not model


def supervised_hidden_states(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                             labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone's last hidden states at the positions whose next token carries a label.

    The backbone is ``model.base_model`` (GPT-2's ``transformer``, Llama's ``model``, Mamba's
    ``backbone``; each ends with its final norm). Returns ``(hidden, targets)``: ``(N, D)``
    hidden states and the ``(N,)`` token ids they must predict (labels shifted by one, as in any
    causal LM), for the ``N`` positions where ``labels[:, 1:] != -100``."""
    target = labels[:, 1:]
    keep = target != -100
    hidden = model.base_model(input_ids=input_ids,
                              attention_mask=attention_mask).last_hidden_state
    return hidden[:, :-1][keep], target[keep]


def head_loss(model: Any, hidden: torch.Tensor, targets: torch.Tensor,
              num_items: torch.Tensor | int, output_layer: str = "chunked") -> torch.Tensor:
    """The summed cross-entropy of ``model``'s LM head on ``hidden`` against ``targets``,
    divided by ``num_items``; ``output_layer`` is one of :data:`OUTPUT_LAYERS` (same loss and
    gradients to float rounding, different peak memory)."""
    _check_output_layer(output_layer)
    head = model.get_output_embeddings()
    if output_layer == "chunked":
        return linear_cross_entropy(hidden, head.weight, targets, head.bias) / num_items
    logits = head(hidden)
    return model.loss_function(logits=logits, labels=None, vocab_size=logits.shape[-1],
                               num_items_in_batch=num_items, shift_labels=targets)


def answer_head_loss(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     labels: torch.Tensor, num_items: torch.Tensor | int,
                     output_layer: str = "chunked") -> torch.Tensor:
    """Causal-LM loss that runs the LM head only on the positions that carry a label.

    The backbone runs on every position (:func:`supervised_hidden_states`); the unembedding
    and softmax, a large share of a small model's compute with vocabularies of ``n`` nodes, run
    only where ``labels`` (shifted by one) are not -100 (:func:`head_loss`). The loss is summed
    and divided by ``num_items`` (the supervised tokens of the whole, possibly accumulated,
    batch), so it equals the full-head loss. Models without a separate backbone and head fall
    back to the full forward and transformers' ``model.loss_function``.
    """
    _check_output_layer(output_layer)
    if not _has_separate_head(model):
        target = labels[:, 1:]
        keep = target != -100
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        return model.loss_function(logits=logits, labels=None, vocab_size=logits.shape[-1],
                                   num_items_in_batch=num_items, shift_labels=target[keep])
    hidden, targets = supervised_hidden_states(model, input_ids, attention_mask, labels)
    return head_loss(model, hidden, targets, num_items, output_layer)


def batch_loss(model: Any, inputs: dict[str, torch.Tensor], num_items: torch.Tensor | int,
               output_layer: str = "chunked") -> torch.Tensor:
    """The loss of a right-padded batch (``input_ids``, ``attention_mask``, ``labels``), run as
    one backbone forward per distinct length (rows trimmed to it) and one head call over the
    supervised positions of all of them; summed and divided by ``num_items``. A batch with no
    supervised token gives a zero that still reaches every trainable weight."""
    labels = inputs["labels"]
    if not (labels != -100).any():
        return sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
    lengths = inputs["attention_mask"].sum(dim=1)
    groups = []
    for length in torch.unique(lengths).tolist():
        rows = lengths == length
        lab = labels[rows, :length]
        if (lab[:, 1:] != -100).any():
            groups.append((inputs["input_ids"][rows, :length],
                           inputs["attention_mask"][rows, :length], lab))
    if not _has_separate_head(model):
        return sum(answer_head_loss(model, *g, num_items) for g in groups)
    parts = [supervised_hidden_states(model, *g) for g in groups]
    return head_loss(model, torch.cat([h for h, _ in parts]), torch.cat([t for _, t in parts]),
                     num_items, output_layer)


def no_decay_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names of the parameters that weight decay must leave alone: every bias, every weight of
    a normalization layer (any module whose class name ends in ``Norm``, e.g. GPT-2's
    ``LayerNorm``, Llama's ``LlamaRMSNorm``, Mamba's ``MambaRMSNorm`` incl. its final
    ``norm_f``), Mamba's ``A_log`` and ``D``, and any parameter flagged ``_no_weight_decay``.

    transformers' ``Trainer`` excludes biases and norms by *name* pattern, which misses Mamba's
    ``norm_f`` and its state-space parameters: under weight decay 1.0 those shrink towards 0
    during training (the final norm's gain, and every channel's decay rate A = -exp(A_log)
    towards the same -1)."""
    names = set()
    for module_name, module in model.named_modules():
        is_norm = type(module).__name__.endswith("Norm")
        for name, param in module.named_parameters(recurse=False):
            if (is_norm or name == "bias" or name in _SSM_NO_DECAY
                    or getattr(param, "_no_weight_decay", False)):
                names.add(f"{module_name}.{name}" if module_name else name)
    return names


def token_embedding_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The token-embedding matrices of ``model``: its input embedding and, when untied, its
    output embedding (unembedding); a tied pair counts once. Empty when the model exposes
    neither (``get_input_embeddings`` / ``get_output_embeddings``)."""
    out: list[torch.nn.Parameter] = []
    for getter in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, getter, lambda: None)()
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.nn.Parameter) and all(weight is not p for p in out):
            out.append(weight)
    return out


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite (e.g. a learning rate far too large)."""


class GraphTrainer(Trainer):
    """``Trainer`` with its loss computed by :func:`batch_loss`:

    * length-grouped forward: a batch mixing 3-token edge examples with longer path examples is
      run as one forward per distinct length (rows trimmed to their length). With right padding
      and causal attention this gives exactly the padded batch's loss while skipping the padding
      (2.3x less compute on G(300,5)). Under DDP the padded batch goes through the wrapped
      model's own forward and loss (its gradient hooks must see one forward per step).
    * the LM head runs only on supervised positions (one token in three of an edge example),
      once per batch over every length group, and by default in chunks of positions
      (``output_layer="chunked"``; ``"plain"`` holds all their logits at once).
    * a batch with no supervised token (possible in the staged recipe with mini-batches) has
      loss 0 instead of NaN.
    """

    def __init__(self, *args: Any, output_layer: str = "chunked",
                 embedding_weight_decay: float | None = None, **kwargs: Any):
        _check_output_layer(output_layer)
        self.output_layer = output_layer
        self.embedding_weight_decay = embedding_weight_decay
        super().__init__(*args, **kwargs)
        for cb in self.callback_handler.callbacks:  # our callbacks log through the Trainer
            if hasattr(cb, "attach"):
                cb.attach(self)

    def get_decay_parameter_names(self, model: torch.nn.Module) -> list[str]:
        """Trainer's decayed parameters less :func:`no_decay_parameter_names` (for GPT-2 and
        Llama the same list; for Mamba without ``norm_f``, ``A_log`` and ``D``)."""
        keep = no_decay_parameter_names(model)
        return [n for n in super().get_decay_parameter_names(model) if n not in keep]

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """Trainer's AdamW groups (decayed / not decayed); with ``embedding_weight_decay`` set,
        the trainable token embeddings (:func:`token_embedding_parameters`) leave them for a
        group of their own with that weight decay (the schedule, created after, covers it)."""
        built = self.optimizer is not None  # Trainer returns an existing optimizer as is
        optimizer = super().create_optimizer(model)
        if built or self.embedding_weight_decay is None:
            return optimizer
        emb = [p for p in token_embedding_parameters(self.model if model is None else model)
               if p.requires_grad]
        if emb:
            moved = {id(p) for p in emb}
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in moved]
            optimizer.add_param_group({"params": emb,
                                       "weight_decay": self.embedding_weight_decay})
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        if return_outputs or self.args.world_size > 1:
            # DDP: the wrapped model's own forward (its gradient hooks) on the padded batch
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        num_items = num_items_in_batch if num_items_in_batch is not None else \
            (labels[:, 1:] != -100).sum()
        total = batch_loss(model, inputs, num_items, self.output_layer)
        if num_items_in_batch is not None and not self.model_accepts_loss_kwargs:
            total = total * self.current_gradient_accumulation_steps  # Trainer divides by it
        if not torch.isfinite(total):
            raise NonFiniteLossError(
                f"the training loss became {float(total.detach())} at step {self.state.global_step + 1}"
                f" (learning rate {self.args.learning_rate:g}): training stopped, no weights "
                f"were saved; lower the learning rate or check the data")
        return total
