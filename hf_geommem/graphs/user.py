"""User graphs: from an edge list, an edge-list file or a networkx graph. Self-loops are
refused everywhere (self-edges are a task option, not graph structure)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from .graph import Graph

__all__ = ["from_edge_list", "read_edge_file", "from_networkx"]


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
