"""The output layer (LM head + cross-entropy) computed in chunks of positions, so that the
logits of all supervised positions never exist at once.

With one token per graph node the vocabulary is the graph: a full batch of G(5000,5) has 58,750
supervised positions over 20,010 tokens, 4.7 GB of float32 logits and as much again for their
gradient. :func:`linear_cross_entropy` walks the positions in chunks: each chunk's logits are
formed, reduced to their loss, and, when a gradient is wanted, turned at once into that chunk's
share of the gradients of the hidden states and of the head's weight (the fused
linear-cross-entropy scheme of Liger-Kernel's ``fused_linear_cross_entropy``). Peak memory is one
chunk's logits plus the two gradients, which are the size of the hidden states and of the
weight; compute is the plain head's three matmuls (logits, then ``dL/dh`` and ``dL/dW``) with no
recomputation in the backward pass, which only scales the stored gradients by the incoming one.
"""

from __future__ import annotations

import torch

__all__ = ["CHUNK_LOGIT_BYTES", "default_chunk_size", "linear_cross_entropy"]

CHUNK_LOGIT_BYTES = 64 * 2**20
"""Bytes of float32 logits per chunk that :func:`default_chunk_size` aims at: large enough that
the chunk's matmuls run at the matmul rate, small beside any model's activations."""


def default_chunk_size(vocab_size: int) -> int:
    """Positions per chunk so that one chunk's float32 logits are about
    :data:`CHUNK_LOGIT_BYTES` (at least 64 positions, at most 8,192)."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    return max(64, min(8192, CHUNK_LOGIT_BYTES // (4 * vocab_size)))


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Sum over rows of ``cross_entropy(hidden @ weight.T + bias, targets)``, chunked."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_size):
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        want_b = bias is not None and ctx.needs_input_grad[2]
        n = hidden.shape[0]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if want_h else None
        grad_w = torch.zeros_like(weight, dtype=torch.float32) if want_w else None
        grad_b = torch.zeros_like(bias, dtype=torch.float32) if want_b else None
        # one logits buffer for every chunk: a fresh chunk-sized allocation per chunk costs
        # page faults comparable to the exp over it on CPU
        buf = torch.empty(min(chunk_size, n), weight.shape[0], dtype=weight.dtype,
                          device=hidden.device)
        w_t = weight.T
        for start in range(0, n, chunk_size):
            h = hidden[start:start + chunk_size]
            t = targets[start:start + chunk_size]
            z = buf[:len(h)]
            if bias is None:
                torch.mm(h, w_t, out=z)
            else:
                torch.addmm(bias, h, w_t, out=z)
            z = z.float()  # a no-op in float32; low-precision logits are reduced in float32
            target_logit = z.gather(1, t[:, None]).squeeze(1)
            top = z.amax(dim=1, keepdim=True)
            e = z.sub_(top).exp_()  # exp(z - max), in place
            norm = e.sum(dim=1)
            total += (norm.log() + top.squeeze(1) - target_logit).sum()
            if not (want_h or want_w or want_b):
                continue
            # d(CE)/dz = softmax - onehot = e / norm - onehot: the 1/norm goes on the small
            # side of each product and the onehot is a row gather / scatter
            inv = norm.reciprocal()[:, None]
            if want_h:
                g = torch.mm(e.to(weight.dtype), weight).float().mul_(inv)
                g.sub_(weight.index_select(0, t).float())
                grad_h[start:start + chunk_size] = g.to(hidden.dtype)
            if want_w:
                hf = h.float()
                grad_w.addmm_(e.T, hf * inv)
                grad_w.index_add_(0, t, hf, alpha=-1.0)
            if want_b:
                grad_b.add_((e * inv).sum(0))
                grad_b.index_add_(0, t, torch.ones_like(t, dtype=torch.float32), alpha=-1.0)
        ctx.save_for_backward(*(g for g in (grad_h, grad_w, grad_b) if g is not None))
        ctx.which = (want_h, want_w, want_b)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        saved = iter(ctx.saved_tensors)
        grads = [next(saved) * grad_out if want else None for want in ctx.which]
        grad_h, grad_w, grad_b = grads
        return grad_h, grad_w, grad_b, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         bias: torch.Tensor | None = None,
                         chunk_size: int | None = None) -> torch.Tensor:
    """Summed cross-entropy of the logits ``hidden @ weight.T (+ bias)`` against ``targets``,
    without holding more than ``chunk_size`` rows of logits.

    Args:
        hidden: ``(N, D)`` hidden states of the supervised positions.
        weight: ``(V, D)`` output embedding (an ``nn.Linear``'s weight; tied or not).
        targets: ``(N,)`` token ids in ``0..V-1``.
        bias: optional ``(V,)`` output bias.
        chunk_size: rows per chunk (``None``: :func:`default_chunk_size` of ``V``).

    Returns:
        A scalar float32 tensor: the *sum* over the ``N`` rows of the cross-entropy (divide by
        the number of supervised tokens for the mean), differentiable in ``hidden``, ``weight``
        and ``bias``. Equal, to float rounding, to
        ``F.cross_entropy(hidden @ weight.T + bias, targets, reduction="sum")``, with the same
        gradients.
    """
    if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"hidden must be (N, D) and weight (V, D); got {tuple(hidden.shape)} "
                         f"and {tuple(weight.shape)}")
    if targets.shape != hidden.shape[:1]:
        raise ValueError(f"targets must be ({hidden.shape[0]},), one per row of hidden; got "
                         f"{tuple(targets.shape)}")
    vocab = weight.shape[0]
    if bias is not None and bias.shape != (vocab,):
        raise ValueError(f"bias must be ({vocab},), got {tuple(bias.shape)}")
    if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= vocab):
        raise ValueError(f"targets must be token ids in 0..{vocab - 1}; got values in "
                         f"{int(targets.min())}..{int(targets.max())}")
    chunk = default_chunk_size(vocab) if chunk_size is None else chunk_size
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
    return _ChunkedLinearCrossEntropy.apply(hidden, weight, bias, targets, chunk)
