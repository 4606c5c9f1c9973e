"""Evaluation by decoding: greedy held-out paths (batched ``generate`` with KV cache),
teacher-forced first token, and edge queries ``[EDGE] u`` for top-k recovery."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..metrics import edge_recovery_from_topk
from ..modeling import model_mode
from ..tokenization import NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_IDS
from .data import column

__all__ = ["evaluate_paths", "edge_query_logits", "evaluate_edges", "EVAL_LOGIT_BYTES"]

# the teacher-forced pass holds (rows, target positions + 1, vocabulary) float32 logits: rows
# per chunk are capped so that they take at most this much (G(10^4,6)'s 50,010-token vocabulary
# took 3 GB at 1,024 rows)
EVAL_LOGIT_BYTES = 256 * 2**20


def _rows_per_chunk(model: Any, batch_size: int, positions: int) -> int:
    """Rows per forward pass: ``batch_size``, fewer where ``positions`` float32 logits over the
    model's vocabulary would take more than :data:`EVAL_LOGIT_BYTES` (a model that names no
    vocabulary size is not capped)."""
    out = getattr(model, "get_output_embeddings", lambda: None)()
    vocab = (out.weight.shape[0] if out is not None
             else getattr(getattr(model, "config", None), "vocab_size", None))
    if not vocab:
        return batch_size
    return max(1, min(batch_size, EVAL_LOGIT_BYTES // (positions * vocab * 4)))


@torch.no_grad()
def evaluate_paths(model: Any, tokenizer: Any, ds: Dataset, batch_size: int = 1024,
                   indices: np.ndarray | None = None) -> dict[str, Any]:
    """Greedy-decode the target of every prompt and compare with ``target``.

    Prompts of equal length are batched together (no padding, so positions are exact for every
    architecture), at most ``batch_size`` rows and :data:`EVAL_LOGIT_BYTES` of logits at a
    time; ``generate`` uses the model's KV cache.

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
    step = _rows_per_chunk(model, batch_size, t_len + 1)
    with model_mode(model):
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                ids = torch.tensor([prompts[i] for i in chunk], dtype=torch.long, device=device)
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                     max_new_tokens=t_len, min_new_tokens=t_len, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=None, num_beams=1)
                gen = out[:, length:].cpu().numpy()
                pred[chunk, :gen.shape[1]] = gen
                full = torch.cat([ids, torch.as_tensor(np.maximum(target_arr[chunk], 0),
                                                       device=device)], dim=1)
                # only the positions that predict the target (a model without
                # logits_to_keep returns them all: the slice is the same)
                logits = model(input_ids=full, attention_mask=torch.ones_like(full),
                               logits_to_keep=t_len + 1).logits
                forced[chunk] = logits[:, -(t_len + 1):-1].argmax(-1).cpu().numpy()
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
    ``[EDGE] u`` for each ``u`` in ``chunk`` (blocks of ``nodes``, at most ``batch_size`` and
    :data:`EVAL_LOGIT_BYTES` of logits each; ``logits`` is
    ``(len(chunk), num_nodes)`` float32 on the model's device). The model is in eval mode
    while iterating."""
    ids_edge = SPECIAL_TOKEN_IDS["[EDGE]"]
    device = next(model.parameters()).device
    step = _rows_per_chunk(model, batch_size, 1)
    with model_mode(model):
        for start in range(0, len(nodes), step):
            chunk = np.asarray(nodes[start:start + step])
            ids = torch.stack([torch.full((len(chunk),), ids_edge),
                               torch.as_tensor(chunk + NUM_SPECIAL_TOKENS)], dim=1).to(device)
            logits = model(input_ids=ids, logits_to_keep=1).logits[
                :, -1, NUM_SPECIAL_TOKENS:NUM_SPECIAL_TOKENS + num_nodes]
            yield chunk, logits.float()


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
