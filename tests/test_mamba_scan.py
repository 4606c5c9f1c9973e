"""The CPU selective scan gives transformers' values bit for bit, forward and backward."""

import pytest
import torch
from transformers.models.mamba import modeling_mamba

from hf_geommem.mamba_scan import selective_scan, use_fast_cpu_scan
from hf_geommem.modeling import build_model


def _reference():
    use_fast_cpu_scan()
    return modeling_mamba.mamba_selective_scan.transformers_scan


def _inputs(batch=3, channels=5, length=7, state=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = {k: torch.randn(*shape, generator=g) for k, shape in dict(
        x=(batch, channels, length), dt=(batch, channels, length), B=(batch, state, length),
        C=(batch, state, length), z=(batch, channels, length)).items()}
    t["A"] = -torch.rand(channels, state, generator=g) - 0.1
    t["D"] = torch.randn(channels, generator=g)
    t["bias"] = torch.randn(channels, generator=g)
    return {k: v.requires_grad_() for k, v in t.items()}


@pytest.mark.parametrize("length", [1, 2, 7])
def test_selective_scan_equals_transformers_bit_for_bit(length):
    grads, outs = [], []
    for fn in (selective_scan, _reference()):
        t = _inputs(length=length)
        y, last = fn(t["x"], t["dt"], t["A"], t["B"], t["C"], D=t["D"], z=t["z"],
                     delta_bias=t["bias"], delta_softplus=True, return_last_state=True)
        (y.square().sum() + last.sum()).backward()
        outs.append((y.detach(), last.detach()))
        grads.append({k: v.grad for k, v in t.items()})
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    for k in grads[0]:
        assert torch.equal(grads[0][k], grads[1][k]), k


def test_without_grad_and_without_optional_terms():
    t = _inputs()
    with torch.no_grad():
        ours = selective_scan(t["x"], t["dt"], t["A"], t["B"], t["C"])
        theirs = _reference()(t["x"], t["dt"], t["A"], t["B"], t["C"])
    assert ours.shape == (3, 5, 7) and torch.equal(ours, theirs)


def test_mamba_models_use_it_and_train_the_same():
    """A Mamba model's loss and gradients are the same with either scan; building it installs
    ours once (idempotent)."""
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
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))
