"""RegimeStream: bar-by-bar updates equal RegimeHMM.transform on the same history."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import NotFittedError

from ml_core.data import load_sample_bars
from ml_core.regime import TRANSFORM_COLUMNS, RegimeHMM, RegimeStream

BASE = timedelta(minutes=30)
H4 = pd.Timedelta("4h")
TOL = {"rtol": 1e-9, "atol": 1e-9, "equal_nan": True}


@pytest.fixture(scope="module")
def sample_bars():
    return load_sample_bars().iloc[:6000]


@pytest.fixture(scope="module")
def hmm(sample_bars):
    return RegimeHMM(n_restarts=1, random_state=0).fit(sample_bars)


def _stream_all(model: RegimeHMM, bars: pd.DataFrame) -> np.ndarray:
    stream = RegimeStream(model, BASE)
    rows = [stream.update(t, *bar) for t, bar in zip(
        bars.index, bars[["open", "high", "low", "close", "volume"]].to_numpy().tolist(),
        strict=True)]
    return np.array(rows)


def _assert_same(streamed: np.ndarray, batch: pd.DataFrame) -> None:
    assert streamed.shape == batch.shape
    assert np.array_equal(np.isnan(streamed), batch.isna().to_numpy())
    for k, name in enumerate(batch.columns):
        assert_allclose(streamed[:, k], batch[name].to_numpy(), err_msg=name, **TOL)


def gappy_bars(seed: int = 3) -> pd.DataFrame:
    """Synthetic 30m bars with single missing bars, missing bin-closing bars and empty bins."""
    rng = np.random.default_rng(seed)
    n = 4000
    index = pd.date_range("2021-03-01", periods=n, freq="30min", tz="UTC", name="timestamp")
    vol = np.repeat(rng.choice([0.002, 0.006, 0.015], size=n // 80), 80)
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, vol)))
    open_ = np.r_[20_000.0, close[:-1]]
    bars = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.001,
         "low": np.minimum(open_, close) * 0.999, "close": close,
         "volume": rng.uniform(1.0, 10.0, n)},
        index=index,
    )
    keep = rng.random(n) > 0.15  # ~15% of the bars missing, bin-closing ones included
    last_of_bin = index == index.floor("4h") + pd.Timedelta("3h30min")
    keep[1500:1700] &= ~last_of_bin[1500:1700]  # every bin in this stretch lacks its last bar
    keep[2200:2390] = False  # about four days without bars: empty bins
    keep[2600:2620] = False  # ten hours: one or two empty bins
    keep[3000:3003] = False  # a gap at a bin boundary
    return bars[keep]


def test_stream_equals_transform_on_the_sample(hmm, sample_bars):
    batch = hmm.transform(sample_bars)
    streamed = _stream_all(hmm, sample_bars)
    _assert_same(streamed, batch)
    assert batch["regime_state"].notna().sum() > 5000  # compared real values, not NaN
    assert batch["regime_state"].nunique() == 3


def test_stream_equals_transform_on_the_history_so_far(hmm, sample_bars):
    stream = hmm.stream()
    checkpoints = {40, 55, 56, 57, 1001, 3007, 5999}  # warm-up, first value, in and at bin ends
    fields = sample_bars[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    for i, (t, bar) in enumerate(zip(sample_bars.index, fields, strict=True)):
        values = stream.update(t, *bar)
        if i in checkpoints:
            expected = hmm.transform(sample_bars.iloc[: i + 1]).iloc[-1].to_numpy()
            assert_allclose(np.array(values), expected, **TOL)
    assert stream.last_timestamp == sample_bars.index[-1]


def test_stream_equals_transform_with_gaps(hmm):
    bars = gappy_bars()
    bins = bars.index.floor("4h")
    # the scenarios are really there: bins without their last bar, and whole empty bins
    last_present = pd.Series(bars.index, index=bins).groupby(level=0).max()
    assert (last_present != last_present.index + pd.Timedelta("3h30min")).sum() > 40
    assert (bins.unique().to_series().diff() > H4).sum() >= 2
    batch = hmm.transform(bars)
    _assert_same(_stream_all(hmm, bars), batch)
    assert batch["regime_state"].notna().sum() > 3000
    assert_allclose(hmm.stream().feed(bars).to_numpy(), batch.to_numpy(), **TOL)


def test_a_bin_closed_by_a_later_bar_reaches_that_bar(hmm):
    bars = gappy_bars()
    bins = bars.index.floor("4h")
    # bar i: the last present bar of a bin that lacks its scheduled last (03:30, 07:30, ...) bar
    i = next(i for i in range(1400, len(bars) - 1)
             if bins[i + 1] != bins[i] and bars.index[i] != bins[i] + pd.Timedelta("3h30min"))
    stream = hmm.stream()
    at_i = stream.feed(bars.iloc[: i + 1]).iloc[-1].to_numpy()
    before = stream.n_regime_bars
    assert_allclose(at_i, hmm.transform(bars.iloc[: i + 1]).iloc[-1].to_numpy(), **TOL)
    nxt = stream.feed(bars.iloc[i + 1 : i + 2]).iloc[-1].to_numpy()
    assert stream.n_regime_bars == before + 1  # the bin closed on the next bin's first bar
    assert_allclose(nxt, hmm.transform(bars.iloc[: i + 2]).iloc[-1].to_numpy(), **TOL)
    assert not np.allclose(nxt, at_i)


def test_a_bar_inside_a_bin_changes_nothing(hmm, sample_bars):
    # sample_bars.iloc[2000] opens a 4h bin, the next 7 bars fill it
    t0 = sample_bars.index[2000]
    assert t0 == t0.floor("4h") and sample_bars.index[2007] == t0 + pd.Timedelta("3h30min")
    stream = hmm.stream()
    values = stream.feed(sample_bars.iloc[:2000]).iloc[-1]
    closed = stream.n_regime_bars
    fields = sample_bars[["open", "high", "low", "close", "volume"]]
    for i in range(2000, 2007):
        bar = fields.iloc[i].to_numpy() * 1.5  # whatever the bar, the open bin cannot show
        out = stream.update(sample_bars.index[i], *bar)
        assert_allclose(out, values.to_numpy(), rtol=0, atol=0)
        assert stream.n_regime_bars == closed
    last = stream.update(sample_bars.index[2007], *fields.iloc[2007])
    assert stream.n_regime_bars == closed + 1
    assert not np.allclose(last, values.to_numpy())


def test_columns(hmm):
    assert hmm.stream().columns == TRANSFORM_COLUMNS
    assert list(hmm.transform(load_sample_bars().iloc[:100]).columns) == list(TRANSFORM_COLUMNS)


# ---------------------------------------------------------------- bad input
def test_non_increasing_timestamps_name_both(hmm):
    stream = hmm.stream()
    t = pd.Timestamp("2021-01-01 10:00", tz="UTC")
    stream.update(t, 1.0, 1.0, 1.0, 1.0, 1.0)
    earlier = t - pd.Timedelta("30min")
    with pytest.raises(ValueError, match=re.escape(f"got {earlier} after {t}")):
        stream.update(earlier, 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=re.escape(f"got {t} after {t}")):
        stream.update(t, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert stream.last_timestamp == t  # a rejected bar leaves the stream as it was


@pytest.mark.parametrize("close", [0.0, -1.0, np.nan, np.inf])
def test_bad_close_is_rejected(hmm, close):
    with pytest.raises(ValueError, match=r"`close` must be finite and > 0"):
        hmm.stream().update(pd.Timestamp("2021-01-01", tz="UTC"), 1.0, 1.0, 1.0, close, 1.0)


def test_off_grid_bar_after_its_bin_closed_is_rejected(hmm):
    stream = hmm.stream()
    stream.update(pd.Timestamp("2021-01-01 03:30", tz="UTC"), 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="already closed.*base grid"):
        stream.update(pd.Timestamp("2021-01-01 03:45", tz="UTC"), 1.0, 1.0, 1.0, 1.0, 1.0)


def test_construction_checks(hmm):
    with pytest.raises(NotFittedError):
        RegimeStream(RegimeHMM())
    with pytest.raises(ValueError, match=r"must equal the model's `base_timeframe=0 days 00:30"):
        RegimeStream(hmm, timedelta(hours=1))
    assert RegimeStream(hmm, BASE).columns == hmm.stream(BASE).columns


def test_stream_equals_transform_to_1e_12(hmm, sample_bars):
    # measured: at most 4e-15 (relative to max(1, |value|)), on regular and gappy bars
    for bars in (sample_bars, gappy_bars()):
        batch = hmm.transform(bars).to_numpy()
        streamed = hmm.stream().feed(bars).to_numpy()
        assert np.array_equal(np.isnan(streamed), np.isnan(batch))
        assert (~np.isnan(batch)).sum() > 20_000
        error = np.abs(streamed - batch) / np.maximum(1.0, np.abs(batch))
        assert np.nanmax(error) <= 1e-12


def test_update_ns_equals_update(hmm, sample_bars):
    bars = sample_bars.iloc[:800]
    stream = RegimeStream(hmm, BASE)
    rows = [stream.update_ns(t.value, *bar) for t, bar in zip(
        bars.index, bars[["open", "high", "low", "close", "volume"]].to_numpy().tolist(),
        strict=True)]
    assert np.array_equal(np.array(rows), _stream_all(hmm, bars), equal_nan=True)
    assert stream.last_timestamp == bars.index[-1]
    assert RegimeStream(hmm, BASE).last_timestamp is None
