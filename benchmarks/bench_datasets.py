"""Dataset build/save/load speed and memory (issue: datasets). Prints its figures.

    OMP_NUM_THREADS=1 python benchmarks/bench_datasets.py [--quick]

Targets: G(10^4,10) (90,001 nodes) build+save <= 5 s and load_dataset <= 2 s on one core;
G(10^5,10) (900,001 nodes) build+save <= 60 s with memory growing linearly in the node count.
Each size runs in a fresh subprocess so peak RSS (ru_maxrss) belongs to that size alone; the
imports are timed separately from the build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, tempfile, time
t0 = time.perf_counter()
import hf_geommem
from hf_geommem import PathTaskConfig, build_task
t_import = time.perf_counter() - t0
degree, length = int(sys.argv[1]), int(sys.argv[2])
out = os.path.join(sys.argv[3], f"g{degree}_{length}")
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
task = build_task("path_star", degree=degree, length=length, seed=0,
                  paths=PathTaskConfig(num_pauses=length))
t_build = time.perf_counter() - t0
task.save_to_folder(out)
t_total = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
res = {"degree": degree, "length": length, "nodes": task.graph.num_nodes,
       "import_s": t_import, "build_s": t_build, "build_save_s": t_total,
       "peak_rss_mb": rss1 / 1024, "rss_after_import_mb": rss0 / 1024,
       "folder_mb": sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out)
                        for f in fs) / 2**20}
if len(sys.argv) > 4:
    from datasets import load_dataset
    cache = tempfile.mkdtemp()
    t0 = time.perf_counter()
    for cfg in ("edges", "paths", "graph"):
        load_dataset(out, cfg, cache_dir=cache)
    res["load_dataset_all_configs_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_dataset(out, "paths", cache_dir=tempfile.mkdtemp())
    res["load_dataset_paths_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for cfg in ("edges", "paths", "graph"):
        load_dataset(out, cfg, cache_dir=cache)
    res["load_dataset_cached_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hf_geommem.load_task(out)
    res["load_task_s"] = time.perf_counter() - t0
print("RESULT " + json.dumps(res))
"""


def run(degree: int, length: int, tmp: str, load: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    args = [sys.executable, "-c", CHILD, str(degree), str(length), tmp] + (["load"] if load else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 900,001-node graph")
    args = parser.parse_args()
    sizes = [(10_000, 10, True), (25_000, 10, False), (50_000, 10, False)]
    if not args.quick:
        sizes.append((100_000, 10, True))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for degree, length, load in sizes:
            rows.append(run(degree, length, tmp, load))
            r = rows[-1]
            print(f"G({degree},{length}) {r['nodes']:>9,} nodes: build {r['build_s']:6.2f} s, "
                  f"build+save {r['build_save_s']:6.2f} s, peak RSS {r['peak_rss_mb']:7.0f} MB "
                  f"(after imports {r['rss_after_import_mb']:.0f} MB), folder "
                  f"{r['folder_mb']:.1f} MB, imports {r['import_s']:.2f} s", flush=True)
            if load:
                print(f"    load_dataset, all 3 configs, fresh cache: "
                      f"{r['load_dataset_all_configs_s']:.2f} s; 'paths' alone, fresh cache: "
                      f"{r['load_dataset_paths_s']:.2f} s; all 3 cached: "
                      f"{r['load_dataset_cached_s']:.2f} s; hf_geommem.load_task: "
                      f"{r['load_task_s']:.2f} s", flush=True)
    base = rows[0]
    print("\nmemory growth above the post-import baseline, per node:")
    for r in rows:
        extra = r["peak_rss_mb"] - r["rss_after_import_mb"]
        print(f"  {r['nodes']:>9,} nodes: {extra:8.1f} MB = {extra * 2**20 / r['nodes']:.0f} "
              f"bytes/node")
    target = {"G(10^4,10) build+save <= 5 s": base["build_save_s"] <= 5,
              "G(10^4,10) load_dataset <= 2 s": base["load_dataset_all_configs_s"] <= 2}
    if not args.quick:
        target["G(10^5,10) build+save <= 60 s"] = rows[-1]["build_save_s"] <= 60
    print("\n" + "\n".join(f"{'PASS' if ok else 'MISS'}  {name}" for name, ok in target.items()))


if __name__ == "__main__":
    main()
