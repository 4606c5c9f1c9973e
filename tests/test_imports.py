"""The import graph's direction: light modules stay light (issue 18)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["hf_geommem.node2vec", "hf_geommem.metrics",
                                    "hf_geommem.reproduce.presets",
                                    "hf_geommem.training.recording"])
def test_light_modules_load_neither_transformers_nor_datasets(module, tmp_path):
    code = (f"import sys, {module}\n"
            "print(sorted(m for m in ('transformers', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_cli_parser_loads_no_torch(tmp_path):
    # every command's help, parsed once at startup: an import of a torch module there cost
    # every `hf-geommem` call ~7 s
    code = ("import sys\nfrom hf_geommem.cli import build_parser\nbuild_parser()\n"
            "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_old_import_paths_keep_working():
    from hf_geommem.geometry import GeometryCallback, GeometryRecorder, record_schedule
    from hf_geommem.interventions import PACK_TEMPLATES, plot_ablation_curve
    from hf_geommem.reproduce import PRESETS, RunSpec, run_reproduction, update_readme
    from hf_geommem.training.callbacks import GeometryCallback as cb

    assert GeometryCallback is cb and callable(record_schedule) and GeometryRecorder
    assert PACK_TEMPLATES["months"] and callable(plot_ablation_curve)
    assert "smoke" in PRESETS and RunSpec and run_reproduction and update_readme


def test_moved_names_keep_their_old_paths():
    import hf_geommem
    from hf_geommem import graphs, tasks
    from hf_geommem.graphs import (GRAPH_COLUMNS, GRAPH_FAMILIES, Graph, build_graph, cycle,
                                   erdos_renyi, from_edge_list, from_networkx, graph_from_table,
                                   graph_from_tree_arrays, grid, irregular16, path_star,
                                   random_regular, read_edge_file, tiny_graphs, tree_star)
    from hf_geommem.training import push_run
    from hf_geommem.training.run import push_run as old_push_run
    from hf_geommem.training.run_folder import push_run as new_push_run

    assert Graph is graphs.graph.Graph and path_star is graphs.families.path_star
    assert from_edge_list is graphs.user.from_edge_list and hf_geommem.Graph is Graph
    assert tasks.graph_from_table is graph_from_table  # tasks re-exports it, graphs holds it
    assert tuple(tasks.GRAPH_FEATURES) == GRAPH_COLUMNS
    assert push_run is old_push_run is new_push_run
    assert set(GRAPH_FAMILIES) >= {"path_star", "tree_star", "grid", "cycle"}
    assert all(callable(f) for f in (build_graph, cycle, erdos_renyi, from_networkx,
                                     graph_from_tree_arrays, grid, irregular16, random_regular,
                                     read_edge_file, tiny_graphs, tree_star))


@pytest.mark.parametrize("args,match", [
    (("k", 0), "k must be an integer >= 1, got 0"),
    (("k", 2.0), "k must be an integer >= 1, got 2.0"),
    (("flag", True), "flag must be an integer >= 1, got True"),
    (("layer", 5, 0, 3, " for this model"), "layer must be an integer in 0..3 for this model, "
                                            "got 5"),
])
def test_one_integer_validator(args, match):
    from hf_geommem.checks import check_int

    with pytest.raises(ValueError, match=match):
        check_int(*args)
    assert check_int("k", 3) == 3 and type(check_int("k", __import__("numpy").int64(3))) is int


def test_every_subpackage_is_in_the_wheel():
    # pyproject lists packages explicitly: a new sub-package left out installs (-e) but is
    # missing from a built wheel, so `hf-geommem` breaks for a normal `pip install`
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    on_disk = {".".join(p.parent.relative_to(root).parts)
               for p in (root / "hf_geommem").rglob("__init__.py")}
    assert on_disk <= listed, sorted(on_disk - listed)
