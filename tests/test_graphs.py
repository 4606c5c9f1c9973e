import itertools

import networkx as nx
import numpy as np
import pytest

from hf_geommem import graphs as G


def test_path_star_structure_canonical():
    g = G.path_star(3, 4, canonical_ids=True)
    assert g.num_nodes == 3 * 3 + 1 and g.num_edges == 9
    assert g.root == 0
    assert g.arms.tolist() == [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9]]
    assert g.leaves.tolist() == [3, 6, 9]
    assert g.depth.tolist() == [0, 1, 2, 3, 1, 2, 3, 1, 2, 3]
    assert g.branch.tolist() == [-1, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert g.parent[1] == 0 and g.parent[2] == 1 and g.parent[0] == -1
    assert g.is_path_star() and g.num_components == 1
    # forward orientation parent -> child
    assert all(g.depth[u] + 1 == g.depth[v] for u, v in g.edges)


def test_path_star_permuted_ids_and_seeds():
    a, b, c = G.path_star(50, 5, seed=1), G.path_star(50, 5, seed=1), G.path_star(50, 5, seed=2)
    assert a.same_as(b) and not a.same_as(c)
    assert a.root != 0 or not np.array_equal(a.arms[:, 1], np.arange(1, 200, 4))
    # still a path-star: each arm is a path in the graph
    nxg = a.to_networkx()
    for arm in a.arms:
        assert all(nxg.has_edge(int(u), int(v)) for u, v in zip(arm[:-1], arm[1:]))
    assert sorted(np.concatenate([a.arms[:, 1:].ravel(), [a.root]])) == list(range(a.num_nodes))


def test_tree_star_counts_and_arms():
    t = G.tree_star(3, 4, seed=5)
    assert t.num_nodes == 1 + 3 * 7 and t.arms.shape == (3 * 4, 4)
    degs = t.degrees
    assert degs[t.root] == 3
    internal = [v for v in range(t.num_nodes) if v != t.root and t.depth[v] < 3]
    assert all(degs[v] == 3 for v in internal)  # parent + 2 children
    assert set(t.depth[t.leaves]) == {3}
    # arms ordered by branch, 4 leaves per branch
    assert t.branch[t.arms[:, 1]].tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_grid_cycle_irregular():
    gr = G.grid(4, 4)
    assert gr.num_nodes == 16 and gr.num_edges == 24 and gr.root is None
    ref = nx.convert_node_labels_to_integers(nx.grid_2d_graph(4, 4), ordering="sorted")
    assert nx.is_isomorphic(gr.to_networkx(), ref)
    cy = G.cycle(15)
    assert cy.num_edges == 15 and (cy.degrees == 2).all()
    ir = G.irregular16()
    assert ir.num_nodes == 16 and ir.num_edges == 20 and ir.num_components == 2
    comps = np.bincount(ir.components())
    assert sorted(comps.tolist()) == [4, 12]
    perm = G.cycle(15, seed=3, canonical_ids=False)
    assert nx.is_isomorphic(perm.to_networkx(), cy.to_networkx())
    assert not np.array_equal(np.sort(perm.edges, 1), np.sort(cy.edges, 1))


def test_erdos_renyi_exact_pairs():
    g = G.erdos_renyi(40, 0.2, seed=3)
    e = g.edges
    assert (e[:, 0] < e[:, 1]).all() and e.max() < 40
    assert len({tuple(x) for x in e.tolist()}) == len(e)
    full = G.erdos_renyi(7, 1.0)
    assert sorted(map(tuple, full.edges.tolist())) == list(itertools.combinations(range(7), 2))
    assert G.erdos_renyi(10, 0.0).num_edges == 0
    with pytest.raises(ValueError, match="probability"):
        G.erdos_renyi(10, 1.5)


def test_random_regular():
    g = G.random_regular(20, 3, seed=1)
    assert (g.degrees == 3).all()
    with pytest.raises(ValueError, match="n\\*degree even"):
        G.random_regular(5, 3)


def test_user_graphs():
    g = G.from_edge_list([(0, 1), (1, 2), (2, 1), (0, 3), (3, 4)])
    assert g.num_edges == 4 and g.root is None
    rooted = G.from_edge_list([(1, 0), (1, 2), (0, 3), (2, 4)], root=1)
    assert rooted.arms.tolist() == [[1, 0, 3], [1, 2, 4]]
    assert rooted.edges.tolist() == [[1, 0], [1, 2], [0, 3], [2, 4]]  # parent -> child
    nxg = nx.path_graph(["a", "b", "c"])
    h = G.from_networkx(nxg, root="b")
    assert h.params["labels"] == ["a", "b", "c"] and h.root == 1
    assert h.arms.tolist() == [[1, 0], [1, 2]]


def test_rooted_user_tree_arms_and_errors():
    t = G.from_edge_list([(0, 1), (0, 2), (1, 3), (2, 4)], root=0)
    assert t.arms.tolist() == [[0, 1, 3], [0, 2, 4]]
    with pytest.raises(ValueError, match="same depth"):
        G.from_edge_list([(0, 1), (1, 2), (0, 3)], root=0)
    with pytest.raises(ValueError, match="2 components"):
        G.from_edge_list([(0, 1), (2, 3)], root=0)
    with pytest.raises(ValueError, match="must be a tree"):
        G.from_edge_list([(0, 1), (1, 2), (2, 0)], root=0)
    with pytest.raises(ValueError, match="self-loop"):
        G.from_edge_list([(0, 0)])
    with pytest.raises(ValueError, match="outside the node range"):
        G.from_edge_list([(0, 5)], num_nodes=3)
    # ids that skip numbers would silently add isolated nodes: refused unless num_nodes says so
    with pytest.raises(ValueError, match=r"skip 3 number\(s\) \(e.g. 2, 3, 4\).*num_nodes=7"):
        G.from_edge_list([(0, 1), (1, 5), (5, 6)])
    assert G.from_edge_list([(0, 1), (1, 5), (5, 6)], num_nodes=7).num_nodes == 7


def test_from_networkx_same_rule_as_edge_list():
    import networkx as nx

    with pytest.raises(ValueError, match="self-loop"):
        G.from_networkx(nx.Graph([(0, 1), (1, 1)]))
    with pytest.raises(ValueError, match="undirected"):
        G.from_networkx(nx.DiGraph([(0, 1)]))
    g = nx.Graph([(0, 1)])
    g.add_node(7)  # isolated nodes of a networkx graph are explicit, so they are kept
    assert G.from_networkx(g).num_nodes == 3


@pytest.mark.parametrize("call,match", [
    (lambda: G.path_star(0, 5), "degree must be an integer >= 1, got 0"),
    (lambda: G.path_star(3, 1), "length .* must be an integer >= 2, got 1"),
    (lambda: G.tree_star(2, 1), "must be an integer >= 2"),
    (lambda: G.cycle(2), "cycle length.* >= 3"),
    (lambda: G.grid(0, 3), "rows must be an integer >= 1"),
    (lambda: G.build_graph("moebius", n=3), "unknown graph family 'moebius'"),
    (lambda: G.path_star(2.5, 3), "must be an integer"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_require_rooted_names_the_problem():
    with pytest.raises(ValueError, match="2 components"):
        G.irregular16().require_rooted()
    with pytest.raises(ValueError, match="no root"):
        G.cycle(5).require_rooted()


def test_tree_arrays_roundtrip():
    g = G.path_star(2_000, 6, seed=0)
    h = G.graph_from_tree_arrays(g.parent, g.depth, g.branch, "path_star")
    assert h.same_as(g)
    assert np.array_equal(h.arms, g.arms)
