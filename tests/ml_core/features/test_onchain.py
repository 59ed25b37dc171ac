"""On-chain proxies: hand-computed values on 12-hour bars, warm-up, streaming, scale, causality.

On 12-hour bars a day is 2 bars, a week 14 and 30 days 60, so the exponential averages have
``alpha = 2 / 3`` (1 day), ``2 / 15`` (7 days) and ``2 / 61`` (30 days), all seeded at bar 1
with the mean of bars 0 and 1.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.features import _onchain as oc
from ml_core.features._spec import DEFINITIONS

from ._bars import random_walk_bars
from ._recipes import bars_from_arrays, batch, lookback, stream

HALF_DAY = timedelta(hours=12)
A1, A7, A30 = 2 / 3, 2 / 15, 2 / 61
PROXIES = [d for d in DEFINITIONS.values() if d.compute.__module__ == oc.__name__]

# Bar 0 closes below its open, bar 1 above, bar 2 below, bar 3 above.
CLOSE = [100.0, 110.0, 121.0, 120.0]
OPEN = [101.0, 100.0, 122.0, 119.0]
VOLUME = [1.0, 3.0, 2.0, 20.0]


@pytest.fixture(scope="module")
def hand_bars():
    return bars_from_arrays(CLOSE, VOLUME, open_=OPEN, high=np.maximum(OPEN, CLOSE) + 1.0,
                            low=np.minimum(OPEN, CLOSE) - 1.0)


def _value(recipe, bars):
    return batch(recipe, bars, HALF_DAY)


def test_the_catalogue_has_twelve_proxies_named_and_described_as_proxies():
    names = [d.name for d in PROXIES]
    assert len(names) == 12 and "onchain_mvrv_proxy" in names
    for d in PROXIES:
        assert d.family == "onchain_proxy"
        assert d.name.startswith("onchain_") and d.name.endswith("_proxy")
        assert "proxy from exchange price and volume, not on-chain data" in d.description
        assert not d.higher_timeframes
    assert "not on-chain data" in oc.__doc__.replace("**", "")


def test_mvrv_is_log_close_over_volume_weighted_average(hand_bars):
    out = _value(oc.onchain_mvrv_proxy, hand_bars)
    # Seed at bar 1: sum(c v) / sum(v) = (100 + 330) / 4 = 107.5.
    dollars = (100.0 + 330.0) / 2 + A30 * (242.0 - 215.0)
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(math.log(110.0 / 107.5), rel=1e-13)
    assert out[2] == pytest.approx(math.log(121.0 * 2.0 / dollars), rel=1e-13)


def test_realized_cap_momentum_and_sopr(hand_bars):
    rcm = _value(oc.onchain_realized_cap_momentum_proxy, hand_bars)
    sopr = _value(oc.onchain_sopr_proxy, hand_bars)
    # Both realised prices start at 107.5 (same seed), and volume at bar 2 equals its average 2.
    assert rcm[1] == 0.0
    week, month = 215.0 + A7 * 27.0, 215.0 + A30 * 27.0
    assert rcm[2] == pytest.approx(math.log(week / month), rel=1e-13)
    # 1-day VWAP at bar 1 is the seed itself; at bar 2 it is (330 + 242) / 5 = 114.4.
    assert sopr[1] == pytest.approx(0.0, abs=1e-15)
    assert sopr[2] == pytest.approx(math.log(114.4 / (week / 2.0)), rel=1e-13)


def test_nvt_and_puell(hand_bars):
    nvt = _value(oc.onchain_nvt_proxy, hand_bars)
    puell = _value(oc.onchain_puell_multiple_proxy, hand_bars)
    assert puell[1] == 1.0
    assert puell[2] == pytest.approx((215.0 + A1 * 27.0) / (215.0 + A30 * 27.0), rel=1e-14)
    assert nvt[1] == pytest.approx(math.log(110.0 / 105.0), rel=1e-13)
    price = math.log(121.0 / (105.0 + A30 * 16.0))
    turnover = math.log((215.0 + A7 * 27.0) / (215.0 + A30 * 27.0))
    assert nvt[2] == pytest.approx(price - turnover, rel=1e-13)


def test_exchange_flows(hand_bars):
    inflow = _value(oc.onchain_exchange_inflow_proxy, hand_bars)
    outflow = _value(oc.onchain_exchange_outflow_proxy, hand_bars)
    netflow = _value(oc.onchain_exchange_netflow_proxy, hand_bars)
    # Down-bar volume 1, 0, 2, 0; up-bar volume 0, 3, 0, 20; seeds 0.5 and 1.5.
    assert inflow[1] == 1.0 and outflow[1] == 1.0
    assert inflow[2] == pytest.approx((0.5 + A1 * 1.5) / (0.5 + A30 * 1.5), rel=1e-14)
    assert outflow[2] == pytest.approx((1.5 - A1 * 1.5) / (1.5 - A30 * 1.5), rel=1e-14)
    # (down - up) / all over the last 2 bars: (1 - 3) / 4, (-3 + 2) / 5, (2 - 20) / 22.
    assert_allclose(netflow[1:], [-0.5, -0.2, -18.0 / 22.0], rtol=1e-15)
    assert np.isnan(netflow[0])


def test_accumulation_weights_close_location_by_volume(hand_bars):
    out = _value(oc.onchain_accumulation_proxy, hand_bars)
    # Candles span open/close +- 1: close location (2 (c - l) - (h - l)) / (h - l).
    high = np.maximum(OPEN, CLOSE) + 1.0
    low = np.minimum(OPEN, CLOSE) - 1.0
    clv = (2 * (np.array(CLOSE) - low) - (high - low)) / (high - low)
    assert_allclose(clv, [-1 / 3, 10 / 12, -1 / 3, 1 / 3], rtol=1e-15)
    weighted = clv * VOLUME
    seed_w, seed_v = (weighted[0] + weighted[1]) / 2, 2.0
    assert out[1] == pytest.approx(seed_w / seed_v, rel=1e-14)
    num = seed_w + A7 * (weighted[2] - seed_w)
    assert out[2] == pytest.approx(num / seed_v, rel=1e-14)


def test_whale_activity_and_active_addresses(hand_bars):
    whale = _value(oc.onchain_whale_activity_proxy, hand_bars)
    active = _value(oc.onchain_active_addresses_proxy, hand_bars)
    # 7-day volume EMA: 2, 2, 2 + 18 A7 = 4.4; only bar 3 (20 > 3 * 4.4) is whale-sized.
    # Volume EMA from bar 1: 3, 3 + A1 (2 - 3) = 7/3, 7/3 + A1 (20 - 7/3) = 127/9.
    assert_allclose(whale[1:], [0.0, 0.0, (A1 * 20.0) / (127.0 / 9.0)], rtol=1e-14)
    assert_allclose(whale[3], 120.0 / 127.0, rtol=1e-14)
    # 1-day volume EMA: 2, 2, 14: bars 1 (3 > 2) and 3 (20 > 14) are active, bar 2 (2 = 2) not.
    assert_allclose(active[1:], [1.0, 1.0 / 3.0, 7.0 / 9.0], rtol=1e-14)
    assert np.isnan(whale[0]) and np.isnan(active[0])


def test_dormancy_is_one_for_steady_volume_and_falls_on_a_burst(hand_bars):
    out = _value(oc.onchain_dormancy_proxy, hand_bars)
    assert_array_equal(np.isnan(out), [True, True, False, False])
    assert out[2] == 1.0  # the volume average is still its seed, 2
    assert out[3] == pytest.approx(2.0 / (2.0 + A30 * 18.0), rel=1e-14)  # = 61 / 79
    steady = bars_from_arrays(np.linspace(100, 150, 300), np.full(300, 7.0))
    assert_allclose(_value(oc.onchain_dormancy_proxy, steady)[2:], 1.0, rtol=1e-12)


def test_volume_drying_up_ages_the_coins_one_bar_per_bar():
    volume = np.r_[np.full(10, 5.0), np.zeros(40)]
    out = _value(oc.onchain_dormancy_proxy, bars_from_arrays(np.full(50, 100.0), volume))
    steady_age = (1 - A30) / A30  # 29.5 bars
    # With no volume, the mean age G / M grows by exactly one bar per bar.
    assert_allclose(np.diff(out[10:]) * steady_age, 1.0, rtol=1e-9)


def test_no_volume_since_the_start_gives_neutral_values():
    bars = bars_from_arrays(np.linspace(100, 120, 10), np.zeros(10))
    expected = {
        "onchain_mvrv_proxy": 0.0, "onchain_realized_cap_momentum_proxy": 0.0,
        "onchain_sopr_proxy": 0.0, "onchain_puell_multiple_proxy": 1.0,
        "onchain_exchange_inflow_proxy": 1.0, "onchain_exchange_outflow_proxy": 1.0,
        "onchain_exchange_netflow_proxy": 0.0, "onchain_accumulation_proxy": 0.0,
        "onchain_whale_activity_proxy": 0.0, "onchain_active_addresses_proxy": 0.0,
        "onchain_dormancy_proxy": 1.0,
    }
    for d in PROXIES:
        out = batch(d.compute, bars, HALF_DAY)
        first = lookback(d.name, HALF_DAY) - 1
        if d.name == "onchain_nvt_proxy":  # log(close / its average): price still counts
            assert (out[first:] > 0).all()
            continue
        assert_array_equal(out[first:], expected[d.name], err_msg=d.name)


@pytest.mark.parametrize(("timeframe", "freq", "day"), [
    (timedelta(minutes=30), "30min", 48), (timedelta(minutes=1), "1min", 1440),
    (timedelta(hours=4), "4h", 6),
])
def test_lookback_is_one_day_and_exact(timeframe, freq, day):
    bars = random_walk_bars(day * 3, freq=freq)
    for d in PROXIES:
        n = lookback(d.name, timeframe)
        assert n == day + (d.name == "onchain_dormancy_proxy"), d.name
        out = batch(d.compute, bars, timeframe)
        assert np.isnan(out[: n - 1]).all() and np.isfinite(out[n - 1 :]).all(), d.name


def _awkward_bars(n: int, freq: str) -> pd.DataFrame:
    """Random walk with a flat-price stretch, a no-volume stretch and one huge volume burst."""
    bars = random_walk_bars(n, freq=freq, seed=7)
    bars.iloc[n // 3 : n // 2, :4] = 250.0
    bars.iloc[n // 2 : 2 * n // 3, 4] = 0.0
    bars.iloc[n // 4, 4] *= 1e4
    return bars


@pytest.mark.parametrize(("timeframe", "freq", "n"), [
    (timedelta(hours=1), "1h", 2_400),  # 100 days: every 30-day average is past its seed
    (timedelta(minutes=1), "1min", 3_000),
])
def test_stream_equals_batch(timeframe, freq, n):
    bars = _awkward_bars(n, freq)
    for d in PROXIES:
        expected = batch(d.compute, bars, timeframe)
        got = stream(d.compute, bars, timeframe)
        assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=d.name)
        error = np.nanmax(np.abs(got - expected) / np.maximum(1.0, np.abs(expected)))
        assert error <= 1e-9, d.name


def test_scale_free_and_causal():
    bars = random_walk_bars(600, freq="1h", seed=3)
    scaled = bars.copy()
    scaled[["open", "high", "low", "close"]] *= 2.0**10
    scaled["volume"] *= 2.0**-3
    cut = 400
    future = bars.copy()
    future.iloc[cut + 1 :, :4] *= np.exp(np.linspace(0.0, 1.0, len(bars) - cut - 1))[:, None]
    future.iloc[cut + 1 :, 4] = 1e6
    for d in PROXIES:
        out = batch(d.compute, bars, timedelta(hours=1))
        assert_allclose(batch(d.compute, scaled, timedelta(hours=1)), out, rtol=1e-12, atol=0,
                        err_msg=d.name)
        assert_allclose(batch(d.compute, future, timedelta(hours=1))[: cut + 1],
                        out[: cut + 1], rtol=1e-12, atol=0, err_msg=d.name)
        assert_allclose(batch(d.compute, bars.iloc[: cut + 1], timedelta(hours=1)),
                        out[: cut + 1], rtol=1e-12, atol=0, err_msg=d.name)


def test_values_on_the_sample_are_in_their_ranges(sample_bars):
    bars = sample_bars.iloc[:6_000]
    thirty = timedelta(minutes=30)
    values = {d.name: batch(d.compute, bars, thirty)[48:] for d in PROXIES}
    for name in ("onchain_exchange_netflow_proxy", "onchain_accumulation_proxy"):
        assert (np.abs(values[name]) <= 1.0).all()
    for name in ("onchain_whale_activity_proxy", "onchain_active_addresses_proxy"):
        assert ((values[name] >= 0.0) & (values[name] <= 1.0)).all()
    for name in ("onchain_puell_multiple_proxy", "onchain_exchange_inflow_proxy",
                 "onchain_exchange_outflow_proxy", "onchain_dormancy_proxy"):
        assert (values[name] > 0.0).all() and 0.5 < np.median(values[name]) < 1.5, name
    # The MVRV proxy's realised price follows the close: |log ratio| stays well below 1.
    assert np.abs(values["onchain_mvrv_proxy"]).max() < 1.0
    assert 0.01 < np.std(values["onchain_mvrv_proxy"]) < 0.3
