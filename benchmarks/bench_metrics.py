"""Every geometry score on G(10^4,10) (90,001 nodes), 384-dim embeddings, 100 null draws.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py [--degree 10000] [--dim 384] [--null 100]

Target (issue: metrics): <= 60 s in all and <= 4 GB peak memory on one core. Prints the time of
each score and the peak RSS. The embeddings are a smooth-plus-noise code (the Laplacian
eigenmap of the first eigenvectors plus Gaussian noise), so the scores are non-trivial.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from hf_geommem import metrics as M
from hf_geommem.graphs import path_star


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--null", type=int, default=100)
    args = parser.parse_args()
    g = path_star(args.degree, args.length, seed=0)
    rng = np.random.default_rng(0)
    # arm identity + depth + noise: a geometric code with an exact, cheap construction
    arm_code = rng.standard_normal((args.degree, args.dim)).astype(np.float32)
    X = rng.standard_normal((g.num_nodes, args.dim)).astype(np.float32)
    X[g.arms[:, 1:].ravel()] += np.repeat(arm_code, args.length - 1, axis=0) * 2
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"G({args.degree},{args.length}): {g.num_nodes:,} nodes, X {X.shape} float32, "
          f"{args.null} null draws; RSS before scores {rss0:.0f} MB")
    total = 0.0
    names = ["geometric_level", "dirichlet_energy", "spectral_energy_fraction",
             "spectral_profile", "topk_edge_recovery", "knn_edge_recall", "link_prediction_auc",
             "distance_correlation", "navigation_accuracy", "path_distance_gap"]
    for name in names:
        t0 = time.perf_counter()
        s = M.geometry_report(X, g, n_null=args.null, scores=(name,))[name]
        dt = time.perf_counter() - t0
        total += dt
        print(f"  {name:26s} {dt:6.2f} s   value {s.value:8.4f}  null {s.null_mean:8.4f} "
              f"[{s.null_low:.4f}, {s.null_high:.4f}]  z {s.z:9.2f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:.1f} s (target <= 60 s); peak RSS {peak:.0f} MB (target <= 4096 MB)")


if __name__ == "__main__":
    main()
