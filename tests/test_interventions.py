"""Causal tests of geometry use (hf_geommem.interventions), on tiny models built here.

The main fixtures are hand-wired 1-layer GPT-2s whose answers are known by construction:
attention copies the leaf's embedding to every later position and the (untied) unembedding
reads it. In the *geometric reader* the unembedding scores nodes by their arm code (v1 of arm a
is ``2 c_a``), so any vector carrying ``c_a`` answers v1; in the *lookup reader* v1 of arm a is
keyed on the leaf's own identity code. The input embeddings also carry a large nuisance
component the readout ignores (a code of the node's depth, the same on every arm), so random
directions of matched variance do not line up with the arm codes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_real_figure
import torch

from hf_geommem import build_task
from hf_geommem import interventions as iv
from hf_geommem.modeling import build_model
from hf_geommem.probing import ProbePack, node_embeddings
from hf_geommem.tasks import PathTaskConfig
from hf_geommem.tokenization import NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_IDS

PATH, PAUSE = SPECIAL_TOKEN_IDS["[PATH]"], SPECIAL_TOKEN_IDS["[PAUSE]"]
C_SCALE = 0.5  # arm-code size in the hand-built models' input embeddings


@pytest.fixture(scope="module")
def task():
    return build_task("path_star", degree=32, length=5, seed=0,
                      paths=PathTaskConfig(num_pauses=1, train_fraction=0.5))


def _hand_gpt2(task, reader: str, seed: int = 0):
    """A 1-layer GPT-2 that copies the leaf's embedding forward and reads it (see module doc)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    g = task.graph
    d, n = g.arms.shape[0], g.num_nodes
    from scipy.linalg import hadamard

    nc, nu, nn_, npos = d // 2, 24, 16, 2
    H = hadamard(nc).astype(float)
    codes = np.concatenate([H, -H])  # 2 * nc arm codes, each the unique argmax of its own
    D = 1 + nc + nu + nn_ + npos
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(np.concatenate([np.ones((D, 1)), rng.standard_normal((D, D - 1))], 1))
    B = q[:, 1:]  # orthonormal, orthogonal to all-ones: every vector is zero-mean (LN = scale)
    c_dims = np.arange(nc)
    u_dims = nc + np.arange(nu)
    n_dims = nc + nu + np.arange(nn_)
    p1 = nc + nu + nn_
    V = NUM_SPECIAL_TOKENS + n
    coords = np.zeros((V, D - 1))
    out_coords = np.zeros((V, D - 1))
    u = rng.standard_normal((n, nu)) / np.sqrt(nu)
    depth_code = rng.standard_normal((g.arms.shape[1], nn_)) * 3.0  # big, same on every arm
    for a, arm in enumerate(g.arms):
        for j, v in enumerate(arm[1:], start=1):
            t = NUM_SPECIAL_TOKENS + v
            coords[t, c_dims] = codes[a] * (C_SCALE if j == 1 else 0.5 * C_SCALE)
            coords[t, u_dims] = u[v]
            coords[t, n_dims] = depth_code[j]
        v1 = NUM_SPECIAL_TOKENS + arm[1]
        if reader == "geometric":
            for j, v in enumerate(arm[1:], start=1):
                out_coords[NUM_SPECIAL_TOKENS + v, c_dims] = codes[a] * (1.0 if j == 1 else 0.5)
        else:  # lookup: v1 is keyed on the leaf's identity code
            out_coords[v1, u_dims] = 4.0 * u[arm[-1]] / np.linalg.norm(u[arm[-1]])
    cfg = GPT2Config(vocab_size=V, n_positions=16, n_embd=D, n_layer=1, n_head=1,
                     n_inner=4, tie_word_embeddings=False, resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    model = GPT2LMHeadModel(cfg)
    P = B[:, p1]  # the position direction (real coordinates)
    node_proj = B[:, :p1] @ B[:, :p1].T
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in (model.transformer.h[0].ln_1, model.transformer.h[0].ln_2,
                   model.transformer.ln_f):
            ln.weight.fill_(1.0)
        model.transformer.wte.weight.copy_(torch.tensor(coords @ B.T))
        model.transformer.wpe.weight[1].copy_(torch.tensor(3.0 * P))
        attn = model.transformer.h[0].attn
        W = np.zeros((D, 3 * D))
        W[:, D:2 * D] = np.outer(P, P)  # key: the position-1 marker
        W[:, 2 * D:] = node_proj  # value: the node part
        attn.c_attn.weight.copy_(torch.tensor(W))
        bias = np.zeros(3 * D)
        bias[:D] = 2000.0 * P  # every query looks for the marker
        attn.c_attn.bias.copy_(torch.tensor(bias))
        attn.c_proj.weight.copy_(torch.eye(D))
        model.lm_head.weight.copy_(torch.tensor(out_coords @ B.T))
    return model.float().eval()


@pytest.fixture(scope="module")
def geometric_model(task):
    return _hand_gpt2(task, "geometric")


@pytest.fixture(scope="module")
def lookup_model(task):
    return _hand_gpt2(task, "lookup")


def _path_ids(task, leaves):
    return torch.tensor([[PATH, NUM_SPECIAL_TOKENS + v, PAUSE, NUM_SPECIAL_TOKENS + task.graph.root]
                         for v in leaves])


# ---------------------------------------------------------------------- hooks
@pytest.mark.parametrize("preset", ["gpt2-tiny", "llama-tiny", "mamba-tiny"])
def test_patch_site_is_exact_and_removed(task, preset):
    n = task.graph.num_nodes
    model = build_model(preset, NUM_SPECIAL_TOKENS + n, seed=1).eval()
    L = iv.num_layers(model)
    assert L == 1
    np.testing.assert_allclose(iv.node_representations(model, n, 0), node_embeddings(model, n),
                               atol=1e-6)
    leaves = task.graph.arms[:4, -1]
    ids = _path_ids(task, leaves)
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        with iv.patch_site(model, 0, lambda h, i: h.clone()):
            same = model(input_ids=ids).logits
        torch.testing.assert_close(same, ref)
        # replacing leaf a's embedding by leaf b's gives exactly the prompt of b
        E = torch.tensor(node_embeddings(model, n))
        b = leaves[::-1].copy()

        def swap(h, i):
            h = h.clone()
            h[:, 1] = E[torch.as_tensor(b)]
            return h

        with iv.patch_site(model, 0, swap):
            swapped = model(input_ids=ids).logits
        torch.testing.assert_close(swapped, model(input_ids=_path_ids(task, b)).logits)
        # at the last block, position 1's state is read by nothing after it
        R = torch.tensor(iv.node_representations(model, n, L))

        def last(h, i):
            h = h.clone()
            h[:, 1] = R[torch.as_tensor(b)]
            return h

        with iv.patch_site(model, L, last):
            out = model(input_ids=ids).logits
        torch.testing.assert_close(out[:, 2:], ref[:, 2:])
        assert not torch.allclose(out[:, 1], ref[:, 1])
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ValueError, match="layer must be an integer in 0..1"):
        iv.site_module(model, 2)


def test_hidden_state_site_matches_output_hidden_states(task):
    n = task.graph.num_nodes
    model = build_model("gpt2-small", NUM_SPECIAL_TOKENS + n, seed=0).eval()
    R1 = iv.node_representations(model, n, 1)
    ids = torch.stack([torch.full((n,), PATH), torch.arange(n) + NUM_SPECIAL_TOKENS], 1)
    with torch.no_grad():
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(R1, hs[1][:, 1].numpy(), atol=1e-5)


# ---------------------------------------------------------------------- directions
def _arm_coded(task, seed=0, noise=0.3):
    g = task.graph
    rng = np.random.default_rng(seed)
    d = g.arms.shape[0]
    codes = rng.standard_normal((d, 6))
    X = rng.standard_normal((g.num_nodes, 20)) * noise
    for a, arm in enumerate(g.arms):
        X[arm[1:], :6] += codes[a]
    return X


@pytest.mark.parametrize("method", ["arm-means", "laplacian"])
def test_geometric_directions_find_the_arm_subspace(task, method):
    X = _arm_coded(task)
    U = iv.geometric_directions(X, task.graph, 6, method)
    assert U.shape == (20, 6)
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-8)
    overlap = np.square(U[:6]).sum() / 6  # share of U inside the true code dims
    assert overlap > (0.95 if method == "arm-means" else 0.8)
    with pytest.raises(ValueError, match="k must be an integer"):
        iv.geometric_directions(X, task.graph, 0, method)
    with pytest.raises(ValueError, match="R must be"):
        iv.geometric_directions(X[:-1], task.graph, 2, method)
    with pytest.raises(ValueError, match="method must be one of"):
        iv.geometric_directions(X, task.graph, 2, "pca")


def test_random_frames_match_variance_and_are_seeded(task):
    X = _arm_coded(task)
    U = iv.geometric_directions(X, task.graph, 4)
    target = float(np.square((X - X.mean(0)) @ U).sum() / np.square(X - X.mean(0)).sum())
    F, shares = iv.random_frames(X, 4, 30, target_share=target, seed=3)
    assert F.shape == (30, 20, 4)
    np.testing.assert_allclose(F[0].T @ F[0], np.eye(4), atol=1e-8)
    assert np.abs(shares - target).max() < 0.1
    F2, _ = iv.random_frames(X, 4, 30, target_share=target, seed=3)
    np.testing.assert_array_equal(F, F2)
    with pytest.raises(ValueError, match="k must be"):
        iv.random_frames(X, 21, 3)


# ---------------------------------------------------------------------- the tests themselves
def test_geometric_reader_uses_the_geometry(task, geometric_model):
    res = iv.geometry_use(geometric_model, task, k=16, n_null=40, seed=0)
    assert all(isinstance(v, (int, float, bool)) for v in res.values())
    assert res["ablate_base_v1"] == 1.0 and res["chance"] == 1 / 32
    assert res["ablate_drop_v1"] == 1.0
    assert res["ablate_null_drop_v1_q975"] < 0.5
    assert res["ablate_significant_v1"] and res["ablate_p_v1"] == 1 / 41
    assert res["stand_in_centroid_v1"] == 1.0 and res["stand_in_middle_v1"] == 1.0
    assert res["stand_in_centroid_v1_decoded"] == 1.0
    assert res["stand_in_other_leaf_v1"] == 0.0
    assert res["stand_in_random_v1_mean"] < 0.25
    assert res["stand_in_significant_centroid"]
    assert res["stand_in_p_centroid_vs_chance"] < 1e-10
    # deterministic given the seed
    again = iv.stand_in_test(geometric_model, task, n_null=40, seed=0)
    assert again["random_v1_mean"] == res["stand_in_random_v1_mean"]


def test_lookup_reader_does_not(task, lookup_model):
    ab = iv.ablation_test(lookup_model, task, k=16, n_null=40, seed=0)
    assert ab["base_v1"] == 1.0
    assert ab["drop_v1"] <= ab["null_drop_v1_q975"] and not ab["significant_v1"]
    si = iv.stand_in_test(lookup_model, task, n_null=40, seed=0)
    assert si["leaf_v1"] == 1.0
    assert si["centroid_v1"] <= si["random_v1_q975"] and not si["significant_centroid"]


def test_patching_after_the_last_block_changes_nothing(task, geometric_model):
    si = iv.stand_in_test(geometric_model, task, n_null=3, seed=0, layer=1)
    for name in ("centroid", "middle", "other_leaf"):
        assert si[f"{name}_v1"] == si["leaf_v1"] == 1.0
    assert si["random_v1_mean"] == 1.0


def test_ablation_curve_and_figure(task, geometric_model, tmp_path):
    rows = iv.ablation_curve(geometric_model, task, [1, 16], n_null=5, seed=0)
    assert [r["k"] for r in rows] == [1, 16]
    assert rows[1]["geo_v1"] == 0.0 and rows[1]["null_v1_mean"] > 0.5
    path = iv.plot_ablation_curve(rows, tmp_path / "curve.png", "test")
    assert_real_figure(path)


def test_pack_stand_in_on_the_hand_model(task, geometric_model, lookup_model):
    g = task.graph
    arms = g.arms[:8]
    nodes = arms[:, 1:].ravel()
    index = {int(v): i for i, v in enumerate(nodes)}
    edges = [(index[int(a)], index[int(b)]) for arm in arms for a, b in zip(arm[1:], arm[2:])]
    pack = ProbePack("arms", [str(v) for v in nodes], edges, ["{}"])
    answers = {index[int(arm[-1])]: index[int(arm[1])] for arm in arms}
    template = f"[PATH] {{}} [PAUSE] {g.root}"
    res = iv.pack_stand_in_test(geometric_model, task.tokenizer, pack, template, 0,
                                answers=answers, n_null=40, seed=0)
    assert res["n"] == 8 and res["entity_acc"] == 1.0 and res["significant_entity"]
    assert res["centroid_acc"] == 1.0 and res["neighbour_acc"] == 1.0
    assert res["other_acc"] == 0.0 and res["significant_centroid"]
    res = iv.pack_stand_in_test(lookup_model, task.tokenizer, pack, template, 0,
                                answers=answers, n_null=40, seed=0)
    assert res["entity_acc"] == 1.0 and res["centroid_acc"] == 0.0
    with pytest.raises(ValueError, match="exactly one"):
        iv.pack_stand_in_test(geometric_model, task.tokenizer, pack, "no slot", 0)


def test_pack_answers_follow_the_pack_order():
    from hf_geommem.probing import get_pack

    assert iv.pack_answers(get_pack("months"))[11] == 0
    assert 9 not in iv.pack_answers(get_pack("digits"))  # a line: 9 has no successor


def test_validation(task, geometric_model):
    with pytest.raises(ValueError, match="n_null must be"):
        iv.ablation_test(geometric_model, task, n_null=-1)
    with pytest.raises(ValueError, match="positions must be"):
        iv.ablation_test(geometric_model, task, positions="leaf")
    with pytest.raises(ValueError, match="layer must be"):
        iv.stand_in_test(geometric_model, task, layer=5)
    rev = build_task("path_star", degree=8, length=5, seed=0,
                     paths=PathTaskConfig(direction="reverse"))
    with pytest.raises(ValueError, match="forward paths"):
        iv.stand_in_test(geometric_model, rev)
    short = build_task("path_star", degree=8, length=3, seed=0)
    model = build_model("gpt2-tiny", NUM_SPECIAL_TOKENS + short.graph.num_nodes)
    with pytest.raises(ValueError, match="middle node"):
        iv.stand_in_test(model, short, n_null=1)


def test_cli_intervene(task, geometric_model, tmp_path, capsys):
    from hf_geommem.cli import main

    data, run = tmp_path / "data", tmp_path / "run"
    task.save_to_folder(data)
    geometric_model.save_pretrained(run)
    task.tokenizer.save_pretrained(run)
    (run / "run_env.json").write_text(json.dumps({"dataset": str(data)}))
    assert main(["intervene", str(run), "--test", "stand-in", "--null", "5"]) == 0
    res = json.loads((run / "interventions" / "stand_in_layer0.json").read_text())
    assert res["centroid_v1"] == 1.0
    assert main(["intervene", str(run), "--test", "ablate", "--k", "4", "--null", "5",
                 "--curve-null", "3", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "ablation_layer0.png").is_file()
    out = capsys.readouterr().out
    assert "centroid" in out and "exact" in out


def test_cli_intervene_pack_on_a_model_folder(task, geometric_model, tmp_path, capsys):
    """``--pack`` on a saved checkpoint: the stand-in test by default, a warning when the
    unpatched model does not answer its prompts, and --test ablate refused."""
    from hf_geommem.cli import main

    run, out, g = tmp_path / "run", tmp_path / "o", task.graph
    geometric_model.save_pretrained(run)
    task.tokenizer.save_pretrained(run)
    arms = g.arms[:6]  # entities leaf_a, v1_a, leaf_b, v1_b, ...: each leaf's answer is its v1
    pack = {"name": "leaves", "entities": [str(v) for a in arms for v in (a[-1], a[1])],
            "edges": [[2 * i, 2 * i + 1] for i in range(len(arms))], "templates": ["{}"]}
    (tmp_path / "pack.json").write_text(json.dumps(pack))
    base = ["intervene", str(run), "--pack", str(tmp_path / "pack.json"), "--null", "5",
            "--out", str(out)]
    assert main(base + ["--template", f"[PATH] {{}} [PAUSE] {g.root}"]) == 0
    res = json.loads((out / "stand_in_leaves_layer0.json").read_text())
    assert res["n"] == 6 and res["entity_acc"] == 1.0 and res["significant_entity"]
    assert "warning" not in capsys.readouterr().err
    # reversed pack: each v1's "answer" is its leaf, which the model never says
    pack["entities"] = [str(v) for a in arms for v in (a[1], a[-1])]
    (tmp_path / "pack.json").write_text(json.dumps(pack))
    assert main(base + ["--template", f"[PATH] {{}} [PAUSE] {g.root}"]) == 0
    assert "the stand-in test says nothing here" in capsys.readouterr().err
    assert not json.loads((out / "stand_in_leaves_layer0.json").read_text())["significant_entity"]
    assert main(base + ["--test", "ablate"]) == 2
    assert "--pack runs the stand-in test only" in capsys.readouterr().err


def test_pack_answer_token_skips_what_the_bare_prefix_gives():
    """A tokenizer that splits " 1" into " " + "1" (as SmolLM2's does) must be checked on "1":
    the lone space is the same for every answer and would make any model look right."""
    def chars(text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    tok, forced = iv._answer_tokens(chars, {0: "1", 1: "2"}, " ")
    assert tok == {0: ord("1"), 1: ord("2")} and forced == {0: [32], 1: [32]}
    tok, forced = iv._answer_tokens(chars, {0: "1"}, "")
    assert tok == {0: ord("1")} and forced == {0: []}
    with pytest.raises(ValueError, match="'ab' and 'ac' begin with the same token"):
        iv._answer_tokens(chars, {0: "ab", 1: "ac"}, " ")
    with pytest.raises(ValueError, match="adds no token after the prefix"):
        iv._answer_tokens(chars, {0: ""}, " ")
