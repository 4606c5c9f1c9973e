import pytest

import hf_geommem as H
from hf_geommem.cli import main


@pytest.mark.parametrize("argv,nodes,has_paths", [
    (["path-star", "--degree", "8", "--length", "4", "--pauses", "2"], 25, True),
    (["tree-star", "--degree", "3", "--length", "3", "--split-by", "subtree"], 10, True),
    (["grid", "--rows", "3", "--cols", "2"], 6, False),
    (["cycle", "--n", "9", "--self-edges"], 9, False),
    (["irregular16"], 16, False),
    (["erdos-renyi", "--n", "20", "--p", "0.2"], 20, False),
    (["random-regular", "--n", "10", "--degree", "3"], 10, False),
])
def test_build_families(tmp_path, capsys, argv, nodes, has_paths):
    out = tmp_path / "ds"
    assert main(["build", *argv, "--out", str(out)]) == 0
    task = H.load_task(out)
    assert task.graph.num_nodes == nodes
    assert ("paths" in task) == has_paths
    assert "saved to" in capsys.readouterr().out


def test_build_options_reach_the_data(tmp_path):
    out = tmp_path / "ds"
    main(["build", "path-star", "--degree", "8", "--length", "4", "--edges", "forward",
          "--target", "first_token", "--path-direction", "reverse", "--train-fraction", "0.5",
          "--no-canonical-ids", "--out", str(out), "--seed", "3"])
    t = H.load_task(out)
    assert t["edges"]["train"].num_rows == 24 and set(t["edges"]["train"]["kind"]) == {0}
    assert t["paths"]["train"].num_rows == 4
    row = t["paths"]["train"][0]
    assert row["loss_mask"] == [False, True] and row["target"][0] == row["source"]


def test_build_edge_list_and_in_context(tmp_path):
    f = tmp_path / "edges.txt"
    f.write_text("# a tree\n0 1\n0 2\n1 3\n2 4\n0 5\n5 6\n0 7\n7 8\n")
    assert main(["build", "edge-list", "--file", str(f), "--root", "0",
                 "--out", str(tmp_path / "u")]) == 0
    assert H.load_task(tmp_path / "u").graph.arms.tolist() == [[0, 1, 3], [0, 2, 4], [0, 5, 6],
                                                             [0, 7, 8]]
    assert main(["build", "in-context", "--degree", "3", "--length", "4", "--num-train", "10",
                 "--num-test", "5", "--num-node-ids", "20", "--out", str(tmp_path / "ic")]) == 0
    assert H.load_task(tmp_path / "ic")["paths"]["test"].num_rows == 5


@pytest.mark.parametrize("argv,match", [
    (["path-star", "--degree", "0", "--length", "5"], "degree must be an integer >= 1, got 0"),
    (["path-star", "--degree", "3", "--length", "1"], "must be an integer >= 2, got 1"),
    (["path-star", "--degree", "3", "--length", "3", "--train-fraction", "0.9"],
     "3 train / 0 test"),
    (["edge-list", "--file", "EDGES", "--root", "0"], "2 components"),
    (["edge-list", "--file", "/nonexistent/e.txt"], "does not exist"),
])
def test_build_errors(tmp_path, capsys, argv, match):
    (tmp_path / "e.txt").write_text("0 1\n2 3\n")
    argv = [str(tmp_path / "e.txt") if a == "EDGES" else a for a in argv]
    assert main(["build", *argv, "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "error" in err
    import re

    assert re.search(match, err), err
    assert not (tmp_path / "ds").exists()


def test_unknown_family_and_existing_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["build", "moebius", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'moebius'" in capsys.readouterr().err
    out = tmp_path / "ds"
    main(["build", "cycle", "--n", "5", "--out", str(out)])
    assert main(["build", "cycle", "--n", "6", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert H.load_task(out).graph.num_nodes == 5
    assert main(["build", "cycle", "--n", "6", "--out", str(out), "--overwrite"]) == 0
    assert H.load_task(out).graph.num_nodes == 6


def test_push_flag(tmp_path):
    from unittest import mock

    with mock.patch("hf_geommem.builder.push_task", return_value="url") as push:
        assert main(["build", "cycle", "--n", "5", "--out", str(tmp_path / "d"),
                     "--push", "me/c"]) == 0
    push.assert_called_once()
    assert push.call_args.args[1] == "me/c"


def test_demo_smoke_reports_geometry(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--degree", "16", "--length", "3", "--max-steps",
                 "10", "--eval-steps", "5", "--null", "160", "--model", "gpt2-tiny"]) == 0
    printed = capsys.readouterr().out
    assert "geometry (held-out arms): navigation accuracy" in printed
    run = out / "model"
    assert (run / "leaf_first_hop.png").is_file()
    report = (run / "report.md").read_text()
    assert "## Geometry of the trained embeddings" in report and "leaf_first_hop.png" in report
    assert "## Geometry of the memory" in (run / "README.md").read_text()


def test_models_and_tiny_subcommands(tmp_path, capsys):
    import json

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(p in out for p in ("gpt2-mid", "llama-small", "mamba-tiny", "linear-512"))
    assert main(["tiny", "knobs", "--knob-steps", "30", "--null", "160", "--out",
                 str(tmp_path / "k")]) == 0
    knobs = json.loads((tmp_path / "k/tiny_study.json").read_text())["knobs"]
    assert len(knobs) == 7 and all(r["verdict"] in ("geometric", "weakly geometric", "zig-zag",
                                                    "associative") for r in knobs)
    assert main(["tiny", "study", "--models", "laplacian,node2vec", "--null", "160", "--out",
                 str(tmp_path / "s")]) == 0
    study = json.loads((tmp_path / "s/tiny_study.json").read_text())["study"]
    assert {(r["graph"], r["model"]) for r in study} == {
        (g, m) for g in ("path_star_4_5", "grid_4x4", "cycle_15", "irregular16")
        for m in ("laplacian", "node2vec")}
    assert all(r["verdict"] == "geometric" for r in study if r["model"] == "laplacian")
    assert (tmp_path / "s/figures/cycle_15_node2vec_dynamics.png").is_file()


def test_parser_and_models_import_no_heavy_modules(tmp_path):
    """--help, argument errors and `models` answer without importing torch, transformers or
    datasets (benchmarks/bench_cli_startup.py times them)."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\n"
            "from hf_geommem.cli import build_parser, main\n"
            "build_parser()\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['models'])\n"
            "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
