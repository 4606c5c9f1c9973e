"""Task examples as Arrow tables: edge memorization, in-weights path finding, in-context path-star.

Formats (science.md section 2), with ``u``/``v`` node ids written as words:

* edge memorization: prompt ``[EDGE] u``, completion ``v``; one row per directed edge.
* path finding: prompt ``[PATH] leaf [PAUSE] x k``, completion ``root v1 ... leaf`` (forward) or
  ``leaf ... v1 root`` (reverse). ``target`` holds the emitted node ids and ``loss_mask`` which of
  them are supervised (all for ``full``; only the second token, v1 for forward, for
  ``first_token``).
* in-context path-star: prompt ``u v [SEP] u v [SEP] ... [GOAL] root leaf [PATH]`` over the
  shuffled edge list of a fresh random path-star, completion ``root v1 ... leaf``.

Every builder is vectorized (numpy + Arrow): no per-row Python loop, so the 900,001-node
G(10^5, 10) builds in seconds. Columns are typed by the ``*_FEATURES`` below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Features, List, Value

from .checks import check_int
from .graphs import Graph, graph_from_table, path_star
from .tokenization import (
    EDGE,
    GOAL,
    PATH,
    PAUSE,
    SEP,
    SPECIAL_TOKEN_IDS,
    join_token_text,
    node_token_ids,
    vocab_strings,
)

__all__ = [
    "EdgeTaskConfig",
    "PathTaskConfig",
    "InContextConfig",
    "EDGE_FEATURES",
    "PATH_FEATURES",
    "IN_CONTEXT_FEATURES",
    "GRAPH_FEATURES",
    "edge_table",
    "path_tables",
    "split_arms",
    "in_context_tables",
    "graph_table",
    "graph_from_table",
]

EDGE_KINDS = ("forward", "backward", "self")

EDGE_FEATURES = Features({
    "source": Value("int64"),
    "target": Value("int64"),
    "kind": ClassLabel(names=list(EDGE_KINDS)),
    "prompt": Value("string"),
    "completion": Value("string"),
})

PATH_FEATURES = Features({
    "arm": Value("int64"),
    "branch": Value("int64"),
    "source": Value("int64"),
    "path": List(Value("int64")),
    "target": List(Value("int64")),
    "loss_mask": List(Value("bool")),
    "prompt": Value("string"),
    "completion": Value("string"),
})

IN_CONTEXT_FEATURES = Features({
    "edge_list": List(Value("int64")),
    "root": Value("int64"),
    "goal": Value("int64"),
    "path": List(Value("int64")),
    "target": List(Value("int64")),
    "loss_mask": List(Value("bool")),
    "prompt": Value("string"),
    "completion": Value("string"),
})

GRAPH_FEATURES = Features({
    "node": Value("int64"),
    "neighbors": List(Value("int64")),
    "parent": Value("int64"),
    "depth": Value("int64"),
    "branch": Value("int64"),
    "component": Value("int64"),
    "degree": Value("int64"),
})


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


@dataclass
class EdgeTaskConfig:
    """Edge-memorization options.

    Args:
        directions: ``"both"`` (default, the paper's), ``"forward"`` (parent -> child) or
            ``"backward"`` (child -> parent). For unrooted graphs "forward" is the stored edge
            orientation.
        self_edges: add one ``[EDGE] u -> u`` example per node.
    """

    directions: str = "both"
    self_edges: bool = False

    def __post_init__(self) -> None:
        _choice("edge directions", self.directions, ("both", "forward", "backward"))


@dataclass
class PathTaskConfig:
    """Path-finding options.

    Args:
        direction: ``"forward"`` (emit root .. leaf, the paper's task) or ``"reverse"``.
        num_pauses: ``[PAUSE]`` tokens after the leaf in the prompt (paper: 5/6/10).
        target: ``"full"`` supervises the whole path; ``"first_token"`` emits the first two
            tokens and supervises only the second (v1 for the forward task).
        train_fraction: share of arms (leaves) in the train split (paper: 0.75).
        split_by: ``"leaf"`` holds out random leaves; ``"subtree"`` holds out whole subtrees
            under a root child (tree-star "split at first token"). Equal on a path-star.
        seed: seed of the split.
    """

    direction: str = "forward"
    num_pauses: int = 1
    target: str = "full"
    train_fraction: float = 0.75
    split_by: str = "leaf"
    seed: int = 0

    def __post_init__(self) -> None:
        _choice("path direction", self.direction, ("forward", "reverse"))
        _choice("path target", self.target, ("full", "first_token"))
        _choice("split_by", self.split_by, ("leaf", "subtree"))
        self.num_pauses = check_int("num_pauses", self.num_pauses, 0)
        if not 0.0 < float(self.train_fraction) < 1.0:
            raise ValueError(
                f"train_fraction must be strictly between 0 and 1, got {self.train_fraction}"
            )


@dataclass
class InContextConfig:
    """In-context path-star (Bachmann & Nagarajan 2024): a fresh random G(d, l) per example.

    Args:
        degree, length: the path-star shape; ``length`` counts the root.
        num_train, num_test: examples per split (test graphs are fresh too).
        num_node_ids: size of the node-id vocabulary the ids of each graph are drawn from
            (must be >= the graph's ``d(l-1)+1`` nodes).
        seed: seed of graphs, ids, goals and edge order.
    """

    degree: int = 2
    length: int = 5
    num_train: int = 20_000
    num_test: int = 1_000
    num_node_ids: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        path_star(self.degree, self.length, canonical_ids=True)  # validates degree/length
        n = self.degree * (self.length - 1) + 1
        for name in ("num_train", "num_test"):
            setattr(self, name, check_int(name, getattr(self, name)))
        if self.num_node_ids < n:
            raise ValueError(
                f"num_node_ids must be >= the {n} nodes of G({self.degree}, {self.length}), "
                f"got {self.num_node_ids}"
            )

    @property
    def num_nodes(self) -> int:
        return self.degree * (self.length - 1) + 1


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (for cards and metadata)."""
    return asdict(config)


# ---------------------------------------------------------------------- helpers
def _list_array(flat: np.ndarray, width: int, value_type: pa.DataType) -> pa.ListArray:
    n = len(flat) // width if width else 0
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * width, pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(flat, value_type))


def _table(columns: dict[str, Any], features: Features) -> pa.Table:
    return pa.Table.from_pydict(columns, schema=features.arrow_schema)


def _special(token: str, n: int) -> np.ndarray:
    return np.full((n, 1), SPECIAL_TOKEN_IDS[token], dtype=np.int64)


# ---------------------------------------------------------------------- edges
def edge_table(graph: Graph, config: EdgeTaskConfig | None = None) -> pa.Table:
    """One row per directed training edge: forward edges first, then backward, then self-edges.

    Returns a table with :data:`EDGE_FEATURES` columns."""
    config = config or EdgeTaskConfig()
    if graph.num_edges == 0 and not config.self_edges:
        raise ValueError("the graph has no edges: there is nothing to memorize")
    parts, kinds = [], []
    e = graph.edges
    if config.directions in ("both", "forward"):
        parts.append(e)
        kinds.append(np.zeros(len(e), np.int64))
    if config.directions in ("both", "backward"):
        parts.append(e[:, ::-1])
        kinds.append(np.ones(len(e), np.int64))
    if config.self_edges:
        nodes = np.arange(graph.num_nodes, dtype=np.int64)
        parts.append(np.stack([nodes, nodes], axis=1))
        kinds.append(np.full(graph.num_nodes, 2, np.int64))
    pairs = np.ascontiguousarray(np.concatenate(parts))
    vocab = vocab_strings(graph.num_nodes)
    m = len(pairs)
    prompt = join_token_text(
        vocab, np.concatenate([_special(EDGE, m), node_token_ids(pairs[:, :1])], axis=1))
    completion = vocab.take(pa.array(node_token_ids(pairs[:, 1])))
    return _table({
        "source": pairs[:, 0], "target": pairs[:, 1], "kind": np.concatenate(kinds),
        "prompt": prompt, "completion": completion,
    }, EDGE_FEATURES)


# ---------------------------------------------------------------------- paths
def split_arms(graph: Graph, config: PathTaskConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into ``graph.arms``) of the train and test arms, both sorted.

    Raises if either split would be empty."""
    graph.require_rooted("path finding")
    rng = np.random.default_rng(config.seed)
    num_arms = graph.arms.shape[0]
    if config.split_by == "leaf":
        units = np.arange(num_arms)
        unit_of_arm = units
    else:
        unit_of_arm = graph.branch[graph.arms[:, 1]]
        units = np.unique(unit_of_arm)
    num_train = int(round(config.train_fraction * len(units)))
    if num_train < 1 or num_train >= len(units):
        raise ValueError(
            f"train_fraction={config.train_fraction} splits the {len(units)} "
            f"{'leaves' if config.split_by == 'leaf' else 'root subtrees'} into {num_train} "
            f"train / {len(units) - num_train} test; both splits need at least one"
        )
    train_units = rng.permutation(units)[:num_train]
    is_train = np.isin(unit_of_arm, train_units)
    return np.flatnonzero(is_train), np.flatnonzero(~is_train)


def _path_rows(graph: Graph, arm_idx: np.ndarray, config: PathTaskConfig,
               vocab: pa.Array) -> pa.Table:
    arms = graph.arms[arm_idx]
    m, length = arms.shape
    leaf = arms[:, -1]
    path = arms if config.direction == "forward" else arms[:, ::-1]
    if config.target == "full":
        target = path
        mask = np.ones_like(target, dtype=bool)
    else:
        if length < 2:
            raise ValueError("first_token targets need paths of at least 2 nodes")
        target = path[:, :2]
        mask = np.zeros_like(target, dtype=bool)
        mask[:, 1] = True
    prompt_ids = np.concatenate(
        [_special(PATH, m), node_token_ids(leaf[:, None])]
        + [_special(PAUSE, m)] * config.num_pauses, axis=1)
    target = np.ascontiguousarray(target)
    return _table({
        "arm": arm_idx.astype(np.int64),
        "branch": graph.branch[arms[:, 1]] if length > 1 else np.zeros(m, np.int64),
        "source": leaf,
        "path": _list_array(np.ascontiguousarray(path).ravel(), length, pa.int64()),
        "target": _list_array(target.ravel(), target.shape[1], pa.int64()),
        "loss_mask": _list_array(mask.ravel(), mask.shape[1], pa.bool_()),
        "prompt": join_token_text(vocab, prompt_ids),
        "completion": join_token_text(vocab, node_token_ids(target)),
    }, PATH_FEATURES)


def path_tables(graph: Graph, config: PathTaskConfig | None = None) -> dict[str, pa.Table]:
    """``{"train": table, "test": table}`` of path-finding examples (:data:`PATH_FEATURES`),
    one row per arm, train and test arms disjoint."""
    config = config or PathTaskConfig()
    if graph.arms is not None:
        # every prompt repeats "[PAUSE] " num_pauses times: refuse what cannot fit in memory
        need = graph.arms.shape[0] * config.num_pauses * len("[PAUSE] ") * 3  # text + ids
        if need > 2 ** 33:
            raise ValueError(f"num_pauses={config.num_pauses:,} on {graph.arms.shape[0]:,} arms "
                             f"needs about {need / 2**30:,.0f} GiB of prompts; the limit is 8 GiB")
    train, test = split_arms(graph, config)
    vocab = vocab_strings(graph.num_nodes)
    return {"train": _path_rows(graph, train, config, vocab),
            "test": _path_rows(graph, test, config, vocab)}


# ---------------------------------------------------------------------- in-context
def _in_context_split(config: InContextConfig, num: int, rng: np.random.Generator,
                      vocab: pa.Array) -> pa.Table:
    d, length, n = config.degree, config.length, config.num_nodes
    canon = path_star(d, length, canonical_ids=True)
    # a random injective map canonical node -> node id, per example
    ids = np.argsort(rng.random((num, config.num_node_ids)), axis=1)[:, :n]
    edges = ids[:, canon.edges]  # (num, E, 2), parent -> child
    order = np.argsort(rng.random((num, edges.shape[1])), axis=1)
    edges = np.take_along_axis(edges, order[:, :, None], axis=1)
    goal_arm = rng.integers(0, d, size=num)
    path = np.take_along_axis(ids, canon.arms[goal_arm], axis=1)  # (num, length)
    root, goal = path[:, 0], path[:, -1]
    num_edges = edges.shape[1]
    edge_tokens = np.concatenate(
        [node_token_ids(edges), np.full((num, num_edges, 1), SPECIAL_TOKEN_IDS[SEP])], axis=2,
    ).reshape(num, -1)
    prompt_ids = np.concatenate([
        edge_tokens, _special(GOAL, num), node_token_ids(root[:, None]),
        node_token_ids(goal[:, None]), _special(PATH, num)], axis=1)
    mask = np.ones_like(path, dtype=bool)
    return _table({
        "edge_list": _list_array(edges.reshape(-1), 2 * num_edges, pa.int64()),
        "root": root, "goal": goal,
        "path": _list_array(path.ravel(), length, pa.int64()),
        "target": _list_array(path.ravel(), length, pa.int64()),
        "loss_mask": _list_array(mask.ravel(), length, pa.bool_()),
        "prompt": join_token_text(vocab, prompt_ids),
        "completion": join_token_text(vocab, node_token_ids(path)),
    }, IN_CONTEXT_FEATURES)


def in_context_tables(config: InContextConfig) -> dict[str, pa.Table]:
    """``{"train", "test"}`` tables of in-context path-star examples (:data:`IN_CONTEXT_FEATURES`)."""
    rng = np.random.default_rng(config.seed)
    vocab = vocab_strings(config.num_node_ids)
    return {"train": _in_context_split(config, config.num_train, rng, vocab),
            "test": _in_context_split(config, config.num_test, rng, vocab)}


# ---------------------------------------------------------------------- graph
def graph_table(graph: Graph) -> pa.Table:
    """One row per node (:data:`GRAPH_FEATURES`): forward out-neighbours, tree metadata,
    component and degree, so :func:`graph_from_table` rebuilds the graph exactly."""
    n = graph.num_nodes
    src = graph.edges[:, 0]
    order = np.lexsort((graph.edges[:, 1], src))
    counts = np.bincount(src, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    neighbors = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(graph.edges[order, 1]))
    minus = np.full(n, -1, dtype=np.int64)
    return _table({
        "node": np.arange(n, dtype=np.int64),
        "neighbors": neighbors.cast(pa.list_(pa.int64())),
        "parent": graph.parent if graph.parent is not None else minus,
        "depth": graph.depth if graph.depth is not None else minus,
        "branch": graph.branch if graph.branch is not None else minus,
        "component": graph.components(),
        "degree": graph.degrees,
    }, GRAPH_FEATURES)
