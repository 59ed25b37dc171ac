"""Batch kernels (``_primitives``) against their streaming twins (``_stream_ops``), and exact
values: warm-up, NaN in a window, seeding, flat windows, chunk boundaries, long histories.

Twins must agree within 1e-12 relative on realistic data (prices ~1e4 with small moves, volumes
0..1e9 with zero runs), NaN in exactly the same places; the recursion, max, min and lag exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import _primitives as kernel
from ml_core.features import _stream_ops
from ml_core.features._ops import BatchOps, Ops
from ml_core.features._stream_ops import StreamOps

RTOL = 1e-12

Recipe = Callable[[Ops, object], object]


# ---------------------------------------------------------------- data
def _prices(n: int, seed: int, move: float = 1e-3, level: float = 1e4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, move, n)))


def _volumes(n: int, seed: int) -> np.ndarray:
    """Lognormal volumes spanning ~1e-2 .. 1e9, with runs of exact zeros."""
    rng = np.random.default_rng(seed)
    v = np.minimum(rng.lognormal(8.0, 4.0, n), 1e9)
    for start in rng.integers(0, n, n // 200 + 1):
        v[start : start + rng.integers(1, 60)] = 0.0
    return v


def _with_gaps(x: np.ndarray, seed: int) -> np.ndarray:
    """Single NaNs and runs of NaN (one at the very start)."""
    rng = np.random.default_rng(seed)
    x = x.copy()
    x[rng.random(len(x)) < 0.003] = np.nan
    for start in rng.integers(0, len(x), len(x) // 500 + 1):
        x[start : start + rng.integers(2, 40)] = np.nan
    x[:3] = np.nan
    return x


def _with_flat_runs(x: np.ndarray, seed: int) -> np.ndarray:
    """Runs of one repeated value, some longer than every window used here."""
    rng = np.random.default_rng(seed)
    x = x.copy()
    for start in rng.integers(0, len(x), len(x) // 300 + 1):
        x[start : start + rng.integers(2, 200)] = x[start]
    return x


SERIES = {
    "prices": _prices(6_000, 1),
    "quiet prices": _prices(6_000, 2, move=1e-6),
    "prices, gaps": _with_gaps(_prices(6_000, 3), 3),
    "prices, flat runs": _with_flat_runs(_prices(6_000, 4), 4),
    "volumes, zeros": _volumes(6_000, 5),
    "volumes, gaps": _with_gaps(_volumes(6_000, 6), 6),
}
WINDOWS = [1, 2, 7, 14, 20, 60, 97, 600]


def _twin(recipe: Recipe, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``recipe`` on the whole array (batch) and bar by bar (stream)."""
    batch = np.asarray(recipe(BatchOps(), x), dtype=np.float64)
    ops = StreamOps(FeatureConfig(), timedelta(minutes=1))
    stream = np.empty(len(x))
    for i, v in enumerate(x.tolist()):
        ops.step(1.0, 1.0, 1.0, 1.0, 1.0)
        stream[i] = recipe(ops, v)
    return batch, stream


def _assert_twins(batch: np.ndarray, stream: np.ndarray, rtol: float = RTOL,
                  atol: float = 0.0) -> None:
    assert_array_equal(np.isnan(batch), np.isnan(stream), err_msg="NaN in different places")
    ok = ~np.isnan(batch)
    err = np.abs(batch[ok] - stream[ok])
    bound = rtol * np.abs(stream[ok]) + atol
    worst = int(np.argmax(err - bound)) if ok.any() else 0
    assert (err <= bound).all(), (
        f"|batch - stream| = {err[worst]:.3e} > {bound[worst]:.3e} at value {stream[ok][worst]!r}"
    )


# ---------------------------------------------------------------- twins
RECIPES: dict[str, Callable[[int], Recipe]] = {
    "rolling_sum": lambda n: lambda o, x: o.rolling_sum(x, n),
    "sma": lambda n: lambda o, x: o.sma(x, n),
    "rolling_std ddof=0": lambda n: lambda o, x: o.rolling_std(x, n, 0),
    "rolling_std ddof=1": lambda n: lambda o, x: o.rolling_std(x, max(n, 2), 1),
}
# Equal to the bit: the same arithmetic in the same order (lfilter's rounding; sparse table).
EXACT_RECIPES: dict[str, Callable[[int], Recipe]] = {
    "ema": lambda n: lambda o, x: o.ema(x, n),
    "wilder seeded late": lambda n: lambda o, x: o.wilder(x, n, seed_after=n + 5),
    "wilder seeded early": lambda n: lambda o, x: o.smooth(x, 1.0 / n, n, max(n - 1, 1)),
    "rolling_max": lambda n: lambda o, x: o.rolling_max(x, n),
    "rolling_min": lambda n: lambda o, x: o.rolling_min(x, n),
    "lag": lambda n: lambda o, x: o.lag(x, n),
}


@pytest.mark.parametrize("name", list(RECIPES))
@pytest.mark.parametrize("series", list(SERIES))
def test_batch_equals_stream(name, series):
    x = SERIES[series]
    for n in WINDOWS:
        batch, stream = _twin(RECIPES[name](n), x)
        _assert_twins(batch, stream)


@pytest.mark.parametrize("name", list(EXACT_RECIPES))
@pytest.mark.parametrize("series", list(SERIES))
def test_batch_equals_stream_exactly(name, series):
    x = SERIES[series]
    for n in WINDOWS:
        batch, stream = _twin(EXACT_RECIPES[name](n), x)
        assert_array_equal(batch, stream, err_msg=f"n={n}")


def test_signed_data_twins_within_rounding_of_the_magnitudes():
    # Log returns: sums and means near 0 are compared on the scale of the values summed.
    r = _with_gaps(np.diff(np.log(_prices(6_001, 7))), 7)
    scale = float(np.nanmean(np.abs(r)))
    for n in (2, 20, 60, 97):
        for recipe in (RECIPES["rolling_sum"](n), RECIPES["sma"](n)):
            batch, stream = _twin(recipe, r)
            _assert_twins(batch, stream, atol=1e-13 * n * scale)
        _assert_twins(*_twin(RECIPES["rolling_std ddof=1"](n), r))
        assert_array_equal(*_twin(EXACT_RECIPES["ema"](n), r))


def test_rolling_apply_twin():
    x = SERIES["prices, gaps"]

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.abs(windows - windows.mean(axis=1, keepdims=True)).mean(axis=1)

    for n in (1, 5, 20):
        _assert_twins(*_twin(lambda o, v: o.rolling_apply(v, n, fn), x))


@pytest.mark.parametrize("n", [20, 60, 600])
def test_long_quiet_history_has_no_drift(n):
    # 150,000 bars at 1e4 with 1e-5 moves: Welford's update with removal (pandas) drifts to
    # ~1e-6 relative here; both twins must stay within 1e-12 of a correctly rounded reference.
    x = _prices(150_000, 8, move=1e-5)
    x[70_000:70_050] = np.nan
    batch = kernel.rolling_std(x, n, 1)
    state = _stream_ops._Std(n, 1)
    stream = np.array([state.update(v) for v in x.tolist()])
    ref = np.full(len(x), np.nan)
    for t in [*range(n - 1, len(x), 997), len(x) - 1]:
        ref[t] = _exact_std(x[t - n + 1 : t + 1], 1)
    checked = ~np.isnan(ref)
    assert checked.sum() > 140
    _assert_twins(batch[checked], ref[checked])
    _assert_twins(stream[checked], ref[checked])
    # Sums and means of large volumes with zero runs, over the same long history.
    v = _volumes(150_000, 9)
    state_sum, state_mean = _stream_ops._RollingSum(n), _stream_ops._Mean(n)
    _assert_twins(kernel.rolling_sum(v, n), np.array([state_sum.update(a) for a in v.tolist()]))
    _assert_twins(kernel.rolling_mean(v, n), np.array([state_mean.update(a) for a in v.tolist()]))


def _exact_std(window: np.ndarray, ddof: int) -> float:
    if np.isnan(window).any():
        return math.nan
    mean = math.fsum(window.tolist()) / len(window)
    return math.sqrt(math.fsum(((window - mean) ** 2).tolist()) / (len(window) - ddof))


# ---------------------------------------------------------------- exact values
def test_warmup_and_nan_in_window():
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0])
    nan = np.nan
    assert_array_equal(kernel.rolling_sum(x, 3), [nan, nan, 6.0, nan, nan, nan, 18.0, 21.0])
    assert_array_equal(kernel.rolling_mean(x, 3), [nan, nan, 2.0, nan, nan, nan, 6.0, 7.0])
    assert_array_equal(kernel.rolling_max(x, 3), [nan, nan, 3.0, nan, nan, nan, 7.0, 8.0])
    assert_array_equal(kernel.rolling_min(x, 2), [nan, 1.0, 2.0, nan, nan, 5.0, 6.0, 7.0])
    assert_array_equal(kernel.rolling_std(x, 2, 0), [nan, 0.5, 0.5, nan, nan, 0.5, 0.5, 0.5])
    assert_array_equal(kernel.rolling_std(x, 1, 0), [0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, 0.0])
    assert_array_equal(kernel.lag(x, 2), [nan, nan, 1.0, 2.0, 3.0, nan, 5.0, 6.0])
    # Shorter than the window: all NaN, in every kernel.
    for out in (kernel.rolling_sum(x[:2], 3), kernel.rolling_mean(x[:2], 3),
                kernel.rolling_std(x[:2], 3, 1), kernel.rolling_max(x[:2], 3),
                kernel.lag(x[:2], 3), kernel.smooth(x[:2], 0.5, 3, 3)):
        assert out.shape == (2,) and np.isnan(out).all()


def test_std_hand_computed():
    # Population std of 2, 4, 4, 4, 5, 5, 7, 9 is 2; the sample std of 1, 2, 3, 4 is sqrt(5/3).
    x = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert kernel.rolling_std(x, 8, 0)[-1] == 2.0
    assert kernel.rolling_std(np.arange(1.0, 5.0), 4, 1)[-1] == pytest.approx(
        math.sqrt(5 / 3), rel=1e-15)


@pytest.mark.parametrize("n", [2, 5, 7, 11, 20, 23, 1_440])
@pytest.mark.parametrize("value", [0.1, 1e4 / 3, 12_345.678_9, 0.0, 7.3e8])
def test_flat_windows_are_exact_in_both_modes(n, value):
    x = np.concatenate([_prices(50, 10), np.full(n + 30, value)])
    ends = np.arange(50 + n - 1, len(x))  # windows holding only `value`
    for name, expected in (("rolling_sum", value * n), ("sma", value),
                           ("rolling_std ddof=1", 0.0)):
        batch, stream = _twin(RECIPES[name](n), x)
        assert_array_equal(batch[ends], expected, err_msg=f"batch {name}")
        assert_array_equal(stream[ends], expected, err_msg=f"stream {name}")


def test_integer_sums_are_exact():
    rng = np.random.default_rng(11)
    x = (rng.random(5_000) < 0.3).astype(np.float64)
    expected = np.convolve(x, np.ones(23))[22:5_000]  # exact: small integers
    assert_array_equal(kernel.rolling_sum(x, 23)[22:], expected)


def test_smooth_seeds_skips_nan_and_carries():
    nan = np.nan
    # First valid input at 1; seed after 3 inputs = mean of 2, 4, 6 at index 3; alpha 0.5.
    x = np.array([nan, 2.0, 4.0, 6.0, 8.0, nan, nan, 2.0, 4.0])
    out = kernel.smooth(x, 0.5, 3, 3)
    assert_array_equal(out, [nan, nan, nan, 4.0, 6.0, 6.0, 6.0, 4.0, 4.0])
    # Seeded late (after 4 inputs) with the mean of the last 3 *non-NaN over n*: (4 + 6 + 8) / 3.
    assert_array_equal(kernel.smooth(x, 0.5, 3, 4)[4:], [6.0, 6.0, 6.0, 4.0, 4.0])
    # A NaN inside the seed window counts as missing, the sum still divided by n.
    y = np.array([3.0, nan, 3.0, 9.0])
    assert_array_equal(kernel.smooth(y, 0.5, 3, 3), [nan, nan, 2.0, 5.5])
    # All NaN, or too short for the seed: all NaN.
    assert np.isnan(kernel.smooth(np.full(5, nan), 0.5, 2, 2)).all()
    assert np.isnan(kernel.smooth(np.array([nan, 1.0, 2.0]), 0.5, 3, 3)).all()


def test_smooth_gap_strategies_agree(monkeypatch):
    x = SERIES["prices, gaps"]
    piecewise = kernel.smooth(x, 2 / 15, 14, 14)
    monkeypatch.setattr(kernel, "_MAX_GAP_RUNS", 0)
    gathered = kernel.smooth(x, 2 / 15, 14, 14)
    assert_array_equal(piecewise, gathered)


def test_chunking_does_not_change_results(monkeypatch):
    x = SERIES["prices, gaps"]
    kernels = {
        "sum": lambda n: kernel.rolling_sum(x, n), "mean": lambda n: kernel.rolling_mean(x, n),
        "std": lambda n: kernel.rolling_std(x, n, 1), "max": lambda n: kernel.rolling_max(x, n),
        "min": lambda n: kernel.rolling_min(x, n),
        "smooth": lambda n: kernel.smooth(x, 1.0 / n, n, n),
    }
    whole = {(name, n): f(n) for name, f in kernels.items() for n in (3, 20, 97)}
    monkeypatch.setattr(kernel, "_CHUNK_BARS", 7)  # chunks of max(7, 4n) outputs
    for (name, n), expected in whole.items():
        assert_array_equal(kernels[name](n), expected, err_msg=f"{name}({n})")


def test_windows_depend_on_their_values_only():
    # No running state: the window ending at t is the same after any history.
    x = SERIES["volumes, zeros"]
    for f in (lambda a: kernel.rolling_sum(a, 60), lambda a: kernel.rolling_std(a, 60, 1),
              lambda a: kernel.rolling_mean(a, 97)):
        assert_array_equal(f(x)[-500:], f(x[-600:])[-500:])
