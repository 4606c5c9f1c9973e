"""Where to intervene: sites (the input embedding, or the output of a decoder block), forward
hooks that patch a site (:func:`patch_site`), and the node representations there
(:func:`node_representations`).

``layer=0`` is the output of the input-embedding module (the token embedding, before any
position embedding is added); ``layer=L`` (``1 <= L <= num_layers``) is the output of decoder
block ``L``. On a path prompt ``[PATH] leaf [PAUSE]...`` the patched position is the leaf's
(position 1); a causal model's state there depends only on ``[PATH] leaf``, so the
representation of node ``v`` at a site is taken from the two-token input ``[PATH] v`` (at
``layer=0`` it is the embedding row of ``v``).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..checks import check_int
from ..modeling import model_mode, node_embeddings
from ..tokenization import NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_IDS

__all__ = ["num_layers", "site_module", "patch_site", "node_representations", "Edit"]

PATH_ID = SPECIAL_TOKEN_IDS["[PATH]"]

Edit = Callable[[torch.Tensor, "torch.Tensor | None"], "torch.Tensor | None"]


def _decoder_blocks(model: Any) -> torch.nn.ModuleList | None:
    n = getattr(model.config, "num_hidden_layers", None)
    if not n:
        return None
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    return None


def num_layers(model: Any) -> int:
    """Decoder blocks of a ``transformers`` causal LM (the ``nn.ModuleList`` of
    ``config.num_hidden_layers`` modules); 0 when it has none (e.g. the linear network)."""
    blocks = _decoder_blocks(model)
    return 0 if blocks is None else len(blocks)


def site_module(model: Any, layer: int) -> torch.nn.Module:
    """The module whose output is the site ``layer``: the input embedding for 0, decoder block
    ``layer`` (1-based) otherwise."""
    n = num_layers(model)
    check_int("layer", layer, 0, n, f" for this model ({n} decoder blocks)")
    if layer == 0:
        return model.get_input_embeddings()
    return _decoder_blocks(model)[int(layer) - 1]


@contextlib.contextmanager
def patch_site(model: Any, layer: int, edit: Edit) -> Iterator[None]:
    """Apply ``edit`` to the output of site ``layer`` on every forward inside the block.

    ``edit(hidden, input_ids)`` gets the site's hidden states ``(B, T, D)`` and the token ids
    ``(B, T)`` of the same forward (captured by a pre-hook on the input embedding; ``None`` when
    the model was given ``inputs_embeds``) and returns the new hidden states (same shape) or
    ``None`` to leave them. Works with ``generate`` and its KV cache (later steps see
    ``T == 1``). Hooks are removed on exit, also on error.
    """
    site = site_module(model, layer)
    state: dict[str, torch.Tensor | None] = {"ids": None}

    def pre(module, args, kwargs):
        ids = args[0] if args else kwargs.get("input", kwargs.get("input_ids"))
        state["ids"] = ids if isinstance(ids, torch.Tensor) else None

    def post(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        new = edit(h, state["ids"])
        if new is None:
            return None
        return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

    handles = [model.get_input_embeddings().register_forward_pre_hook(pre, with_kwargs=True),
               site.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def source_rows(h: torch.Tensor, ids: torch.Tensor | None) -> torch.Tensor | None:
    """Rows whose position 1 is the source node of a path prompt (``[PATH] v ...``)."""
    if ids is None or h.shape[1] < 2 or ids.shape[1] < 2:
        return None
    rows = (ids[:, 0] == PATH_ID) & (ids[:, 1] >= NUM_SPECIAL_TOKENS)
    return rows if bool(rows.any()) else None


@torch.no_grad()
def node_representations(model: Any, num_nodes: int, layer: int = 0,
                         batch_size: int = 2048) -> np.ndarray:
    """``(num_nodes, D)`` float32 representation of every node at site ``layer``: the site's
    output at position 1 of the input ``[PATH] v`` (at ``layer=0`` the embedding row of node
    ``v``, :func:`hf_geommem.modeling.node_embeddings`)."""
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    rows_avail = model.get_input_embeddings().weight.shape[0] - NUM_SPECIAL_TOKENS
    if num_nodes > rows_avail:
        raise ValueError(f"num_nodes={num_nodes} exceeds the {rows_avail} node tokens of the "
                         f"model's vocabulary")
    site = site_module(model, layer)  # validates the layer
    if layer == 0 and type(site) is torch.nn.Embedding:  # its output is its weight rows
        return np.ascontiguousarray(node_embeddings(model, num_nodes), dtype=np.float32)
    device = next(model.parameters()).device
    out: list[np.ndarray] = []

    def grab(h, ids):
        out.append(h[:, 1].detach().float().cpu().numpy())
        return None

    with model_mode(model), patch_site(model, layer, grab):
        for s in range(0, num_nodes, batch_size):
            v = torch.arange(s, min(num_nodes, s + batch_size), device=device)
            ids = torch.stack([torch.full_like(v, PATH_ID), v + NUM_SPECIAL_TOKENS], 1)
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return np.concatenate(out).astype(np.float32)
