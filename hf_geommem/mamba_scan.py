"""Mamba's selective scan on CPU without the quadratic backward of transformers' reference loop.

Without the ``mamba_ssm`` kernels (always so on CPU), transformers' ``mamba_selective_scan``
runs a Python loop over time that reads ``discrete_A[:, :, t]`` and ``deltaB_u[:, :, t]`` by
indexing. Autograd turns each index into a ``SelectBackward`` that allocates and zero-fills a
gradient as large as the whole ``(batch, channels, seq_len, state)`` tensor, so one backward
pass costs O(seq_len^2) memory traffic: on mamba-small, batch 256, 10 tokens, ``fill_`` alone
was a third of the step (``benchmarks/bench_mamba_scan.py``). ``unbind`` has the same backward.

:func:`selective_scan` performs the same operations in the same order (so the same values, bit
for bit, forward and backward) but takes the time steps through :class:`_TimeSteps`, whose
backward stacks the per-step gradients once. :func:`use_fast_cpu_scan` puts it in front of
transformers' function for CPU tensors; tensors on an accelerator still go to transformers (and
its kernels).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["selective_scan", "use_fast_cpu_scan"]


class _TimeSteps(torch.autograd.Function):
    """``x.unbind(dim)`` whose backward stacks the step gradients in one
    allocation instead of zero-filling a full-size gradient per step."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dim: int) -> tuple[torch.Tensor, ...]:
        ctx.dim = dim
        return x.unbind(dim)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        like = next(g for g in grads if g is not None)
        return torch.stack([torch.zeros_like(like) if g is None else g for g in grads],
                           ctx.dim), None


def _steps(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, ...]:
    return _TimeSteps.apply(x, dim) if torch.is_grad_enabled() and x.requires_grad \
        else x.unbind(dim)


def selective_scan(
    hidden_states: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The selective scan y = SSM(A, B, C, dt)(x) (+ D x, gated by silu(z)), from a zero state.

    Args:
        hidden_states: ``(batch, channels, seq_len)`` input x.
        dt: ``(batch, channels, seq_len)`` time steps (before ``delta_bias`` / softplus).
        A: ``(channels, state)`` (negative) state matrix diagonal.
        B, C: ``(batch, state, seq_len)`` input-dependent projections.
        D: ``(channels,)`` skip term; z: ``(batch, channels, seq_len)`` gate.
        delta_bias: ``(channels,)`` added to dt; delta_softplus: apply softplus to dt.
        return_last_state: also return the ``(batch, channels, state)`` final state.

    Returns:
        ``(batch, channels, seq_len)`` output (and the final state when asked), equal to
        transformers' reference recurrent path.
    """
    batch, channels, seq_len = hidden_states.shape
    input_dtype = hidden_states.dtype
    if delta_bias is not None:
        dt = dt + delta_bias.to(dt.dtype)[..., None]
    if delta_softplus:
        dt = F.softplus(dt)
    B = B.transpose(1, 2)
    C = C.transpose(1, 2)
    discrete_A = torch.exp(A[None, :, None, :] * dt[:, :, :, None])
    deltaB_u = (dt[:, :, :, None] * B[:, None, :, :].float()) * hidden_states[:, :, :, None].float()
    state = torch.zeros(batch, channels, A.shape[-1], dtype=input_dtype,
                        device=hidden_states.device)
    outputs = []
    for a_t, b_t, c_t in zip(_steps(discrete_A, 2), _steps(deltaB_u, 2), _steps(C, 1)):
        state = a_t * state + b_t
        outputs.append(torch.matmul(state.to(input_dtype), c_t.unsqueeze(-1)).squeeze(-1))
    y = torch.stack(outputs, dim=-1)
    if D is not None:
        y = y + hidden_states * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return (y, state) if return_last_state else y


def use_fast_cpu_scan() -> None:
    """Route transformers' Mamba scan through :func:`selective_scan` for CPU tensors (idempotent;
    called by :func:`hf_geommem.modeling.build_model` and ``load_causal_lm`` for Mamba models).

    Only the full-sequence scan changes: generation's one-token state update and every
    accelerator tensor keep transformers' code. The result is the same to the bit, so runs keep
    their numbers; only their time changes."""
    from transformers.models.mamba import modeling_mamba

    original = modeling_mamba.mamba_selective_scan
    if getattr(original, "geommem_fast_cpu_scan", False):
        return

    def scan(hidden_states: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
             C: torch.Tensor, D: torch.Tensor | None = None, z: torch.Tensor | None = None,
             delta_bias: torch.Tensor | None = None, delta_softplus: bool = False,
             return_last_state: bool = False, **kwargs: Any) -> Any:
        # transformers' other torch paths (mambapy's pscan, the compiled associative scan)
        # stay theirs, as do accelerators (kernels)
        if (hidden_states.device.type != "cpu"
                or (kwargs.get("use_mambapy") and modeling_mamba.is_mambapy_available())
                or (kwargs.get("use_associative_scan")
                    and modeling_mamba.is_torchdynamo_compiling())):
            return original(hidden_states, dt, A, B, C, D=D, z=z, delta_bias=delta_bias,
                            delta_softplus=delta_softplus,
                            return_last_state=return_last_state, **kwargs)
        return selective_scan(hidden_states, dt, A, B, C, D=D, z=z, delta_bias=delta_bias,
                              delta_softplus=delta_softplus, return_last_state=return_last_state)

    scan.geommem_fast_cpu_scan = True  # type: ignore[attr-defined]
    scan.transformers_scan = original  # type: ignore[attr-defined]
    modeling_mamba.mamba_selective_scan = scan
