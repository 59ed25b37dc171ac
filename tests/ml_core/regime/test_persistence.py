"""Regime persistence from the transition matrix and from a state path."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ml_core.regime import REGIME_LABELS, regime_persistence

TRANSMAT = np.array([[0.9, 0.05, 0.05], [0.2, 0.75, 0.05], [0.0, 0.0, 1.0]])


def test_expected_durations_from_transmat():
    out = regime_persistence(TRANSMAT)
    assert list(out.index) == list(REGIME_LABELS)
    assert list(out.columns) == ["p_stay", "expected_duration_bars"]
    assert_allclose(out["p_stay"], [0.9, 0.75, 1.0])
    assert_allclose(out["expected_duration_bars"], [10.0, 4.0, np.inf])


def test_empirical_runs_and_occupancy():
    #          bull x2   bear x3   bull  (NaN skipped)  sideways
    states = [np.nan, 0, 0, 1, 1, 1, 0, np.nan, 2]
    out = regime_persistence(TRANSMAT, states=np.array(states))
    assert_allclose(out["mean_run_length"], [1.5, 3.0, 1.0])
    assert_allclose(out["occupancy"], [3 / 7, 3 / 7, 1 / 7])


def test_unvisited_state_has_nan_run_length():
    out = regime_persistence(TRANSMAT, states=np.array([0, 0, 1]))
    assert np.isnan(out.loc["sideways", "mean_run_length"])
    assert out.loc["sideways", "occupancy"] == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="transmat"):
        regime_persistence(np.eye(2))
    with pytest.raises(ValueError, match="states"):
        regime_persistence(TRANSMAT, states=np.array([0, 3]))
