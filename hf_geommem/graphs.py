"""Graphs whose memorization we study: path-stars, tree-stars, tiny graphs and user graphs.

Every graph is a :class:`Graph`: ``num_nodes`` nodes named ``0 .. num_nodes-1`` (the node id *is*
the token name, so ids are a seeded random permutation unless ``canonical_ids=True``) and an
undirected edge list stored in a *forward* orientation (parent -> child for rooted graphs).

Rooted graphs (path-star, tree-star, rooted user trees) also carry ``root``, ``parent``,
``depth`` and ``arms`` (every root-to-leaf path), which the path-finding tasks and the
navigation metrics use. All builders are vectorized: G(10^5, 10) (900,001 nodes) builds in well
under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = [
    "Graph",
    "read_edge_file",
    "path_star",
    "tree_star",
    "grid",
    "cycle",
    "irregular16",
    "erdos_renyi",
    "random_regular",
    "from_edge_list",
    "from_networkx",
    "tiny_graphs",
    "build_graph",
    "graph_from_tree_arrays",
    "GRAPH_FAMILIES",
]


@dataclass(eq=False)
class Graph:
    """An undirected graph with optional rooted-tree metadata.

    Attributes:
        num_nodes: number of nodes ``n``; nodes are the integers ``0 .. n-1``.
        edges: ``(E, 2)`` int64 array, each undirected edge once, in forward orientation
            (``edges[:, 0]`` is the parent for rooted graphs). No self-loops, no duplicates.
        family: name of the family that built the graph (``"path_star"``, ``"user"``, ...).
        params: the family's parameters (JSON-serializable), recorded in dataset cards.
        root: the root node for rooted graphs, else ``None``.
        parent: ``(n,)`` int64, parent of every node in the BFS tree from ``root``
            (``-1`` for the root and for nodes not reachable from it); ``None`` if unrooted.
        depth: ``(n,)`` int64 hop distance from ``root`` (``-1`` if unreachable); ``None`` if
            unrooted.
        arms: ``(num_leaves, L)`` int64, the root-to-leaf paths (``arms[i, 0] == root``,
            ``arms[i, -1] == leaves[i]``) when every leaf sits at the same depth ``L - 1``;
            ``None`` for unrooted graphs.
        branch: ``(n,)`` int64, index of the root child whose subtree holds the node (``-1`` for
            the root / unreachable nodes). For a path-star this is the arm index.
    """

    num_nodes: int
    edges: np.ndarray
    family: str = "user"
    params: dict[str, Any] = field(default_factory=dict)
    root: int | None = None
    parent: np.ndarray | None = None
    depth: np.ndarray | None = None
    arms: np.ndarray | None = None
    branch: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.edges = np.ascontiguousarray(np.asarray(self.edges, dtype=np.int64).reshape(-1, 2))
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {self.num_nodes}")
        if self.edges.size and (self.edges.min() < 0 or self.edges.max() >= self.num_nodes):
            bad = self.edges[(self.edges < 0) | (self.edges >= self.num_nodes)][0]
            raise ValueError(
                f"edge endpoint {int(bad)} is outside the node range 0..{self.num_nodes - 1}"
            )
        if self.root is not None and self.parent is None:
            self._root_at(int(self.root))

    # ------------------------------------------------------------------ structure
    @property
    def num_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edges.shape[0])

    @property
    def leaves(self) -> np.ndarray:
        """``(num_leaves,)`` leaf of every arm (rooted graphs), in arm order."""
        if self.arms is None:
            raise ValueError(f"graph family {self.family!r} is not rooted: it has no leaves/arms")
        return self.arms[:, -1]

    @property
    def degrees(self) -> np.ndarray:
        """``(n,)`` int64 undirected degree of every node."""
        return np.bincount(self.edges.ravel(), minlength=self.num_nodes).astype(np.int64)

    def adjacency(self, dtype: Any = np.float64) -> sp.csr_matrix:
        """Symmetric sparse adjacency matrix ``A`` (``n x n`` CSR, ones on edges)."""
        u, v = self.edges[:, 0], self.edges[:, 1]
        data = np.ones(2 * len(u), dtype=dtype)
        a = sp.csr_matrix(
            (data, (np.concatenate([u, v]), np.concatenate([v, u]))),
            shape=(self.num_nodes, self.num_nodes),
        )
        a.sum_duplicates()
        return a

    def components(self) -> np.ndarray:
        """``(n,)`` int64 connected-component label of every node (labels ``0..k-1``)."""
        _, labels = csgraph.connected_components(self.adjacency(np.int8), directed=False)
        return labels.astype(np.int64)

    @property
    def num_components(self) -> int:
        return int(self.components().max()) + 1

    def neighbors(self, node: int) -> np.ndarray:
        """Sorted neighbours of ``node``."""
        if not 0 <= node < self.num_nodes:
            raise ValueError(f"node {node} is outside 0..{self.num_nodes - 1}")
        a = self.adjacency(np.int8)
        return np.sort(a.indices[a.indptr[node] : a.indptr[node + 1]]).astype(np.int64)

    def to_networkx(self):
        """The graph as a ``networkx.Graph`` (nodes 0..n-1, ``root`` in ``graph.graph``)."""
        import networkx as nx

        g = nx.Graph(family=self.family, root=self.root)
        g.add_nodes_from(range(self.num_nodes))
        g.add_edges_from(self.edges.tolist())
        return g

    def is_path_star(self) -> bool:
        """True when the graph is rooted and every non-root node lies on exactly one arm."""
        return (
            self.arms is not None
            and self.arms.shape[0] * (self.arms.shape[1] - 1) + 1 == self.num_nodes
            and self.num_edges == self.num_nodes - 1
        )

    def require_rooted(self, what: str = "path finding") -> None:
        """Raise a clear error unless the graph is a connected tree rooted with equal-depth leaves."""
        if self.root is None or self.arms is None:
            n_comp = self.num_components
            if n_comp > 1:
                raise ValueError(
                    f"{what} needs a connected graph rooted at one node, but this "
                    f"{self.family!r} graph has {n_comp} components"
                )
            raise ValueError(
                f"{what} needs a rooted tree whose leaves are all at the same depth; graph "
                f"family {self.family!r} has no root/arms (build it with root=... from a tree)"
            )

    # ------------------------------------------------------------------ rooting
    def _root_at(self, root: int) -> None:
        """Fill parent/depth/branch/arms from a BFS at ``root``; the graph must be a tree."""
        n = self.num_nodes
        if not 0 <= root < n:
            raise ValueError(f"root {root} is outside the node range 0..{n - 1}")
        n_comp = self.num_components
        if n_comp != 1:
            raise ValueError(
                f"a rooted graph must be connected, but this {self.family!r} graph has "
                f"{n_comp} components"
            )
        if self.num_edges != n - 1:
            raise ValueError(
                f"a rooted graph must be a tree (num_edges == num_nodes - 1 = {n - 1}), got "
                f"{self.num_edges} edges"
            )
        order, pred = csgraph.breadth_first_order(
            self.adjacency(np.int8), root, directed=False, return_predecessors=True
        )
        parent = np.where(pred < 0, -1, pred).astype(np.int64)
        depth = csgraph.dijkstra(self.adjacency(np.int8), indices=root, unweighted=True)
        depth = depth.astype(np.int64)
        # forward orientation parent -> child
        child = np.setdiff1d(np.arange(n), [root])
        self.edges = np.stack([parent[child], child], axis=1)
        self.parent, self.depth, self.root = parent, depth, root
        if n == 1:
            raise ValueError("a rooted graph needs at least one edge")
        # branches numbered by the root children's ids
        root_children = np.flatnonzero(parent == root)
        branch = np.full(n, -1, dtype=np.int64)
        branch[root_children] = np.arange(len(root_children))
        for k in range(2, int(depth.max()) + 1):
            level = np.flatnonzero(depth == k)
            branch[level] = branch[parent[level]]
        self.branch = branch
        self.arms = _arms_from_tree(parent, depth, branch, root)

    # ------------------------------------------------------------------ equality
    def same_as(self, other: "Graph") -> bool:
        """Structural equality: same nodes, edges (as a set) and rooted metadata."""

        def key(g: Graph) -> np.ndarray:
            e = np.sort(g.edges, axis=1)
            return e[np.lexsort((e[:, 1], e[:, 0]))]

        if self.num_nodes != other.num_nodes or self.num_edges != other.num_edges:
            return False
        if not np.array_equal(key(self), key(other)) or self.root != other.root:
            return False
        for name in ("parent", "depth", "arms", "branch"):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return True

    def __repr__(self) -> str:
        extra = f", root={self.root}, arms={tuple(self.arms.shape)}" if self.arms is not None else ""
        return (
            f"Graph(family={self.family!r}, num_nodes={self.num_nodes}, "
            f"num_edges={self.num_edges}{extra})"
        )


# ---------------------------------------------------------------------- helpers
def _arms_from_tree(
    parent: np.ndarray, depth: np.ndarray, branch: np.ndarray, root: int
) -> np.ndarray:
    """Root-to-leaf paths of a rooted tree, ordered by (branch, leaf id).

    Raises if the leaves are not all at one depth (path tasks need equal-length targets)."""
    n = len(parent)
    has_child = np.zeros(n, dtype=bool)
    has_child[parent[parent >= 0]] = True
    leaves = np.flatnonzero(~has_child & (np.arange(n) != root))
    leaf_depths = np.unique(depth[leaves])
    if len(leaf_depths) != 1:
        raise ValueError(
            f"path tasks need every leaf at the same depth, got leaf depths "
            f"{leaf_depths.tolist()[:10]}"
        )
    leaves = leaves[np.lexsort((leaves, branch[leaves]))]
    length = int(leaf_depths[0]) + 1
    arms = np.empty((len(leaves), length), dtype=np.int64)
    arms[:, -1] = leaves
    for k in range(length - 2, -1, -1):
        arms[:, k] = parent[arms[:, k + 1]]
    return arms


def graph_from_tree_arrays(
    parent: np.ndarray, depth: np.ndarray, branch: np.ndarray, family: str = "user",
    params: dict | None = None,
) -> "Graph":
    """Rebuild a rooted graph from its per-node parent/depth/branch arrays (as stored in the
    ``graph`` config of a dataset); no BFS, so it is fast on big graphs."""
    parent = np.asarray(parent, dtype=np.int64)
    roots = np.flatnonzero(parent < 0)
    if len(roots) != 1:
        raise ValueError(f"a rooted tree has exactly one node without parent, got {len(roots)}")
    root = int(roots[0])
    child = np.flatnonzero(parent >= 0)
    return Graph(
        num_nodes=len(parent), edges=np.stack([parent[child], child], axis=1), family=family,
        params=dict(params or {}), root=root, parent=parent,
        depth=np.asarray(depth, dtype=np.int64), branch=np.asarray(branch, dtype=np.int64),
        arms=_arms_from_tree(parent, np.asarray(depth), np.asarray(branch), root),
    )


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _permutation(n: int, seed: int | None, canonical_ids: bool) -> np.ndarray:
    """``perm[canonical index] = public node id``: identity or a seeded random permutation."""
    if canonical_ids:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng(seed).permutation(n).astype(np.int64)


def _rooted_graph(
    family: str, params: dict, n: int, canonical_parent: np.ndarray, perm: np.ndarray,
    canonical_arms: np.ndarray, canonical_branch: np.ndarray, canonical_depth: np.ndarray,
) -> Graph:
    """Assemble a rooted graph from canonical arrays without a BFS (fast path for big graphs)."""
    parent = np.full(n, -1, dtype=np.int64)
    child = np.arange(1, n)
    parent[perm[child]] = perm[canonical_parent[child]]
    depth = np.empty(n, dtype=np.int64)
    depth[perm] = canonical_depth
    branch = np.empty(n, dtype=np.int64)
    branch[perm] = canonical_branch
    edges = np.stack([perm[canonical_parent[child]], perm[child]], axis=1)
    arms = perm[canonical_arms]
    # canonical arm order everywhere: by branch, then by leaf id
    arms = arms[np.lexsort((arms[:, -1], branch[arms[:, 1]]))]
    return Graph(
        num_nodes=n, edges=edges, family=family, params=params, root=int(perm[0]),
        parent=parent, depth=depth, arms=arms, branch=branch,
    )


# ---------------------------------------------------------------------- families
MAX_NODES = 50_000_000
BYTES_PER_NODE = 900  # measured: a built path-star task holds ~0.9 KB per node (bench_datasets)


def _check_size(what: str, n: int) -> None:
    """Refuse graphs whose task could not be built in memory, saying what it would need."""
    if n > MAX_NODES:
        raise ValueError(f"{what} would have {n:,} nodes (a task of it needs about "
                         f"{n * BYTES_PER_NODE / 2**30:,.0f} GiB); the limit is "
                         f"{MAX_NODES:,} nodes")


def path_star(
    degree: int, length: int, seed: int | None = 0, canonical_ids: bool = False
) -> Graph:
    """Path-star G(d, l): a root and ``degree`` arms of ``length`` nodes counting the root.

    The graph has ``degree * (length - 1) + 1`` nodes. With ``canonical_ids`` the root is 0 and
    arm ``a`` holds nodes ``1 + a*(l-1) .. (a+1)*(l-1)``; otherwise ids are permuted by ``seed``.
    ``arms[a]`` is arm ``a``'s path root, v1, ..., leaf.
    """
    d = _check_int("degree", degree, 1)
    length = _check_int("length (nodes per arm, counting the root)", length, 2)
    hops = length - 1
    n = d * hops + 1
    _check_size(f"path_star({d}, {length})", n)
    canonical_arms = np.empty((d, length), dtype=np.int64)
    canonical_arms[:, 0] = 0
    canonical_arms[:, 1:] = 1 + np.arange(d)[:, None] * hops + np.arange(hops)[None, :]
    parent = np.empty(n, dtype=np.int64)
    parent[0] = -1
    parent[canonical_arms[:, 1:]] = canonical_arms[:, :-1]
    depth = np.zeros(n, dtype=np.int64)
    depth[1:] = (np.arange(n - 1) % hops) + 1
    branch = np.full(n, -1, dtype=np.int64)
    branch[1:] = np.arange(n - 1) // hops
    perm = _permutation(n, seed, canonical_ids)
    params = {"degree": d, "length": length, "seed": seed, "canonical_ids": canonical_ids}
    return _rooted_graph("path_star", params, n, parent, perm, canonical_arms, branch, depth)


def tree_star(
    degree: int, length: int, seed: int | None = 0, canonical_ids: bool = False
) -> Graph:
    """Tree-star T(d, l): root of degree ``d``; every other internal node has 2 children.

    Leaves sit at depth ``length - 1`` (so ``length`` counts the nodes of a root-to-leaf path,
    as for the path-star), giving ``1 + d * (2^(l-1) - 1)`` nodes and ``d * 2^(l-2)`` leaves.
    """
    d = _check_int("degree", degree, 1)
    length = _check_int("length (nodes per root-to-leaf path, counting the root)", length, 2)
    sub = 2 ** (length - 1) - 1  # nodes in one binary subtree under a root child
    n = 1 + d * sub
    _check_size(f"tree_star({d}, {length})", n)
    # heap layout inside each subtree: local index j has children 2j+1, 2j+2
    local = np.arange(sub)
    local_parent = (local - 1) // 2
    local_depth = np.floor(np.log2(local + 1)).astype(np.int64)
    b = np.arange(d)[:, None]
    offset = 1 + b * sub
    parent = np.empty(n, dtype=np.int64)
    parent[0] = -1
    parent[(offset + local).ravel()] = np.where(local_parent < 0, 0, offset + local_parent).ravel()
    depth = np.zeros(n, dtype=np.int64)
    depth[1:] = np.tile(local_depth + 1, d)
    branch = np.full(n, -1, dtype=np.int64)
    branch[1:] = np.repeat(np.arange(d), sub)
    leaves_local = np.arange(sub // 2, sub)  # last heap level
    leaves = (offset + leaves_local[None, :]).ravel()
    arms = np.empty((len(leaves), length), dtype=np.int64)
    arms[:, -1] = leaves
    for k in range(length - 2, -1, -1):
        arms[:, k] = parent[arms[:, k + 1]]
    perm = _permutation(n, seed, canonical_ids)
    params = {"degree": d, "length": length, "seed": seed, "canonical_ids": canonical_ids}
    return _rooted_graph("tree_star", params, n, parent, perm, arms, branch, depth)


def grid(rows: int, cols: int, seed: int | None = 0, canonical_ids: bool = True) -> Graph:
    """``rows x cols`` grid graph (4-neighbour). Canonical id of cell (r, c) is ``r*cols + c``."""
    r = _check_int("rows", rows, 1)
    c = _check_int("cols", cols, 1)
    idx = np.arange(r * c).reshape(r, c)
    e = np.concatenate([
        np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1),
        np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),
    ])
    edges = _permutation(r * c, seed, canonical_ids)[e]
    params = {"rows": r, "cols": c, "seed": seed, "canonical_ids": canonical_ids}
    return Graph(num_nodes=r * c, edges=edges, family="grid", params=params)


def cycle(n: int, seed: int | None = 0, canonical_ids: bool = True) -> Graph:
    """Cycle of ``n >= 3`` nodes, canonical edges ``i -> i+1 mod n``."""
    n = _check_int("n (cycle length)", n, 3)
    i = np.arange(n)
    edges = _permutation(n, seed, canonical_ids)[np.stack([i, (i + 1) % n], axis=1)]
    return Graph(num_nodes=n, edges=edges, family="cycle",
                 params={"n": n, "seed": seed, "canonical_ids": canonical_ids})


# The paper's tiny irregular graph: 16 nodes, 20 edges, two components, a 12-node ring with two
# chords plus a K4. science.md gives its shape, not its exact chords; these are ours (documented).
_IRREGULAR16_EDGES = (
    [(i, (i + 1) % 12) for i in range(12)]
    + [(1, 3), (5, 8)]  # the authors' chords
    + [(12, 13), (12, 14), (12, 15), (13, 14), (13, 15), (14, 15)]
)


def irregular16(seed: int | None = 0, canonical_ids: bool = True) -> Graph:
    """The 16-node, 20-edge irregular graph of the authors' code: the ring 0-1-...-11-0 with
    chords (1,3) and (5,8), plus K4 on nodes 12..15 (two components)."""
    edges = _permutation(16, seed, canonical_ids)[np.array(_IRREGULAR16_EDGES)]
    return Graph(num_nodes=16, edges=edges, family="irregular16",
                 params={"seed": seed, "canonical_ids": canonical_ids})


def erdos_renyi(n: int, p: float, seed: int | None = 0) -> Graph:
    """Erdos-Renyi G(n, p): each of the n(n-1)/2 pairs is an edge with probability ``p``."""
    n = _check_int("n", n, 1)
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    m = n * (n - 1) // 2
    if m > 200_000_000:
        raise ValueError(f"erdos_renyi with n={n} has {m} pairs; the limit is 2e8")
    # sample the number of edges, then distinct pair indices: exact G(n, p), no n x n matrix
    k = int(rng.binomial(m, float(p)))
    flat = np.sort(rng.choice(m, size=k, replace=False)) if k else np.empty(0, np.int64)
    # invert the row-major upper-triangle index
    i = (n - 2 - np.floor(np.sqrt(-8.0 * flat + 4 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
    j = flat + i + 1 - m + (n - i) * ((n - i) - 1) // 2
    return Graph(num_nodes=n, edges=np.stack([i, j], axis=1), family="erdos_renyi",
                 params={"n": n, "p": float(p), "seed": seed})


def random_regular(n: int, degree: int, seed: int | None = 0) -> Graph:
    """Uniform random ``degree``-regular graph on ``n`` nodes (networkx's generator, seeded)."""
    import networkx as nx

    n = _check_int("n", n, 1)
    degree = _check_int("degree", degree, 0)
    if degree >= n or (n * degree) % 2:
        raise ValueError(
            f"a {degree}-regular graph on {n} nodes needs degree < n and n*degree even"
        )
    g = nx.random_regular_graph(degree, n, seed=seed)
    edges = np.array(sorted(tuple(sorted(e)) for e in g.edges()), dtype=np.int64).reshape(-1, 2)
    return Graph(num_nodes=n, edges=edges, family="random_regular",
                 params={"n": n, "degree": degree, "seed": seed})


def from_edge_list(
    edges: Iterable[Sequence[int]] | np.ndarray,
    num_nodes: int | None = None,
    root: int | None = None,
    name: str = "user",
) -> Graph:
    """A graph from an edge list of integer node ids ``0..n-1``.

    Duplicate edges (in either direction) are merged; self-loops are rejected because self-edges
    are a task option, not graph structure (:func:`from_networkx` follows the same rule). With
    ``root``, the graph must be a tree and gets parent/depth/arms (root-to-leaf paths), so path
    tasks can run on it.

    Without ``num_nodes`` the nodes are ``0..max id``, and every id in that range must appear
    in an edge: ids that skip numbers would otherwise silently become isolated nodes (pass
    ``num_nodes`` to keep isolated nodes on purpose, or relabel the ids).
    """
    e = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges)
    if e.size == 0:
        e = np.empty((0, 2), dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2:
        raise ValueError(f"edges must have shape (E, 2), got {e.shape}")
    if not np.issubdtype(e.dtype, np.integer):
        raise TypeError(f"edge endpoints must be integers, got dtype {e.dtype}")
    e = e.astype(np.int64)
    if (e[:, 0] == e[:, 1]).any():
        u = int(e[e[:, 0] == e[:, 1]][0, 0])
        raise ValueError(f"self-loop ({u}, {u}) in the edge list; use the self_edges task option")
    if e.size and e.min() < 0:
        raise ValueError(f"node ids must be >= 0, got {int(e.min())}")
    n = int(e.max()) + 1 if num_nodes is None and e.size else (num_nodes or 0)
    if num_nodes is None and e.size:
        missing = np.setdiff1d(np.arange(n), e.ravel())
        if len(missing):
            raise ValueError(
                f"node ids 0..{n - 1} skip {len(missing)} number(s) (e.g. "
                f"{', '.join(map(str, missing[:5].tolist()))}): they would become isolated "
                f"nodes; pass num_nodes={n} (--num-nodes) to keep them, or relabel the ids")
    if n < 1:
        raise ValueError("a graph needs at least one node: pass num_nodes for an empty edge list")
    # merge duplicates, keeping the first orientation seen
    key = np.sort(e, axis=1)
    _, first = np.unique(key[:, 0] * n + key[:, 1], return_index=True)
    e = e[np.sort(first)]
    return Graph(num_nodes=n, edges=e, family=name, params={"num_nodes": n, "root": root},
                 root=root)


def read_edge_file(path: str) -> np.ndarray:
    """``(E, 2)`` int64 edges of a text file, one ``u v`` integer pair a line (``#`` comments):
    the input of :func:`from_edge_list` (``hf-geommem build edge-list``)."""
    import os

    if not os.path.isfile(path):
        raise FileNotFoundError(f"edge-list file {path!r} does not exist")
    try:
        data = np.loadtxt(path, dtype=np.int64, ndmin=2, comments="#")
    except ValueError as exc:  # numpy's message does not name the file
        raise ValueError(f"{path!r}: expected two integers per line ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"{path!r}: expected two integers per line, got shape {data.shape}")
    return data


def from_networkx(g, root: Any = None, name: str = "user") -> Graph:
    """A graph from an undirected networkx graph. Nodes are relabelled ``0..n-1`` in ``sorted``
    order if possible (else insertion order); ``graph.params['labels']`` keeps the original
    labels; isolated nodes are kept. As in :func:`from_edge_list`, self-loops are refused
    (self-edges are a task option), and so are directed graphs (pass ``g.to_undirected()``)."""
    if g.is_directed():
        raise ValueError("from_networkx takes an undirected graph (our graphs are undirected; "
                         "edge directions are a task option): pass g.to_undirected()")
    loops = [u for u, v in g.edges() if u == v]
    if loops:
        raise ValueError(f"self-loop ({loops[0]!r}, {loops[0]!r}) in the networkx graph; use "
                         f"the self_edges task option instead")
    nodes = list(g.nodes())
    try:
        nodes = sorted(nodes)
    except TypeError:
        pass
    index = {v: i for i, v in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in g.edges()],
                     dtype=np.int64).reshape(-1, 2)
    if root is not None and root not in index:
        raise ValueError(f"root {root!r} is not a node of the networkx graph")
    graph = from_edge_list(edges, num_nodes=len(nodes),
                           root=None if root is None else index[root], name=name)
    graph.params["labels"] = [v if isinstance(v, (int, str, float)) else str(v) for v in nodes]
    return graph


def tiny_graphs(seed: int | None = 0) -> dict[str, Graph]:
    """The paper's four tiny graphs, with canonical ids: 4-arm path-star G(4,5) (17 nodes), 4x4
    grid (16), 15-cycle, and the 16-node irregular graph."""
    return {
        "path_star_4_5": path_star(4, 5, seed=seed, canonical_ids=True),
        "grid_4x4": grid(4, 4, seed=seed),
        "cycle_15": cycle(15, seed=seed),
        "irregular16": irregular16(seed=seed),
    }


GRAPH_FAMILIES = {
    "path_star": path_star,
    "tree_star": tree_star,
    "grid": grid,
    "cycle": cycle,
    "irregular16": irregular16,
    "erdos_renyi": erdos_renyi,
    "random_regular": random_regular,
}


def build_graph(family: str, **params: Any) -> Graph:
    """Build a graph of a named family (``path_star``, ``tree_star``, ``grid``, ``cycle``,
    ``irregular16``, ``erdos_renyi``, ``random_regular``) from its parameters."""
    key = family.replace("-", "_")
    if key not in GRAPH_FAMILIES:
        raise ValueError(
            f"unknown graph family {family!r}; expected one of {sorted(GRAPH_FAMILIES)}"
        )
    return GRAPH_FAMILIES[key](**params)
