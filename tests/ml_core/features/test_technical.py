"""Technical features: hand-computed values, flat-market values, ranges, batch = streaming."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import FEATURES
from ml_core.features import _technical
from ml_core.features._ops import BatchOps
from ml_core.features._spec import DEFINITIONS
from ml_core.features._stream_ops import StreamOps

from ._bars import bars_from_close, random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)
BASE_ONLY = FeatureConfig(higher_timeframes=[], volatility_window=5, frac_diff_window=10)

TECHNICAL = [d for d in DEFINITIONS.values() if d.compute.__module__ == _technical.__name__]

# Every technical feature on flat prices, after its warm-up: the documented flat value.
FLAT_VALUES = {
    "rsi_7": 0.0, "rsi_14": 0.0, "rsi_21": 0.0, "stochrsi_14": 0.0, "macd_line": 0.0,
    "macd_signal": 0.0, "macd_hist": 0.0, "macd_signal_cross": 0.0, "ppo_12_26": 0.0,
    "trix_15": 0.0, "roc_1": 0.0, "roc_6": 0.0, "roc_12": 0.0, "roc_24": 0.0,
    "stoch_k_14": 0.0, "stoch_d_14": 0.0, "williams_r_14": 0.0, "cci_20": 0.0,
    "ultosc_7_14_28": 0.0, "adx_14": 0.0, "plus_di_14": 0.0, "minus_di_14": 0.0,
    "di_spread_14": 0.0, "aroon_up_14": 100.0, "aroon_down_14": 100.0, "aroon_osc_14": 0.0,
    "ema_cross_5_20": 0.0, "ema_cross_12_26": 0.0, "sma_cross_20_50": 0.0,
    "sma_distance_10": 0.0, "sma_distance_20": 0.0, "sma_distance_50": 0.0,
    "elder_bull_power_13": 0.0, "elder_bear_power_13": 0.0, "ichimoku_tenkan_distance": 0.0,
    "ichimoku_kijun_distance": 0.0, "ichimoku_cloud_position": 0.0,
    "ichimoku_cloud_thickness": 0.0, "bb_percent_b": 0.5, "bb_width_20": 0.0,
    "bb_squeeze": 1.0, "keltner_position_20": 0.0, "donchian_width_20": 0.0,
    "donchian_position_50": 0.5, "true_range_pct": 0.0, "natr_7": 0.0, "candle_body": 0.0,
    "candle_upper_wick": 0.0, "candle_lower_wick": 0.0, "mfi_14": 0.0, "cmf_20": 0.0,
    "force_index_13": 0.0, "vwap_distance": 0.0, "volume_profile_poc": 0.0,
}

# Documented value ranges (inclusive).
RANGES = {
    "rsi_7": (0, 100), "rsi_14": (0, 100), "rsi_21": (0, 100), "stochrsi_14": (0, 100),
    "stoch_k_14": (0, 100), "stoch_d_14": (0, 100), "williams_r_14": (-100, 0),
    "ultosc_7_14_28": (0, 100), "adx_14": (0, 100), "plus_di_14": (0, 100),
    "minus_di_14": (0, 100), "di_spread_14": (-100, 100), "aroon_up_14": (0, 100),
    "aroon_down_14": (0, 100), "aroon_osc_14": (-100, 100), "mfi_14": (0, 100),
    "cmf_20": (-1, 1), "candle_body": (-1, 1), "candle_upper_wick": (0, 1),
    "candle_lower_wick": (0, 1), "donchian_position_50": (0, 1), "bb_width_20": (0, np.inf),
    "donchian_width_20": (0, np.inf), "true_range_pct": (0, np.inf), "natr_7": (0, np.inf),
    "macd_signal_cross": (-1, 1),
}


def _technical(bars: pd.DataFrame) -> pd.DataFrame:
    """The technical features of ``bars`` (batch mode), whatever the other families need."""
    ops = BatchOps(bars, BASE_ONLY, THIRTY_MINUTES)
    with np.errstate(all="ignore"):
        return pd.DataFrame({d.name: np.asarray(d.compute(ops), dtype=np.float64)
                             for d in TECHNICAL}, index=bars.index)


def _lookback(name: str) -> int:
    return int(DEFINITIONS[name].lookback(BASE_ONLY, THIRTY_MINUTES))


def _flat_bars(n: int, volume: float) -> pd.DataFrame:
    bars = bars_from_close(np.full(n, 250.0))
    bars["volume"] = volume
    return bars


def test_the_technical_family_is_large_and_registered_in_this_module():
    base = [s for s in FEATURES.values() if s.timeframe == "30m" and s.family == "technical"]
    assert len(base) >= 42
    assert {d.name for d in TECHNICAL} <= {s.name for s in base}
    higher = {d.name for d in TECHNICAL if d.higher_timeframes}
    assert higher == {"rsi_14", "macd_hist", "bb_percent_b", "adx_14", "ema_cross_12_26",
                      "bb_width_20", "di_spread_14", "mfi_14", "roc_12"}
    assert {"volume_profile_poc", "ichimoku_cloud_thickness", "stochrsi_14"} <= set(FEATURES)


def test_flat_values_are_declared_for_every_technical_feature():
    assert set(FLAT_VALUES) == {d.name for d in TECHNICAL}


@pytest.mark.parametrize("volume", [1.0, 0.0], ids=["traded", "no-volume"])
def test_flat_prices_give_the_documented_values(volume):
    out = _technical(_flat_bars(120, volume))
    for name, expected in FLAT_VALUES.items():
        values = out[name].to_numpy()
        assert np.isnan(values[: _lookback(name) - 1]).all(), name
        # Up to rounding: a batch EMA of a constant may differ from it by an ulp.
        assert_allclose(values[_lookback(name) - 1 :], expected, rtol=0, atol=1e-12,
                        err_msg=name)


def test_values_stay_in_their_documented_ranges(sample_features):
    for name, (lo, hi) in RANGES.items():
        column = sample_features[name].dropna()
        # 100 * x / x may round to 100 + 1 ulp.
        assert column.between(lo - 1e-12, hi + 1e-12).all(), name
    # The oscillators do use their range.
    assert sample_features["aroon_up_14"].max() == 100.0
    assert sample_features["cmf_20"].min() < -0.5 < 0.5 < sample_features["cmf_20"].max()


def test_geometric_growth():
    close = 100.0 * 1.01 ** np.arange(120)
    out = _technical(bars_from_close(close))
    assert_allclose(out["roc_6"].dropna(), 100 * (1.01**6 - 1), rtol=1e-12)
    # close / SMA(10) of a geometric series: 10 / sum(1.01^-k, k < 10).
    expected = 10 / (1.01 ** -np.arange(10)).sum() - 1
    assert_allclose(out["sma_distance_10"].dropna(), expected, rtol=1e-10)
    assert_array_equal(out["aroon_up_14"].dropna(), 100.0)
    assert_array_equal(out["aroon_down_14"].dropna(), 0.0)
    assert (out["ema_cross_5_20"].dropna() > 0).all()
    assert (out["sma_cross_20_50"].dropna() > 0).all()
    assert_array_equal(out["donchian_position_50"].dropna(), 1.0)
    assert_array_equal(out["stoch_d_14"].dropna(), 100.0)
    # Flat candles whose close is their high: no body, no wicks.
    assert_array_equal(out["candle_body"], 0.0)
    # Constant volume, constant return: the force index is the return.
    assert_allclose(out["force_index_13"].dropna(), 0.01, rtol=1e-12)
    assert_array_equal(out["mfi_14"].dropna(), 100.0)


def test_candle_shape_and_money_flow_on_hand_made_bars():
    bars = random_walk_bars(30)
    bars.iloc[-1, :4] = [100.0, 110.0, 90.0, 105.0]  # open, high, low, close
    out = _technical(bars).iloc[-1]
    assert out["candle_body"] == 0.25
    assert out["candle_upper_wick"] == 0.25
    assert out["candle_lower_wick"] == 0.5
    assert out["true_range_pct"] == pytest.approx(
        max(20.0, abs(110.0 - bars["close"].iloc[-2]), abs(90.0 - bars["close"].iloc[-2]))
        / 105.0, rel=1e-15)


def test_chaikin_money_flow_of_closes_at_the_high_is_one():
    bars = random_walk_bars(40)
    bars["high"] = np.maximum(bars["high"], bars["close"])
    bars["close"] = bars["high"]
    out = _technical(bars)
    assert_allclose(out["cmf_20"].dropna(), 1.0, rtol=1e-15)


def test_volume_profile_poc_points_at_the_heavy_price():
    # 47 bars alternating 99 / 100, then one at 120 and one at 99.5 (flat candles, so the
    # typical price is the close). 12 bins over [99, 120] are 1.75 wide: 99, 99.5 and 100
    # share the bottom bin, 120 is alone in the top one.
    close = np.concatenate([np.where(np.arange(47) % 2, 100.0, 99.0), [120.0, 99.5]])
    bottom, top = 99.0 + 0.5 * 21.0 / 12.0, 99.0 + 11.5 * 21.0 / 12.0
    bars = bars_from_close(close)
    out = _technical(bars)["volume_profile_poc"]
    assert out.isna().sum() == _lookback("volume_profile_poc") - 1 == 47
    # Equal volumes: the crowded bottom bin is the point of control.
    assert_allclose(out.iloc[47:], [120.0 / bottom - 1, 99.5 / bottom - 1], rtol=1e-12)
    # 1,000 traded at 120: the top bin is.
    bars.iloc[47, bars.columns.get_loc("volume")] = 1_000.0
    out = _technical(bars)["volume_profile_poc"]
    assert_allclose(out.iloc[47:], [120.0 / top - 1, 99.5 / top - 1], rtol=1e-12)


def test_streaming_equals_batch_on_a_walk_that_goes_flat():
    bars = random_walk_bars(400, seed=3)
    bars.iloc[250:, :4] = 100.0
    bars.iloc[320:, bars.columns.get_loc("volume")] = 0.0
    batch_ops = BatchOps(bars, BASE_ONLY, THIRTY_MINUTES)
    batch = {d.name: np.asarray(d.compute(batch_ops), dtype=np.float64) for d in TECHNICAL}
    stream_ops = StreamOps(BASE_ONLY, THIRTY_MINUTES)
    rows = []
    with np.errstate(all="ignore"):
        for row in bars[["open", "high", "low", "close", "volume"]].to_numpy():
            stream_ops.step(*row)
            rows.append([float(d.compute(stream_ops)) for d in TECHNICAL])
    streamed = np.array(rows)
    for j, definition in enumerate(TECHNICAL):
        want, got = batch[definition.name], streamed[:, j]
        assert_array_equal(np.isnan(got), np.isnan(want), err_msg=definition.name)
        ok = ~np.isnan(want)
        error = np.abs(got[ok] - want[ok]) / np.maximum(1.0, np.abs(want[ok]))
        assert error.max() <= 1e-9, definition.name
