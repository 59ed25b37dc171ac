"""Volume features (technical family): volume / SMA ratio and OBV slope, by hand and vs TA-Lib."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.features import _volume as vol
from ml_core.features._spec import DEFINITIONS

from ._bars import random_walk_bars
from ._recipes import bars_from_arrays, batch, stream

THIRTY_MINUTES = timedelta(minutes=30)


def _run(recipe, close, volume):
    return batch(recipe, bars_from_arrays(close, volume, freq="30min"), THIRTY_MINUTES)


def test_volume_features_are_technical():
    for name in ("volume_sma_ratio", "obv_slope"):
        assert DEFINITIONS[name].family == "technical"
    assert DEFINITIONS["volume_sma_ratio"].lookback(None, THIRTY_MINUTES) == 20
    assert DEFINITIONS["obv_slope"].lookback(None, THIRTY_MINUTES) == 21


def test_volume_sma_ratio_by_hand():
    volume = np.r_[np.ones(20), 21.0]
    out = _run(vol.volume_sma_ratio, np.full(21, 10.0), volume)
    assert np.isnan(out[:19]).all()
    # Bar 20: 21 / mean(19 ones, 21) = 21 / 2.
    assert_array_equal(out[19:], [1.0, 10.5])
    # Nothing traded in the window: 1 by convention, not 0 / 0.
    assert_array_equal(_run(vol.volume_sma_ratio, np.full(25, 10.0), np.zeros(25))[19:], 1.0)


def test_obv_slope_by_hand():
    # Closes up, up, down, ... : signed volume +v on up bars, -v on down bars, 0 when unchanged.
    close = np.r_[100.0, 100.0 + np.cumsum(np.tile([1.0, 1.0, -1.0, 0.0], 6))]  # 25 bars
    volume = np.arange(1.0, 26.0)
    out = _run(vol.obv_slope, close, volume)
    assert np.isnan(out[:20]).all()
    sign = np.sign(np.diff(close))
    for t in range(20, 25):
        window = slice(t - 19, t + 1)
        expected = (sign[t - 20 : t] * volume[window]).sum() / volume[window].sum()
        assert out[t] == pytest.approx(expected, rel=1e-14)
    # Rising closes: all volume is buying, slope 1; no volume: 0.
    assert_array_equal(_run(vol.obv_slope, np.arange(1.0, 31.0), np.ones(30))[20:], 1.0)
    assert_array_equal(_run(vol.obv_slope, np.arange(1.0, 31.0), np.zeros(30))[20:], 0.0)


def test_against_talib():
    talib = pytest.importorskip("talib")
    bars = random_walk_bars(400)
    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    obv = talib.OBV(close, volume)
    expected = (obv[20:] - obv[:-20]) / np.convolve(volume, np.ones(20), "valid")[1:]
    assert_allclose(batch(vol.obv_slope, bars, THIRTY_MINUTES)[20:], expected, rtol=1e-9)
    assert_allclose(batch(vol.volume_sma_ratio, bars, THIRTY_MINUTES),
                    volume / talib.SMA(volume, 20), rtol=1e-12)


def test_stream_equals_batch_through_a_burst_and_no_volume():
    bars = random_walk_bars(300, seed=4)
    bars.iloc[100, 4] *= 1e6  # leaves a rounding residue in running sums
    bars.iloc[110:200, 4] = 0.0
    for recipe in (vol.volume_sma_ratio, vol.obv_slope):
        expected = batch(recipe, bars, THIRTY_MINUTES)
        assert_allclose(stream(recipe, bars, THIRTY_MINUTES), expected, rtol=1e-9, atol=1e-12)
        assert np.isfinite(expected[21:]).all()
    # 20 bars after the last volume, the window is empty: neutral values exactly.
    assert_array_equal(batch(vol.volume_sma_ratio, bars, THIRTY_MINUTES)[129:200], 1.0)
    assert_array_equal(batch(vol.obv_slope, bars, THIRTY_MINUTES)[129:200], 0.0)
