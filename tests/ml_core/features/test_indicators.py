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


# ---------------------------------------------------------------- hand-computed new indicators
def test_dmi_is_zero_on_flat_prices_like_talib():
    flat = np.full(40, 100.0)
    plus_di, minus_di, adx = ta.dmi(flat, flat, flat, 5)
    assert_array_equal(_nan_positions(plus_di), np.arange(5))
    assert_array_equal(plus_di[5:], 0.0)
    assert_array_equal(minus_di[5:], 0.0)
    assert_array_equal(_nan_positions(adx), np.arange(9))
    assert_array_equal(adx[9:], 0.0)
    assert_array_equal(ta.adx(flat, flat, flat, 5), adx)


def test_slow_stochastic_of_a_ramp():
    close = np.arange(1.0, 31.0)
    slow_k, slow_d = ta.stoch(close + 0.5, close - 0.5, close, 14, 3, 3)
    assert_array_equal(_nan_positions(slow_k), np.arange(15))
    assert_array_equal(_nan_positions(slow_d), np.arange(17))
    assert_allclose(slow_d[17:], 100 * 13.5 / 14, rtol=1e-14)


def test_stoch_rsi_of_an_alternating_series():
    # Alternating +1/-1 moves: RSI(2) swings between two values, so %K(2) is 0 or 100.
    close = np.array([10.0, 11.0] * 10)
    k, d = ta.stoch_rsi(close, 2, 2, 3)
    assert_array_equal(_nan_positions(k), np.arange(3))
    assert set(k[3:]) == {0.0, 100.0}
    assert_array_equal(_nan_positions(d), np.arange(5))
    # Flat prices: the RSI is flat (0), and so is %K.
    assert_array_equal(ta.stoch_rsi(np.full(30, 7.0), 5, 5)[0][9:], 0.0)


def test_mfi_hand_computed_and_without_flow():
    close = np.array([10.0, 11.0, 10.5, 12.0, 12.0])
    volume = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = ta.mfi(close, close, close, volume, 3)
    # Flows: +22, -31.5, +48, then 0 (typical price unchanged).
    assert_array_equal(_nan_positions(out), np.arange(3))
    assert out[3] == pytest.approx(100 * 70 / 101.5, rel=1e-15)
    assert out[4] == pytest.approx(100 * 48 / 79.5, rel=1e-15)
    assert_array_equal(ta.mfi(close, close, close, np.zeros(5), 3)[3:], 0.0)
    assert_array_equal(ta.mfi(*[np.full(6, 9.0)] * 3, np.ones(6), 3)[3:], 0.0)


def test_roc_trix_and_ppo_hand_computed():
    close = 100.0 * 1.1 ** np.arange(30)
    assert_allclose(ta.roc(close, 3)[3:], 100 * (1.1**3 - 1), rtol=1e-12)
    assert_array_equal(_nan_positions(ta.roc(close, 3)), np.arange(3))
    assert_array_equal(_nan_positions(ta.trix(close, 5)), np.arange(13))
    assert_array_equal(ta.trix(np.full(30, 4.0), 5)[13:], 0.0)
    ramp = np.arange(1.0, 27.0)
    # SMA(12) of 15..26 = 20.5, SMA(26) of 1..26 = 13.5.
    assert_array_equal(_nan_positions(ta.ppo(ramp, 12, 26)), np.arange(25))
    assert ta.ppo(ramp, 12, 26)[25] == pytest.approx(100 * 7 / 13.5, rel=1e-15)


def test_ultimate_oscillator_hand_computed():
    # Flat candles: true range |c - prev c|, buying pressure max(c - prev c, 0).
    close = np.array([10.0, 12.0, 11.0, 13.0])
    out = ta.ultosc(close, close, close, 1, 2, 3)
    assert_array_equal(_nan_positions(out), np.arange(3))
    assert out[3] == pytest.approx(100 * (4 * 1.0 + 2 * 2 / 3 + 4 / 5) / 7, rel=1e-15)
    flat = np.full(10, 5.0)
    assert_array_equal(ta.ultosc(flat, flat, flat, 2, 3, 4)[4:], 0.0)


def test_aroon_counts_bars_since_the_newest_extreme():
    high = np.array([1.0, 3.0, 2.0, 3.0, 1.0, 0.5])
    low = np.array([0.0, 2.0, 0.0, 1.0, 0.5, 0.4])
    down, up = ta.aroon(high, low, 3)
    assert_array_equal(_nan_positions(up), np.arange(3))
    # Ties go to the newest bar: the high of 3 at index 3 (not 1), the low of 0 at index 2 (not
    # 0), which is the oldest bar of the last window, where Aroon down reaches 0.
    assert_allclose(up[3:], [100.0, 100 * 2 / 3, 100 * 1 / 3], rtol=1e-15)
    assert_allclose(down[3:], [100 * 2 / 3, 100 * 1 / 3, 0.0], rtol=1e-15)


def test_bop_chaikin_money_flow_and_force_index():
    open_ = np.array([10.0, 10.0, 12.0, 11.0])
    high = np.array([12.0, 12.0, 12.0, 11.0])
    low = np.array([8.0, 10.0, 10.0, 11.0])
    close = np.array([11.0, 12.0, 10.0, 11.0])
    volume = np.array([1.0, 2.0, 3.0, 4.0])
    assert_array_equal(ta.bop(open_, high, low, close), [0.25, 1.0, -1.0, 0.0])
    # Close location values 0.5, 1, -1, 0 (zero range).
    cmf = ta.chaikin_money_flow(high, low, close, volume, 3)
    assert_array_equal(_nan_positions(cmf), [0, 1])
    assert_allclose(cmf[2:], [(0.5 + 2.0 - 3.0) / 6.0, (2.0 - 3.0) / 9.0], rtol=1e-15)
    assert_array_equal(ta.chaikin_money_flow(high, low, close, np.zeros(4), 3)[2:], 0.0)
    grow = 100.0 * 1.02 ** np.arange(20)
    force = ta.force_index(grow, np.linspace(1.0, 5.0, 20), 13)
    assert_array_equal(_nan_positions(force), np.arange(13))
    assert_allclose(force[13:], 0.02, rtol=1e-12)
    assert_array_equal(ta.force_index(grow, np.zeros(20), 13)[13:], 0.0)


def test_ichimoku_lines():
    high = np.arange(100.0) + 1.0
    low = np.arange(100.0)
    tenkan, kijun, span_a, span_b = ta.ichimoku(high, low)
    assert_array_equal(_nan_positions(tenkan), np.arange(8))
    assert_array_equal(_nan_positions(kijun), np.arange(25))
    assert_array_equal(_nan_positions(span_a), np.arange(51))
    assert_array_equal(_nan_positions(span_b), np.arange(77))
    assert tenkan[50] == (high[50] + low[42]) / 2
    assert span_a[80] == (tenkan[54] + kijun[54]) / 2


def test_volume_profile_point_of_control_hand_computed():
    # Flat candles, so the typical price is the close; 2 bins over [100, 110].
    close = np.array([100.0, 110.0, 101.0, 109.0])
    poc = ta.volume_profile_poc(close, close, close, np.array([1.0, 5.0, 1.0, 1.0]), 4, 2)
    assert_array_equal(poc, [np.nan, np.nan, np.nan, 107.5])  # bin [105, 110] holds 6 of 8
    poc = ta.volume_profile_poc(close, close, close, np.array([5.0, 1.0, 1.0, 1.0]), 4, 2)
    assert poc[-1] == 102.5
    # Nothing traded: bar counts, a 2-2 tie goes to the lower bin.
    assert ta.volume_profile_poc(close, close, close, np.zeros(4), 4, 2)[-1] == 102.5
    flat = np.full(5, 123.0)
    assert_array_equal(ta.volume_profile_poc(flat, flat, flat, np.ones(5), 3, 12)[2:], 123.0)
    with pytest.raises(ValueError, match="`bins=0`"):
        ta.volume_profile_poc(close, close, close, close, 4, 0)


def test_price_volume_packing_is_exact_and_never_nan():
    rng = np.random.default_rng(0)
    price = rng.lognormal(5.0, 3.0, 1_000)
    volume = np.concatenate([[0.0, 1e300], rng.lognormal(3.0, 4.0, 998)])
    packed = ta._pack_price_volume(price, volume)
    assert np.isfinite(packed).all()
    streamed = [ta._pack_price_volume(float(p), float(v)) for p, v in zip(price, volume)]
    assert_array_equal(packed.view(np.uint64), np.array(streamed).view(np.uint64))
    got_price, got_volume = ta._unpack_price_volume(packed[None, :])
    assert_array_equal(got_price[0], price.astype(np.float32))
    assert_array_equal(got_volume[0], np.minimum(volume, np.finfo(np.float32).max)
                       .astype(np.float32))


# ---------------------------------------------------------------- TA-Lib itself
def _bars_arrays(bars) -> dict[str, np.ndarray]:
    return {c: bars[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close",
                                                             "volume")}


# name -> (ours, TA-Lib's, bars by which ours starts before TA-Lib's first value)
TALIB_CASES = {
    "RSI": (lambda b: ta.rsi(b["close"], 7), lambda t, b: t.RSI(b["close"], 7), 0),
    "ATR": (lambda b: ta.atr(b["high"], b["low"], b["close"], 20),
            lambda t, b: t.ATR(b["high"], b["low"], b["close"], 20), 0),
    "NATR": (lambda b: ta.natr(b["high"], b["low"], b["close"], 7),
             lambda t, b: t.NATR(b["high"], b["low"], b["close"], 7), 0),
    "TRANGE": (lambda b: ta.true_range(b["high"], b["low"], b["close"]),
               lambda t, b: t.TRANGE(b["high"], b["low"], b["close"]), 0),
    "PLUS_DI": (lambda b: ta.dmi(b["high"], b["low"], b["close"], 14)[0],
                lambda t, b: t.PLUS_DI(b["high"], b["low"], b["close"], 14), 0),
    "MINUS_DI": (lambda b: ta.dmi(b["high"], b["low"], b["close"], 14)[1],
                 lambda t, b: t.MINUS_DI(b["high"], b["low"], b["close"], 14), 0),
    "ADX": (lambda b: ta.adx(b["high"], b["low"], b["close"], 14),
            lambda t, b: t.ADX(b["high"], b["low"], b["close"], 14), 0),
    "MACD": (lambda b: np.stack(ta.macd(b["close"], 12, 26, 9)),
             lambda t, b: np.stack(t.MACD(b["close"], 12, 26, 9)), 0),
    "BBANDS": (lambda b: np.stack(ta.bbands(b["close"], 20, 2.0)),
               lambda t, b: np.stack(t.BBANDS(b["close"], 20, 2.0, 2.0, 0)[::-1]), 0),
    "STOCH slowk": (lambda b: ta.stoch(b["high"], b["low"], b["close"], 14, 3, 3)[0],
                    lambda t, b: t.STOCH(b["high"], b["low"], b["close"], 14, 3, 0, 3, 0)[0], 2),
    "STOCH slowd": (lambda b: ta.stoch(b["high"], b["low"], b["close"], 14, 3, 3)[1],
                    lambda t, b: t.STOCH(b["high"], b["low"], b["close"], 14, 3, 0, 3, 0)[1], 0),
    "STOCHF": (lambda b: ta.stoch_k(b["high"], b["low"], b["close"], 14),
               lambda t, b: t.STOCHF(b["high"], b["low"], b["close"], 14, 1, 0)[0], 0),
    "STOCHRSI k": (lambda b: ta.stoch_rsi(b["close"], 14, 14, 3)[0],
                   lambda t, b: t.STOCHRSI(b["close"], 14, 14, 3, 0)[0], 2),
    "STOCHRSI d": (lambda b: ta.stoch_rsi(b["close"], 14, 14, 3)[1],
                   lambda t, b: t.STOCHRSI(b["close"], 14, 14, 3, 0)[1], 0),
    "WILLR": (lambda b: ta.williams_r(b["high"], b["low"], b["close"], 14),
              lambda t, b: t.WILLR(b["high"], b["low"], b["close"], 14), 0),
    "CCI": (lambda b: ta.cci(b["high"], b["low"], b["close"], 20),
            lambda t, b: t.CCI(b["high"], b["low"], b["close"], 20), 0),
    "MFI": (lambda b: ta.mfi(b["high"], b["low"], b["close"], b["volume"], 14),
            lambda t, b: t.MFI(b["high"], b["low"], b["close"], b["volume"], 14), 0),
    "ROC": (lambda b: ta.roc(b["close"], 12), lambda t, b: t.ROC(b["close"], 12), 0),
    "TRIX": (lambda b: ta.trix(b["close"], 15), lambda t, b: t.TRIX(b["close"], 15), 0),
    "ULTOSC": (lambda b: ta.ultosc(b["high"], b["low"], b["close"], 7, 14, 28),
               lambda t, b: t.ULTOSC(b["high"], b["low"], b["close"], 7, 14, 28), 0),
    "AROON": (lambda b: np.stack(ta.aroon(b["high"], b["low"], 14)),
              lambda t, b: np.stack(t.AROON(b["high"], b["low"], 14)), 0),
    "PPO": (lambda b: ta.ppo(b["close"], 12, 26), lambda t, b: t.PPO(b["close"], 12, 26, 0), 0),
    "BOP": (lambda b: ta.bop(b["open"], b["high"], b["low"], b["close"]),
            lambda t, b: t.BOP(b["open"], b["high"], b["low"], b["close"]), 0),
}


@pytest.fixture(scope="module")
def talib():
    return pytest.importorskip("talib")


def _assert_matches_talib(got: np.ndarray, want: np.ndarray, earlier: int) -> None:
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    for ours, theirs in zip(got, want, strict=True):
        first = int(np.argmax(~np.isnan(theirs)))
        assert np.isnan(theirs[first:]).sum() == 0
        # Ours starts `earlier` bars before TA-Lib's first value and is never NaN after it.
        assert_array_equal(_nan_positions(ours), np.arange(first - earlier))
        error = np.abs(ours[first:] - theirs[first:]) / np.maximum(1.0, np.abs(theirs[first:]))
        assert error.max() <= 1e-9


@pytest.mark.parametrize("name", list(TALIB_CASES))
def test_matches_talib_on_a_random_walk(talib, name):
    ours, theirs, earlier = TALIB_CASES[name]
    bars = _bars_arrays(random_walk_bars(2_000, seed=7))
    _assert_matches_talib(ours(bars), theirs(talib, bars), earlier)


@pytest.mark.parametrize("name", list(TALIB_CASES))
def test_matches_talib_on_the_sample(talib, sample_bars, name):
    ours, theirs, earlier = TALIB_CASES[name]
    bars = _bars_arrays(sample_bars)
    _assert_matches_talib(ours(bars), theirs(talib, bars), earlier)
