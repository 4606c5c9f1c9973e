"""Calibration of the library's significance calls: a small version of
benchmarks/calibration.py (a regression in the verdict's false-positive rate fails here)."""

import numpy as np
import pytest
from scipy.stats import binom

from hf_geommem import graphs as G
from hf_geommem.calibration import (binomial_interval, calibration_cell, null_sampler,
                                    planted_sampler)
from hf_geommem.metrics import ALPHA, VERDICTS


def test_null_rates_within_their_binomial_bound():
    g = G.cycle(15)
    draws = 200
    cell = calibration_cell(null_sampler("isotropic", g, dim=16), g, draws, n_null=160, seed=3)
    # a calibrated call fires at most ALPHA of the time: its count stays below the 99.9%
    # quantile of Binomial(draws, ALPHA) (the old uncorrected verdict fired 5-8%)
    bound = binom.ppf(0.999, draws, ALPHA)
    for call in ("memory_verdict", "probe_layer"):
        assert cell[call]["count"] <= bound, (call, cell[call])
        assert cell[call]["low"] <= cell[call]["rate"] <= cell[call]["high"]
    assert set(cell["verdicts"]) <= set(VERDICTS) and sum(cell["verdicts"].values()) == draws
    assert "navigation" not in cell  # a cycle has no arms


def test_planted_geometry_is_found_and_noise_hides_it():
    g = G.path_star(6, 4, seed=1)
    clean = calibration_cell(planted_sampler(g, 0.25, dim=16), g, 5, n_null=160)
    assert clean["memory_verdict"]["rate"] == 1.0 and clean["navigation"]["rate"] == 1.0
    assert clean["verdicts"] == {"geometric": 5}
    # the permuted geometric model keeps its geometry but not the graph's
    perm = calibration_cell(null_sampler("permuted_geometric", g, dim=16), g, 5, n_null=160)
    assert perm["memory_verdict"]["count"] <= 1


def test_binomial_interval_and_bad_inputs():
    low, high = binomial_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = binomial_interval(5, 10)
    assert low == pytest.approx(1 - high) and 0.18 < low < 0.19
    with pytest.raises(ValueError, match="successes"):
        binomial_interval(11, 10)
    with pytest.raises(ValueError, match="unknown null kind 'gauss'"):
        null_sampler("gauss", G.cycle(5))
    with pytest.raises(ValueError, match="noise must be"):
        planted_sampler(G.cycle(5), -1.0)
    with pytest.raises(ValueError, match="dim must be"):
        planted_sampler(G.cycle(5), 1.0, dim=1)
    with pytest.raises(ValueError, match="draws must be"):
        calibration_cell(null_sampler("isotropic", G.cycle(5)), G.cycle(5), 0)
    X = null_sampler("anisotropic", G.cycle(8), dim=8)(np.random.default_rng(0), 0)
    assert X.shape == (8, 8) and X[:, :3].std() > 3 * X[:, 3:].std()
