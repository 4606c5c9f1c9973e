"""The graph families: path-stars, tree-stars, grids, cycles, the authors' tiny irregular
graph, Erdos-Renyi and random regular graphs, the paper's four tiny graphs and
:func:`build_graph` (a family by name). Node ids are a seeded random permutation unless
``canonical_ids=True``; every builder is vectorized."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int
from .graph import Graph

__all__ = ["path_star", "tree_star", "grid", "cycle", "irregular16", "erdos_renyi",
           "random_regular", "tiny_graphs", "build_graph", "GRAPH_FAMILIES", "MAX_NODES"]


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
    d = check_int("degree", degree, 1)
    length = check_int("length (nodes per arm, counting the root)", length, 2)
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
    d = check_int("degree", degree, 1)
    length = check_int("length (nodes per root-to-leaf path, counting the root)", length, 2)
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
    r = check_int("rows", rows, 1)
    c = check_int("cols", cols, 1)
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
    n = check_int("n (cycle length)", n, 3)
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
    n = check_int("n", n, 1)
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

    n = check_int("n", n, 1)
    degree = check_int("degree", degree, 0)
    if degree >= n or (n * degree) % 2:
        raise ValueError(
            f"a {degree}-regular graph on {n} nodes needs degree < n and n*degree even"
        )
    g = nx.random_regular_graph(degree, n, seed=seed)
    edges = np.array(sorted(tuple(sorted(e)) for e in g.edges()), dtype=np.int64).reshape(-1, 2)
    return Graph(num_nodes=n, edges=edges, family="random_regular",
                 params={"n": n, "degree": degree, "seed": seed})




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
