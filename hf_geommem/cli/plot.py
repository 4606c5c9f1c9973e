"""``hf-geommem plot RUN``: the figures of a training run folder."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    plot = sub.add_parser("plot", help="draw the figures of a training run folder")
    plot.add_argument("run_dir")
    plot.add_argument("--dataset", help="task folder (default: the one the run recorded)")
    plot.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import plotting
    from ..geometry import read_geometry
    from ..metrics import leaf_first_hop, path_distance_matrix, spectral_profile
    from ..training import METRICS_FILE, read_metrics
    from ..training.config import GEOMETRY_FILE
    from ..training.run_folder import load_run_model, recorded_dataset, run_folder, run_task

    run = run_folder(args.run_dir)
    if not any((run / f).is_file() for f in (METRICS_FILE, GEOMETRY_FILE, "config.json")):
        raise ValueError(f"{str(run)!r} is not a training run folder (no {METRICS_FILE}, "
                         f"geometry.jsonl or config.json): pass the --out of hf-geommem train")
    # read and check everything before drawing: a bad input leaves no half set of figures
    history = read_metrics(run) if (run / METRICS_FILE).is_file() else None
    rows = read_geometry(run) if (run / GEOMETRY_FILE).is_file() else []
    source = args.dataset or recorded_dataset(run)
    graph = run_task(run, source).graph if source else None
    if source and graph is None:
        print(f"{source}: an in-context task has no fixed graph, so only the training curves "
              f"are drawn")
    X = None
    if graph is not None:
        import numpy as np

        from ..modeling import node_embeddings

        snaps = sorted((run / "geometry").glob("step_*.npy"))
        X = np.load(snaps[-1]) if snaps else node_embeddings(load_run_model(run),
                                                             graph.num_nodes)
    if history is None and not rows and X is None:
        raise FileNotFoundError(f"{str(run)!r} has no metrics.jsonl, geometry.jsonl or dataset "
                                f"to plot")
    figs = run / "figures"
    figs.mkdir(exist_ok=True)
    made = []
    if history is not None:
        made.append(plotting.plot_training_curves(history, figs / "training.png", run.name))
    if rows:
        made.append(plotting.plot_geometry_curves(rows, figs / "geometry_curves.png",
                                                  run.name))
    if X is not None:
        made.append(plotting.plot_embedding_projection(X, graph, figs / "pca.png",
                                                       title=run.name))
        made.append(plotting.plot_cosine_heatmap(X, graph, figs / "cosine.png", run.name))
        sp = spectral_profile(X, graph, n_null=0)
        made.append(plotting.plot_spectral_bars(sp.details["spectrum"], sp.details["profile"],
                                                figs / "spectrum.png", run.name))
        if graph.arms is not None:
            nav = leaf_first_hop(X, graph, n_null=0)
            pm = path_distance_matrix(X, graph, n_null=0)
            made.append(plotting.plot_leaf_first_hop(nav.details["heatmap"],
                                                     pm.details["matrix"],
                                                     figs / "leaf_first_hop.png",
                                                     f"navigation {100 * nav.value:.1f}%"))
    for f in made:
        print(f)
    return 0
