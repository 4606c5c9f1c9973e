"""One test per row of the README's table "Our scores against the authors' code": each checks
the option that reproduces the authors' number against a value derived by hand (arithmetic in
the comments) on a graph of 3 to 5 nodes, and, where it differs, our default against its own
hand value. Bad inputs of the new options come last."""

from __future__ import annotations

import numpy as np
import pytest

from hf_geommem import graphs as G
from hf_geommem import metrics as M
from hf_geommem import spectral as S

SQ2 = np.sqrt(2.0)


def path3() -> G.Graph:
    """0 - 1 - 2: node 1 is adjacent to every other node (no non-neighbour)."""
    return G.from_edge_list([(0, 1), (1, 2)], num_nodes=3)


def star3() -> G.Graph:
    """Root 0 with leaves 1, 2, 3 (root degree 3)."""
    g = G.path_star(3, 2, canonical_ids=True)
    assert g.edges.tolist() == [[0, 1], [0, 2], [0, 3]]
    return g


def adjacency(g: G.Graph) -> np.ndarray:
    return g.adjacency().toarray().astype(np.float64)


# --- row: topk_edge_recovery, rank_self=True (in_weights/utils.get_top_k_predictions_for_all_nodes)
def test_rank_self_counts_a_self_prediction_as_a_miss():
    g = path3()
    Z = adjacency(g) + 10 * np.eye(3)  # every node scores itself first
    # ours (self not a candidate), k_max=2: node 0 top-min(1,2)=1 -> [1] hit: 1;
    # node 1 top-2 -> {0, 2}: 2/2; node 2 -> [1]: 1. Mean 1.
    assert M.topk_edge_recovery(None, g, k_max=2, logits=Z, n_null=0).value == 1.0
    # theirs: node 0's one slot is itself: 0; node 1 top-2 = [1, 0 or 2]: 1/2; node 2: 0.
    # Mean (0 + 1/2 + 0) / 3 = 1/6.
    theirs = M.topk_edge_recovery(None, g, k_max=2, logits=Z, rank_self=True, n_null=0)
    assert theirs.value == pytest.approx(1 / 6, abs=1e-15)


# --- row: per="directed_edge" (tiny_graphs_notebooks/analysis/metrics.topk_recovery_percent)
def test_per_directed_edge_on_a_three_arm_star():
    g = star3()
    Z = adjacency(g)  # logits 1 on edges, 0 elsewhere
    # theirs, k=2: 6 directed edges. Root: any 2 of its 3 leaves in its top 2 -> 2 hits;
    # each leaf's top 2 holds the root -> 3 hits. (2 + 3) / 6 = 5/6.
    theirs = M.topk_edge_recovery(None, g, k_max=2, logits=Z, per="directed_edge", n_null=0)
    assert theirs.value == pytest.approx(5 / 6, abs=1e-15)
    # ours: root 2 hits / min(3, 2) = 1; leaves 1 / min(1, 2) = 1 -> 1.
    assert M.topk_edge_recovery(None, g, k_max=2, logits=Z, n_null=0).value == 1.0


# --- row: per="node_degree" (notebook_utils/experiment_utils.compute_topk_recovery_percent)
def test_per_node_degree_divides_by_the_degree():
    g = star3()
    Z = adjacency(g)
    # theirs, k=2: root 2 hits in its top-min(3, 2) = 2, divided by deg 3: 2/3; leaves 1.
    # (2/3 + 3) / 4 = 11/12.
    theirs = M.topk_edge_recovery(None, g, k_max=2, logits=Z, per="node_degree", n_null=0)
    assert theirs.value == pytest.approx(11 / 12, abs=1e-15)
    # every degree <= k_max (k_max=3): the two agree, 1.
    assert M.topk_edge_recovery(None, g, k_max=3, logits=Z, per="node_degree",
                                n_null=0).value == 1.0


# --- row: edge_margin top-1, top1_with_self=True (analysis/analysis_spectral._top1_edge_accuracy)
def test_top1_with_self_on_a_path_of_three():
    g = path3()
    Z = adjacency(g) + np.diag([2.0, 0.0, 2.0])
    # rows: [2, 1, 0], [1, 0, 1], [0, 1, 2]
    # theirs: argmax over every column: node 0 -> 0 (self, miss), node 1 -> 0 (first of the
    # tied 1s, a neighbour: hit), node 2 -> 2 (miss); every node with a neighbour counts,
    # node 1 too (it has no non-neighbour, hence no margin): 1/3.
    theirs = M.edge_margin(Z, g, top1_with_self=True)
    assert theirs.details["top1"] == pytest.approx(1 / 3, abs=1e-15)
    # ours: self not a candidate, over the nodes with a margin (0 and 2): node 0 -> 1 (score
    # 1 > 0), node 2 -> 1: 2/2. Margin: node 0: 1 - 0, node 2: 1 - 0 -> 1 (node 1 has none).
    ours = M.edge_margin(Z, g)
    assert ours.details["top1"] == 1.0 and ours.value == 1.0
    assert theirs.value == 1.0  # the option changes the top-1 only
    assert ours.details["per_node"].tolist() == [1.0, 1.0]


# --- rows: self-edge runs (their margin and top-1 exclude the diagonal even when self-edges
# are trained): self_edges=False, top1_with_self=True
def test_self_edge_run_margin_and_top1():
    g = path3()
    Z = adjacency(g) + np.diag([2.0, 0.0, 2.0])  # a self-edge run: self scores high
    # ours for a self-edge run (self_edges=True): self is a neighbour. Node 0: max(2, 1) - 0 = 2;
    # node 2: 2; node 1 has no non-neighbour. Margin 2. Top-1 (self a candidate and a hit):
    # nodes 0 and 2 -> themselves: 2/2.
    ours = M.edge_margin(Z, g, self_edges=True)
    assert ours.value == 2.0 and ours.details["top1"] == 1.0
    # theirs = self_edges=False: node 0: Z[0,1] - Z[0,2] = 1 - 0 = 1; node 2: 1 -> margin 1
    theirs = M.edge_margin(Z, g, self_edges=False, top1_with_self=True)
    assert theirs.value == 1.0
    # their top-1 misses self predictions whatever self_edges says: 1/3 (see the row above)
    assert theirs.details["top1"] == pytest.approx(1 / 3, abs=1e-15)
    assert M.edge_margin(Z, g, self_edges=True, top1_with_self=True).details["top1"] == \
        pytest.approx(1 / 3, abs=1e-15)


# --- row: skewed_low_rank_margin, top1_with_self (analysis_spectral.compute_margin_and_accuracy:
# full margin, skewed margin, the *skewed* model's top-1)
def test_skewed_low_rank_margin_top1_with_self():
    g = path3()
    # E rows e0 = (2, 1), e1 = (0, -2), e2 = (-2, 1): columns x = (2, 0, -2), y = (1, -2, 1)
    # are orthogonal (2 - 0 - 2 = 0) with norms^2 8 and 6: singular values sqrt 8 > sqrt 6, V = +-I,
    # so lambda = diag(W) = (1, -1) and the skewed logits are x x^T - y y^T:
    #   [[4-1, 0+2, -4-1], [2, 0-4, 0+2], [-5, 2, 4-1]] = [[3, 2, -5], [2, -4, 2], [-5, 2, 3]]
    E = np.array([[2.0, 1.0], [0.0, -2.0], [-2.0, 1.0]])
    W = np.array([[1.0, 3.0], [-1.0, -1.0]])
    # skewed margin: node 0: 2 - (-5) = 7; node 2: 7 -> 7 (node 1 has no non-neighbour)
    # theirs (skewed top-1): node 0 -> 0 (3 > 2, self: miss), node 1 -> 0 or 2 (tied 2s, both
    # neighbours: hit), node 2 -> 2 (miss): 1/3
    # full logits E W E^T: W e0 = (5, -3), W e1 = (-6, 2), W e2 = (1, 1);
    #   rows e_u . W e_v: [[7, -10, 3], [6, -4, -2], [-13, 14, -1]]
    # full margin: node 0: -10 - 3 = -13; node 2: 14 - (-13) = 27 -> 7
    # full top-1, theirs: node 0 -> 0 (miss), node 1 -> 0 (hit), node 2 -> 1 (hit): 2/3
    theirs = M.skewed_low_rank_margin(E, W, g, self_edges=False, top1_with_self=True)
    assert theirs.value == pytest.approx(7.0, abs=1e-12)
    assert theirs.details["lambdas"] == pytest.approx([1.0, -1.0], abs=1e-12)
    assert theirs.details["top1"] == pytest.approx(1 / 3, abs=1e-15)
    assert theirs.details["full_margin"] == pytest.approx(7.0, abs=1e-12)
    assert theirs.details["full_top1"] == pytest.approx(2 / 3, abs=1e-15)
    assert theirs.details["basis_dependent"] is False
    # ours (self not a candidate, nodes with a margin): skewed node 0 -> 1 (2 > -5), node 2 -> 1:
    # 1; full node 0 -> 2 (3 > -10, miss), node 2 -> 1 (hit): 1/2
    ours = M.skewed_low_rank_margin(E, W, g)
    assert ours.details["top1"] == 1.0 and ours.details["full_top1"] == 0.5
    assert ours.value == pytest.approx(7.0, abs=1e-12)


# --- row: geometric_level, self_edges=True (analysis/analysis_curves.compute_associative_geometric_curves
# over the edge list, which holds (u, u) in self-edge runs)
def test_geometric_level_with_self_edges_on_a_path_of_three():
    g = path3()
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # cos(0, 1) = 0, cos(1, 2) = 1/sqrt 2: ours (1/sqrt 2) / 2 = 1 / (2 sqrt 2)
    assert M.geometric_level(X, g, n_null=0).value == pytest.approx(1 / (2 * SQ2), abs=1e-7)
    # theirs: 4 directed edges (each cosine twice) + 3 self-edges at 1:
    # (2 * 0 + 2 / sqrt 2 + 3) / 7 = (sqrt 2 + 3) / 7
    theirs = M.geometric_level(X, g, n_null=0, self_edges=True)
    assert theirs.value == pytest.approx((SQ2 + 3) / 7, abs=1e-7)
    assert theirs.details["self_edge_weight"] == pytest.approx(3 / 7)


# --- row: spectral bars (analysis/analysis_spectral.build_graph_spectral_state +
# compute_spectral_bias_from_state)
def test_authors_spectrum_eigenvalue_bars_on_a_five_cycle():
    g = G.cycle(5)
    # C5: D = 2I, P + P^T = A, eigenvalues 2 cos(2 pi k / 5): 2, 2 cos 72 (x2), 2 cos 144 (x2).
    # Top dropped, divided by 2 cos 72 = (sqrt 5 - 1) / 2:
    # [1, 1, r, r], r = cos 144 / cos 72 = -(sqrt 5 + 1) / (sqrt 5 - 1) = -(3 + sqrt 5) / 2
    r = -(3 + np.sqrt(5)) / 2
    a = S.authors_spectrum(g)
    assert a.eigenvalues == pytest.approx([1, 1, r, r], abs=1e-12)
    assert a.eigenvalue_scale == pytest.approx((np.sqrt(5) - 1) / 2, abs=1e-12)
    assert a.groups.tolist() == [0, 0, 1, 1] and a.projections is None
    # our spectrum of the same graph: eigenvalues of -L = A - 2I per eigenspace (top dropped):
    # 2 cos 72 - 2 = (sqrt 5 - 5) / 2 and 2 cos 144 - 2 = -(sqrt 5 + 5) / 2, divided by the
    # largest magnitude (sqrt 5 + 5) / 2
    ours = M.spectral_profile(np.eye(5), g, n_null=0).details
    neg_l = np.array([(np.sqrt(5) - 1) / 2 - 2, -(np.sqrt(5) + 1) / 2 - 2])
    assert ours["eigenvalues_neg_L"] == pytest.approx(neg_l, abs=1e-12)
    assert ours["spectrum"] == pytest.approx(neg_l / abs(neg_l[1]), abs=1e-12)


def test_authors_spectrum_with_self_loops_on_a_path_of_three():
    g = path3()
    # A + I = [[1,1,0],[1,1,1],[0,1,1]], d = (2, 3, 2),
    # P + P^T = [[1, 5/6, 0], [5/6, 2/3, 5/6], [0, 5/6, 1]].
    # (1, 0, -1): eigenvalue 1. On (a, b, a): [[1, 5/6], [5/3, 2/3]]:
    # l^2 - 5/3 l - 13/18 = 0 -> l = (5 +- sqrt 51) / 6 (2.024 and -0.357).
    # Top (5 + sqrt 51) / 6 dropped; the largest remaining is 1: bars [1, (5 - sqrt 51) / 6].
    low = (5 - np.sqrt(51)) / 6
    X = np.array([[1.0, 1.0], [0.0, 1.0], [-1.0, 1.0]])
    a = S.authors_spectrum(g, X, self_loops=True)
    assert a.eigenvalues == pytest.approx([1.0, low], abs=1e-12)
    assert a.raw_eigenvalues == pytest.approx([1.0, low], abs=1e-12)
    # projections: X^T (1, 0, -1)/sqrt 2 = (sqrt 2, 0): norm sqrt 2. The low vector is
    # (1, q, 1) with q = 6 (low - 1) / 5 = -(1 + sqrt 51) / 5; X^T of it, normalized:
    # (0, (2 + q) / sqrt(2 + q^2)). Bars divided by sqrt 2.
    q = -(1 + np.sqrt(51)) / 5
    c = abs(2 + q) / np.sqrt(2 + q * q)
    assert a.raw_projections == pytest.approx([SQ2, c], abs=1e-12)
    assert a.projections == pytest.approx([1.0, c / SQ2], abs=1e-12)
    # our spectral profile with the same self-loops: -L = P + P^T - 2I: eigenvalues -1 and
    # low - 2 = -(7 + sqrt 51) / 6; the per-eigenspace norms are the same numbers
    sp = M.spectral_profile(X, g, n_null=0, self_loops=True).details
    assert sp["eigenvalues_neg_L"] == pytest.approx([-1.0, -(7 + np.sqrt(51)) / 6], abs=1e-12)
    assert sp["projection_norms"] == pytest.approx([SQ2, c], abs=1e-12)
    assert a.group_norms == pytest.approx(sp["projection_norms"], abs=1e-12)


def test_authors_spectrum_repeated_eigenvalue_is_basis_dependent_but_its_eigenspace_is_not():
    g = G.cycle(4)
    # C4 with self-loops: P = (A + I)/3, P + P^T = 2 (A + I) / 3; A's eigenvalues 2, 0, 0, -2
    # -> 2, 2/3, 2/3, -2/3; top dropped, over 2/3: [1, 1, -1]
    X = np.array([[1.0], [0.0], [-1.0], [0.0]])  # inside the 2-fold eigenspace of A's 0
    a = S.authors_spectrum(g, X, self_loops=True)
    assert a.eigenvalues == pytest.approx([1, 1, -1], abs=1e-12)
    # the eigenspace holds all of ||X||^2 = 2, split between its two basis vectors as eigh's
    # basis happens to fall (basis-dependent); their order is by projection, largest first
    p = a.raw_projections
    assert p[0] ** 2 + p[1] ** 2 == pytest.approx(2.0, abs=1e-12) and p[0] >= p[1]
    assert a.projections[0] == 1.0 and p[2] == pytest.approx(0.0, abs=1e-12)
    assert a.group_norms == pytest.approx([SQ2, 0.0], abs=1e-12)
    # per-eigenspace norms equal ours, here and on random embeddings of a 5-cycle, a star and a
    # grid; on the 5-cycle a negative repeated eigenvalue's bars go smallest projection first
    rng = np.random.default_rng(0)
    for graph, loops in [(g, True), (G.cycle(5), False), (star3(), True), (G.grid(3, 3), False)]:
        Y = rng.standard_normal((graph.num_nodes, 4))
        b = S.authors_spectrum(graph, Y, self_loops=loops)
        sp = M.spectral_profile(Y, graph, n_null=0, self_loops=loops).details
        np.testing.assert_allclose(b.group_norms, sp["projection_norms"], rtol=0, atol=1e-12)
    b = S.authors_spectrum(G.cycle(5), rng.standard_normal((5, 3)))
    assert b.projections[0] >= b.projections[1] and b.projections[2] <= b.projections[3]


def test_authors_spectrum_divides_by_a_floor_when_no_remaining_eigenvalue_is_positive():
    # the 3-arm star: d = (3, 1, 1, 1), P[0, leaf] = 1/3, P[leaf, 0] = 1, so P + P^T = 4/3 A:
    # eigenvalues 4/3 (+-sqrt 3, 0, 0) = +-4/sqrt 3, 0, 0. Top dropped, the largest remaining is
    # 0 (round-off) -> their floor 1e-12: bars ~0, ~0, -4/sqrt 3 * 1e12
    a = S.authors_spectrum(star3())
    assert a.raw_eigenvalues == pytest.approx([0, 0, -4 / np.sqrt(3)], abs=1e-12)
    assert a.eigenvalue_scale == 1e-12
    assert a.eigenvalues[:2] == pytest.approx([0.0, 0.0], abs=1e-3)
    assert a.eigenvalues[2] < -1e11


# --- bad inputs of the new options
def test_new_options_reject_bad_values_by_name():
    g = path3()
    Z = adjacency(g)
    with pytest.raises(ValueError, match=r"top1_with_self must be True or False, got 'yes'"):
        M.edge_margin(Z, g, top1_with_self="yes")
    with pytest.raises(ValueError, match=r"self_edges must be True or False, got 1"):
        M.edge_margin(Z, g, self_edges=1)
    E, W = np.eye(3), np.eye(3)
    with pytest.raises(ValueError, match=r"top1_with_self must be True or False, got None"):
        M.skewed_low_rank_margin(E, W, g, top1_with_self=None)
    with pytest.raises(ValueError, match=r"self_loops must be True or False, got 'no'"):
        S.authors_spectrum(g, self_loops="no")
    with pytest.raises(ValueError, match=r"self_loops must be True or False, got 2"):
        M.spectral_profile(np.eye(3), g, n_null=0, self_loops=2)
    with pytest.raises(ValueError, match=r"drop_top must be True or False, got 'x'"):
        S.authors_spectrum(g, drop_top="x")
    with pytest.raises(ValueError, match=r"tie_tol must be a finite number > 0, got 0"):
        S.authors_spectrum(g, tie_tol=0)
    with pytest.raises(ValueError, match=r"X must be \(num_nodes, dim\) = \(3, m\), got shape \(2, 2\)"):
        S.authors_spectrum(g, np.ones((2, 2)))
    with pytest.raises(ValueError, match="node 3 is isolated"):
        S.authors_spectrum(G.from_edge_list([(0, 1), (1, 2)], num_nodes=4))
    # with self-loops an isolated node has degree 1: allowed
    assert len(S.authors_spectrum(G.from_edge_list([(0, 1), (1, 2)], num_nodes=4),
                                  self_loops=True).eigenvalues) == 3
