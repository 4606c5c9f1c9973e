import json

import numpy as np
import pytest
from conftest import assert_real_figure

from hf_geommem import graphs as G
from hf_geommem.cli import main
from hf_geommem.geometry import GeometryRecorder, read_geometry
from hf_geommem.node2vec import Node2VecConfig, record_schedule, train_node2vec
from hf_geommem.studies import knob_study, score_memory, timing_contrast, tiny_study, train_linear


def test_record_schedule_dense_early():
    s = record_schedule(10_000, 30)
    assert s[0] == 0 and s[-1] == 10_000 and s == sorted(set(s))
    assert sum(x <= 100 for x in s) > sum(x > 1000 for x in s)


def test_node2vec_cycle_concentrates_on_top_eigenvectors():
    c = G.cycle(15)
    res = train_node2vec(c, Node2VecConfig(epochs=3000))
    pv = res.history[-1]["proj_V"]
    # eigenvalues of -L descending: trivial top, then the 2-fold smoothest pair
    assert res.eigenvalues[0] == pytest.approx(0, abs=1e-9)
    assert res.eigenvalues[1] == pytest.approx(res.eigenvalues[2])
    share = (pv[1:3] ** 2).sum() / (pv[1:] ** 2).sum()
    assert share > 0.99
    # C's null space comes to contain the top eigenvectors
    assert res.history[-1]["proj_C"][:3].max() < 1e-2 < res.history[-1]["proj_C"][5]
    assert res.history[0]["loss"] > res.history[-1]["loss"]
    s = score_memory(res.V, c, n_null=160)
    assert s["geometric_level"] > 0.9 and s["verdict"] == "geometric"
    assert s["topk_recovery"] == 1.0


def test_node2vec_untied_and_gradient_is_CV():
    import torch

    g = G.path_star(3, 3, canonical_ids=True)
    cfg = Node2VecConfig(dim=5, epochs=1, lr=1e-3, record_steps=[0, 1])
    r = train_node2vec(g, cfg)
    V0, V1 = r.history[0]["V"], r.history[1]["V"]
    # autograd check: dV = lr * dJ/dV
    V = torch.tensor(V0, requires_grad=True)
    A = torch.tensor(g.adjacency().toarray())
    P = A / A.sum(1, keepdim=True)
    J = (P * torch.log_softmax(V @ V.T, 1)).sum()
    J.backward()
    assert np.allclose(V1 - V0, 1e-3 * V.grad.numpy(), atol=1e-10)
    u = train_node2vec(g, Node2VecConfig(dim=5, epochs=20, tied=False, keep_C=True))
    assert u.U is not None and u.U.shape == u.V.shape
    C = u.history[-1]["C"]
    assert C.shape == (7, 7) and np.allclose(C, C.T)
    assert np.allclose(np.linalg.norm(C @ u.eigenvectors, axis=0), u.history[-1]["proj_C"])


@pytest.mark.parametrize("tied", [True, False])
def test_node2vec_chunked_softmax_matches_dense(tied):
    # the chunked path (graphs whose n x n matrices do not fit) gives the dense path's run:
    # the same V, U, losses and C projections, to float64 summation order
    g = G.path_star(5, 4, canonical_ids=True)
    kw = dict(dim=6, epochs=30, lr=0.05, tied=tied, record_steps=[0, 7, 30])
    dense = train_node2vec(g, Node2VecConfig(**kw))
    chunked = train_node2vec(g, Node2VecConfig(**kw, chunk_rows=4))  # 16 nodes: 4 chunks
    assert np.allclose(chunked.V, dense.V, atol=1e-12)
    assert not np.allclose(dense.V, dense.history[0]["V"])  # it trained
    if not tied:
        assert np.allclose(chunked.U, dense.U, atol=1e-12)
    for a, b in zip(dense.history, chunked.history, strict=True):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], abs=1e-12)
        assert np.allclose(a["proj_C"], b["proj_C"], atol=1e-10)
        assert np.allclose(a["proj_V"], b["proj_V"], atol=1e-10)
    with pytest.raises(ValueError, match="keep_C stores the n x n matrix"):
        train_node2vec(g, Node2VecConfig(**kw, chunk_rows=4, keep_C=True))
    with pytest.raises(ValueError, match="chunk_rows must be an integer >= 1 or None, got 0"):
        Node2VecConfig(chunk_rows=0)


def test_node2vec_errors():
    with pytest.raises(ValueError, match="node 3 is isolated"):
        train_node2vec(G.from_edge_list([(0, 1), (1, 2)], num_nodes=4), Node2VecConfig(epochs=1))
    with pytest.raises(ValueError, match="dim \\(m\\) must be >= 1, got 0"):
        Node2VecConfig(dim=0)
    with pytest.raises(ValueError, match="outside the run's 0..10 steps"):
        Node2VecConfig(epochs=10, record_steps=[0, 50])


def test_geometry_recorder_with_node2vec(tmp_path):
    g = G.path_star(4, 5, canonical_ids=True)
    rec = GeometryRecorder(g, tmp_path, schedule=[0, 10, 100], n_null=10)
    train_node2vec(g, Node2VecConfig(epochs=100, record_steps=[0, 10, 100],
                                     keep_embeddings=False), callback=rec)
    rows = read_geometry(tmp_path)
    assert [r["step"] for r in rows] == [0, 10, 100]
    assert {"geometric_level", "spectral_top_mass", "topk_edge_recovery",
            "navigation_accuracy"} <= set(rows[-1])
    assert rows[-1]["geometric_level"] > rows[0]["geometric_level"]
    assert len(list((tmp_path / "geometry").glob("step_*.npy"))) == 3


def test_linear_network_frozen_is_associative_trainable_is_not():
    c = G.cycle(15)
    frozen = train_linear(c, dim=32, lr=0.1, steps=60, init_std=1.0, freeze_embeddings=True)
    assert frozen.history[-1]["topk"] == 1.0
    s = score_memory(frozen.E, c, frozen.E @ frozen.W @ frozen.E.T, n_null=160)
    assert s["verdict"] == "associative" and s["topk_recovery"] == 1.0
    t = timing_contrast(n_null=50)
    assert t["associative_fit_steps"] is not None and t["associative_fit_steps"] <= 20


def test_tiny_study_rows_small():
    rows = tiny_study({"cycle_15": G.cycle(15)}, ("associative", "node2vec", "laplacian",
                                                   "transformer"),
                      transformer_steps=150, node2vec_epochs=2000, n_null=160)
    by = {r["model"]: r for r in rows}
    assert by["node2vec"]["verdict"] == "geometric"
    assert by["associative"]["verdict"] != "geometric"
    assert by["laplacian"]["verdict"] == "geometric"
    assert by["transformer"]["topk_recovery"] > 0.5
    with pytest.raises(ValueError, match="unknown tiny-study models"):
        tiny_study({"c": G.cycle(5)}, ("cnn",))


def test_knob_study_small():
    rows = knob_study(steps=300, dim=64, n_null=160,
                      knobs={"N(0,1) init, lr 1e-4": dict(init_std=1.0, lr=1e-4)})
    assert rows[0]["verdict"] == "associative" and rows[0]["skewed_margin"] < 0
    assert set(rows[0]) >= {"geometric_level", "skewed_margin", "top1", "spectral_fraction"}


def test_cli_tiny_timing_and_plot(tmp_path, capsys):
    assert main(["tiny", "timing", "--out", str(tmp_path / "t"), "--null", "160"]) == 0
    assert "frozen-embedding associative fit" in capsys.readouterr().out
    data = json.loads((tmp_path / "t/tiny_study.json").read_text())
    assert "timing" in data
    # a run with geometry recording, then its figures
    ds = tmp_path / "ds"
    assert main(["build", "path-star", "--degree", "6", "--length", "3", "--out", str(ds)]) == 0
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(ds), "--model", "gpt2-tiny", "--out", str(run),
                 "--max-steps", "6", "--eval-steps", "3", "--geometry-points", "4"]) == 0
    assert main(["plot", str(run)]) == 0
    for f in ("training.png", "geometry_curves.png", "pca.png", "cosine.png", "spectrum.png",
              "leaf_first_hop.png"):
        assert_real_figure(run / "figures" / f)
    assert main(["plot", str(tmp_path / "nope")]) == 2


def test_linear_network_zigzag_without_self_edges_aligned_with():
    rows = tiny_study({"cycle_15": G.cycle(15)}, ("linear",), linear_steps=1000, n_null=160,
                      self_edges=False)
    # anti-aligned neighbours; here p_opposite is ~0.03 at 1000 steps, so the verdict is
    # zig-zag or (with S_2 significant) weakly geometric, never geometric
    assert rows[0]["geometric_level"] < 0 and rows[0]["verdict"] != "geometric"
    rows = tiny_study({"cycle_15": G.cycle(15)}, ("linear",), linear_steps=1000, n_null=160)
    assert rows[0]["geometric_level"] > 0.3 and rows[0]["verdict"] == "geometric"


def test_whole_six_model_study_on_all_four_tiny_graphs():
    """Every model on every tiny graph completes (issue: the Laplacian reference of the 4-arm
    star had a zero root row and stopped `hf-geommem tiny`)."""
    from hf_geommem.studies import TINY_MODELS

    graphs = G.tiny_graphs(0)
    rows = tiny_study(graphs, TINY_MODELS, transformer_steps=20, mamba_steps=10,
                      linear_steps=100, node2vec_epochs=300, n_null=160)
    assert {(r["graph"], r["model"]) for r in rows} == {(g, m) for g in graphs
                                                        for m in TINY_MODELS}
    for r in rows:
        assert np.isfinite(r["geometric_level"]) and r["verdict"] in (
            "geometric", "weakly geometric", "zig-zag", "associative")
    lap = {r["graph"]: r for r in rows if r["model"] == "laplacian"}
    assert all(r["verdict"] == "geometric" for r in lap.values())


def test_laplacian_embedding_whole_eigenspaces_no_zero_rows():
    from hf_geommem.spectral import laplacian_embedding, paper_laplacian, smallest_eigenvectors

    star = G.path_star(4, 5, canonical_ids=True)
    X = laplacian_embedding(star, 3)
    # the 3-fold eigenspace vanishes on the root: the next eigenspace is added
    assert X.shape[1] > 3 and np.linalg.norm(X, axis=1).min() > 1e-3
    # basis-free: X X^T is the projector onto the span of whole eigenspaces
    basis = smallest_eigenvectors(paper_laplacian(star))
    k = X.shape[1]
    groups = basis.groups
    assert groups[k] != groups[k + 1]  # the cut falls between eigenspaces
    rot = np.linalg.qr(np.random.default_rng(0).standard_normal((k, k)))[0]
    assert np.allclose((X @ rot) @ (X @ rot).T, X @ X.T)
    P = basis.vectors[:, 1:k + 1] @ basis.vectors[:, 1:k + 1].T
    assert np.allclose(P, X @ X.T)
    # the cycle's 2-fold eigenspaces: asking for 3 columns takes 4 (two whole eigenspaces)
    assert laplacian_embedding(G.cycle(15), 3).shape[1] == 4
    with pytest.raises(ValueError, match="dim must be in"):
        laplacian_embedding(G.cycle(15), 0)


def test_zero_rows_are_named_whatever_the_round_off():
    from hf_geommem.metrics import geometric_level

    X = np.random.default_rng(0).standard_normal((15, 4))
    for tiny in (0.0, 1e-17):  # exact zero and round-off: the same outcome
        Y = X.copy()
        Y[3] = tiny
        with pytest.raises(ValueError, match="node 3"):
            geometric_level(Y, G.cycle(15), n_null=0)


def test_node2vec_grouped_projections_are_basis_free():
    res = train_node2vec(G.cycle(15), Node2VecConfig(epochs=50, dim=8))
    h = res.history[-1]
    # per eigenspace: sqrt of the summed squares of its vectors' projections
    assert len(h["proj_V_group"]) == res.groups.max() + 1 == 8  # 1 + 7 two-fold eigenspaces
    assert np.allclose(h["proj_V_group"] ** 2, np.bincount(res.groups, weights=h["proj_V"] ** 2))


def test_knob_table_flags_basis_dependent_skewed_margin():
    rows = knob_study(steps=50, dim=16, n_null=160,
                      knobs={"default init, lr 1e-2": dict(init_std=0.02, lr=1e-2)})
    assert isinstance(rows[0]["basis_dependent"], bool)
    assert rows[0]["agrees"] == (rows[0]["verdict"] in ("geometric", "zig-zag"))
    from hf_geommem.studies import knob_agrees

    assert knob_agrees("zig-zag", "geometric") and not knob_agrees("zig-zag",
                                                                    "geometric (no zig-zag)")
    assert not knob_agrees("weakly geometric", "geometric")
    with pytest.raises(ValueError, match="unknown paper verdict"):
        knob_agrees("geometric", "weaker")
