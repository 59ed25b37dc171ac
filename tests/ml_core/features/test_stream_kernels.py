"""The stream's pure-float twins of rolling_apply kernels equal the kernels (_stream_kernels)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from ml_core.config import FeatureConfig
from ml_core.features import FeatureStream
from ml_core.features import _hurst, _indicators, _risk, _statistical
from ml_core.features._stream_kernels import pairwise_sum, twin
from ml_core.features._stream_ops import StreamOps

from ._bars import random_walk_bars

RNG = np.random.default_rng(7)


class _Capture(StreamOps):
    """Records the kernel a recipe passes to rolling_apply."""

    def rolling_apply(self, x, n, fn):
        self.kernel = fn
        return 0.0


def _poc_kernel(bins: int = 12):
    ops = _Capture(FeatureConfig(), timedelta(minutes=30))
    _indicators.volume_profile_poc(1.0, 1.0, 1.0, 1.0, 48, bins, ops=ops)
    return ops.kernel


def _prices(n: int) -> np.ndarray:
    return np.round(1e4 * np.exp(np.cumsum(RNG.normal(0.0, 1e-3, n))), 2)


def _both(kernel, window: np.ndarray) -> tuple[float, float]:
    made = twin(kernel, len(window))
    assert made is not None
    return float(kernel(window[None, :])[0]), made(window.tolist())


@pytest.mark.parametrize("n", [*range(1, 40), 96, 127, 128, 129, 200, 257, 600])
def test_pairwise_sum_is_numpys_to_the_bit(n):
    for _ in range(20):
        x = RNG.standard_normal(n) * 10.0 ** RNG.integers(-6, 6, n)
        assert pairwise_sum(x.tolist(), 0, n) == np.sum(x)
        assert pairwise_sum(x.tolist(), 0, n) / n == x[None, :].mean(axis=1)[0]


def test_mean_abs_deviation_to_the_bit():
    kernel = _indicators._mean_abs_deviation
    windows = [_prices(20) for _ in range(500)]
    windows += [np.full(20, 1234.57) + RNG.integers(0, 2, 20) * 0.01 for _ in range(500)]
    windows.append(np.full(20, 0.1 + 0.2))  # flat: numpy's mean is not exactly the value
    for window in windows:
        expected, got = _both(kernel, window)
        assert got == expected


def test_point_of_control_to_the_bit():
    kernel = _poc_kernel()
    cases = []
    for _ in range(500):
        volume = RNG.lognormal(0.0, 2.0, 48) * (RNG.random(48) < 0.8)
        cases.append((_prices(48), volume))
    cases.append((_prices(48), np.zeros(48)))  # no volume: time at price
    cases.append((np.full(48, 100.0), RNG.lognormal(0.0, 1.0, 48)))  # zero range
    cases.append((np.round(_prices(48), -2), np.ones(48)))  # ties between bins
    for price, volume in cases:
        expected, got = _both(kernel, _indicators._pack_price_volume(price, volume))
        assert got == expected
    assert twin(_poc_kernel(5), 48) is not None  # bins read from the kernel


def test_aroon_and_max_drawdown_to_the_bit():
    windows = [_prices(15) for _ in range(300)]
    windows += [np.round(_prices(15), -1) for _ in range(300)]  # ties: the newest extreme counts
    windows.append(np.full(15, 7.0))
    for kernel in (_indicators._bars_since_last_max, _indicators._bars_since_last_min):
        for window in windows:
            expected, got = _both(kernel, window)
            assert got == expected
    for window in [_prices(49) for _ in range(500)] + [np.full(49, 3.0), np.arange(49.0) + 1]:
        expected, got = _both(_statistical._max_drawdown, window)
        assert got == expected
    with np.errstate(invalid="ignore"):  # 0 / 0 in numpy: the kernel itself answers
        expected, got = _both(_statistical._max_drawdown, np.r_[0.0, _prices(48)])
    assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_hurst_and_expected_shortfall_within_a_few_ulps():
    for window_size in (8, 96, 200):
        kernel = _hurst.hurst_rs(window_size)
        for sparse in (1.0, 0.3):
            for _ in range(300):
                window = RNG.normal(0.0, 1e-3, window_size) * (RNG.random(window_size) < sparse)
                expected, got = _both(kernel, window)
                assert abs(got - expected) <= 1e-14 * max(1.0, abs(expected))
        expected, got = _both(kernel, np.zeros(window_size))  # flat prices: 0.5 exactly
        assert got == expected == 0.5
    kernel = _risk._expected_shortfall(5)
    for _ in range(500):
        expected, got = _both(kernel, RNG.normal(0.0, 1e-3, 96))
        assert abs(got - expected) <= 1e-15 * max(1.0, abs(expected))


def test_infinities_take_the_kernel_itself():
    window = _prices(96)
    window[40] = math.inf
    for kernel in (_indicators._mean_abs_deviation, _hurst.hurst_rs(96),
                   _risk._expected_shortfall(5)):
        with np.errstate(invalid="ignore"):
            expected, got = _both(kernel, window)
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_other_kernels_have_no_twin():
    assert twin(lambda windows: windows.sum(axis=1), 10) is None
    assert twin(np.mean, 10) is None
    assert twin(_hurst.hurst_rs(64), 96) is None  # window and n disagree: not the same kernel


def test_the_catalogue_kernels_get_their_twins():
    # If a recipe's kernel changes shape (no longer found), the stream silently gets slower:
    # this says which twin went missing.
    stream = FeatureStream(FeatureConfig(), timedelta(minutes=30))
    stream.update_frame(random_walk_bars(3))
    twins = sorted(s.twin.__name__ for s in stream._base._states
                   if type(s).__name__ == "_Apply" and s.twin is not None)
    assert twins == ["bars_since", "bars_since", "expected_shortfall", "hurst",
                     "max_drawdown", "mean_abs_deviation", "point_of_control"]


def test_expected_shortfall_sliding_equals_sorting_afresh():
    # The twin keeps its window sorted between calls; a window moved by one value updates it,
    # any other window is sorted again: both give the sorting twin's value to the bit.
    values = np.round(RNG.normal(0.0, 1e-3, 3000), 5) * (RNG.random(3000) < 0.7)
    values[1000:1200] = 1e-3  # ties
    kernel = _risk._expected_shortfall(5)
    sliding = twin(kernel, 96)
    windows = [values[i - 96:i].tolist() for i in range(96, len(values))]
    windows.insert(500, values[:96].tolist())  # a jump: sorted afresh
    for window in windows:
        assert sliding(window) == twin(kernel, 96)(window)
