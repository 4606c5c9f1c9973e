"""The no-attention "neural network" of the paper's tiny studies: tied embedding ``E``, one
``D x D`` map ``W``, tied unembedding, so ``logits = E W E^T`` (science.md section 3).

Self-contained on purpose (it imports nothing from hf_geommem): ``save_pretrained`` copies this
file into the model folder with an ``auto_map``, so
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)`` works without
hf_geommem, as custom architectures ship on the Hub.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import CausalLMOutputWithPast

__all__ = ["LinearMemoryConfig", "LinearMemoryForCausalLM"]


class LinearMemoryConfig(PretrainedConfig):
    """Config of the no-attention "neural network" of the tiny studies.

    Args:
        vocab_size: tokens (special tokens + nodes).
        hidden_size: embedding width ``D``.
        initializer_range: std of the N(0, std) init of ``E`` and ``W``.
        dropout: dropout on the embedding before ``W`` (a knob of the paper's study).
        tie_word_embeddings: unembed with ``E`` (logits ``E W E^T``); else a separate table.
    """

    model_type = "geommem_linear"

    def __init__(self, vocab_size: int = 64, hidden_size: int = 32,
                 initializer_range: float = 0.02, dropout: float = 0.0,
                 tie_word_embeddings: bool = True, pad_token_id: int | None = 0,
                 bos_token_id: int | None = 2, eos_token_id: int | None = 3, **kwargs: Any):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.dropout = dropout
        self.tie_word_embeddings = tie_word_embeddings
        self.num_hidden_layers = 1  # one linear map; generation utilities expect the field
        self.use_cache = False
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                         eos_token_id=eos_token_id, **kwargs)


class LinearMemoryForCausalLM(PreTrainedModel, GenerationMixin):
    """Logits at position t depend on token t only: ``logits_t = (W e_{x_t}) . E^T``.

    Shapes: ``input_ids`` (B, T) -> ``logits`` (B, T, vocab_size). ``embed_tokens.weight`` is
    ``E`` (vocab_size, D), ``linear.weight`` is ``W`` (D, D).
    """

    config_class = LinearMemoryConfig
    base_model_prefix = "linear_memory"
    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}
    _supports_cache_class = False

    def __init__(self, config: LinearMemoryConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, **kwargs: Any):
        # no cache: each position only needs its own token, so feed the last one
        return {"input_ids": input_ids[:, -1:]}

    def forward(self, input_ids: torch.LongTensor | None = None,
                attention_mask: torch.Tensor | None = None,
                labels: torch.LongTensor | None = None,
                inputs_embeds: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, **kwargs: Any,
                ) -> CausalLMOutputWithPast:
        emb = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        hidden = self.linear(self.dropout(emb))
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:  # transformers' ForCausalLMLoss: honours num_items_in_batch
            loss = self.loss_function(logits=logits, labels=labels,
                                      vocab_size=logits.shape[-1], **kwargs)
        hidden_states = (emb, hidden) if output_hidden_states else None
        return CausalLMOutputWithPast(loss=loss, logits=logits, hidden_states=hidden_states)


# `save_pretrained` then writes `auto_map` and copies this file next to the weights, so a saved
# model loads with `trust_remote_code=True` where hf_geommem is not installed; inside hf_geommem
# the Auto classes know it directly
LinearMemoryConfig.register_for_auto_class()
LinearMemoryForCausalLM.register_for_auto_class("AutoModelForCausalLM")
AutoConfig.register(LinearMemoryConfig.model_type, LinearMemoryConfig)
AutoModelForCausalLM.register(LinearMemoryConfig, LinearMemoryForCausalLM)
