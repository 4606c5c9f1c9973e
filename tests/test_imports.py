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


def test_old_import_paths_keep_working():
    from hf_geommem.geometry import GeometryCallback, GeometryRecorder, record_schedule
    from hf_geommem.interventions import PACK_TEMPLATES, plot_ablation_curve
    from hf_geommem.reproduce import PRESETS, RunSpec, run_reproduction, update_readme
    from hf_geommem.training.callbacks import GeometryCallback as cb

    assert GeometryCallback is cb and callable(record_schedule) and GeometryRecorder
    assert PACK_TEMPLATES["months"] and callable(plot_ablation_curve)
    assert "smoke" in PRESETS and RunSpec and run_reproduction and update_readme
