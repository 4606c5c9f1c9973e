"""``GraphTrainer``: Trainer with a length-grouped forward and the LM head on answer positions
only, through transformers' own loss function."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

__all__ = ["answer_head_loss", "NonFiniteLossError", "GraphTrainer"]


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

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for cb in self.callback_handler.callbacks:  # our callbacks log through the Trainer
            if hasattr(cb, "attach"):
                cb.attach(self)

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
