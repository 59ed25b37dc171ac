"""The streaming engine equals the batch matrix, bar by bar, on real data, for every feature."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import FeatureConfig, load_config
from ml_core.data import as_bars, load_bars
from ml_core.features import FeatureStream, compute_features
from ml_core.features._stream_ops import StreamOps

from ._bars import random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)
TOLERANCE = 1e-9


def assert_stream_equals_batch(bars: pd.DataFrame, config: FeatureConfig,
                               timeframe: timedelta) -> pd.DataFrame:
    """Every column: NaN on the same rows, and |stream - batch| <= 1e-9 * max(1, |batch|)."""
    batch = compute_features(bars, config, timeframe)
    streamed = FeatureStream(config, timeframe).update_frame(bars)
    assert list(streamed.columns) == list(batch.columns)
    nan_rows = (streamed.isna() != batch.isna()).sum()
    assert nan_rows.sum() == 0, f"NaN on different rows: {nan_rows[nan_rows > 0].to_dict()}"
    error = ((streamed - batch).abs() / np.maximum(1.0, batch.abs())).max()
    worst = error[error > TOLERANCE]
    assert worst.empty, f"stream differs from batch: {worst.to_dict()}"
    return batch


@pytest.mark.slow  # ~8 s
def test_stream_equals_batch_on_the_sample(sample_bars):
    # 5,000 bars of the real sample, including its 3-hour gap of 2019-01-07.
    bars = sample_bars.loc[:"2018-03-01"]
    batch = assert_stream_equals_batch(bars, FeatureConfig(), THIRTY_MINUTES)
    assert batch.iloc[-1].notna().all()  # every feature was compared past its warm-up


def test_stream_equals_batch_across_a_gap(sample_bars):
    bars = sample_bars.loc["2018-11-20":"2019-01-20"]
    gap = bars.index.to_series().diff().max()
    assert gap >= pd.Timedelta(hours=3)
    assert_stream_equals_batch(bars, FeatureConfig(), THIRTY_MINUTES)


def test_stream_equals_batch_on_binance_5m(shared_data):
    config = load_config("configs/crypto_5m.yaml")
    bars = as_bars(load_bars(shared_data / "binance_5m" / "ETH_USDT-5m.parquet")).iloc[:6_000]
    batch = assert_stream_equals_batch(bars, config.features, config.data.timeframe)
    assert batch.iloc[-1].notna().all()


def test_stream_equals_batch_on_flat_prices_and_no_volume():
    bars = random_walk_bars(3_000)
    bars.iloc[1_000:, :4] = 250.0
    bars.iloc[1_500:, 4] = 0.0
    assert_stream_equals_batch(bars, FeatureConfig(), THIRTY_MINUTES)


@pytest.mark.slow  # ~9 s
def test_stream_with_production_timeframes():
    config = FeatureConfig(
        higher_timeframes=[timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)],
        frac_diff_window=500, volatility_window=60,
    )
    bars = random_walk_bars(3_000, freq="1min", start="2024-01-01 00:07")
    assert_stream_equals_batch(bars, config, timedelta(minutes=1))


def test_stream_rejects_bars_out_of_order_or_off_grid():
    stream = FeatureStream(FeatureConfig(), THIRTY_MINUTES)
    stream.update(pd.Timestamp("2024-01-01 00:30", tz="UTC"), 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"time order: `timestamp=2024-01-01 00:30:00\+00:00`"):
        stream.update(pd.Timestamp("2024-01-01 00:30", tz="UTC"), 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="not on the 30m bar grid"):
        stream.update(pd.Timestamp("2024-01-01 01:10", tz="UTC"), 1.0, 1.0, 1.0, 1.0, 1.0)
    assert stream.n_bars == 1


def test_update_ns_equals_update_and_naive_times_are_utc():
    bars = random_walk_bars(300)
    by_timestamp = FeatureStream(FeatureConfig(), THIRTY_MINUTES).update_frame(bars)
    stream = FeatureStream(FeatureConfig(), THIRTY_MINUTES)
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    for k, (t, bar) in enumerate(zip(bars.index, values, strict=True)):
        row = (stream.update_ns(t.value, *bar) if k % 2
               else stream.update(t.tz_localize(None), *bar))
        np.testing.assert_array_equal(row, by_timestamp.iloc[k].to_numpy())
    assert stream.last_timestamp == bars.index[-1]


def _ops_stream(recipe) -> list[float]:
    ops = StreamOps(FeatureConfig(), THIRTY_MINUTES)
    out = []
    for close in (1.0, 2.0, 3.0, 4.0):
        ops.step(close, close, close, close, 1.0)
        out.append(recipe(ops))
    return out


def test_recipes_must_call_the_same_operations_on_every_bar():
    np.testing.assert_array_equal(_ops_stream(lambda o: o.lag(o.close, 1) + o.sma(o.close, 2)),
                                  [np.nan, 2.5, 4.5, 6.5])
    with pytest.raises(RuntimeError, match=r"more stateful operations .* \(one more Lag\)"):
        _ops_stream(lambda o: o.lag(o.close, 1) if o.close < 2 else o.lag(o.lag(o.close, 1), 1))
    with pytest.raises(RuntimeError, match=r"fewer stateful operations .* a Mean\)"):
        _ops_stream(lambda o: o.sma(o.close, 2) if o.close < 2 else o.close)
    with pytest.raises(RuntimeError, match="operation #0 is a Mean on this bar but was a Lag"):
        _ops_stream(lambda o: o.lag(o.close, 1) if o.close < 2 else o.sma(o.close, 2))
    with pytest.raises(RuntimeError, match="operation #0 is a Extreme"):
        _ops_stream(lambda o: o.rolling_max(o.close, 2) if o.close < 2
                    else o.rolling_min(o.close, 2))
