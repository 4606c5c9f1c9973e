"""The evaluate modules, loaded the way users load them: evaluate.load on the local path."""

import evaluate
import numpy as np
import pytest

from hf_geommem import graphs as G
from hf_geommem.evaluation import module_path


def test_path_accuracy_through_evaluate_load():
    pa = evaluate.load(module_path("path_accuracy"))
    out = pa.compute(predictions=[[5, 3, 9], [5, 4, 8]], references=[[5, 3, 8], [5, 4, 8]])
    assert out == {"exact_match": 0.5, "first_token_decoded": 1.0, "accuracy_position_0": 1.0,
                   "accuracy_position_1": 1.0, "accuracy_position_2": 0.5, "num_paths": 2}
    assert all(isinstance(v, (int, float)) for v in out.values())  # flat
    assert "Noroozizadeh" in pa.citation
    with pytest.raises(ValueError, match="reference path 0 is empty"):
        pa.compute(predictions=[[]], references=[[]])


def test_geometric_memory_through_evaluate_load():
    gm = evaluate.load(module_path("geometric_memory"))
    g = G.cycle(12)
    t = 2 * np.pi * np.arange(12) / 12
    X = np.stack([np.cos(t), np.sin(t)], 1)
    out = gm.compute(embeddings=X.tolist(), edges=g.edges.tolist(), n_null=60,
                     scores=["geometric_level", "dirichlet_energy"])
    assert out["geometric_level"] == pytest.approx(np.cos(2 * np.pi / 12), abs=1e-6)
    assert out["geometric_level_p"] <= 0.025 and out["dirichlet_energy"] < 0.2
    with pytest.raises(ValueError, match="same width"):
        gm.compute(embeddings=[[1.0, 2.0], [1.0]], edges=[[0, 1]])
