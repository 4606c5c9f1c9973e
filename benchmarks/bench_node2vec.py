"""Node2Vec on a 10,000-node graph on CPU: time per full-batch epoch and peak memory.

    OMP_NUM_THREADS=1 python benchmarks/bench_node2vec.py [--nodes 10000] [--epochs 5]

The full-softmax objective needs n x n matrices (logits, softmax, C): at n = 10,000 that is
10^8 entries each. Prints seconds per epoch, the extrapolated time of the paper's 10,000
epochs, and the peak RSS, for float64 (default) and float32.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import resource, sys, time, torch
from hf_geommem.graphs import path_star
from hf_geommem.node2vec import Node2VecConfig, train_node2vec
n_target, epochs, dtype = int(sys.argv[1]), int(sys.argv[2]), getattr(torch, sys.argv[3])
degree = (n_target - 1) // 4
g = path_star(degree, 5, seed=0)
t0 = time.perf_counter()
train_node2vec(g, Node2VecConfig(epochs=1, dtype=dtype, record_steps=[0], num_eigenvectors=8,
                                 keep_embeddings=False))
t1 = time.perf_counter()
train_node2vec(g, Node2VecConfig(epochs=epochs + 1, dtype=dtype, record_steps=[0],
                                 num_eigenvectors=8, keep_embeddings=False))
t2 = time.perf_counter()
per_epoch = ((t2 - t1) - (t1 - t0)) / epochs
print(f"RESULT {g.num_nodes} {per_epoch} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_001)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    for dtype in ("float64", "float32"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.nodes), str(args.epochs),
                              dtype], capture_output=True, text=True, check=True).stdout
        _, n, per_epoch, rss = [ln for ln in out.splitlines() if ln.startswith("RESULT")][-1].split()
        per_epoch, rss = float(per_epoch), float(rss)
        print(f"{dtype}: {int(n):,} nodes: {per_epoch:.2f} s/epoch -> 10,000 epochs ~ "
              f"{per_epoch * 10_000 / 3600:.1f} h on one core; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
