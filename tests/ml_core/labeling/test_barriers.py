"""Triple-barrier events: exact outcomes on hand-made bars, a loop reference, causal volatility."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal, assert_series_equal

from ml_core.config import LabelConfig
from ml_core.data import load_sample_bars
from ml_core.labeling import EVENT_COLUMNS, cusum_events, event_volatility, triple_barrier_events

CFG = LabelConfig(volatility_span=2, take_profit=2.0, stop_loss=2.0, max_holding_bars=3)
FLAT = [100.0, 100.1, 100.0, 100.1, 100.0]  # warm-up: +-0.1% moves, vol ~0.0014


def make_bars(close, high=None, low=None) -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=float)
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(close), freq="30min", tz="UTC",
                          name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0}, index=index)


def reference_ewm_std(returns: np.ndarray, span: int) -> np.ndarray:
    """Bias-corrected exponentially weighted std, written out: weights (1-a)^age, a = 2/(span+1)."""
    alpha = 2.0 / (span + 1.0)
    out = np.full(len(returns), np.nan)
    for t in range(len(returns)):
        x = returns[: t + 1]
        x = x[~np.isnan(x)]
        if len(x) < span:
            continue
        w = (1 - alpha) ** np.arange(len(x) - 1, -1, -1)
        mean = (w * x).sum() / w.sum()
        biased = (w * (x - mean) ** 2).sum() / w.sum()
        out[t] = np.sqrt(biased * w.sum() ** 2 / (w.sum() ** 2 - (w**2).sum()))
    return out


def reference_events(bars: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """One event at a time, bar by bar: the definition, slowly."""
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    vol = reference_ewm_std(np.r_[np.nan, close[1:] / close[:-1] - 1], cfg.volatility_span)
    rows = []
    for i in range(len(bars)):
        if not vol[i] > 0:
            continue
        up = close[i] * (1 + cfg.take_profit * vol[i])
        down = close[i] * (1 - cfg.stop_loss * vol[i])
        outcome = None
        for k in range(1, cfg.max_holding_bars + 1):
            if i + k >= len(bars):
                break
            if low[i + k] <= down:
                outcome = (k, -1)
                break
            if high[i + k] >= up:
                outcome = (k, 1)
                break
        if outcome is None and i + cfg.max_holding_bars < len(bars):
            outcome = (cfg.max_holding_bars, 0)
        if outcome is None:
            continue
        k, side = outcome
        ret = close[i + k] / close[i] - 1
        rows.append((bars.index[i], bars.index[i + k], ret, side, vol[i], k))
    out = pd.DataFrame(rows, columns=["t0", *EVENT_COLUMNS]).set_index("t0")
    return out


def test_spike_hits_take_profit_and_flat_rows_hit_the_vertical_barrier():
    bars = make_bars([*FLAT, 100.1, 100.0, 110.0, 110.0, 110.0])
    ev = triple_barrier_events(bars, CFG)
    idx = bars.index
    # rows 0-1: no volatility yet; rows 7-9: horizon past the data, nothing touched -> dropped
    assert list(ev.index) == list(idx[2:7])
    assert list(ev["t1"]) == [idx[5], idx[6], idx[7], idx[7], idx[7]]
    assert list(ev["barrier"]) == [0, 0, 1, 1, 1]
    assert list(ev["holding_bars"]) == [3, 3, 3, 2, 1]
    assert_allclose(ev["ret"], [100.1 / 100 - 1, 100 / 100.1 - 1, 0.1, 110 / 100.1 - 1, 0.1],
                    rtol=1e-12)
    assert ev.index.name == "t0"
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert ev["barrier"].dtype == np.int64 and ev["holding_bars"].dtype == np.int64


def test_drop_hits_stop_loss_and_touches_near_the_end_are_complete():
    bars = make_bars([*FLAT, 95.0])
    ev = triple_barrier_events(bars, CFG)
    idx = bars.index
    # t0 = rows 2, 3, 4 all stop out at row 5; rows 3 and 4 have their vertical barrier past the
    # data but touched a barrier before it ends, so they are complete; row 5 has no future.
    assert list(ev.index) == list(idx[2:5])
    assert list(ev["t1"]) == [idx[5]] * 3
    assert list(ev["barrier"]) == [-1, -1, -1]
    assert list(ev["holding_bars"]) == [3, 2, 1]
    assert_allclose(ev["ret"], [-0.05, 95 / 100.1 - 1, -0.05], rtol=1e-12)


def test_bar_touching_both_barriers_counts_as_stop_loss():
    close = [*FLAT, 100.0, 100.0, 100.0]
    high = [*FLAT, 110.0, 100.0, 100.0]
    low = [*FLAT, 90.0, 100.0, 100.0]
    bars = make_bars(close, high, low)
    ev = triple_barrier_events(bars, CFG)
    row = ev.loc[bars.index[4]]
    assert row["barrier"] == -1
    assert row["holding_bars"] == 1
    assert row["ret"] == 0.0  # realised at the close of t1, not at the barrier price


def test_vol_is_the_ewm_std_of_returns_known_at_t0():
    bars = make_bars([*FLAT, 100.1, 100.0, 110.0, 110.0, 110.0])
    ev = triple_barrier_events(bars, CFG)
    close = bars["close"].to_numpy()
    want = reference_ewm_std(np.r_[np.nan, close[1:] / close[:-1] - 1], CFG.volatility_span)
    assert_allclose(ev["vol"], want[2:7], rtol=1e-12)


def test_vol_is_causal():
    bars = load_sample_bars().iloc[:3000]
    cfg = LabelConfig(volatility_span=50)
    full = event_volatility(bars["close"], cfg.volatility_span)
    rng = np.random.default_rng(42)
    for t in (60, 1000, 2999):
        assert_series_equal(event_volatility(bars["close"].iloc[:t], 50), full.iloc[:t])
        changed = bars["close"].copy()
        changed.iloc[t:] = rng.uniform(1.0, 1e5, size=len(bars) - t)
        assert_series_equal(event_volatility(changed, 50).iloc[:t], full.iloc[:t])
        # events on truncated data carry the same vol for every common t0
        ev = triple_barrier_events(bars.iloc[:t], cfg)
        assert_series_equal(ev["vol"], full.loc[ev.index], check_names=False)
    assert full.iloc[:50].isna().all() and full.iloc[50:].notna().all()


def test_matches_the_loop_reference_on_the_sample():
    bars = load_sample_bars().iloc[:2500]
    cfg = LabelConfig(volatility_span=20, take_profit=1.5, stop_loss=1.0, max_holding_bars=12)
    got = triple_barrier_events(bars, cfg)
    want = reference_events(bars, cfg)
    assert_frame_equal(got, want, check_exact=False, rtol=1e-9, check_dtype=False)
    assert set(got["barrier"]) == {-1, 0, 1}  # every kind occurs, so the comparison means something


def test_t1_after_t0_and_within_the_horizon():
    bars = load_sample_bars()
    cfg = LabelConfig()
    ev = triple_barrier_events(bars, cfg)
    assert (ev["t1"] > ev.index).all()
    pos0 = bars.index.get_indexer(ev.index)
    pos1 = bars.index.get_indexer(ev["t1"])
    assert (pos1 - pos0 == ev["holding_bars"].to_numpy()).all()
    assert ev["holding_bars"].between(1, cfg.max_holding_bars).all()
    # the tail: the last max_holding_bars rows can only survive by touching a barrier
    tail = ev.loc[ev.index >= bars.index[-cfg.max_holding_bars]]
    assert (tail["barrier"] != 0).all()


def test_is_fast_on_the_sample():
    bars = load_sample_bars()
    start = time.perf_counter()
    ev = triple_barrier_events(bars, LabelConfig())
    assert time.perf_counter() - start < 1.0
    assert len(ev) > 34_000


def test_cusum_threshold_keeps_only_cusum_events():
    bars = load_sample_bars().iloc[:5000]
    every = triple_barrier_events(bars, LabelConfig())
    cfg = LabelConfig(cusum_threshold=2.0)
    sampled = triple_barrier_events(bars, cfg)
    vol = event_volatility(bars["close"], cfg.volatility_span)
    picked = cusum_events(bars["close"], 2.0 * vol)
    assert 0 < len(sampled) < len(every) / 3
    assert sampled.index.isin(picked).all()
    assert_frame_equal(sampled, every.loc[sampled.index])


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b.drop(columns="high"), "lacks columns"),
        (lambda b: b.assign(close=np.where(np.arange(len(b)) == 3, np.nan, b["close"])),
         "'close' at 2024-01-01 01:30"),
        (lambda b: b.iloc[::-1], "sorted"),
        (lambda b: b.reset_index(drop=True), "DatetimeIndex"),
    ],
)
def test_bad_bars_are_rejected(mutate, match):
    with pytest.raises(ValueError, match=match):
        triple_barrier_events(mutate(make_bars([*FLAT, 101.0])), CFG)
