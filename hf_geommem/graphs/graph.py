"""The :class:`Graph` object: nodes ``0..n-1``, an undirected edge list in forward orientation
and, for rooted trees, parent/depth/branch/arms; rebuilt from its per-node arrays
(:func:`graph_from_tree_arrays`) or from the ``graph`` table of a dataset
(:func:`graph_from_table`).

Every graph is a :class:`Graph`: ``num_nodes`` nodes named ``0 .. num_nodes-1`` (the node id *is*
the token name, so ids are a seeded random permutation unless ``canonical_ids=True``) and an
undirected edge list stored in a *forward* orientation (parent -> child for rooted graphs).

Rooted graphs (path-star, tree-star, rooted user trees) also carry ``root``, ``parent``,
``depth`` and ``arms`` (every root-to-leaf path), which the path-finding tasks and the
navigation metrics use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = ["Graph", "graph_from_tree_arrays", "graph_from_table", "GRAPH_COLUMNS"]


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


# the columns of the ``graph`` config's table (``tasks.GRAPH_FEATURES`` types them)
GRAPH_COLUMNS = ("node", "neighbors", "parent", "depth", "branch", "component", "degree")


def graph_from_table(table: Any, family: str = "user", params: dict | None = None) -> Graph:
    """Rebuild a :class:`Graph` from a :func:`~hf_geommem.tasks.graph_table` (a ``pa.Table``, a
    ``datasets.Dataset`` of the ``graph`` config, or a ``DatasetDict`` holding it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if hasattr(table, "keys") and not isinstance(table, pa.Table) and "nodes" in table:
        table = table["nodes"]  # the DatasetDict of the graph config
    if hasattr(table, "data") and hasattr(table.data, "table"):  # datasets.Dataset
        table = table.with_format(None).data.table
    if not isinstance(table, pa.Table):
        raise TypeError(f"expected a graph table or Dataset, got {type(table).__name__}")
    missing = set(GRAPH_COLUMNS) - set(table.column_names)
    if missing:
        raise ValueError(f"not a graph table: missing columns {sorted(missing)}")
    node = table.column("node").to_numpy()
    n = len(node)
    if not np.array_equal(node, np.arange(n)):
        raise ValueError("graph table rows must be nodes 0..n-1 in order")
    parent = table.column("parent").to_numpy()
    params = dict(params or {})
    if (parent >= 0).any():  # rooted: parent/depth/branch carry everything
        return graph_from_tree_arrays(parent.copy(), table.column("depth").to_numpy().copy(),
                                      table.column("branch").to_numpy().copy(), family, params)
    nb = table.column("neighbors").combine_chunks()
    counts = pc.list_value_length(nb).to_numpy(zero_copy_only=False).astype(np.int64)
    edges = np.stack([np.repeat(node, counts), nb.flatten().to_numpy()], axis=1)
    return Graph(num_nodes=n, edges=edges, family=family, params=params)
