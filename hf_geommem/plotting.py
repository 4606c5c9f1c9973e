"""Figures (matplotlib, Agg backend, PNG). Every function takes data, writes one PNG and
returns its path, so the same figures are available from Python and from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["plot_training_curves", "plot_probe_layers", "plot_embedding_projection",
           "plot_cosine_heatmap", "plot_spectral_bars", "plot_geometry_curves",
           "plot_leaf_first_hop", "plot_node2vec_trajectories", "plot_ablation_curve"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write the PNG, free the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


def _plot_series(ax, rows: list[dict[str, Any]], steps: list[float],
                 series: tuple[tuple[str, str], ...]) -> None:
    """One line per (key, label) present in any row; missing values are gaps."""
    for key, label in series:
        if any(key in r for r in rows):
            ax.plot(steps, [r.get(key, float("nan")) for r in rows], marker="o", ms=3,
                    label=label)


def plot_training_curves(history: list[dict[str, Any]], path: str | Path,
                         title: str = "") -> Path:
    """Accuracy curves over training steps from ``metrics.jsonl`` rows (with chance)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    _plot_series(ax, history, [r["step"] for r in history],
                 (("eval_exact_path", "held-out exact path"),
                  ("eval_first_token", "held-out first token"),
                  ("train_exact_path", "train exact path"),
                  ("edge_topk_recovery", "top-k edge recovery")))
    if any("chance" in r for r in history):
        ax.axhline(history[-1]["chance"], color="grey", ls="--", lw=1, label="chance 1/d")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_accuracy_comparison(curves: dict[str, list[dict[str, Any]]], path: str | Path,
                             key: str = "eval_exact_path", title: str = "") -> Path:
    """One curve per run (label -> rows with ``step`` and ``key``): e.g. held-out exact-path
    accuracy of every model of a reproduction, with each run's chance if given."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    for label, rows in curves.items():
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=2.5, lw=1.2, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or f"{key.replace('_', ' ')} per run", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_probe_layers(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Probe scores across layers, each with its shuffled-node null band (2.5-97.5%). Each
    row maps score names to a :class:`~hf_geommem.metrics.Score` or its ``as_dict()``."""
    plt = _pyplot()
    names = list(rows[0])

    def get(score: Any, attr: str) -> float:
        return score[attr] if isinstance(score, dict) else getattr(score, attr)

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    layers = list(range(len(rows)))
    for ax, name in zip(axes[0], names):
        vals = [get(r[name], "value") for r in rows]
        ax.fill_between(layers, [get(r[name], "null_low") for r in rows],
                        [get(r[name], "null_high") for r in rows], color="grey", alpha=0.3,
                        label="null 95%")
        ax.plot(layers, [get(r[name], "null_mean") for r in rows], color="grey", lw=1)
        ax.plot(layers, vals, marker="o", ms=3, label=name)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("layer")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=100)


def _colors(graph, n: int):
    """Colour index per node: arm (branch) on rooted graphs, else position in canonical order."""
    import numpy as np

    if graph is not None and graph.branch is not None:
        return np.where(graph.branch < 0, -1, graph.branch), "arm"
    return np.arange(n), "node"


def plot_embedding_projection(X, graph, path: str | Path, dims: int = 2, title: str = "",
                              color_by: str = "arm") -> Path:
    """PCA projection of node embeddings (2-D or 3-D), coloured by arm or by depth/position,
    with the graph's edges drawn."""
    import numpy as np

    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    u, s, _ = np.linalg.svd(Xc, full_matrices=False)
    P = u[:, :dims] * s[:dims]
    if P.shape[1] < dims:
        P = np.pad(P, ((0, 0), (0, dims - P.shape[1])))
    if color_by == "position" and graph is not None and graph.depth is not None:
        c, label = graph.depth, "depth"
    else:
        c, label = _colors(graph, len(X))
    fig = plt.figure(figsize=(5, 4.5))
    ax = fig.add_subplot(111, projection="3d" if dims == 3 else None)
    if graph is not None and graph.num_edges <= 5000:
        for a, b in graph.edges:
            ax.plot(*[P[[a, b], d] for d in range(dims)], color="lightgrey", lw=0.6, zorder=0)
    sc = ax.scatter(*[P[:, d] for d in range(dims)], c=c, cmap="tab20" if label != "depth"
                    else "viridis", s=18, zorder=1)
    fig.colorbar(sc, ax=ax, shrink=0.7, label=label)
    var = (s[:dims] ** 2).sum() / max((s ** 2).sum(), 1e-300)
    ax.set_title(f"{title} PCA ({100 * var:.0f}% variance)".strip(), fontsize=9)
    return _save(fig, path)


def plot_cosine_heatmap(X, graph, path: str | Path, title: str = "", max_nodes: int = 200
                        ) -> Path:
    """Node-node cosine similarity beside the adjacency matrix (first ``max_nodes`` nodes,
    ordered by arm and depth on rooted graphs)."""
    import numpy as np

    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    n = min(len(X), max_nodes)
    order = np.arange(len(X))
    if graph.branch is not None:
        order = np.lexsort((graph.depth, graph.branch))
    order = order[:n]
    Xn = X[order] / np.maximum(np.linalg.norm(X[order], axis=1, keepdims=True), 1e-300)
    A = graph.adjacency().toarray()[np.ix_(order, order)] if graph.num_nodes <= 5000 else \
        graph.adjacency()[order][:, order].toarray()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    im = axes[0].imshow(Xn @ Xn.T, cmap="RdBu_r", vmin=-1, vmax=1)
    axes[0].set_title("cosine similarity", fontsize=9)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    axes[1].imshow(A, cmap="Greys")
    axes[1].set_title("adjacency", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_spectral_bars(spectrum, profile, path: str | Path, title: str = "",
                       max_groups: int = 40) -> Path:
    """Normalized spectrum of -L next to the normalized projections ``||X^T e_i||`` per
    eigenvalue group (the paper's spectral bar plot)."""
    import numpy as np

    plt = _pyplot()
    k = min(len(profile), max_groups)
    idx = np.arange(k)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(idx - 0.2, np.asarray(spectrum[:k]), width=0.4, label="eigenvalue of -L (norm.)",
           color="lightgrey")
    ax.bar(idx + 0.2, np.asarray(profile[:k]), width=0.4, label="||X^T e|| (norm.)")
    ax.set_xlabel("eigenvalue group (top of -L first, trivial dropped)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_geometry_curves(rows: list[dict[str, Any]], path: str | Path, title: str = ""
                         ) -> Path:
    """Associative vs geometric memorization over training: top-k edge recovery beside the
    geometric level, spectral top mass and navigation accuracy (log step axis)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    _plot_series(ax, rows, [max(r["step"], 0.5) for r in rows],  # step 0 on a log axis
                 (("topk_edge_recovery", "top-k edge recovery (associative)"),
                  ("geometric_level", "geometric level"),
                  ("dirichlet_energy", "Dirichlet energy (1 = chance, lower = smoother)"),
                  ("spectral_top_mass", "spectral top mass"),
                  ("navigation_accuracy", "navigation accuracy")))
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_leaf_first_hop(heatmap, path_matrix, path: str | Path, title: str = "") -> Path:
    """Leaf vs first-hop cosine-distance heatmap beside the path-by-path distance matrix."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, M, name in ((axes[0], heatmap, "leaf_i vs v1_j (cosine distance)"),
                        (axes[1], path_matrix, "arm vs arm mean distance")):
        im = ax.imshow(M, cmap="viridis")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_node2vec_trajectories(history: list[dict[str, Any]], path: str | Path,
                               num: int = 8, title: str = "") -> Path:
    """``||V^T P_i||`` and ``||C P_i||`` over Node2Vec training for the top ``num``
    eigenspaces ``P_i`` of -L (degenerate eigenvectors grouped, so the curves do not depend
    on the solver's basis; log step axis)."""
    import numpy as np

    plt = _pyplot()
    steps = [max(h["step"], 0.5) for h in history]
    pv = np.array([h["proj_V_group"][:num] for h in history])
    pc = np.array([h["proj_C_group"][:num] for h in history])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i in range(pv.shape[1]):
        axes[0].plot(steps, pv[:, i], label=f"e{i}")
        axes[1].plot(steps, pc[:, i], label=f"e{i}")
    for ax, name in ((axes[0], "||V^T e_i||"), (axes[1], "||C e_i||")):
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_ablation_curve(rows: Sequence[dict[str, Any]], path: str | Path, title: str = ""
                        ) -> Path:
    """Held-out accuracy vs ``k`` for geometric and random ablations (rows of
    :func:`hf_geommem.interventions.ablation_curve`): v1 and exact path, the random null's
    mean and 2.5-97.5% band, the unablated accuracy and chance."""
    if not rows:
        raise ValueError("no rows to plot")
    plt = _pyplot()
    ks = [r["k"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in ((axes[0], "v1", "teacher-forced v1"), (axes[1], "exact",
                                                                   "exact path")):
        ax.plot(ks, [r[f"geo_{key}"] for r in rows], "o-", color="C3",
                label="geometric directions ablated")
        ax.plot(ks, [r[f"null_{key}_mean"] for r in rows], "s--", color="C0",
                label="random directions (mean)")
        ax.fill_between(ks, [r[f"null_{key}_q025"] for r in rows],
                        [r[f"null_{key}_q975"] for r in rows], color="C0", alpha=0.2,
                        label="random 2.5-97.5%")
        ax.axhline(rows[0][f"base_{key}"], color="k", lw=0.8, label="no ablation")
        ax.axhline(rows[0]["chance"], color="grey", ls=":", lw=0.8, label="chance 1/d")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k (directions ablated)")
        ax.set_title(f"held-out {label}")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
