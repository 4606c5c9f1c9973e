"""The chunked LM head + cross-entropy: same loss and gradients as the plain head, bounded
memory, clear errors."""

import pytest
import torch
import torch.nn.functional as F

import hf_geommem as H
from hf_geommem.modeling import build_model
from hf_geommem.training import AnswerOnlyCollator, TrainConfig, tokenize_config
from hf_geommem.training.output_layer import default_chunk_size, linear_cross_entropy


def _grads(fn, *tensors):
    for t in tensors:
        t.grad = None
    loss = fn()
    loss.backward()
    return loss.detach(), [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("chunk", [1, 7, 64, None])
@pytest.mark.parametrize("with_bias", [False, True])
def test_chunked_equals_plain_cross_entropy(chunk, with_bias):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(50, 16, generator=g, requires_grad=True)
    w = torch.randn(40, 16, generator=g, requires_grad=True)
    b = torch.randn(40, generator=g, requires_grad=True) if with_bias else None
    t = torch.randint(0, 40, (50,), generator=g)
    leaves = [h, w] + ([b] if with_bias else [])
    ref, ref_g = _grads(lambda: 0.5 * F.cross_entropy(F.linear(h, w, b), t, reduction="sum"),
                        *leaves)
    got, got_g = _grads(lambda: 0.5 * linear_cross_entropy(h, w, t, b, chunk_size=chunk),
                        *leaves)
    assert torch.allclose(got, ref, rtol=1e-5)
    for a, r in zip(got_g, ref_g):
        assert torch.allclose(a, r, atol=1e-5, rtol=1e-4)


def test_no_grad_and_frozen_weight():
    h = torch.randn(9, 4)
    w = torch.randn(6, 4)
    t = torch.randint(0, 6, (9,))
    ref = F.cross_entropy(h @ w.T, t, reduction="sum")
    with torch.no_grad():
        assert torch.allclose(linear_cross_entropy(h, w, t, chunk_size=2), ref)
    h.requires_grad_(True)  # frozen (tied) embedding: only the hidden states get a gradient
    linear_cross_entropy(h, w, t, chunk_size=4).backward()
    hr = h.detach().clone().requires_grad_(True)
    F.cross_entropy(hr @ w.T, t, reduction="sum").backward()
    assert w.grad is None and torch.allclose(h.grad, hr.grad, atol=1e-6)


def test_bad_inputs_name_the_value():
    h, w = torch.randn(3, 4), torch.randn(5, 4)
    with pytest.raises(ValueError, match=r"targets must be token ids in 0\.\.4; got values in 0\.\.5"):
        linear_cross_entropy(h, w, torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match=r"hidden must be \(N, D\) and weight \(V, D\)"):
        linear_cross_entropy(h, torch.randn(5, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="chunk_size must be >= 1 or None, got 0"):
        linear_cross_entropy(h, w, torch.tensor([0, 1, 2]), chunk_size=0)
    with pytest.raises(ValueError, match="output_layer must be one of"):
        TrainConfig(output_layer="fused")
    with pytest.raises(ValueError, match="memory_budget_gb must be a finite number > 0"):
        TrainConfig(memory_budget_gb=0)
    assert default_chunk_size(20_010) == 838 and default_chunk_size(10) == 8192


@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny", "mamba-tiny"])
@pytest.mark.parametrize("tie", [True, False])
def test_trainer_loss_and_gradients_match_plain_head(preset, tie):
    """GraphTrainer's chunked output layer gives the plain path's loss and gradients, for each
    family, tied and untied."""
    from transformers import TrainingArguments

    from hf_geommem.training import GraphTrainer

    task = H.build_task("path_star", degree=8, length=3, seed=0)
    tok = task.tokenizer
    feats = [tokenize_config(task["edges"]["train"], tok, kind="edges")[i] for i in range(6)] + \
        [tokenize_config(task["paths"]["train"], tok, kind="paths")[i] for i in range(4)]
    batch = AnswerOnlyCollator(tok.pad_token_id)(feats)
    model = build_model(preset, len(tok), 16, tie_embeddings=tie, seed=1)
    args = TrainingArguments(output_dir="/tmp/unused", report_to="none", use_cpu=True)
    results = []
    for layer in ("plain", "chunked"):
        trainer = GraphTrainer(model=model, args=args, output_layer=layer)
        model.zero_grad(set_to_none=True)
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        results.append((loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
    (plain, pg), (chunked, cg) = results
    assert torch.allclose(chunked, plain, rtol=1e-5)
    assert torch.allclose(plain, model(**batch).loss, rtol=1e-5)
    assert pg.keys() == cg.keys()
    for k in pg:
        assert torch.allclose(cg[k], pg[k], atol=1e-6, rtol=1e-4), k
