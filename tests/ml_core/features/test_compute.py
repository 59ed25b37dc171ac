"""compute_features: exact values, warm-up lengths, scale invariance, input checks, speed."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import FEATURES, compute_features, frac_diff_weights
from ml_core.features._registry import plan_columns

from ._bars import bars_from_close, random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)
BASE_ONLY = FeatureConfig(higher_timeframes=[], volatility_window=5, frac_diff_window=10)


def test_momentum_1h_is_two_bars_at_30m_and_sixty_at_1m():
    close = 100.0 * 1.1 ** np.arange(100)
    out = compute_features(bars_from_close(close), BASE_ONLY, THIRTY_MINUTES)
    assert_array_equal(np.isnan(out["momentum_1h"].to_numpy()[:3]), [True, True, False])
    assert_allclose(out["momentum_1h"].to_numpy()[2:], 1.1**2 - 1, rtol=1e-12)
    assert_allclose(out["momentum_4h"].to_numpy()[8:], 1.1**8 - 1, rtol=1e-12)

    bars = random_walk_bars(1_500, freq="1min")  # momentum_1d needs 1,441 one-minute bars
    out = compute_features(bars, BASE_ONLY, timedelta(minutes=1))
    close = bars["close"]
    assert_allclose(out["momentum_1h"], close / close.shift(60) - 1, rtol=1e-15)
    assert out["momentum_1h"].first_valid_index() == bars.index[60]


def test_rsi_of_rising_prices_is_100():
    out = compute_features(bars_from_close(np.linspace(100, 200, 100)), BASE_ONLY, THIRTY_MINUTES)
    assert out["rsi_14"].isna().sum() == 14
    assert_array_equal(out["rsi_14"].dropna(), 100.0)
    assert_allclose(out["stoch_k_14"].dropna(), 100.0, rtol=1e-14)
    assert (out["ema_cross_12_26"].dropna() > 0).all()


def test_fractional_diff_price_is_ffd_of_log_close():
    bars = random_walk_bars(100)
    out = compute_features(bars, BASE_ONLY, THIRTY_MINUTES)["fractional_diff_price"]
    w = frac_diff_weights(BASE_ONLY.frac_diff_d, 10)
    log_close = np.log(bars["close"].to_numpy())
    assert out.isna().sum() == 9
    assert out.iloc[30] == pytest.approx(float(w @ log_close[30:20:-1]), rel=1e-12)


def test_small_values_on_hand_made_bars():
    # Flat candles (open = high = low = close), constant volume.
    close = np.array([100.0, 102.0, 101.0, 103.0, 102.0, 104.0, 103.0, 105.0] * 12)
    out = compute_features(bars_from_close(close), BASE_ONLY, THIRTY_MINUTES)
    assert_array_equal(out["volume_sma_ratio"].dropna(), 1.0)
    # Up-bars and down-bars alternate: net signed volume of the last 20 bars is 0.
    assert_array_equal(out["obv_slope"].dropna(), 0.0)
    # Typical price = close on flat candles and volume is constant: VWAP = mean of 48 closes.
    vwap = out["vwap_distance"]
    assert vwap.isna().sum() == 47
    assert vwap.iloc[47] == pytest.approx(close[47] / close[:48].mean() - 1, rel=1e-12)
    assert vwap.iloc[95] == pytest.approx(close[95] / close[48:].mean() - 1, rel=1e-12)


def test_first_value_comes_exactly_after_the_lookback():
    config = FeatureConfig()
    bars = random_walk_bars(3_000, start="2024-01-01 00:00")
    out = compute_features(bars, config, THIRTY_MINUTES)
    for column in plan_columns(config, THIRTY_MINUTES):
        name = column.spec.name
        first = out.index.get_loc(out[name].first_valid_index())
        assert first == column.base_bars_needed - 1, name
        assert np.isfinite(out[name].iloc[first:]).all(), name


def test_sample_features_are_finite_after_warm_up(sample_features):
    for name in sample_features.columns:
        column = sample_features[name]
        assert np.isfinite(column.loc[column.first_valid_index():]).all(), name
    assert sample_features.iloc[-1].notna().all()


def test_features_are_scale_free(sample_bars, sample_features):
    scaled = sample_bars.copy()
    # Powers of two scale floats exactly, so ties (e.g. equal up and down moves in ADX) stay ties.
    scaled[["open", "high", "low", "close"]] *= 1_024.0
    scaled["volume"] *= 8.0
    out = compute_features(scaled, FeatureConfig(), THIRTY_MINUTES)
    others = [c for c in out.columns if c != "fractional_diff_price"]
    pd.testing.assert_frame_equal(out[others], sample_features[others], rtol=1e-12, atol=0)
    # Fractional differencing keeps memory of the log level: it shifts by log(1024) * sum(w).
    config = FeatureConfig()
    shift = np.log(1_024.0) * frac_diff_weights(config.frac_diff_d, config.frac_diff_window).sum()
    diff = (out["fractional_diff_price"] - sample_features["fractional_diff_price"]).dropna()
    assert_allclose(diff, shift, rtol=1e-9)


def test_too_short_series_names_the_feature_and_the_bars_needed(sample_bars):
    with pytest.raises(ValueError, match=r"`macd_hist_1d` needs: 1632 base bars"):
        compute_features(sample_bars.iloc[:1_000], FeatureConfig(), THIRTY_MINUTES)
    config = FeatureConfig(higher_timeframes=[])
    with pytest.raises(ValueError, match=r"`bars` has 400 rows.*`volatility_regime` needs: 481"):
        compute_features(sample_bars.iloc[:400], config, THIRTY_MINUTES)
    assert len(compute_features(sample_bars.iloc[:481], config, THIRTY_MINUTES)) == 481


def test_malformed_bars_are_rejected():
    bars = random_walk_bars(600)
    with pytest.raises(ValueError, match="lacks columns \\['volume'\\]"):
        compute_features(bars.drop(columns="volume"), BASE_ONLY, THIRTY_MINUTES)
    broken = bars.copy()
    broken.iloc[50, broken.columns.get_loc("close")] = np.nan
    with pytest.raises(ValueError, match="`bars\\['close'\\]` holds NaN or infinite values"):
        compute_features(broken, BASE_ONLY, THIRTY_MINUTES)
    broken.iloc[50, broken.columns.get_loc("close")] = -1.0
    with pytest.raises(ValueError, match="`bars\\['close'\\]` must be finite and > 0"):
        compute_features(broken, BASE_ONLY, THIRTY_MINUTES)
    with pytest.raises(ValueError, match="sorted ascending"):
        compute_features(bars.iloc[::-1], BASE_ONLY, THIRTY_MINUTES)
    with pytest.raises(ValueError, match="less than `base_timeframe=1:00:00`"):
        compute_features(bars, BASE_ONLY, timedelta(hours=1))


def test_full_sample_is_fast(sample_bars):
    compute_features(sample_bars.iloc[:5_000], FeatureConfig(), THIRTY_MINUTES)  # warm caches
    start = time.perf_counter()
    out = compute_features(sample_bars, FeatureConfig(), THIRTY_MINUTES)
    elapsed = time.perf_counter() - start
    assert out.shape == (35_019, len(FEATURES))
    assert elapsed < 2.0, f"compute_features took {elapsed:.2f} s on the sample"
