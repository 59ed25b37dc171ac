"""Higher-timeframe rows reach base bars only once their last base bar has closed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.data import resample_ohlcv
from ml_core.features import compute_features, join_higher_timeframe
from ml_core.features import _indicators as ta

from ._bars import random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)


def _utc(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(stamps, tz="UTC")


def test_hour_reaches_the_bar_whose_close_completes_it():
    bars = random_walk_bars(6, start="2024-01-01 00:00")  # 00:00 .. 02:30
    hourly = resample_ohlcv(bars, timedelta(hours=1), THIRTY_MINUTES)
    assert list(hourly.index) == list(_utc("2024-01-01 00:30", "2024-01-01 01:30",
                                           "2024-01-01 02:30"))
    joined = join_higher_timeframe(bars.index, hourly[["close"]])
    expected = [np.nan, hourly["close"].iloc[0], hourly["close"].iloc[0],
                hourly["close"].iloc[1], hourly["close"].iloc[1], hourly["close"].iloc[2]]
    assert_array_equal(joined["close"].to_numpy(), expected)
    # The 00:00-01:00 hour closes at the close of the 00:30 bar, which is that bar's close.
    assert joined.loc[_utc("2024-01-01 00:30")[0], "close"] == bars["close"].iloc[1]
    assert joined.index.equals(bars.index)


def test_last_incomplete_bin_never_reaches_the_base_bars():
    bars = random_walk_bars(5, start="2024-01-01 00:00")  # 00:00 .. 02:00; hour 02:00 unfinished
    hourly = resample_ohlcv(bars, timedelta(hours=1), THIRTY_MINUTES)
    joined = join_higher_timeframe(bars.index, hourly[["close"]])
    assert joined["close"].iloc[-1] == hourly["close"].iloc[1]  # still the 01:00-02:00 hour


def test_day_reaches_the_2330_bar():
    bars = random_walk_bars(96, start="2024-01-01 00:00")
    daily = resample_ohlcv(bars, timedelta(days=1), THIRTY_MINUTES)
    joined = join_higher_timeframe(bars.index, daily[["close"]])
    first = joined["close"].first_valid_index()
    assert first == pd.Timestamp("2024-01-01 23:30", tz="UTC")
    assert joined["close"].loc[first] == bars["close"].loc[first]


def test_join_between_rows_and_before_any():
    htf = pd.DataFrame({"x": [1.0, 2.0]}, index=_utc("2024-01-01 01:00", "2024-01-01 03:00"))
    base = _utc("2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:59", "2024-01-01 03:00",
                "2024-01-02 00:00")
    assert_array_equal(join_higher_timeframe(base, htf)["x"], [np.nan, 1.0, 1.0, 2.0, 2.0])
    empty = join_higher_timeframe(base, htf.iloc[:0])
    assert empty.shape == (5, 1) and empty["x"].isna().all()


def test_join_rejects_unsorted_or_mixed_time_zones():
    htf = pd.DataFrame({"x": [1.0, 2.0]}, index=_utc("2024-01-01 03:00", "2024-01-01 01:00"))
    with pytest.raises(ValueError, match="sorted"):
        join_higher_timeframe(_utc("2024-01-01 04:00"), htf)
    naive = pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2024-01-01 01:00"]))
    with pytest.raises(ValueError, match="time-zone"):
        join_higher_timeframe(_utc("2024-01-01 04:00"), naive)


def test_hourly_feature_changes_only_on_hour_completing_bars(sample_bars, sample_features):
    rsi_1h = sample_features["rsi_14_1h"].dropna()
    changed = rsi_1h.index[1:][np.diff(rsi_1h.to_numpy()) != 0]
    assert len(changed) > 10_000
    # On the bar completing the hour, or on the first bar after a gap that swallowed that bar.
    previous = sample_bars.index[sample_bars.index.get_indexer(changed) - 1]
    after_gap = (changed - previous) > pd.Timedelta(THIRTY_MINUTES)
    assert ((changed.minute == 30) | after_gap).all()
    assert after_gap.sum() < 20
    # And it is RSI(14) of the hourly bars, stamped at the 30-minute bar that completes each hour.
    hourly = resample_ohlcv(sample_bars, timedelta(hours=1), THIRTY_MINUTES)
    expected = pd.Series(ta.rsi(hourly["close"].to_numpy(), 14), index=hourly.index)
    common = rsi_1h.index.intersection(expected.index)
    assert len(common) > 15_000
    assert_array_equal(rsi_1h.loc[common].to_numpy(), expected.loc[common].to_numpy())


def test_daily_feature_changes_only_at_2330(sample_features):
    daily = sample_features["atr_14_pct_1d"].dropna()
    changed = daily.index[1:][np.diff(daily.to_numpy()) != 0]
    assert len(changed) > 600
    assert ((changed.hour == 23) & (changed.minute == 30)).all()


def test_hourly_value_waits_for_the_hour_in_compute_features():
    bars = random_walk_bars(600, start="2024-01-01 00:00")
    config = FeatureConfig(higher_timeframes=[timedelta(hours=1)])
    before = compute_features(bars, config, THIRTY_MINUTES)["atr_14_pct_1h"]
    moved = bars.copy()
    at = pd.Timestamp("2024-01-03 05:00", tz="UTC")  # first half of the 05:00-06:00 hour
    moved.loc[at, "high"] = moved.loc[at, "high"] * 1.05  # raises the hour's high
    after = compute_features(moved, config, THIRTY_MINUTES)["atr_14_pct_1h"]
    differs = before.index[~np.isclose(before, after, rtol=0, atol=0, equal_nan=True)]
    assert differs[0] == pd.Timestamp("2024-01-03 05:30", tz="UTC")
