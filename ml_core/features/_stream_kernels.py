"""Pure-float twins of the catalogue's ``rolling_apply`` kernels, for the stream.

A recipe's ``rolling_apply`` kernel is a numpy function of a ``(m, n)`` array of windows: fast on
the many rows of a batch, but on the single row the stream passes each bar it costs 10-70 us of
numpy call overhead (the volume profile and the Hurst exponent alone were a fifth of a bar's
update). :func:`twin` recognises the kernels below by their code object and returns a function
computing the same value from the window as a list of Python floats:

* the CCI's mean absolute deviation, the volume profile's point of control, Aroon's bars since
  the newest extreme and the maximum drawdown repeat numpy's arithmetic in numpy's order (its
  pairwise summation included, :func:`pairwise_sum`), so they are equal to the bit;
* the Hurst exponent and the expected shortfall differ from the kernel by a few ulps (numpy's
  ``einsum`` and ``partition`` order their sums differently; its ``log`` may differ in the last
  bit), far inside the stream's 1e-9 agreement with the batch. The Hurst twin runs the
  kernel's numpy steps on one 1-d window (marked ``window_as_array``: the stream passes it a
  view of a ring buffer rather than a list), cheaper than Python loops over 200 values.

A window holding an infinity (or a float32 overflow in the volume profile) is handed to the
kernel itself, so every corner keeps numpy's semantics. A kernel not listed here runs as it is.
The twins read their parameters (bins, window, tail size, constants) from the kernel's closure,
so they follow any change of those values; a change of a kernel's arithmetic needs its twin
changed too, which ``tests/ml_core/features/test_stream_kernels.py`` catches.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, insort
from collections.abc import Callable
from types import CodeType
from typing import Any

import numpy as np

Kernel = Callable[[np.ndarray], np.ndarray]
#: ``twin(window) -> value``, the window a list of floats, oldest first.
Twin = Callable[[list[float]], float]

_BLOCK = 128  # numpy's PW_BLOCKSIZE


def pairwise_sum(a: list[float], lo: int, n: int) -> float:
    """``a[lo:lo + n]`` summed as numpy's ``add.reduce`` sums a contiguous float64 row.

    numpy adds fewer than 8 values in order; up to 128 in 8 interleaved partial sums combined
    as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` plus the remainder in order; more
    by halving at a multiple of 8. Equal to the bit to ``np.sum(row)`` and ``row.mean() * n``.
    """
    if n < 8:
        total = 0.0
        for i in range(lo, lo + n):
            total += a[i]
        return total
    if n <= _BLOCK:
        r0, r1, r2, r3, r4, r5, r6, r7 = a[lo:lo + 8]
        end = lo + n - n % 8
        for i in range(lo + 8, end, 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(end, lo + n):
            total += a[i]
        return total
    half = n // 2
    half -= half % 8
    return pairwise_sum(a, lo, half) + pairwise_sum(a, lo + half, n - half)


def _free(kernel: Kernel, name: str) -> Any:
    """The value of the free variable ``name`` of the closure ``kernel``."""
    code = kernel.__code__
    return kernel.__closure__[code.co_freevars.index(name)].cell_contents  # type: ignore[index]


# ---------------------------------------------------------------------------------- twins
def _fallback(kernel: Kernel, window: Any) -> float:
    return float(kernel(np.array([window], dtype=np.float64))[0])


def _mad_twin(kernel: Kernel, n: int) -> Twin:
    """``mean(|w - mean(w)|)`` (``_indicators._mean_abs_deviation``), to the bit."""

    def mean_abs_deviation(window: list[float]) -> float:
        mean = pairwise_sum(window, 0, n) / n
        if not math.isfinite(mean):
            return _fallback(kernel, window)
        return pairwise_sum([abs(v - mean) for v in window], 0, n) / n

    return mean_abs_deviation


def _hurst_twin(kernel: Kernel, n: int) -> Twin | None:
    """Rescaled-range Hurst exponent (``_hurst.hurst_rs``'s ``estimate``), to a few ulps.

    The kernel's numpy steps on the one window as a 1-d array (``window_as_array``: the stream
    passes a view of its ring buffer), into buffers made once: mean, deviations, cumulative
    sum and range as the kernel computes them, the sum of squares as a dot product (the
    kernel's ``einsum`` orders it differently). Five numpy calls on 200 values take ~9 us, the
    same steps on Python floats ~30.
    """
    if _free(kernel, "window") != n:
        return None
    log_expected, log_window = _free(kernel, "log_expected"), _free(kernel, "log_window")
    constant = kernel.__globals__["_CONSTANT"]
    add, subtract, top, bottom = np.add.reduce, np.subtract, np.maximum.reduce, np.minimum.reduce
    cumsum = np.add.accumulate
    dev, path = np.empty(n), np.empty(n)

    def hurst(window: Any) -> float:
        window = np.asarray(window, dtype=np.float64)
        mean = float(add(window)) / n
        if not math.isfinite(mean):
            return _fallback(kernel, window)
        subtract(window, mean, out=dev)
        cumsum(dev, out=path)
        var = float(dev @ dev) / n
        if not var > constant * (var + mean * mean):
            return 0.5
        rs = (float(top(path)) - float(bottom(path))) / math.sqrt(var)
        return 0.5 + (math.log(rs) - log_expected) / log_window

    hurst.window_as_array = True  # type: ignore[attr-defined]
    return hurst


def _shortfall_twin(kernel: Kernel, n: int) -> Twin:
    """Minus the mean of the ``k`` lowest values (``_risk._expected_shortfall``), to a few ulps.

    The window's values are kept sorted from one call to the next: when the window is the
    previous one moved by one value (the stream's case, checked), the value that left is
    removed and the new one inserted by bisection (~2 us for 200 values) instead of sorting
    the window again (~8 us); any other window is sorted afresh. Either way the ``k`` lowest
    values, and so their sum, are the same.
    """
    k = _free(kernel, "k")
    previous: list[float] = []
    ordered: list[float] = []

    def expected_shortfall(window: list[float]) -> float:
        nonlocal previous, ordered
        if len(previous) == len(window) and previous[1:] == window[:-1]:
            del ordered[bisect_left(ordered, previous[0])]
            insort(ordered, window[-1])
        else:
            ordered = sorted(window)
        previous = window
        total = 0.0
        for v in ordered[:k]:
            total += v
        if not math.isfinite(total):
            return _fallback(kernel, window)
        return -(total / k)

    return expected_shortfall


def _poc_twin(kernel: Kernel, n: int) -> Twin:
    """Centre of the heaviest price bin of packed ``(price, volume)`` values
    (``_indicators._point_of_control``), to the bit: the same float32 halves, bin indices,
    float64 histogram added in window order and first maximum."""
    bins = _free(kernel, "bins")
    top = bins - 1
    unpack = struct.Struct(f"<{2 * n}f").unpack
    pack = struct.Struct(f"<{n}d").pack
    no_volume = (1.0,) * n  # time at price when nothing traded

    def point_of_control(window: list[float]) -> float:
        halves = unpack(pack(*window))
        if not math.isfinite(sum(halves)):
            return _fallback(kernel, window)
        volume, price = halves[0::2], halves[1::2]
        lo = min(price)
        width = max(price) - lo
        scale = bins / (width if width > 0 else 1.0)
        histogram = [0.0] * bins
        # int((p - lo) * scale) capped at the last bin (a comparison, not a call of min())
        for p, w in zip(price, volume if any(volume) else no_volume):
            index = int((p - lo) * scale)
            histogram[index if index < top else top] += w
        heaviest = max(range(bins), key=histogram.__getitem__)  # the first maximum, as argmax
        return lo + (heaviest + 0.5) * (width / bins)

    return point_of_control


def _bars_since_twin(kernel: Kernel, n: int, newest: Callable[[Any], float]) -> Twin:
    """Bars since the newest maximum (``newest=max``) or minimum of the window
    (``_indicators._bars_since_last_max`` / ``_min``: numpy's first extreme of the reversed
    window), to the bit."""

    def bars_since(window: list[float]) -> float:
        newest_first = window[::-1]
        return float(newest_first.index(newest(newest_first)))

    return bars_since


def _max_drawdown_twin(kernel: Kernel, n: int) -> Twin:
    """``1 - min(w / running max of w)`` (``_statistical._max_drawdown``), to the bit; a window
    with a price <= 0 takes the kernel (numpy's 0 / 0)."""

    def max_drawdown(window: list[float]) -> float:
        peak, lowest = window[0], 1.0  # lowest ratio to the running peak (1 at a new peak)
        if not peak > 0.0:
            return _fallback(kernel, window)
        for v in window:
            if v > peak:
                peak = v
            elif v / peak < lowest:
                lowest = v / peak
        # With a positive first value, a value <= 0 (or -inf) leaves a ratio <= 0 and an
        # infinite one an infinite peak: the checks of min() and max() without their passes.
        if not lowest > 0.0 or peak == math.inf:
            return _fallback(kernel, window)
        return 1.0 - lowest

    return max_drawdown


def _kernels() -> dict[CodeType, Callable[[Kernel, int], Twin | None]]:
    """The code objects of the kernels with twins, and the twin factory of each."""
    from ml_core.features import _hurst, _indicators, _risk, _statistical

    table: dict[CodeType, Callable[[Kernel, int], Twin | None]] = {
        _indicators._mean_abs_deviation.__code__: _mad_twin,
        _indicators._bars_since_last_max.__code__:
            lambda kernel, n: _bars_since_twin(kernel, n, max),
        _indicators._bars_since_last_min.__code__:
            lambda kernel, n: _bars_since_twin(kernel, n, min),
        _statistical._max_drawdown.__code__: _max_drawdown_twin,
        _hurst.hurst_rs(_hurst.MIN_WINDOW).__code__: _hurst_twin,
        _risk._expected_shortfall(1).__code__: _shortfall_twin,
    }
    # volume_profile_poc's kernel is the lambda it builds on each call: its one nested code.
    poc = [c for c in _indicators.volume_profile_poc.__code__.co_consts
           if isinstance(c, CodeType) and c.co_name == "<lambda>"]
    if len(poc) == 1 and poc[0].co_freevars == ("bins",):
        table[poc[0]] = _poc_twin
    return table


_TABLE: dict[CodeType, Callable[[Kernel, int], Twin | None]] | None = None


def twin(kernel: Kernel, n: int) -> Twin | None:
    """The pure-float twin of the ``rolling_apply`` kernel ``kernel`` on windows of ``n``
    values, or None when it has none (then the kernel runs on the window as an array)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _kernels()
    code = getattr(kernel, "__code__", None)
    make = _TABLE.get(code) if code is not None else None
    return None if make is None else make(kernel, n)
