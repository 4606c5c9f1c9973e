"""Mamba's selective scan on CPU: one fused autograd step instead of transformers' reference loop.

Without the ``mamba_ssm`` kernels (always so on CPU), transformers' ``mamba_selective_scan``
runs a Python loop over time that reads ``discrete_A[:, :, t]`` and ``deltaB_u[:, :, t]`` by
indexing. Autograd turns each index into a ``SelectBackward`` that allocates and zero-fills a
gradient as large as the whole ``(batch, channels, seq_len, state)`` tensor (O(seq_len^2)
memory traffic per backward pass), and every broadcast product of the loop is recorded, so
its backward materializes and reduces several more full-size tensors.

:func:`selective_scan` computes the same forward values, bit for bit (the same operations in the
same order, in a time-major layout). For float32 tensors (evaluation included) and float64
tensors that need a gradient it runs the recurrence in :class:`_ScanCore`, whose hand-written
backward (the adjoint recurrence dL/dh_l = C_l dy_l + exp(dt_{l+1} A) dL/dh_{l+1}, then batched
matrix products for the reductions) touches each full-size tensor a few times; its gradients
equal the reference's to float rounding (checked by ``torch.autograd.gradcheck`` and against
transformers in the tests). With the convolution's backward below, a mamba-small training step
(batch 256) is 2.1x (3 tokens) to 3.0x (10 tokens) faster than with transformers' loop and
convolution (``benchmarks/bench_mamba_scan.py``). In float64
the reference rounds B and x to float32; this path keeps float64 (without a gradient, float64
keeps the reference's rounding). Other dtypes keep the reference loop, with :class:`_TimeSteps`
removing its quadratic backward (bit for bit). :func:`use_fast_cpu_scan` puts it in front of
transformers' function for CPU tensors; tensors on an accelerator still go to transformers (and
its kernels).

The depthwise causal convolution before the scan keeps transformers' forward (the same
``F.conv1d`` call, so the same values to the bit) with a hand-written backward
(:class:`_CausalConvCore`): oneDNN's backward of a depthwise convolution is ~3-4x slower here
than the K shifted products it amounts to at Mamba's shapes (kernel 4, a few to a dozen
positions); its gradients equal oneDNN's to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["causal_conv1d", "selective_scan", "use_fast_cpu_scan"]


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


class _ScanCore(torch.autograd.Function):
    """The zero-state recurrence h_l = exp(dt_l A) * h_{l-1} + (dt_l B_l) * x_l, y_l = h_l C_l.

    Inputs ``dt``, ``x``: ``(batch, channels, L)``; ``A``: ``(channels, state)``; ``B``, ``C``:
    ``(batch, state, L)``. Returns ``y`` ``(batch, channels, L)`` and the final state
    ``(batch, channels, state)``. Internally time-major, so each step is a contiguous slice;
    the backward keeps ``exp(dt A)`` and the states (two ``(L, batch, channels, state)``
    tensors, as the reference's autograd graph does) and derives every gradient from them.
    """

    @staticmethod
    def forward(ctx: Any, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels, seq_len = x.shape
        state = A.shape[1]
        dt_l, B_l, C_l, x_l = (t.permute(2, 0, 1).contiguous() for t in (dt, B, C, x))
        decay = (A * dt_l[..., None]).exp_()                            # (L, b, D, N)
        # deltaB_u in the reference's operation order, then overwritten by the states
        h = dt_l[..., None] * B_l[:, :, None, :]
        h.mul_(x_l[..., None])  # in place: the same rounding, one full-size tensor fewer
        for t in range(1, seq_len):  # a * h + b, rounded as the reference rounds it
            h[t].add_(decay[t] * h[t - 1])
        y = torch.bmm(h.view(-1, channels, state), C_l.view(-1, state, 1))
        ctx.save_for_backward(dt_l, A, B_l, C_l, x_l, decay, h)
        return y.view(seq_len, batch, channels).permute(1, 2, 0), h[-1]

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor | None,
                 grad_last: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        dt_l, A, B_l, C_l, x_l, decay, h = ctx.saved_tensors
        seq_len, batch, channels, state = h.shape
        gy = (torch.zeros_like(x_l) if grad_y is None
              else grad_y.permute(2, 0, 1).contiguous())                # (L, b, D)
        g = gy[..., None] * C_l[:, :, None, :]      # dLoss/dh_l, completed by the adjoint loop
        if grad_last is not None:
            g[-1] += grad_last
        for t in range(seq_len - 2, -1, -1):
            g[t].addcmul_(decay[t + 1], g[t + 1])
        h3, g3 = h.view(-1, channels, state), g.view(-1, channels, state)
        grad_C = torch.bmm(h3.transpose(1, 2), gy.view(-1, channels, 1))
        # dLoss/d(deltaB_u) is g; deltaB_u = (dt x) B
        g_dtx = torch.bmm(g3, B_l.view(-1, state, 1)).view(seq_len, batch, channels)
        grad_B = torch.bmm(g3.transpose(1, 2), (dt_l * x_l).view(-1, channels, 1))
        grad_dt = g_dtx * x_l
        grad_x = g_dtx * dt_l
        grad_A = torch.zeros_like(A)
        if seq_len > 1:  # h_{-1} = 0: the first step's decay gets no gradient
            g_z = g[1:] * h[:-1]
            g_z.mul_(decay[1:])                     # through exp(z), z = dt A
            # sum over (l, b) of g_z[l, b, d, n] dt[l, b, d]: one product per channel d
            grad_A = torch.bmm(dt_l[1:].reshape(-1, channels).t().unsqueeze(1),
                               g_z.view(-1, channels, state).transpose(0, 1)).squeeze(1)
            grad_dt[1:] += g_z.mul_(A).sum(-1)      # g_z is spent: multiply in place

        def back(t: torch.Tensor, width: int) -> torch.Tensor:
            return t.view(seq_len, batch, width).permute(1, 2, 0)

        return (back(grad_dt, channels), grad_A, back(grad_B, state), back(grad_C, state),
                back(grad_x, channels))


class _CausalConvCore(torch.autograd.Function):
    """out[b, c, t] = bias[c] + sum_k weight[c, k] x[b, c, t + k - (K - 1)] (zeros before t=0).

    ``x``: ``(batch, channels, L)``; ``weight``: ``(channels, K)``; ``bias``: ``(channels,)`` or
    ``None``. The forward is transformers' ``F.conv1d`` call (padding K - 1 on both sides, the
    first L outputs kept); the backward is K shifted products per input."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        kernel, length = weight.shape[1], x.shape[-1]
        return F.conv1d(x, weight.unsqueeze(1), bias, padding=kernel - 1,
                        groups=x.shape[1])[:, :, :length]

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        kernel, length = weight.shape[1], x.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:  # x[s] reaches out[s + K - 1 - k] through weight[:, k]
            grad_ahead = F.pad(grad_out, (0, kernel - 1))
            grad_x = grad_out * weight[:, kernel - 1, None]
            for k in range(kernel - 1):
                shift = kernel - 1 - k
                grad_x.addcmul_(weight[:, k, None], grad_ahead[:, :, shift:shift + length])
        if ctx.needs_input_grad[1]:
            x_behind = F.pad(x, (kernel - 1, 0))
            grad_w = torch.stack([(grad_out * x_behind[:, :, k:k + length]).sum((0, 2))
                                  for k in range(kernel)], 1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2))
        return grad_x, grad_w, grad_b


def causal_conv1d(hidden_states: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None = None,
                  activation: str | None = None) -> torch.Tensor:
    """transformers' ``causal_conv1d_fn`` (Mamba's depthwise causal convolution, then the
    activation): ``hidden_states`` ``(batch, channels, L)``, ``weight`` ``(channels, K)``,
    ``bias`` ``(channels,)``; returns ``(batch, channels, L)``, the same values to the bit,
    with :class:`_CausalConvCore`'s backward."""
    from transformers.activations import ACT2FN

    out = _CausalConvCore.apply(hidden_states.to(weight.dtype), weight, bias)
    if activation is not None:
        out = ACT2FN[activation](out)
    return out.to(hidden_states.dtype)


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
    input_dtype = hidden_states.dtype
    if delta_bias is not None:
        dt = dt + delta_bias.to(dt.dtype)[..., None]
    if delta_softplus:
        dt = F.softplus(dt)
    # float32 is fused with or without autograd (the same values; an evaluation forward of
    # mamba-small is ~1.3x faster: benchmarks/bench_mamba_scan.py); float64 only when
    # training, since without a gradient the reference's float32 rounding of B and x is kept
    same = all(t.dtype == input_dtype for t in (dt, A, B, C))
    training = (torch.is_grad_enabled()
                and any(t.requires_grad for t in (hidden_states, dt, A, B, C)))
    fused = same and (input_dtype == torch.float32
                      or (training and input_dtype == torch.float64))
    if fused:
        y, state = _ScanCore.apply(dt, A, B, C, hidden_states)
    else:
        y, state = _reference_loop(hidden_states, dt, A, B, C)
    if D is not None:
        y = y + hidden_states * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return (y, state) if return_last_state else y


def _reference_loop(hidden_states: torch.Tensor, dt: torch.Tensor, A: torch.Tensor,
                    B: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' recurrent loop (any dtype), without its quadratic backward."""
    batch, channels, seq_len = hidden_states.shape
    input_dtype = hidden_states.dtype
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
    return torch.stack(outputs, dim=-1), state


def use_fast_cpu_scan() -> None:
    """Route transformers' Mamba scan and causal convolution through :func:`selective_scan` and
    :func:`causal_conv1d` for CPU tensors (idempotent; called by
    :func:`hf_geommem.modeling.build_model` and ``load_causal_lm`` for Mamba models).

    Only the full-sequence scan and convolution change (:func:`selective_scan`,
    :func:`causal_conv1d`): generation's one-token updates and every accelerator tensor keep
    transformers' code. Forward values (losses, evaluations, generations) are the same to the
    bit; training gradients are the same to float rounding, so a Mamba training run is
    deterministic on one machine but not bit-identical to one trained with transformers' code
    (or with this module before its fused backward, or before its convolution backward)."""
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

    original_conv = modeling_mamba.causal_conv1d_fn

    def conv(hidden_states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
             activation: str | None = None, **kwargs: Any) -> Any:
        if hidden_states.device.type != "cpu":  # accelerators keep transformers' (kernels)
            return original_conv(hidden_states, weight, bias, activation=activation, **kwargs)
        return causal_conv1d(hidden_states, weight, bias, activation=activation)

    conv.transformers_conv = original_conv  # type: ignore[attr-defined]
    modeling_mamba.causal_conv1d_fn = conv
