import numpy as np
import scipy.sparse as sp
import pytest
import torch

from hf_geommem import graphs as G
from hf_geommem import metrics as M
from hf_geommem.spectral import (group_eigenvalues, paper_laplacian,
                                 smallest_eigenvectors)


def _eigenmap(g, dims):
    # whole eigenspaces until every node has a direction (path- and tree-star eigenspaces
    # vanish on some nodes)
    from hf_geommem.spectral import laplacian_embedding

    return laplacian_embedding(g, dims, laplacian="combinatorial")


# ---------------------------------------------------------------- hand-computed values
def test_geometric_level_hand_value():
    g = G.from_edge_list([(0, 1), (1, 2)])
    X = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    s = M.geometric_level(X, g, n_null=0)
    assert s.value == pytest.approx(np.sqrt(0.5))  # both edges at 45 degrees
    assert M.geometric_level(torch.tensor(X), np.array([[0, 1], [1, 2]]), n_null=0).value == \
        pytest.approx(s.value)


def test_dirichlet_energy_hand_value():
    g = G.from_edge_list([(0, 1), (1, 2)])
    X = np.array([[0.0], [1.0], [2.0]])
    # Xc = [-1, 0, 1]; tr(Xc^T L Xc) = 1 + 1 = 2; 2|E| tr(Xc^T Xc)/(n-1) = 4 * 2 / 2 = 4
    s = M.dirichlet_energy(X, g, n_null=0)
    assert s.value == pytest.approx(0.5)
    # best: lambda_2 of the 3-path is 1 -> 1 * 2 / 4
    assert s.best == pytest.approx(0.5)


def test_spectral_fraction_and_grouping_on_cycle():
    c = G.cycle(12)
    ang = 2 * np.pi * np.arange(12) / 12
    X = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    s = M.spectral_energy_fraction(X, c, k=1, n_null=200, seed=1)
    # k=1 falls inside the 2-fold smoothest eigenspace: the cut takes both
    assert s.details["k_effective"] == 2 and s.chance == pytest.approx(2 / 11)
    assert s.value == pytest.approx(1.0) and s.significant
    assert list(group_eigenvalues(np.array([0.0, 1.0, 1.0 + 1e-12, 2.0]))) == [0, 1, 1, 2]


def test_topk_edge_recovery_hand_value():
    g = G.from_edge_list([(0, 1), (1, 2), (2, 3)])  # path 0-1-2-3
    X = np.eye(4)
    Z = np.array([[0, 5, 1, 0], [4, 0, 0, 3], [0, 9, 0, 1], [0, 0, 1, 2]], dtype=float)
    # node 0: top1 = 1 (hit); node 1: top2 = {0, 3} (1 of 2); node 2: top2 = {1, 3} (2/2);
    # node 3: top1 = 2 (self excluded) hit
    s = M.topk_edge_recovery(X, g, logits=Z, n_null=0)
    assert s.value == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert M.edge_recovery_from_topk(np.array([[1], [0]]), np.array([0, 1]),
                                     np.array([[0, 1], [1, 0]]))["value"] == 1.0


def test_edge_margin_and_skewed_low_rank():
    c = G.cycle(6)
    A = c.adjacency().toarray()
    m = M.edge_margin(A, c)
    assert m.value == pytest.approx(1.0) and m.details["top1"] == 1.0
    m2 = M.edge_margin(-A, c)
    assert m2.value == pytest.approx(-1.0) and m2.details["top1"] == 0.0
    # E orthonormal, W = A: an associative code (W off-diagonal in E's basis) -> skewed
    # margin collapses while the full margin is positive
    E = np.eye(6)
    s = M.skewed_low_rank_margin(E, A, c)
    assert s.details["full_margin"] == pytest.approx(1.0)
    assert s.value <= 0 and s.details["top1"] < 1
    # geometric: E = eigenvectors, W diagonal in that basis -> the skewed model is the model
    vals, vecs = np.linalg.eigh(A)
    E = vecs * (1 + 0.1 * np.arange(6))  # distinct singular values: V = I
    g_s = M.skewed_low_rank_margin(E, np.diag(vals), c)
    assert g_s.value == pytest.approx(g_s.details["full_margin"])
    assert g_s.details["top1"] == g_s.details["full_top1"]
    # a complete graph: no node has a non-neighbour, so no margin (not a silent NaN)
    k4 = G.erdos_renyi(4, 1.0, seed=0)
    assert k4.num_edges == 6
    with pytest.raises(ValueError, match="no node of the graph .* has both a neighbour and a "
                                         "non-neighbour"):
        M.edge_margin(k4.adjacency().toarray(), k4)


def test_leaf_first_hop_and_path_matrix():
    g = G.path_star(6, 4, canonical_ids=True)
    X = np.zeros((g.num_nodes, 7))
    X[0, 6] = 1.0
    for a, arm in enumerate(g.arms):
        X[arm[1:], a] = 1.0
    X[g.arms[:, 1:].ravel()] += 0.01 * np.random.default_rng(0).standard_normal((18, 7))
    nav = M.leaf_first_hop(X, g, n_null=100)
    assert nav.value == 1.0 and nav.chance == pytest.approx(1 / 6)
    assert nav.details["gap"] > 0.9 and nav.details["heatmap"].shape == (6, 6)
    assert nav.p < 0.05
    pm = M.path_distance_matrix(X, g, n_null=50)
    assert pm.details["matrix"].shape == (6, 6) and pm.value > 0.9
    held_out = M.leaf_first_hop(X, g, arms=np.array([1, 3, 4]), n_null=0)
    assert held_out.details["num_arms"] == 3 and held_out.chance == pytest.approx(1 / 3)


def test_spectral_profile_node2vec_like_mass():
    c = G.cycle(15)
    lap = paper_laplacian(c)
    basis = smallest_eigenvectors(lap)
    X = basis.vectors[:, 1:3] * 3.0  # the two smoothest non-trivial directions of -L
    s = M.spectral_profile(X, c, n_null=100)
    assert s.value == pytest.approx(1.0)
    assert s.details["group_sizes"][0] == 2 and s.details["profile"][0] == pytest.approx(1.0)
    assert s.details["spectrum"][0] == pytest.approx(s.details["spectrum"].max())


@pytest.mark.parametrize("psd", [True, False])
def test_sparse_eigensolver_retries_a_stalled_arpack_with_a_larger_subspace(psd, monkeypatch):
    # ARPACK stalled ("no shifts could be applied") on G(1000,5)'s degenerate spectrum, not
    # reproducibly: simulate the stall, and the retry must give the dense solver's eigenvalues
    import scipy.sparse.linalg as sla

    g = G.path_star(30, 4, seed=0)
    lap = paper_laplacian(g) if not psd else sp.csr_matrix(
        np.diag(g.degrees) - g.adjacency().toarray())
    real, calls = sla.eigsh, []

    def stalling(*args, ncv=None, **kw):
        calls.append(ncv)
        if ncv is None:
            raise sla.ArpackError(3)
        return real(*args, ncv=ncv, **kw)

    monkeypatch.setattr(sla, "eigsh", stalling)
    sparse = smallest_eigenvectors(lap, k=5, dense_limit=10, psd=psd)
    dense = smallest_eigenvectors(lap, k=5, psd=psd)
    assert calls == [None, 64] and np.allclose(sparse.values, dense.values, atol=1e-8)


def test_distance_correlation_and_auc():
    g = G.grid(6, 6)
    X = np.stack(np.divmod(np.arange(36), 6), axis=1).astype(float)  # grid coordinates
    r = M.distance_correlation(X, g, metric="euclidean", n_null=50)
    assert r.value > 0.9 and r.significant
    auc = M.link_prediction_auc(X + 1.0, g, n_null=50)
    assert auc.value > 0.75 and auc.significant  # cosine on shifted coordinates: 0.82


# ---------------------------------------------------------------- sanity: optimum, null
@pytest.mark.parametrize("graph", [G.path_star(10, 4, seed=2), G.grid(5, 5), G.cycle(15),
                                   G.random_regular(24, 3, seed=1)])
def test_eigenmap_near_optimum_random_at_null_permuted_at_null(graph):
    X = _eigenmap(graph, 4)
    rng = np.random.default_rng(0)
    de = M.dirichlet_energy(X[:, :1], graph, n_null=100)
    assert de.value == pytest.approx(de.best, rel=1e-6)  # the Fiedler vector is optimal
    rep = M.geometry_report(X, graph, n_null=100)
    for name, s in rep.items():
        assert s.significant, (name, s.value, s.null_low, s.null_high)
    R = rng.standard_normal(X.shape)
    for name, s in M.geometry_report(R, graph, n_null=100).items():
        assert abs(s.z) < 4, (name, s.z)
    P = X[rng.permutation(graph.num_nodes)]
    for name, s in M.geometry_report(P, graph, n_null=100).items():
        assert abs(s.z) < 4, (name, s.z)


def test_null_fields_and_determinism():
    g = G.cycle(10)
    X = np.random.default_rng(1).standard_normal((10, 3))
    a, b = M.geometric_level(X, g, seed=3), M.geometric_level(X, g, seed=3)
    assert a.as_dict() == b.as_dict() and a.n_null == 100
    null = a.details["null"]
    assert a.null_low <= a.null_mean <= a.null_high
    assert a.p == pytest.approx((1 + (null >= a.value).sum()) / (len(null) + 1))
    assert a.p_opposite == pytest.approx((1 + (null <= a.value).sum()) / (len(null) + 1))
    assert M.geometric_level(X, g, n_null=0).n_null == 0


def test_big_graph_null_matches_exact_null():
    g = G.path_star(3000, 10, seed=0)
    X = np.random.default_rng(0).standard_normal((g.num_nodes, 16)) + 0.5
    fast = M.dirichlet_energy(X, g, n_null=200)
    from hf_geommem.metrics import smoothness

    exact_fn = smoothness._edge_dot_null
    try:
        smoothness._edge_dot_null = lambda Y, u, v, seed: exact_fn(Y, u, v, seed,
                                                                  max_edges=10 ** 9)
        exact = M.dirichlet_energy(X, g, n_null=200)
    finally:
        smoothness._edge_dot_null = exact_fn
    assert fast.null_mean == pytest.approx(exact.null_mean, abs=3e-3)
    assert fast.null_std == pytest.approx(exact.null_std, rel=0.25)


# ---------------------------------------------------------------- bad input
def test_bad_inputs():
    g = G.cycle(5)
    X = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(ValueError, match="X has 4 rows but the graph has 5 nodes"):
        M.geometric_level(X[:4], g)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite value .* at row 2, column 1"):
        M.dirichlet_energy(Xn, g)
    Xz = X.copy()
    Xz[3] = 0
    with pytest.raises(ValueError, match="node 3 .row 3 of X. has a zero embedding"):
        M.geometric_level(Xz, g)
    with pytest.raises(ValueError, match="no edges"):
        M.geometric_level(X, G.from_edge_list([], num_nodes=5))
    with pytest.raises(ValueError, match="k must be in 1..3"):
        M.spectral_energy_fraction(X, g, k=9)
    with pytest.raises(ValueError, match="2 components"):
        M.leaf_first_hop(np.ones((16, 2)), G.irregular16())
    with pytest.raises(ValueError, match="2-D"):
        M.geometric_level(np.ones(5), g)
    with pytest.raises(ValueError, match="isolated"):
        M.spectral_profile(np.ones((4, 2)), G.from_edge_list([(0, 1), (1, 2)], num_nodes=4))
    with pytest.raises(TypeError, match="cannot read a graph"):
        M.geometric_level(X, "cycle")


def test_disconnected_graph_is_documented_not_nan():
    g = G.irregular16()
    X = np.random.default_rng(0).standard_normal((16, 4))
    de = M.dirichlet_energy(X, g, n_null=20)
    assert de.best == 0.0 and np.isfinite(de.value)
    rep = M.geometry_report(X, g, n_null=20)
    assert all(np.isfinite(s.value) for s in rep.values())


def test_preprocessing():
    X = np.random.default_rng(0).standard_normal((30, 6)) * np.array([100, 1, 1, 1, 1, 0])
    S = M.prepare_representations(X, standardize=True)
    assert S.shape == (30, 5) and np.allclose(S.std(axis=0), 1)
    P = M.prepare_representations(X, n_components=2)
    assert P.shape == (30, 2)
    with pytest.raises(ValueError, match="n_components must be in 1..6"):
        M.prepare_representations(X, n_components=7)


def test_graph_inputs_from_dataset_and_networkx():
    import hf_geommem as H

    task = H.build_task("path_star", degree=5, length=3, seed=0)
    X = np.random.default_rng(0).standard_normal((task.graph.num_nodes, 3))
    a = M.geometric_level(X, task, n_null=0).value
    assert M.geometric_level(X, task["graph"], n_null=0).value == pytest.approx(a)
    assert M.geometric_level(X, task.graph.to_networkx(), n_null=0).value == pytest.approx(a)


def test_knn_edge_recall_hand_value():
    g = G.from_edge_list([(0, 1), (1, 2), (2, 3)])
    X = np.array([[1.0, 0.0], [1.0, 0.2], [1.0, 0.5], [0.0, 1.0]])
    # cosine order: node 0 -> 1; node 1 -> {0, 2}; node 2 -> nearest two {1, 0} (3 is far)
    # node 3 -> nearest one is 2: recalls 1, 1, 1/2, 1
    s = M.knn_edge_recall(X, g, n_null=0)
    assert s.value == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_one_significance_rule_and_verdict():
    from hf_geommem.metrics import ALPHA, Score, binomial_p, memory_verdict, significant

    assert significant(ALPHA) and not significant(ALPHA * 1.01) and not significant(float("nan"))
    g = G.cycle(15)
    smooth = np.stack([np.cos(2 * np.pi * np.arange(15) / 15),
                       np.sin(2 * np.pi * np.arange(15) / 15)], 1)
    gl = M.geometric_level(smooth, g, n_null=200)
    de = M.dirichlet_energy(smooth, g, n_null=200)
    assert gl.significant == (gl.p <= ALPHA) and gl.significant
    assert memory_verdict(gl, de) == "geometric"
    assert memory_verdict(**M.verdict_scores(smooth, g, n_null=200)) == "geometric"
    assert memory_verdict(gl, de, skewed_margin=-0.1) == "associative"
    # neighbours anti-aligned: alternate signs on an even cycle
    zz = np.stack([(-1.0) ** np.arange(16), np.ones(16) * 0.1], 1)
    assert memory_verdict(**M.verdict_scores(zz, G.cycle(16), n_null=200)) == "zig-zag"
    # without a null nothing is significant
    assert not Score("x", 1.0).significant
    # binomial: 5 of 75 at chance 1/300 is far above chance; 1 of 75 is not
    assert significant(binomial_p(5, 75, 1 / 300)) and not significant(binomial_p(1, 75, 1 / 300))
    with pytest.raises(ValueError, match="successes"):
        binomial_p(80, 75, 0.1)


def test_authors_metric_variants_hand_values():
    g = G.cycle(6)
    t = 2 * np.pi * np.arange(6) / 6
    X = np.stack([np.cos(t), np.sin(t)], 1)
    ours = M.topk_edge_recovery(X, g, k_max=1, n_null=0).value
    edge = M.topk_edge_recovery(X, g, k_max=1, per="directed_edge", n_null=0).value
    # ours: each node's top-1 is a neighbour (ties broken either way) -> 1.0; per directed
    # edge with k=1 only one of the two out-edges can be found: n / |E| = 6 / 12
    assert ours == 1.0 and edge == pytest.approx(0.5)
    assert M.topk_edge_recovery(X, g, k_max=2, per="directed_edge", n_null=0).value == 1.0
    # logits whose diagonal dominates: the authors' ranking spends the first slot on u itself
    Z = X @ X.T + 10 * np.eye(6)
    assert M.topk_edge_recovery(None, g, k_max=2, logits=Z, n_null=0).value == 1.0
    assert M.topk_edge_recovery(None, g, k_max=2, logits=Z, rank_self=True,
                                n_null=0).value == pytest.approx(0.5)
    em = M.edge_margin(Z, g)
    assert em.details["top1"] == 1.0
    assert M.edge_margin(Z, g, top1_with_self=True).details["top1"] == 0.0
    with pytest.raises(ValueError, match="per must be"):
        M.topk_edge_recovery(X, g, per="edge")
    with pytest.raises(ValueError, match="needs X .embeddings. or logits"):
        M.topk_edge_recovery(None, g)
    with pytest.raises(ValueError, match="k_max must be an integer >= 1, got 0"):
        M.knn_edge_recall(X, g, k_max=0)
    with pytest.raises(ValueError, match="max_pairs must be an integer >= 1"):
        M.link_prediction_auc(X, g, max_pairs=0)


def test_path_distance_matrix_needs_two_arms():
    g = G.path_star(3, 4, seed=0)
    X = np.random.default_rng(0).standard_normal((g.num_nodes, 3))
    with pytest.raises(ValueError, match=">= 2 arms"):
        M.path_distance_matrix(X, g, arms=np.array([0]))
    assert np.isfinite(M.path_distance_matrix(X, g, n_null=0).value)


def test_holm_adjust_hand_values():
    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 0.04)
    assert M.holm_adjust([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert M.holm_adjust([0.5, float("nan")]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="p-values"):
        M.holm_adjust([-0.1])


def test_memory_verdict_is_holm_corrected_and_takes_only_its_scores():
    from hf_geommem.metrics import ALPHA, VERDICT_MIN_NULL, Score, memory_verdict, verdict_tests

    def score(name, p, p_opp, n_null=200):
        return Score(name, 0.0, p=p, p_opposite=p_opp, n_null=n_null)

    # each p alone would pass ALPHA; Holm needs the smaller at ALPHA / 2
    gl, de = score("geometric_level", 0.02, 0.99), score("dirichlet_energy", 0.02, 0.99)
    t = verdict_tests(gl, de)
    assert t["p_level"] == pytest.approx(0.04) and t["p_smoothness_holm"] == pytest.approx(0.04)
    assert memory_verdict(gl, de) == "associative"
    # smaller p at ALPHA / 2, larger at ALPHA: both reject
    gl, de = score("geometric_level", 0.005, 0.99), score("dirichlet_energy", 0.02, 0.99)
    assert verdict_tests(gl, de)["p_geometric"] == pytest.approx(0.02)
    assert memory_verdict(gl, de) == "geometric"
    # the energy alone: at ALPHA / 2 it passes, at ALPHA (first in Holm's order) it does not
    assert memory_verdict(score("geometric_level", 0.9, 0.1), de) == "associative"
    assert memory_verdict(score("geometric_level", 0.9, 0.1),
                          score("dirichlet_energy", 0.01, 0.99)) == "weakly geometric"
    assert memory_verdict(score("geometric_level", 0.99, 0.004), de) == "zig-zag"
    assert verdict_tests(score("geometric_level", 0.99, 0.004), de)["p_geometric"] == 1.0
    assert VERDICT_MIN_NULL == int(np.ceil(4 / ALPHA)) - 1 == 159
    with pytest.raises(ValueError, match="expected 'dirichlet_energy', got "
                                         "'spectral_energy_fraction'"):
        memory_verdict(gl, score("spectral_energy_fraction", 0.01, 0.99))
    with pytest.raises(ValueError, match="n_null=40"):
        memory_verdict(gl, score("dirichlet_energy", 0.02, 0.99, n_null=40))


def test_authors_per_node_recovery_divides_by_degree():
    # a star with 6 leaves (root degree 6 > k_max 5): logits 1 on edges, 0 elsewhere
    star = G.path_star(6, 2, canonical_ids=True)
    n = star.num_nodes
    Z = np.zeros((n, n))
    for a, b in star.edges:
        Z[a, b] = Z[b, a] = 1.0
    ours = M.topk_edge_recovery(None, star, logits=Z, n_null=0)
    theirs = M.topk_edge_recovery(None, star, logits=Z, n_null=0, per="node_degree")
    # by hand: ours = 1 for every node; theirs = (5/6 for the root + 6 leaves at 1) / 7
    assert ours.value == pytest.approx(1.0)
    assert theirs.value == pytest.approx((5 / 6 + 6) / 7)
    # every degree <= k_max: the two agree
    c = G.cycle(6)
    Zc = np.zeros((6, 6))
    for a, b in c.edges:
        Zc[a, b] = Zc[b, a] = 1.0
    assert M.topk_edge_recovery(None, c, logits=Zc, n_null=0, per="node_degree").value == 1.0
    with pytest.raises(ValueError, match="node_degree"):
        M.topk_edge_recovery(None, c, logits=Zc, n_null=0, per="edge")


def test_authors_geometric_level_with_self_edges():
    # the 4-cycle's eigenmap (cos, sin of 90-degree steps): adjacent cosines 0, so ours is 0;
    # theirs averages 8 directed edges at 0 and 4 self-edges at 1: 4 / 12
    ang = np.pi / 2 * np.arange(4)
    X = np.stack([np.cos(ang), np.sin(ang)], 1)
    c4 = G.cycle(4)
    assert M.geometric_level(X, c4, n_null=0).value == pytest.approx(0.0, abs=1e-7)
    theirs = M.geometric_level(X, c4, n_null=50, self_edges=True)
    assert theirs.value == pytest.approx(1 / 3)
    ours = M.geometric_level(X, c4, n_null=50)
    # value and null transform alike: same p-values
    assert theirs.p == ours.p and theirs.null_mean == pytest.approx(2 / 3 * ours.null_mean + 1 / 3)
