"""Graphs whose memorization we study: path-stars, tree-stars, tiny graphs and user graphs.

One room, three files: :mod:`.graph` (the :class:`Graph` object and its rebuilding from stored
arrays or tables), :mod:`.families` (the generated families and :func:`build_graph`) and
:mod:`.user` (edge lists, edge-list files, networkx graphs). Every name is importable from
``hf_geommem.graphs`` as before. All builders are vectorized: G(10^5, 10) (900,001 nodes)
builds in well under a second.
"""

from __future__ import annotations

from .families import (
    BYTES_PER_NODE,
    GRAPH_FAMILIES,
    MAX_NODES,
    build_graph,
    cycle,
    erdos_renyi,
    grid,
    irregular16,
    path_star,
    random_regular,
    tiny_graphs,
    tree_star,
)
from .graph import GRAPH_COLUMNS, Graph, graph_from_table, graph_from_tree_arrays
from .user import from_edge_list, from_networkx, read_edge_file

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
    "graph_from_table",
    "GRAPH_FAMILIES",
    "GRAPH_COLUMNS",
    "MAX_NODES",
    "BYTES_PER_NODE",
]
