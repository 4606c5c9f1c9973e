"""The CPU selective scan: transformers' forward values bit for bit, their gradients to float
rounding (the fused backward), and bit for bit in the reference loop it keeps for other dtypes."""

import pytest
import torch
import torch.nn.functional as F
from transformers.models.mamba import modeling_mamba

from hf_geommem.mamba_scan import _reference_loop as _loop
from hf_geommem.mamba_scan import _ScanCore, selective_scan, use_fast_cpu_scan
from hf_geommem.modeling import build_model


def _reference():
    use_fast_cpu_scan()
    return modeling_mamba.mamba_selective_scan.transformers_scan


def _inputs(batch=3, channels=5, length=7, state=4, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t = {k: torch.randn(*shape, generator=g) for k, shape in dict(
        x=(batch, channels, length), dt=(batch, channels, length), B=(batch, state, length),
        C=(batch, state, length), z=(batch, channels, length)).items()}
    t["A"] = -torch.rand(channels, state, generator=g) - 0.1
    t["D"] = torch.randn(channels, generator=g)
    t["bias"] = torch.randn(channels, generator=g)
    return {k: v.to(dtype).requires_grad_() for k, v in t.items()}


def _run(fn, t):
    y, last = fn(t["x"], t["dt"], t["A"], t["B"], t["C"], D=t["D"], z=t["z"],
                 delta_bias=t["bias"], delta_softplus=True, return_last_state=True)
    (y.square().sum() + last.sin().sum()).backward()
    return (y.detach(), last.detach()), {k: v.grad for k, v in t.items()}


@pytest.mark.parametrize("length", [1, 2, 7])
def test_selective_scan_matches_transformers(length):
    """float32 (training): the forward is the same to the bit, every gradient (through the
    output and the final state) the same to float rounding."""
    (y, last), grads = _run(selective_scan, _inputs(length=length))
    (y_ref, last_ref), grads_ref = _run(_reference(), _inputs(length=length))
    assert torch.equal(y, y_ref) and torch.equal(last, last_ref)
    for k, g in grads_ref.items():
        torch.testing.assert_close(grads[k], g, rtol=1e-5, atol=1e-5 * float(g.abs().max()))
        # from a zero state, one step leaves A (the decay of the previous state) no gradient
        assert torch.equal(g, torch.zeros_like(g)) == (k == "A" and length == 1), k


@pytest.mark.parametrize("length", [1, 2, 5])
def test_fused_backward_is_the_exact_gradient(length):
    """The hand-written backward against finite differences, in float64, through both outputs."""
    t = _inputs(batch=2, channels=3, length=length, state=2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *a: _ScanCore.apply(*a),
                                    (t["dt"].detach().abs().requires_grad_(), t["A"], t["B"],
                                     t["C"], t["x"]))


def test_other_dtypes_keep_the_reference_loop_bit_for_bit():
    """bfloat16 is not fused: values and gradients are transformers' to the bit."""
    (y, last), grads = _run(selective_scan, _inputs(dtype=torch.bfloat16))
    (y_ref, last_ref), grads_ref = _run(_reference(), _inputs(dtype=torch.bfloat16))
    assert torch.equal(y, y_ref) and torch.equal(last, last_ref)
    assert all(torch.equal(grads[k], grads_ref[k]) for k in grads_ref)


def test_without_grad_and_without_optional_terms():
    t = _inputs()
    with torch.no_grad():
        ours = selective_scan(t["x"], t["dt"], t["A"], t["B"], t["C"])
        theirs = _reference()(t["x"], t["dt"], t["A"], t["B"], t["C"])
    assert ours.shape == (3, 5, 7) and torch.equal(ours, theirs)


def test_evaluation_runs_the_fused_scan_with_the_same_values(monkeypatch):
    """float32 without autograd (evaluation) goes through the fused recurrence too, with the
    loop's values to the bit at an evaluation batch's size; float64 without a gradient keeps
    the loop (the reference rounds B and x to float32 there)."""
    import hf_geommem.mamba_scan as scan

    calls = []
    monkeypatch.setattr(scan, "_reference_loop",
                        lambda *a: calls.append(a[0].dtype) or _loop(*a))
    g = torch.Generator().manual_seed(1)
    x, dt, B, C = (torch.randn(64, 32, 9, generator=g) for _ in range(4))
    B, C = B[:, :8], C[:, :8]
    A = -torch.rand(32, 8, generator=g) - 0.1
    with torch.no_grad():
        y = selective_scan(x, dt, A, B, C, delta_softplus=True)
        assert calls == []
        assert torch.equal(y, _loop(x, F.softplus(dt), A, B, C)[0])
        selective_scan(*(t.double() for t in (x, dt, A, B, C)))
    assert calls == [torch.float64]


def test_mamba_models_use_it_and_train_the_same():
    """A Mamba model's loss is the same with either scan (to the bit) and its gradients to float
    rounding; building it installs ours once (idempotent)."""
    model = build_model("mamba-tiny", vocab_size=40, seed=3)
    ours = modeling_mamba.mamba_selective_scan
    assert ours.geommem_fast_cpu_scan
    use_fast_cpu_scan()
    assert modeling_mamba.mamba_selective_scan is ours
    model.train()
    x = torch.randint(5, 40, (4, 9), generator=torch.Generator().manual_seed(0))
    results = []
    for fn in (ours, ours.transformers_scan):
        modeling_mamba.mamba_selective_scan = fn
        try:
            loss = model(input_ids=x, labels=x).loss
            loss.backward()
        finally:
            modeling_mamba.mamba_selective_scan = ours
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()
                                        if p.grad is not None]))
        model.zero_grad(set_to_none=True)
    assert torch.equal(results[0][0], results[1][0])
    assert len(results[0][1]) == len(results[1][1]) > 0
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("length", [1, 3, 10])
def test_causal_conv_matches_transformers(length):
    """Mamba's depthwise causal convolution: transformers' values to the bit (the same
    ``F.conv1d`` call), its gradients (oneDNN's backward) to float rounding, also for an input
    shorter than the kernel."""
    use_fast_cpu_scan()
    ours = modeling_mamba.causal_conv1d_fn
    assert ours.transformers_conv is not ours
    g = torch.Generator().manual_seed(length)
    inputs = [torch.randn(6, 8, length, generator=g), torch.randn(8, 4, generator=g),
              torch.randn(8, generator=g)]
    weights = torch.randn(6, 8, length, generator=g)
    results = []
    for fn in (ours, ours.transformers_conv):
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = fn(*leaves, activation="silu")
        (out * weights).sum().backward()
        results.append((out.detach(), [t.grad for t in leaves]))
    assert torch.equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


def test_causal_conv_backward_is_the_exact_gradient():
    from hf_geommem.mamba_scan import _CausalConvCore

    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_()
               for s in ((2, 3, 5), (3, 4), (3,)))
    assert torch.autograd.gradcheck(_CausalConvCore.apply, (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: _CausalConvCore.apply(x, w, None), (x, w))
