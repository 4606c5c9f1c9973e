import numpy as np
import pytest

from hf_geommem import graphs as G
from hf_geommem import tasks as T
from hf_geommem.tokenization import NUM_SPECIAL_TOKENS, build_tokenizer


@pytest.fixture
def star():
    return G.path_star(8, 4, seed=3)


def test_edges_both_directions(star):
    t = T.edge_table(star).to_pydict()
    pairs = set(zip(t["source"], t["target"]))
    assert len(t["source"]) == 2 * star.num_edges
    for u, v in star.edges.tolist():
        assert (u, v) in pairs and (v, u) in pairs
    i = 0
    assert t["prompt"][i] == f"[EDGE] {t['source'][i]}" and t["completion"][i] == str(t["target"][i])
    assert set(t["kind"]) == {0, 1}


def test_edges_forward_backward_self(star):
    fwd = T.edge_table(star, T.EdgeTaskConfig("forward")).to_pydict()
    assert all(star.depth[u] + 1 == star.depth[v] for u, v in zip(fwd["source"], fwd["target"]))
    bwd = T.edge_table(star, T.EdgeTaskConfig("backward")).to_pydict()
    assert all(star.depth[u] - 1 == star.depth[v] for u, v in zip(bwd["source"], bwd["target"]))
    se = T.edge_table(star, T.EdgeTaskConfig("both", self_edges=True)).to_pydict()
    selfs = [(u, v) for u, v, k in zip(se["source"], se["target"], se["kind"]) if k == 2]
    assert len(selfs) == star.num_nodes and all(u == v for u, v in selfs)
    with pytest.raises(ValueError, match="edge directions must be one of"):
        T.EdgeTaskConfig("sideways")


def test_paths_forward_split_disjoint(star):
    tables = T.path_tables(star, T.PathTaskConfig(num_pauses=3, seed=1))
    tr, te = tables["train"].to_pydict(), tables["test"].to_pydict()
    assert len(tr["arm"]) == 6 and len(te["arm"]) == 2  # round(0.75 * 8)
    assert not set(tr["source"]) & set(te["source"])
    for row in range(len(te["arm"])):
        arm = star.arms[te["arm"][row]]
        assert te["path"][row] == arm.tolist() and te["target"][row] == arm.tolist()
        assert te["path"][row][0] == star.root and te["path"][row][-1] == te["source"][row]
        assert te["prompt"][row] == f"[PATH] {te['source'][row]} " + " ".join(["[PAUSE]"] * 3)
        assert te["completion"][row] == " ".join(map(str, arm))
        assert all(te["loss_mask"][row])


def test_paths_reverse_first_token_and_fraction(star):
    t = T.path_tables(star, T.PathTaskConfig(direction="reverse", target="first_token",
                                             num_pauses=0, train_fraction=0.5))
    tr = t["train"].to_pydict()
    assert len(tr["arm"]) == 4
    row = 0
    arm = star.arms[tr["arm"][row]]
    assert tr["path"][row] == arm[::-1].tolist()
    assert tr["target"][row] == [arm[-1], arm[-2]] and tr["loss_mask"][row] == [False, True]
    assert tr["prompt"][row] == f"[PATH] {arm[-1]}"
    fwd = T.path_tables(star, T.PathTaskConfig(target="first_token"))["test"].to_pydict()
    arm = star.arms[fwd["arm"][0]]
    assert fwd["target"][0] == [star.root, arm[1]]  # v1 is the supervised, hardest token


def test_split_seed_changes_split(star):
    a = T.split_arms(star, T.PathTaskConfig(seed=0))[1]
    b = T.split_arms(star, T.PathTaskConfig(seed=0))[1]
    c = [T.split_arms(star, T.PathTaskConfig(seed=s))[1].tolist() for s in range(1, 6)]
    assert a.tolist() == b.tolist() and any(x != a.tolist() for x in c)


def test_tree_star_subtree_holdout():
    t = G.tree_star(4, 4, seed=0)
    tr, te = T.split_arms(t, T.PathTaskConfig(split_by="subtree"))
    train_branches = set(t.branch[t.arms[tr, 1]].tolist())
    test_branches = set(t.branch[t.arms[te, 1]].tolist())
    assert len(train_branches) == 3 and len(test_branches) == 1
    assert not train_branches & test_branches
    # leaf hold-out mixes branches
    tr2, te2 = T.split_arms(t, T.PathTaskConfig(split_by="leaf"))
    assert len(te2) == 4 * 4 - 12
    with pytest.raises(ValueError, match="subtrees into 2 train / 0 test"):
        T.split_arms(G.tree_star(2, 3), T.PathTaskConfig(split_by="subtree", train_fraction=0.9))


@pytest.mark.parametrize("kwargs,match", [
    ({"train_fraction": 1.0}, "strictly between 0 and 1"),
    ({"num_pauses": -1}, "num_pauses must be an integer >= 0"),
    ({"target": "last"}, "path target must be one of"),
    ({"direction": "up"}, "path direction must be one of"),
    ({"split_by": "arm"}, "split_by must be one of"),
])
def test_path_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.PathTaskConfig(**kwargs)


def test_split_leaving_no_test_leaf():
    with pytest.raises(ValueError, match="3 train / 0 test"):
        T.path_tables(G.path_star(3, 3), T.PathTaskConfig(train_fraction=0.9))


def test_paths_need_a_rooted_graph():
    with pytest.raises(ValueError, match="2 components"):
        T.path_tables(G.irregular16())


def test_in_context_examples_are_valid_path_stars():
    cfg = T.InContextConfig(degree=3, length=4, num_train=50, num_test=10, num_node_ids=30,
                            seed=2)
    tabs = T.in_context_tables(cfg)
    tr = tabs["train"].to_pydict()
    assert len(tr["root"]) == 50 and len(tabs["test"]) == 10
    for i in range(50):
        e = np.array(tr["edge_list"][i]).reshape(-1, 2)
        assert len(e) == 9 and len(np.unique(e)) == 10 and e.max() < 30
        g = G.from_edge_list(e, num_nodes=30)
        nxg = g.to_networkx()
        path = tr["path"][i]
        assert path[0] == tr["root"][i] and path[-1] == tr["goal"][i] and len(path) == 4
        assert all(nxg.has_edge(u, v) for u, v in zip(path[:-1], path[1:]))
        assert nxg.degree(tr["root"][i]) == 3
        assert tr["prompt"][i].endswith(f"[GOAL] {tr['root'][i]} {tr['goal'][i]} [PATH]")
    # edge order is shuffled: the root's edges are not always first
    firsts = [tr["edge_list"][i][0] == tr["root"][i] for i in range(50)]
    assert 0 < sum(firsts) < 50
    # different graphs per example
    assert len({tuple(sorted(x)) for x in tr["edge_list"]}) > 40
    with pytest.raises(ValueError, match="num_node_ids must be >= the 10 nodes"):
        T.InContextConfig(degree=3, length=4, num_node_ids=5)


def test_tokenizer_roundtrip(tmp_path):
    tok = build_tokenizer(20, model_max_length=16)
    ids = tok("[PATH] 7 [PAUSE] [PAUSE]")["input_ids"]
    assert ids == [tok.convert_tokens_to_ids("[PATH]"), NUM_SPECIAL_TOKENS + 7,
                   tok.convert_tokens_to_ids("[PAUSE]"), tok.convert_tokens_to_ids("[PAUSE]")]
    assert tok.decode([NUM_SPECIAL_TOKENS + 3, NUM_SPECIAL_TOKENS + 19]) == "3 19"
    assert tok("25")["input_ids"] == [tok.unk_token_id]
    tok.save_pretrained(tmp_path)
    from transformers import PreTrainedTokenizerFast

    tok2 = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    assert tok2("[EDGE] 4")["input_ids"] == tok("[EDGE] 4")["input_ids"]
    assert tok2.pad_token_id == 0 and tok2.model_max_length == 16 and len(tok2) == 20 + NUM_SPECIAL_TOKENS


def test_graph_table_roundtrip_all_families():
    for g in [G.path_star(5, 3, seed=1), G.tree_star(3, 3, seed=1), G.grid(3, 4),
              G.cycle(7), G.irregular16(), G.erdos_renyi(30, 0.1), G.random_regular(12, 3),
              G.from_edge_list([(0, 1), (0, 2), (1, 3), (2, 4)], root=0)]:
        h = T.graph_from_table(T.graph_table(g), g.family, g.params)
        assert h.same_as(g), g
        if g.arms is not None:
            assert np.array_equal(h.arms, g.arms)
