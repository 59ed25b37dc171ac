"""Rescaled-range Hurst exponent with the Anis-Lloyd expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from ml_core.features._hurst import MIN_WINDOW, anis_lloyd_expected_rs, hurst_rs


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).normal(0.0, 0.01, n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_anis_lloyd_small_sizes_by_hand():
    # n = 2: R/S is always 1 (deviations +-d/2, path d/2, 0); Peters' factor (n - 1/2)/n = 3/4.
    assert anis_lloyd_expected_rs(2) == pytest.approx(0.75, rel=1e-14)
    # n = 3: Gamma(1) / (sqrt(pi) Gamma(3/2)) = 2/pi, times sqrt(2) + sqrt(1/2), times 5/6.
    expected = 5 / 6 * 2 / math.pi * (math.sqrt(2) + math.sqrt(0.5))
    assert anis_lloyd_expected_rs(3) == pytest.approx(expected, rel=1e-14)


def test_anis_lloyd_matches_monte_carlo_and_its_large_n_limit():
    n = 12
    x = np.random.default_rng(0).normal(size=(40_000, n))
    dev = x - x.mean(axis=1, keepdims=True)
    path = np.cumsum(dev, axis=1)
    rs = (path.max(axis=1) - path.min(axis=1)) / dev.std(axis=1)
    # The Anis-Lloyd formula is the exact mean for normal increments (before Peters' factor).
    assert rs.mean() == pytest.approx(anis_lloyd_expected_rs(n) * n / (n - 0.5), rel=0.01)
    # Gamma((n-1)/2) / (sqrt(pi) Gamma(n/2)) = (1 + 3/(4n) + O(n^-2)) / sqrt(n pi / 2), the
    # form Peters uses above n = 340.
    n = 5_000
    i = np.arange(1, n)
    limit = (n - 0.5) / n / math.sqrt(n * math.pi / 2) * np.sqrt((n - i) / i).sum()
    assert anis_lloyd_expected_rs(n) / limit - 1 == pytest.approx(3 / (4 * n), rel=1e-3)
    assert np.all(np.diff([anis_lloyd_expected_rs(k) for k in range(2, 400)]) > 0)


def test_alternating_window_by_hand():
    # +1, -1, ...: mean 0, path 1, 0, 1, 0, ... so R = 1 and S = 1.
    window = np.array([[1.0, -1.0] * 4, [-1.0, 1.0] * 4])
    expected = 0.5 - math.log(anis_lloyd_expected_rs(8)) / math.log(8)
    np.testing.assert_allclose(hurst_rs(8)(window), expected, rtol=1e-14)


def test_constant_windows_read_as_no_memory():
    windows = np.array([np.zeros(16), np.full(16, 0.001), np.full(16, -0.02)])
    np.testing.assert_array_equal(hurst_rs(16)(windows), 0.5)


@pytest.mark.parametrize("window", [64, 96, 200])
def test_random_walk_trend_and_mean_reversion_brackets(window):
    estimate = hurst_rs(window)
    walk = estimate(sliding_window_view(_ar1(0.0, 6_000, 1), window)[::7])
    trend = estimate(sliding_window_view(_ar1(0.8, 6_000, 2), window)[::7])
    reverting = estimate(sliding_window_view(_ar1(-0.5, 6_000, 3), window)[::7])
    assert 0.47 < walk.mean() < 0.53
    assert 0.03 < walk.std() < 0.07
    assert trend.mean() > 0.62
    assert reverting.mean() < 0.44
    # The estimate is scale-free.
    x = sliding_window_view(_ar1(0.0, 500, 4), window)
    np.testing.assert_allclose(estimate(1_000.0 * x), estimate(x), rtol=1e-12)


def test_rows_are_independent_of_the_batch():
    x = sliding_window_view(_ar1(0.3, 400, 5), 96)
    batch = hurst_rs(96)(x)
    for i in (0, 150, len(x) - 1):
        assert hurst_rs(96)(x[i : i + 1])[0] == batch[i]


def test_too_small_window_is_rejected():
    with pytest.raises(ValueError, match=f"`window` must be at least {MIN_WINDOW}, got `window=4`"):
        hurst_rs(4)
    with pytest.raises(ValueError, match="`n=1`"):
        anis_lloyd_expected_rs(1)
