"""Models for graph memory: named GPT-2 / Llama / Mamba presets and the tiny linear network.

Presets (science.md section 3) are built from transformers configs, so every model saves, loads,
generates and trains like any causal LM of the Hub:

==================  ======  =====  =====  ===============================================
preset              layers  width  heads  notes
==================  ======  =====  =====  ===============================================
gpt2-mid            12      384    8      the paper's GPT-mid (pre-LN, GELU 4x, tied, no dropout)
gpt2-mid-784        12      784    8      its width-784 variant (G(10^4,10))
llama-mid(-784)     12      384    8      Llama equivalents (SwiGLU, RMSNorm, RoPE)
mamba-mid(-784)     12      384    -      MambaForCausalLM, d_state 16, d_conv 4, expand 2
gpt2-small          2       128    4      CPU scale (G(300,5) in minutes)
llama-small         2       128    4
mamba-small         2       128    -
gpt2-tiny           1       32     1      tiny-graph studies
llama-tiny          1       32     1
mamba-tiny          1       32     -
linear-tiny         -       32     -      tied E, one D x D map W: logits = E W E^T
==================  ======  =====  =====  ===============================================

Switches for every preset: ``freeze_embeddings`` (the associative control), ``tie_embeddings``,
and ``embedding_init_std`` (1.0 gives the paper's "non-geometric" N(0, 1) initialization instead
of N(0, 0.02)).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    MambaConfig,
    PretrainedConfig,
    PreTrainedModel,
)

__all__ = [
    "ModelPreset",
    "PRESETS",
    "LinearMemoryConfig",
    "LinearMemoryForCausalLM",
    "build_model",
    "load_causal_lm",
    "node_embeddings",
    "model_mode",
]


from .linear_memory import LinearMemoryConfig, LinearMemoryForCausalLM  # noqa: E402
from .tokenization import NUM_SPECIAL_TOKENS  # noqa: E402
from .presets import PRESETS, ModelPreset  # noqa: E402,F401  (re-exported)


def _config_for(preset: ModelPreset, vocab_size: int, max_positions: int,
                special: dict[str, int], tie: bool, init_std: float) -> PretrainedConfig:
    common = dict(vocab_size=vocab_size, tie_word_embeddings=tie, **special)
    if preset.arch == "gpt2":
        return GPT2Config(n_positions=max_positions, n_embd=preset.width,
                          n_layer=preset.num_layers, n_head=preset.num_heads,
                          resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                          # GPT-2's tanh GELU as one fused op: "gelu_new" is the same formula
                          # in eager Python ops (values agree to ~2e-7; an in-context training
                          # step is ~1.5x faster, benchmarks/bench_activation.py)
                          activation_function="gelu_pytorch_tanh",
                          initializer_range=init_std, **common)
    if preset.arch == "llama":
        return LlamaConfig(hidden_size=preset.width, intermediate_size=4 * preset.width,
                           num_hidden_layers=preset.num_layers,
                           num_attention_heads=preset.num_heads,
                           num_key_value_heads=preset.num_heads,
                           max_position_embeddings=max_positions, initializer_range=init_std,
                           attention_dropout=0.0, **common)
    if preset.arch == "mamba":
        return MambaConfig(hidden_size=preset.width, num_hidden_layers=preset.num_layers,
                           state_size=16, conv_kernel=4, expand=2,
                           initializer_range=init_std, use_mambapy=False, **common)
    return LinearMemoryConfig(hidden_size=preset.width, initializer_range=init_std, **common)


def build_model(
    preset: str,
    vocab_size: int,
    max_positions: int = 64,
    *,
    pad_token_id: int = 0,
    bos_token_id: int = 2,
    eos_token_id: int = 3,
    tie_embeddings: bool = True,
    freeze_embeddings: bool = False,
    embedding_init_std: float | None = None,
    dropout: float = 0.0,
    seed: int = 0,
) -> PreTrainedModel:
    """A freshly initialized causal LM of a named preset.

    Args:
        preset: a key of :data:`PRESETS`.
        vocab_size: tokenizer size (special tokens + nodes).
        max_positions: longest sequence (GPT-2/Llama position table).
        tie_embeddings: share input embedding and unembedding (the paper's default).
        freeze_embeddings: ``requires_grad=False`` on the token embedding (and the tied
            unembedding): the associative control.
        embedding_init_std: std of the token-embedding init (default: the model's 0.02;
            1.0 is the paper's "non-geometric" init).
        dropout: linear network only (the other presets have dropout 0, as in the paper).
        seed: torch seed for the initialization.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; expected one of {sorted(PRESETS)}")
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    p = PRESETS[preset]
    special = dict(pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                   eos_token_id=eos_token_id)
    config = _config_for(p, vocab_size, max_positions, special, tie_embeddings, 0.02)
    if p.arch == "linear":
        config.dropout = dropout
    elif dropout:
        raise ValueError(f"dropout is a knob of the linear network; preset {preset!r} uses 0")
    config.geommem_preset = preset
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    emb = model.get_input_embeddings()
    if embedding_init_std is not None:
        if embedding_init_std <= 0:
            raise ValueError(f"embedding_init_std must be > 0, got {embedding_init_std}")
        with torch.no_grad():
            emb.weight.normal_(0.0, embedding_init_std)
        config.geommem_embedding_init_std = embedding_init_std
    if freeze_embeddings:  # untied: the separate unembedding stays trainable
        emb.weight.requires_grad_(False)
    config.geommem_freeze_embeddings = freeze_embeddings
    _prepare(model)
    return model


def _prepare(model: PreTrainedModel) -> PreTrainedModel:
    """Mamba models get the CPU selective scan without the quadratic backward (same values)."""
    if getattr(model.config, "model_type", None) == "mamba":
        from .mamba_scan import use_fast_cpu_scan

        use_fast_cpu_scan()
    return model


def load_causal_lm(source: Any, **kwargs: Any) -> PreTrainedModel:
    """The one loader of a saved causal LM (a run folder, a checkpoint, ``--init-model``, a Hub
    id, a pretrained checkpoint of the pack test), returned in eval mode: a missing, truncated
    or corrupt ``config.json`` / weights file becomes one ``ValueError`` naming the model and
    what is wrong, not a deep loader traceback."""
    from safetensors import SafetensorError

    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs).eval()
    except (OSError, ValueError, SafetensorError) as exc:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load the model in {str(source)!r}: {what} (a damaged or "
                         f"incomplete model folder: retrain it or restore its files)") from None
    return _prepare(model)


def node_embeddings(model: Any, num_nodes: int | None = None) -> np.ndarray:
    """``(num_nodes, D)`` float32 input embeddings of the node tokens of one of our models (node
    ``v`` is token ``NUM_SPECIAL_TOKENS + v``)."""
    E = model.get_input_embeddings().weight.detach().float().cpu().numpy()
    n = E.shape[0] - NUM_SPECIAL_TOKENS if num_nodes is None else num_nodes
    if n < 1 or NUM_SPECIAL_TOKENS + n > E.shape[0]:
        raise ValueError(f"the model's embedding has {E.shape[0]} rows: it cannot hold "
                         f"{num_nodes} node tokens after {NUM_SPECIAL_TOKENS} special tokens")
    return E[NUM_SPECIAL_TOKENS:NUM_SPECIAL_TOKENS + n]


@contextlib.contextmanager
def model_mode(model: Any, training: bool = False) -> Iterator[Any]:
    """``model`` in eval mode (train mode with ``training=True``) inside the block; its own
    mode is restored on exit, also on error."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)
