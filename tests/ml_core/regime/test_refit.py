"""The HMM refitted per CPCV split: it is fitted on its training events' bars only, never on a
test group's, and its features are the causal filter at every event."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import ml_core.regime._refit as refit_module
from ml_core.config import RegimeConfig
from ml_core.regime import TRANSFORM_COLUMNS, refit_regime_features, training_segments
from ml_core.validation import CombinatorialPurgedCV

BASE = timedelta(minutes=30)
CONFIG = RegimeConfig(timeframe="1h", covariance_type="diag", n_restarts=1)
CV = CombinatorialPurgedCV(n_groups=6, n_test_groups=2, purge=timedelta(hours=1),
                           embargo=timedelta(hours=1))


@pytest.fixture(scope="module")
def data(separated):
    """The simulated bars and an event every 5 hours from bar 50 on, each 5 hours long."""
    bars = separated[0]
    t0 = bars.index[50:-20:10]
    return bars, pd.Series(t0 + pd.Timedelta(hours=5), index=t0, name="t1")


def _test_spans(t1, test_idx):
    """``[first t0, last t1]`` of each test group (runs of consecutive test rows)."""
    return training_segments(t1, test_idx)  # the same runs, read for the test rows


def test_training_segments_by_hand():
    t0 = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    t1 = pd.Series(t0 + pd.to_timedelta([3, 1, 1, 1, 5, 2], unit="h"), index=t0)
    spans = training_segments(t1, np.array([0, 1, 3, 4, 5]))
    assert spans == [(t0[0], t0[0] + pd.Timedelta(hours=3)),   # max of t1_0 and t1_1
                     (t0[3], t0[4] + pd.Timedelta(hours=5))]   # max of t1_3..t1_5
    assert training_segments(t1, np.array([], dtype=int)) == []
    with pytest.raises(ValueError, match=r"`train_idx` must be sorted unique positions in "
                                         r"\[0, 6\), got 2 positions from 2 to 3"):
        training_segments(t1, np.array([3, 2]))


def test_every_split_fits_on_its_training_bars_only(data, monkeypatch):
    bars, t1 = data
    seen = []

    def spy(segments, *args, **kwargs):
        seen.append([seg.index for seg in segments])
        return original(segments, *args, **kwargs)

    original = refit_module.fit_regime_model
    monkeypatch.setattr(refit_module, "fit_regime_model", spy)
    splits = list(CV.split(t1.to_frame(), t1=t1))
    for train_idx, test_idx in splits:
        refit_regime_features(bars, t1, train_idx, CONFIG, BASE, random_state=0)
    assert len(seen) == len(splits) == 15
    for segments, (train_idx, test_idx) in zip(seen, splits, strict=True):
        fitted = segments[0].append(segments[1:])
        for start, end in _test_spans(t1, test_idx):  # no fitted bar inside a test group
            assert not ((fitted >= start) & (fitted <= end)).any()
        for start, end in zip(t1.index[train_idx], t1.iloc[train_idx], strict=True):
            assert start in fitted and end in fitted  # every training span is fitted on
        assert len(segments) == len(training_segments(t1, train_idx))


@pytest.mark.parametrize("split", [0, 7])
def test_perturbing_the_test_bars_leaves_the_split_model_unchanged(data, split):
    bars, t1 = data
    train_idx, test_idx = list(CV.split(t1.to_frame(), t1=t1))[split]
    model, features = refit_regime_features(bars, t1, train_idx, CONFIG, BASE, random_state=0)
    noisy = bars.copy()
    rng = np.random.default_rng(42)
    for start, end in _test_spans(t1, test_idx):
        inside = (bars.index >= start) & (bars.index <= end)
        noisy.loc[inside, ["open", "high", "low", "close"]] *= np.exp(
            rng.normal(0, 0.05, inside.sum()))[:, None]
    again, noisy_features = refit_regime_features(noisy, t1, train_idx, CONFIG, BASE,
                                                  random_state=0)
    for name in ("startprob_", "transmat_", "means_", "covars_", "obs_mean_", "obs_scale_"):
        assert_array_equal(getattr(again, name), getattr(model, name))
    # rows before the first test group read no perturbed bar: identical; test rows differ
    before = t1.index < _test_spans(t1, test_idx)[0][0]
    pd.testing.assert_frame_equal(noisy_features[before], features[before])
    assert not np.allclose(noisy_features.iloc[test_idx].to_numpy(),
                           features.iloc[test_idx].to_numpy())
    assert list(features.columns) == list(TRANSFORM_COLUMNS)
    assert features.index.equals(t1.index) and features.notna().all().all()


def test_bars_must_hold_every_event_start(data):
    bars, t1 = data
    with pytest.raises(ValueError, match=r"`bars` must hold every event start, got 1 missing, "
                                         r"the first 2020-01-02 01:00:00\+00:00"):
        refit_regime_features(bars.drop(t1.index[0]), t1, np.arange(10), CONFIG, BASE)
