"""Statistical features: exact values on hand-made bars, references, properties, streaming."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import feature_specs
from ml_core.features._hurst import anis_lloyd_expected_rs
from ml_core.features._ops import BatchOps
from ml_core.features._spec import DEFINITIONS
from ml_core.features._stream_ops import StreamOps

from ._bars import bars_from_close, random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)
STATISTICAL = sorted(name for name, d in DEFINITIONS.items() if d.family == "statistical")
NEW = [
    "return_tstat", "return_skew", "return_kurtosis", "price_zscore", "volume_zscore",
    "parkinson_vol", "garman_klass_vol", "rogers_satchell_vol", "yang_zhang_vol",
    "abs_return_autocorr", "ewma_vol_ratio", "autocorr_2", "autocorr_5", "variance_ratio_4",
    "hurst_exponent", "up_bar_ratio", "permutation_entropy", "max_drawdown",
]


def _config(n: int = 8) -> FeatureConfig:
    return FeatureConfig(higher_timeframes=[], volatility_window=n, frac_diff_window=10)


def batch(name: str, bars: pd.DataFrame, n: int = 8) -> np.ndarray:
    """One recipe on whole columns (without the other families' warm-up requirements)."""
    return DEFINITIONS[name].compute(BatchOps(bars, _config(n), THIRTY_MINUTES))


def stream(name: str, bars: pd.DataFrame, n: int = 8) -> np.ndarray:
    ops = StreamOps(_config(n), THIRTY_MINUTES)
    out = []
    for row in bars[["open", "high", "low", "close", "volume"]].itertuples(index=False):
        ops.step(*row)
        out.append(DEFINITIONS[name].compute(ops))
    return np.array(out)


def _bars(open_, high, low, close, volume=None) -> pd.DataFrame:
    close = np.asarray(close, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(close), freq="30min", tz="UTC",
                          name="timestamp")
    volume = np.ones(len(close)) if volume is None else volume
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": volume}, index=index)


def _close_from_returns(r: np.ndarray) -> np.ndarray:
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


def test_family_size_on_demo_and_production_profiles():
    assert set(NEW) <= set(STATISTICAL)
    production = FeatureConfig(volatility_window=60, frac_diff_window=500)
    for base, config in ((THIRTY_MINUTES, FeatureConfig()), (timedelta(minutes=1), production)):
        label = "30m" if base == THIRTY_MINUTES else "1m"
        specs = feature_specs(config, base).values()
        names = {s.name for s in specs if s.family == "statistical" and s.timeframe == label}
        assert len(names) >= 24, sorted(names)


# ------------------------------------------------------------------------- range volatilities
def test_range_volatilities_of_a_flat_candle_with_symmetric_wicks():
    # O = C = 100 on every bar, H = 100 e^a, L = 100 e^-a: log(H/L) = 2a, log(C/O) = 0.
    a, n = 0.01, 8
    close = np.full(40, 100.0)
    bars = _bars(close, close * math.exp(a), close * math.exp(-a), close)
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    expected = {
        "parkinson_vol": a / math.sqrt(math.log(2.0)),
        "garman_klass_vol": math.sqrt(2.0) * a,
        "rogers_satchell_vol": math.sqrt(2.0) * a,
        # No gaps and no bodies: only the Rogers-Satchell part, weighted 1 - k.
        "yang_zhang_vol": math.sqrt((1.0 - k) * 2.0) * a,
    }
    for name, value in expected.items():
        out = batch(name, bars, n)
        lookback = DEFINITIONS[name].lookback(_config(n), THIRTY_MINUTES)
        assert np.isnan(out[: lookback - 1]).all(), name
        assert_allclose(out[lookback - 1 :], value, rtol=1e-12, err_msg=name)


def test_range_volatilities_of_a_candle_with_a_body():
    # Every bar: O = 100, C = 100 e^b, H = 100 e^(b + a), L = 100 e^-a.
    a, b, n = 0.004, 0.003, 8
    ones = np.ones(30)
    bars = _bars(100.0 * ones, 100.0 * math.exp(b + a) * ones, 100.0 * math.exp(-a) * ones,
                 100.0 * math.exp(b) * ones)
    # Gaps (-b) and bodies (b) are constant: zero variance, only Rogers-Satchell remains.
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    rs = a * (a + b) + (a + b) * a
    expected = {
        "parkinson_vol": (b + 2 * a) / (2.0 * math.sqrt(math.log(2.0))),
        "garman_klass_vol": math.sqrt(0.5 * (b + 2 * a) ** 2 - (2 * math.log(2) - 1) * b * b),
        "rogers_satchell_vol": math.sqrt(rs),
        "yang_zhang_vol": math.sqrt((1.0 - k) * rs),
    }
    for name, value in expected.items():
        assert_allclose(batch(name, bars, n)[-1], value, rtol=1e-9, err_msg=name)


def test_range_volatilities_match_a_pandas_reference():
    bars, n = random_walk_bars(300, seed=7), 12
    o, h, lo, c = (np.log(bars[col]) for col in ("open", "high", "low", "close"))
    hl, co = h - lo, c - o
    rs = (h - c) * (h - o) + (lo - c) * (lo - o)
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    gap = o - c.shift(1)
    reference = {
        "parkinson_vol": np.sqrt((hl**2).rolling(n).mean() / (4 * np.log(2))),
        "garman_klass_vol": np.sqrt((0.5 * hl**2 - (2 * np.log(2) - 1) * co**2).rolling(n).mean()),
        "rogers_satchell_vol": np.sqrt(rs.rolling(n).mean()),
        "yang_zhang_vol": np.sqrt(gap.rolling(n).var() + k * co.rolling(n).var()
                                  + (1 - k) * rs.rolling(n).mean()),
    }
    for name, expected in reference.items():
        assert_allclose(batch(name, bars, n), expected.to_numpy(), rtol=1e-10, err_msg=name)


def test_range_volatilities_estimate_the_per_bar_volatility_of_a_diffusion():
    # Bars of 400 steps of a driftless Brownian motion with per-bar std sigma: every estimator
    # recovers sigma (the discrete path slightly underestimates the true high-low range).
    rng = np.random.default_rng(3)
    sigma, steps, n_bars = 0.01, 400, 1_500
    path = np.cumsum(rng.normal(0.0, sigma / math.sqrt(steps), (n_bars, steps)), axis=1)
    start = np.concatenate([[0.0], np.cumsum(path[:-1, -1])])  # each bar opens at the last close
    path = np.concatenate([start[:, None], path + start[:, None]], axis=1)
    bars = _bars(100 * np.exp(path[:, 0]), 100 * np.exp(path.max(axis=1)),
                 100 * np.exp(path.min(axis=1)), 100 * np.exp(path[:, -1]))
    for name in ("parkinson_vol", "garman_klass_vol", "rogers_satchell_vol", "yang_zhang_vol"):
        estimate = np.nanmean(batch(name, bars, 48))
        assert 0.93 * sigma < estimate < 1.02 * sigma, name


# ---------------------------------------------------------------------------------- moments
def test_skew_of_a_symmetric_window_is_zero_and_kurtosis_exact():
    # Returns a, -a, 2a, -2a repeated: every 8-bar window holds each value twice.
    a = 0.01
    close = _close_from_returns(np.tile([a, -a, 2 * a, -2 * a], 10))
    bars, n = bars_from_close(close), 8
    skew, kurt = batch("return_skew", bars, n), batch("return_kurtosis", bars, n)
    assert np.isnan(skew[:n]).all() and np.isnan(kurt[:n]).all()
    assert_allclose(skew[n:], 0.0, atol=1e-9)
    g2 = 8.5 / 2.5**2 - 3.0  # m4 = 8.5 a^4, m2 = 2.5 a^2
    expected = ((n * n - 1) * (g2 + 3) - 3 * (n - 1) ** 2) / ((n - 2) * (n - 3))
    assert_allclose(kurt[n:], expected, rtol=1e-9)
    # A single jump up in a quiet window: positive skew.
    close = _close_from_returns(np.r_[np.tile([a, -a], 10), 10 * a, np.tile([a, -a], 2)])
    assert batch("return_skew", bars_from_close(close), n)[-1] > 1.0


def test_moments_match_pandas_and_the_t_statistic():
    bars, n = random_walk_bars(400, seed=11), 20
    r = np.log(bars["close"] / bars["close"].shift(1))
    assert_allclose(batch("return_skew", bars, n), r.rolling(n).skew(), rtol=1e-8, atol=1e-12)
    assert_allclose(batch("return_kurtosis", bars, n), r.rolling(n).kurt(), rtol=1e-8,
                    atol=1e-12)
    tstat = r.rolling(n).mean() / r.rolling(n).std() * math.sqrt(n)
    assert_allclose(batch("return_tstat", bars, n), tstat, rtol=1e-9, atol=1e-12)
    # Normal returns: sample excess kurtosis averages about 0.
    assert abs(np.nanmean(batch("return_kurtosis", random_walk_bars(5_000, seed=1), 48))) < 0.15


def test_zscores_match_pandas():
    bars, n = random_walk_bars(200, seed=5), 10
    for name, column in (("price_zscore", "close"), ("volume_zscore", "volume")):
        x = bars[column]
        expected = (x - x.rolling(n).mean()) / x.rolling(n).std()
        out = batch(name, bars, n)
        assert np.isnan(out[: n - 1]).all()
        assert_allclose(out, expected, rtol=1e-9, err_msg=name)
    r = np.log(bars["close"] / bars["close"].shift(1))
    expected = (r - r.rolling(n).mean()) / r.rolling(n).std()
    assert_allclose(batch("return_zscore", bars, n), expected, rtol=1e-9)


def test_ewma_vol_ratio_of_constant_size_moves():
    # Returns +-a: the EWMA of r^2 stays a^2; the window mean is 0 (even n), so the sample std
    # is a sqrt(n / (n - 1)).
    a, n = 0.01, 8
    bars = bars_from_close(_close_from_returns(np.tile([a, -a], 20)))
    out = batch("ewma_vol_ratio", bars, n)
    assert np.isnan(out[:n]).all()
    assert_allclose(out[n:], math.sqrt((n - 1) / n), rtol=1e-9)
    # Fresh shocks lift the EWMA (half-life 11 bars) above the volatility of a 48-bar window.
    shocked = bars_from_close(_close_from_returns(np.r_[np.tile([a, -a], 50), [5 * a] * 3]))
    assert batch("ewma_vol_ratio", shocked, 48)[-1] > 1.2


# ------------------------------------------------------------------------- serial dependence
def _autocorr_reference(r: np.ndarray, k: int, n: int, t: int) -> float:
    return float(np.corrcoef(r[t - n + 1 : t + 1], r[t - n + 1 - k : t + 1 - k])[0, 1])


def test_autocorrelations_match_numpy():
    bars, n = random_walk_bars(300, seed=9), 30
    r = np.log(bars["close"] / bars["close"].shift(1)).to_numpy()
    for k in (1, 2, 5):
        out = batch(f"autocorr_{k}", bars, n)
        assert np.isnan(out[: n + k]).all() and np.isfinite(out[n + k :]).all()
        for t in (n + k, 150, 299):
            assert out[t] == pytest.approx(_autocorr_reference(r, k, n, t), abs=1e-12)
    out = batch("abs_return_autocorr", bars, n)
    for t in (n + 1, 299):
        assert out[t] == pytest.approx(_autocorr_reference(np.abs(r), 1, n, t), abs=1e-12)


def test_autocorrelations_of_alternating_and_clustered_moves():
    a, n = 0.01, 8
    alternating = bars_from_close(_close_from_returns(np.tile([a, -a], 15)))
    assert_allclose(batch("autocorr_1", alternating, n)[n + 1 :], -1.0, atol=1e-9)
    assert_allclose(batch("autocorr_2", alternating, n)[n + 2 :], 1.0, atol=1e-9)
    # Constant size: |r| does not vary, so there is no clustering to report.
    assert_array_equal(batch("abs_return_autocorr", alternating, n)[n + 1 :], 0.0)
    # Big and small moves alternating: sizes anti-cluster.
    sizes = bars_from_close(_close_from_returns(np.tile([3 * a, -a], 15)))
    assert_allclose(batch("abs_return_autocorr", sizes, n)[n + 1 :], -1.0, atol=1e-9)


def test_variance_ratio():
    bars, n = random_walk_bars(300, seed=13), 24
    r = np.log(bars["close"] / bars["close"].shift(1))
    r4 = np.log(bars["close"] / bars["close"].shift(4))
    mu = r.rolling(n).mean()
    var_1 = ((r**2).rolling(n).mean() - mu**2)
    var_4 = (r4**2).rolling(n).mean() - 2 * 4 * mu * r4.rolling(n).mean() + (4 * mu) ** 2
    out = batch("variance_ratio_4", bars, n)
    assert np.isnan(out[: n + 3]).all() and np.isfinite(out[n + 3 :]).all()
    assert_allclose(out, var_4 / (4 * var_1), rtol=1e-9)
    # Alternating moves cancel over 4 bars; a random walk is near 1; flat prices read 1.
    alternating = bars_from_close(_close_from_returns(np.tile([0.01, -0.01], 20)))
    assert_allclose(batch("variance_ratio_4", alternating, 8)[11:], 0.0, atol=1e-12)
    assert 0.9 < np.nanmean(batch("variance_ratio_4", random_walk_bars(4_000), 48)) < 1.1
    assert_array_equal(batch("variance_ratio_4", bars_from_close(np.full(30, 5.0)), 8)[11:], 1.0)


def test_hurst_exponent_window_and_values():
    a = 0.01
    # Window 2 x volatility_window within [64, 200]: 64 bars for n = 8.
    assert DEFINITIONS["hurst_exponent"].lookback(_config(8), THIRTY_MINUTES) == 65
    assert DEFINITIONS["hurst_exponent"].lookback(_config(60), THIRTY_MINUTES) == 121
    assert DEFINITIONS["hurst_exponent"].lookback(_config(288), THIRTY_MINUTES) == 201
    # Alternating moves: R = S = |a| in every window (see test_hurst).
    out = batch("hurst_exponent", bars_from_close(_close_from_returns(np.tile([a, -a], 40))))
    assert np.isnan(out[:64]).all()
    assert_allclose(out[64:], 0.5 - math.log(anis_lloyd_expected_rs(64)) / math.log(64),
                    rtol=1e-9)
    walk = batch("hurst_exponent", random_walk_bars(3_000, seed=21), 48)
    assert 0.46 < np.nanmean(walk) < 0.54
    # Persistent returns (AR(1), phi = 0.8) trend: H well above 0.5.
    rng = np.random.default_rng(22)
    r = np.zeros(3_000)
    for t in range(1, len(r)):
        r[t] = 0.8 * r[t - 1] + rng.normal(0.0, 0.005)
    assert np.nanmean(batch("hurst_exponent", bars_from_close(_close_from_returns(r)), 48)) > 0.62


# ------------------------------------------------------------------------- direction, paths
def test_up_bar_ratio_and_permutation_entropy_by_hand():
    n = 6
    rising = bars_from_close(np.linspace(100.0, 130.0, 30))
    alternating = bars_from_close(np.tile([100.0, 102.0], 15))
    sawtooth = bars_from_close(np.tile([100.0, 101.0, 102.0], 10))  # three patterns in turn
    flat = bars_from_close(np.full(30, 100.0))
    assert_array_equal(batch("up_bar_ratio", rising, n)[n:], 1.0)
    assert_array_equal(batch("up_bar_ratio", alternating, n)[n:], 0.5)
    assert_array_equal(batch("up_bar_ratio", flat, n)[n:], 0.0)
    assert np.isnan(batch("up_bar_ratio", rising, n)[:n]).all()

    entropy = batch("permutation_entropy", rising, n)
    assert np.isnan(entropy[: n + 1]).all()
    assert_array_equal(entropy[n + 1 :], 0.0)
    assert_array_equal(batch("permutation_entropy", flat, n)[n + 1 :], 0.0)
    assert_allclose(batch("permutation_entropy", alternating, n)[n + 1 :],
                    math.log(2) / math.log(6), rtol=1e-14)
    assert_allclose(batch("permutation_entropy", sawtooth, n)[n + 1 :],
                    math.log(3) / math.log(6), rtol=1e-14)


def test_permutation_entropy_matches_a_reference_and_is_near_one_on_noise():
    bars, n = random_walk_bars(200, seed=17), 20
    close = bars["close"].to_numpy()
    patterns = np.lib.stride_tricks.sliding_window_view(close, 3).argsort(axis=1, kind="stable")
    codes = patterns @ np.array([9, 3, 1])
    out = batch("permutation_entropy", bars, n)
    for t in (n + 1, 100, 199):
        _, counts = np.unique(codes[t - 2 - n + 1 : t - 1], return_counts=True)
        p = counts / n
        assert out[t] == pytest.approx(-(p * np.log(p)).sum() / np.log(6), rel=1e-12)
    # Random walk: the two monotone patterns have probability 1/4, the other four 1/8, so the
    # entropy is 2.5 ln 2 / ln 6 = 0.967, less a small-window bias.
    assert 0.9 < np.nanmean(batch("permutation_entropy", random_walk_bars(2_000), 48)) < 0.967


def test_max_drawdown():
    close = [100.0, 110.0, 99.0, 105.0, 120.0, 90.0, 95.0, 130.0, 125.0]
    out = batch("max_drawdown", bars_from_close(close), 5)  # windows of 6 closes
    assert np.isnan(out[:5]).all()
    # 110 -> 99 is 10 %, 120 -> 90 is 25 %; the last window starts at 99.
    assert_allclose(out[5:], [0.25, 0.25, 0.25, 0.25], rtol=1e-15)
    bars = random_walk_bars(150, seed=19)
    c = bars["close"]
    expected = [1 - (c.iloc[t - 8 : t + 1] / c.iloc[t - 8 : t + 1].cummax()).min()
                for t in range(8, 150)]
    assert_allclose(batch("max_drawdown", bars, 8)[8:], expected, rtol=1e-14)
    assert_array_equal(batch("max_drawdown", bars_from_close(np.linspace(1, 2, 20)), 8)[8:], 0.0)


# ------------------------------------------------------------------ degenerate and streaming
def _degenerate_bars() -> dict[str, pd.DataFrame]:
    walk = random_walk_bars(400, seed=23)
    flat = walk.copy()
    flat.iloc[150:, :4] = 100.0  # flat prices, then zero volume
    flat.iloc[250:, 4] = 0.0
    geometric = bars_from_close(100.0 * 1.001 ** np.arange(300))  # constant (non-zero) returns
    return {"walk": walk, "flat": flat, "geometric": geometric}


@pytest.mark.parametrize("name", STATISTICAL)
def test_stream_equals_batch_and_degenerate_windows_are_finite(name):
    neutral = {"variance_ratio_4": 1.0, "ewma_vol_ratio": 1.0, "hurst_exponent": 0.5}
    for label, bars in _degenerate_bars().items():
        for n in (5, 24):
            expected = batch(name, bars, n)
            lookback = DEFINITIONS[name].lookback(_config(n), THIRTY_MINUTES)
            assert np.isnan(expected[: lookback - 1]).all(), (label, n)
            assert np.isfinite(expected[lookback - 1 :]).all(), (label, n)
            assert_allclose(stream(name, bars, n), expected, rtol=1e-9, atol=1e-9,
                            err_msg=f"{label}, n={n}")
        if label == "flat" and name in NEW and name not in ("volume_zscore", "max_drawdown"):
            # Flat for longer than every window: each feature reads its neutral value.
            assert expected[-1] == neutral.get(name, 0.0), name


def test_price_zscore_stream_stays_equal_over_a_long_real_history(sample_bars):
    # Prices ~1e3 with a spread ~1e-3 of them: a rolling std by Welford's update with removal
    # drifted 5e-9 from pandas by bar 23,720 of the sample.
    bars = sample_bars.iloc[:24_000]
    assert_allclose(stream("price_zscore", bars, 48), batch("price_zscore", bars, 48),
                    rtol=1e-12, atol=1e-12)
