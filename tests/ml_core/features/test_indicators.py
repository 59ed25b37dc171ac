"""TA-Lib definitions: hand-computed values on tiny frames and bar-by-bar references."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.features import _indicators as ta

from . import _talib_reference as ref
from ._bars import random_walk_bars


@pytest.fixture(scope="module")
def ohlc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bars = random_walk_bars(300)
    return bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy()


def _nan_positions(x: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isnan(x))


def test_rsi_of_monotone_series_is_100_and_0():
    rising = np.arange(1.0, 31.0)
    up = ta.rsi(rising, 14)
    assert_array_equal(_nan_positions(up), np.arange(14))
    assert_array_equal(up[14:], 100.0)
    assert_array_equal(ta.rsi(rising[::-1].copy(), 14)[14:], 0.0)


def test_rsi_hand_computed_and_flat_is_zero_like_talib():
    # Changes +2, -1, +2, -1: first RSI(2) at index 2 = 100 * 1 / (1 + 0.5); then Wilder:
    # gain = (1 * 1 + 2) / 2 = 1.5, loss = (0.5 * 1 + 0) / 2 = 0.25 -> 100 * 1.5 / 1.75.
    out = ta.rsi(np.array([10.0, 12.0, 11.0, 13.0]), 2)
    assert_allclose(out[2:], [100.0 / 1.5, 100.0 * 1.5 / 1.75], rtol=1e-15)
    assert_array_equal(ta.rsi(np.full(20, 5.0), 14)[14:], 0.0)


def test_ema_seeded_with_sma():
    out = ta.ema(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3)
    # seed SMA(1, 2, 3) = 2 at index 2; alpha = 0.5: 3, then 4.
    assert_array_equal(out, [np.nan, np.nan, 2.0, 3.0, 4.0])


def test_atr_of_constant_range_and_gap():
    close = np.full(20, 100.0)
    high, low = close + 1.0, close - 1.0
    out = ta.atr(high, low, close, 14)
    assert_array_equal(_nan_positions(out), np.arange(14))
    assert_array_equal(out[14:], 2.0)
    assert_allclose(ta.natr(high, low, close, 14)[14:], 2.0, rtol=1e-15)
    # A gap up of 10 makes that bar's true range |high - prev close| = 11.
    high2, low2, close2 = high.copy(), low.copy(), close.copy()
    high2[15], low2[15], close2[15] = 111.0, 109.0, 110.0
    assert ta.true_range(high2, low2, close2)[15] == 11.0
    assert ta.atr(high2, low2, close2, 14)[15] == pytest.approx((2.0 * 13 + 11.0) / 14)


def test_stochastic_williams_and_cci_on_a_ramp():
    close = np.arange(1.0, 21.0)
    high, low = close + 0.5, close - 0.5
    # Close 20 in a 14-bar range [6.5, 20.5]: %K = 100 * 13.5 / 14, %R = -100 * 0.5 / 14.
    assert ta.stoch_k(high, low, close, 14)[-1] == pytest.approx(100 * 13.5 / 14, rel=1e-15)
    assert ta.williams_r(high, low, close, 14)[-1] == pytest.approx(-100 * 0.5 / 14, rel=1e-15)
    # CCI(20) of 1..20: tp = close, mean 10.5, mean |dev| = 5, (20 - 10.5) / (0.015 * 5).
    out = ta.cci(high, low, close, 20)
    assert_array_equal(_nan_positions(out), np.arange(19))
    assert out[19] == pytest.approx(9.5 / 0.075, rel=1e-14)
    flat = np.full(20, 3.0)
    assert ta.stoch_k(flat, flat, flat, 14)[-1] == 0.0
    assert ta.williams_r(flat, flat, flat, 14)[-1] == 0.0
    assert ta.cci(flat, flat, flat, 20)[-1] == 0.0


def test_bbands_population_std():
    close = np.arange(1.0, 21.0)
    lower, mid, upper = ta.bbands(close, 20, 2.0)
    sigma = np.sqrt((20**2 - 1) / 12.0)  # population std of 1..20
    assert mid[-1] == 10.5
    assert upper[-1] - mid[-1] == pytest.approx(2 * sigma, rel=1e-12)
    assert mid[-1] - lower[-1] == pytest.approx(2 * sigma, rel=1e-12)


def test_ichimoku_cloud_uses_values_from_26_bars_back():
    high = np.arange(100.0) + 1.0
    low = np.arange(100.0)
    top, bottom = ta.ichimoku_cloud(high, low)
    assert_array_equal(_nan_positions(top), np.arange(77))
    t = 80
    s = t - 26
    tenkan = (high[s] + low[s - 8]) / 2
    kijun = (high[s] + low[s - 25]) / 2
    span_b = (high[s] + low[s - 51]) / 2
    assert top[t] == max((tenkan + kijun) / 2, span_b)
    assert bottom[t] == min((tenkan + kijun) / 2, span_b)


def test_lag_rejects_future():
    with pytest.raises(ValueError, match="`k=-1`"):
        ta.lag(np.arange(5.0), -1)


@pytest.mark.parametrize("n", [2, 14])
def test_rsi_atr_match_talib_loops(ohlc, n):
    high, low, close = ohlc
    assert_allclose(ta.rsi(close, n), ref.rsi(list(close), n), rtol=1e-10, equal_nan=True)
    assert_allclose(ta.atr(high, low, close, n), ref.atr(list(high), list(low), list(close), n),
                    rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("n", [3, 14])
def test_adx_matches_talib_loop(ohlc, n):
    high, low, close = ohlc
    expected = ref.adx(list(high), list(low), list(close), n)
    out = ta.adx(high, low, close, n)
    assert_array_equal(_nan_positions(out), np.arange(2 * n - 1))
    assert_allclose(out, expected, rtol=1e-10, equal_nan=True)


def test_adx_holds_while_undefined_like_talib():
    # 12 flat bars first: DX is undefined (zero range) through the seed window and after it,
    # so ADX is seeded at 0 and held until prices move.
    bars = random_walk_bars(80)
    high, low, close = (bars[c].to_numpy(copy=True) for c in ("high", "low", "close"))
    high[:12] = low[:12] = close[:12] = 100.0
    expected = ref.adx(list(high), list(low), list(close), 5)
    out = ta.adx(high, low, close, 5)
    assert_array_equal(out[9:12], 0.0)
    assert_allclose(out, expected, rtol=1e-10, equal_nan=True)


def test_macd_matches_talib_loop(ohlc):
    close = ohlc[2]
    for got, want in zip(ta.macd(close, 12, 26, 9), ref.macd(list(close), 12, 26, 9),
                         strict=True):
        assert_array_equal(_nan_positions(got), np.arange(33))
        assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)


def test_oscillators_match_talib_loops(ohlc):
    high, low, close = ohlc
    h, l, c = list(high), list(low), list(close)
    assert_allclose(ta.stoch_k(high, low, close, 14), ref.stoch_k(h, l, c, 14), rtol=1e-12,
                    equal_nan=True)
    assert_allclose(ta.williams_r(high, low, close, 14), ref.willr(h, l, c, 14), rtol=1e-12,
                    equal_nan=True)
    assert_allclose(ta.cci(high, low, close, 20), ref.cci(h, l, c, 20), rtol=1e-10,
                    equal_nan=True)
    for got, want in zip(ta.bbands(close, 20, 2.0), ref.bbands(c, 20, 2.0), strict=True):
        assert_allclose(got, want, rtol=1e-10, equal_nan=True)
