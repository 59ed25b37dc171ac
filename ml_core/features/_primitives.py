"""Whole-array kernels behind :class:`~ml_core.features._ops.BatchOps`.

Each kernel is the batch twin of one streaming state in :mod:`ml_core.features._stream_ops`: the
two must agree to rounding on every input (``tests/ml_core/features/test_ops.py`` checks it), so
any change here needs the same change there. ``out[t]`` depends on ``x[: t + 1]`` only.

Conventions shared with the streaming twins:

* rolling windows hold the last ``n`` values and give NaN while fewer than ``n`` are seen or
  while any of them is NaN (pandas ``min_periods=n``);
* on a window of ``n`` equal values the sum is exactly ``value * n``, the mean exactly the
  value and the standard deviation exactly 0;
* recursive averages start at the first non-NaN input, are seeded ``seed_after`` inputs later
  with the sum of the non-NaN values among the last ``n`` divided by ``n`` (TA-Lib seeds EMA,
  RSI and ATR with a simple average; ADX counts undefined DX as 0), and then ignore NaN inputs,
  carrying the last value (TA-Lib skips such updates).

Algorithms (vectorised: no Python loop over bars):

* window sums, means and standard deviations by *doubling*: the statistics of the blocks of
  ``2s`` values ending at every bar are combined from two blocks of ``s``, and a window of ``n``
  from the power-of-two blocks of its binary decomposition: ``O(N log n)`` element-wise
  operations. Sums are pairwise (error ``~ log2(n)`` ulps of the sum of ``|x|``, exact on
  integers); standard deviations join blocks with Chan, Golub & LeVeque's update, whose terms
  are all non-negative (a window of equal values gives exactly 0). NaN propagates through the
  arithmetic, which is the "NaN in the window gives NaN" rule. A window's value depends on its
  ``n`` values only, not on earlier history (no running sum drifts);
* rolling max/min by the sparse-table trick: the max of the two overlapping blocks of the
  largest power of two ``<= n`` that cover the window;
* the recursion by :func:`scipy.signal.lfilter` (``y = alpha * x + (1 - alpha) * y_prev``),
  piecewise between NaN inputs, whose bars carry the last value.

The window kernels process the series in overlapping chunks of :data:`_CHUNK_BARS` outputs,
writing into preallocated buffers, so their ~10-100 passes stay in the CPU cache: over whole
columns, memory bandwidth and the page faults of fresh temporaries cost more than the
arithmetic. Chunking does not change any result (a window's value depends on its values only).

References
----------
T. F. Chan, G. H. Golub, R. J. LeVeque, "Algorithms for computing the sample variance: analysis
and recommendations", *The American Statistician* 37(3), 1983.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Outputs per chunk of the window kernels and of the recursion (16,384 float64 = 128 KiB).
_CHUNK_BARS = 16_384
# Rows of sliding windows materialised at once by `rolling_apply` (bounds peak memory).
_CHUNK = 65_536
# Up to this many runs of NaN inputs after its seed, `smooth` runs the recursion piecewise.
_MAX_GAP_RUNS = 64

# ``core(xs, n, res, work)``: fills ``res[t]`` for ``t >= n - 1`` from ``xs``.
_Core = Callable[[np.ndarray, int, np.ndarray, list[np.ndarray]], None]


def smooth(x: np.ndarray, alpha: float, n: int, seed_after: int) -> np.ndarray:
    """Seeded exponential recursion ``y[t] = y[t-1] + alpha * (x[t] - y[t-1])``.

    Starts at the first non-NaN input ``s``; ``y[s + seed_after - 1]`` is the seed (see the
    module docstring); NaN before it. Evaluated as ``alpha * x[t] + (1 - alpha) * y[t-1]`` by
    :func:`scipy.signal.lfilter` (the seed as ``math.fsum(...) / n``); the streaming twin rounds
    both the same way, so the two are equal to the bit.
    """
    size, n, seed_after = len(x), int(n), int(seed_after)
    out = np.empty(size)
    if size == 0:
        return out
    nan = np.isnan(x)
    start = int(np.argmin(nan))  # the first non-NaN (0 when all are NaN)
    seed_index = start + seed_after - 1
    if nan[start] or seed_index >= size:
        out[:] = np.nan
        return out
    out[:seed_index] = np.nan
    window = x[max(seed_index - n + 1, 0) : seed_index + 1]
    seed = math.fsum(window[~np.isnan(window)].tolist()) / n
    out[seed_index] = seed
    rest, gaps = x[seed_index + 1 :], nan[seed_index + 1 :]
    if not gaps.any():
        _recursion_into(rest, alpha, seed, out[seed_index + 1 :])
        return out
    # NaN inputs leave y unchanged (carried to their bars).
    _recursion_with_gaps(rest, gaps, alpha, seed, out[seed_index + 1 :])
    return out


def _recursion_with_gaps(
    x: np.ndarray, gaps: np.ndarray, alpha: float, y0: float, out: np.ndarray
) -> None:
    """:func:`_recursion_into` where NaN inputs (``gaps``) repeat the previous value."""
    where = np.flatnonzero(gaps)
    breaks = np.flatnonzero(np.diff(where) != 1)
    if len(breaks) < _MAX_GAP_RUNS:
        # Few runs of NaN: the recursion on each stretch between them, the last value across.
        begins = where[np.concatenate(([0], breaks + 1))].tolist()
        ends = (where[np.append(breaks, len(where) - 1)] + 1).tolist()
        y, lo = y0, 0
        for begin, end in zip(begins, ends, strict=True):
            if begin > lo:
                _recursion_into(x[lo:begin], alpha, y, out[lo:begin])
                y = float(out[begin - 1])
            out[begin:end] = y
            lo = end
        if lo < len(x):
            _recursion_into(x[lo:], alpha, y, out[lo:])
        return
    # Many: run it on the valid inputs, then give every bar the value after the last valid
    # input at or before it (y0 before the first).
    carried = np.empty(len(x) - int(gaps.sum()) + 1)
    carried[0] = y0
    _recursion_into(x[~gaps], alpha, y0, carried[1:])
    out[:] = carried[np.cumsum(~gaps)]


def _recursion_into(x: np.ndarray, alpha: float, y0: float, out: np.ndarray) -> None:
    """``out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]`` with ``out[-1] = y0``, chunked so
    each piece of the result is written while in cache."""
    from scipy.signal import lfilter  # here: importing scipy.signal takes ~1 s

    b, a = np.array([alpha]), np.array([1.0, alpha - 1.0])
    state = np.array([(1.0 - alpha) * y0])
    for lo in range(0, len(x), _CHUNK_BARS):
        hi = lo + _CHUNK_BARS
        out[lo:hi], state = lfilter(b, a, x[lo:hi], zi=state)


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """``out[t] = x[t - k]``; NaN for ``t < k``."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


# Window kernels work on arrays indexed by the bar ``t`` where a block of values *ends*: a level
# of block length ``s`` holds at ``[t]`` a statistic of ``x[t - s + 1 : t + 1]`` (valid for
# ``t >= s - 1``), so doubling a level, or adding a block to the window accumulated so far, is
# one element-wise operation on two shifted slices.


def _chunked(x: np.ndarray, n: int, core: _Core, n_work: int) -> np.ndarray:
    """``out[t]`` for ``t >= n - 1`` from ``core`` on chunks ``x[lo - n + 1 : hi]``; NaN before.

    ``core(xs, n, res, work)`` fills ``res[t]`` for ``t >= n - 1`` from ``xs`` (its other cells
    are scratch), using the ``n_work`` buffers of ``work`` (each at least ``len(xs)`` long).
    """
    size, n = len(x), int(n)
    out = np.empty(size)
    out[: n - 1] = np.nan
    if size < n:
        return out
    step = max(_CHUNK_BARS, 4 * n)
    width = min(step + n - 1, size)
    res = np.empty(width)
    work = [np.empty(width) for _ in range(n_work)]
    for lo in range(n - 1, size, step):
        hi = min(lo + step, size)
        xs = x[lo - n + 1 : hi]
        core(xs, n, res, work)
        out[lo:hi] = res[n - 1 : len(xs)]
    return out


def _sum_core(x: np.ndarray, n: int, out: np.ndarray, work: list[np.ndarray]) -> None:
    """Window sums, pairwise: each set bit ``s`` of ``n`` prepends the block of ``s`` values
    just before the ``c`` newest already summed."""
    size = len(x)
    level, s, c = x, 1, 0
    while True:
        if n & s:
            if c == 0:
                out[s - 1 : size] = level[s - 1 : size]
            else:
                np.add(out[c + s - 1 : size], level[s - 1 : size - c],
                       out=out[c + s - 1 : size])
            c += s
        if 2 * s > n:
            return
        dst = work[1] if level is work[0] else work[0]
        np.add(level[2 * s - 1 : size], level[s - 1 : size - s], out=dst[2 * s - 1 : size])
        level, s = dst, 2 * s


def _flat_windows(x: np.ndarray, n: int) -> np.ndarray | None:
    """Indices ``t`` whose window of ``n`` values holds one repeated value (None if none)."""
    if n == 1:
        return None
    same = np.flatnonzero(x[1:] == x[:-1])  # x[i + 1] == x[i]; NaN is never equal
    if len(same) < n - 1:
        return None
    # Runs of consecutive `same` positions a..b: x[a : b + 2] is one value repeated.
    breaks = np.flatnonzero(np.diff(same) != 1)
    first = same[np.concatenate(([0], breaks + 1))]
    last = same[np.append(breaks, len(same) - 1)]
    counts = last + 2 - first - n + 1  # windows ending at first + n - 1 .. last + 1
    keep = counts > 0
    if not keep.any():
        return None
    first, counts = first[keep], counts[keep]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(first + n - 1, counts) + offsets


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values (exactly ``value * n`` on a window of equal values).

    Pairwise by doubling: error ``~ log2(n)`` ulps of the sum of ``|x|``, exact on integers.
    """
    n = int(n)
    out = _chunked(x, n, _sum_core, 2)
    # Power-of-two blocks of equal values sum exactly, so with at most two of them the one
    # rounding of their sum gives value * n; with more, the partial sums may round apart.
    if n.bit_count() > 2 and len(x) >= n:
        flat = _flat_windows(x, n)
        if flat is not None:
            out[flat] = x[flat] * n
    return out


def _mean_core(x: np.ndarray, n: int, out: np.ndarray, work: list[np.ndarray]) -> None:
    """Window means: a block of ``s`` older values (summed pairwise, its mean ``sum / s`` exact)
    joins the mean ``m`` of the ``c`` newest as ``m + (block / s - m) * s / (c + s)``."""
    size = len(x)
    level, s, c = x, 1, 0
    while True:
        if n & s:
            if c == 0:
                np.multiply(level[s - 1 : size], 1.0 / s, out=out[s - 1 : size])
            else:
                lo = c + s - 1
                tmp = (work[1] if level is work[0] else work[0])[lo:size]
                np.multiply(level[s - 1 : size - c], 1.0 / s, out=tmp)
                tmp -= out[lo:size]
                tmp *= s / (c + s)
                out[lo:size] += tmp
            c += s
        if 2 * s > n:
            return
        dst = work[1] if level is work[0] else work[0]
        np.add(level[2 * s - 1 : size], level[s - 1 : size - s], out=dst[2 * s - 1 : size])
        level, s = dst, 2 * s


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last ``n`` values (exactly the value on a window of equal values)."""
    return _chunked(x, n, _mean_core, 2)


def _m2_core(x: np.ndarray, n: int, out: np.ndarray, work: list[np.ndarray]) -> None:
    """Window ``M2`` (sum of squared deviations) into ``out``; see :func:`rolling_std`.

    A level of block length ``s`` holds ``off[t]`` and ``m2[t]`` for the block ending at ``t``,
    whose mean is ``x[t - s + 1] + off[t]``; level 1 (``off = m2 = 0``) is implicit. The ``c``
    newest values of the window so far: ``acc_off`` and ``out``.
    """
    size = len(x)
    off_bufs, m2_bufs, delta_buf, acc_off = work[0:2], work[2:4], work[4], work[5]
    off, m2 = off_bufs[1], m2_bufs[1]  # level 1 is implicit: not read while s == 1
    s, c = 1, 0
    while True:
        if n & s:
            if c == 0 and s == 1:  # a single value: M2 = 0 (NaN where x is NaN)
                np.subtract(x, x, out=out[:size])
                np.subtract(x, x, out=acc_off[:size])
            elif c == 0:
                out[s - 1 : size] = m2[s - 1 : size]
                acc_off[s - 1 : size] = off[s - 1 : size]
            else:
                # The c values ending at t (ref x[t - c + 1]) and the older block of s ending
                # at t - c (ref x[t - c - s + 1]), for t >= c + s - 1.
                lo, m = c + s - 1, size - c - s + 1
                older_off, older_m2 = off[s - 1 : s - 1 + m], m2[s - 1 : s - 1 + m]
                delta = delta_buf[:m]
                tmp = (off_bufs[1] if off is off_bufs[0] else off_bufs[0])[:m]
                np.subtract(x[s : s + m], x[:m], out=delta)
                np.subtract(acc_off[lo:size], older_off, out=tmp)
                delta += tmp
                if c + s < n:  # more blocks to come: keep the window's offset
                    np.multiply(delta, c / (c + s), out=acc_off[lo:size])
                    acc_off[lo:size] += older_off
                out[lo:size] += older_m2
                np.multiply(delta, delta, out=delta)
                delta *= c * s / (c + s)
                out[lo:size] += delta
            c += s
        if 2 * s > n:
            return
        # Doubling: older block ends at t - s (ref x[t - 2s + 1]), newer at t (ref x[t - s + 1]).
        lo, m = 2 * s - 1, size - 2 * s + 1
        new_off = off_bufs[1] if off is off_bufs[0] else off_bufs[0]
        new_m2 = m2_bufs[1] if m2 is m2_bufs[0] else m2_bufs[0]
        delta = delta_buf[:m]
        np.subtract(x[s : s + m], x[:m], out=delta)
        if s == 1:
            np.multiply(delta, 0.5, out=new_off[lo:size])
            np.multiply(delta, delta, out=new_m2[lo:size])
            new_m2[lo:size] *= 0.5
        else:
            older_off = off[s - 1 : s - 1 + m]
            np.subtract(off[lo:size], older_off, out=new_off[lo:size])
            delta += new_off[lo:size]
            np.multiply(delta, 0.5, out=new_off[lo:size])
            new_off[lo:size] += older_off
            np.add(m2[lo:size], m2[s - 1 : s - 1 + m], out=new_m2[lo:size])
            np.multiply(delta, delta, out=delta)
            delta *= s / 2.0
            new_m2[lo:size] += delta
        off, m2, s = new_off, new_m2, 2 * s


def rolling_std(x: np.ndarray, n: int, ddof: int) -> np.ndarray:
    """Standard deviation of the last ``n`` values (exactly 0 on a window of equal values).

    Pairwise (Chan et al.): a block of values carries ``M2``, its sum of squared deviations,
    and its mean as ``ref + off``, ``ref`` being its oldest value; joining an older block of
    ``a`` values and a newer one of ``b`` adds ``delta**2 * a * b / (a + b)`` to their ``M2``,
    with ``delta = (ref_new - ref_old) + (off_new - off_old)``. Differences of nearby data
    values are exact (Sterbenz), so ``delta`` is accurate to the window's scale, not the
    price's: the result is correct to a few ulps even for a quiet window at a high price.
    """
    def core(xs: np.ndarray, n: int, res: np.ndarray, work: list[np.ndarray]) -> None:
        _m2_core(xs, n, res, work)
        tail = res[n - 1 : len(xs)]
        tail /= n - ddof
        np.sqrt(tail, out=tail)

    return _chunked(x, n, core, 6)


def _extreme_core(pick: np.ufunc) -> _Core:
    def core(x: np.ndarray, n: int, out: np.ndarray, work: list[np.ndarray]) -> None:
        size = len(x)
        level, s = x, 1
        while 2 * s <= n:
            dst = work[1] if level is work[0] else work[0]
            pick(level[2 * s - 1 : size], level[s - 1 : size - s], out=dst[2 * s - 1 : size])
            level, s = dst, 2 * s
        # Window ending at t: the block of s ending at t and the one ending at t - n + s.
        pick(level[n - 1 : size], level[s - 1 : size - n + s], out=out[n - 1 : size])
    return core


_max_core = _extreme_core(np.maximum)
_min_core = _extreme_core(np.minimum)


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Highest of the last ``n`` values (sparse table: the max of the two overlapping blocks
    of the largest power of two ``<= n`` that cover the window)."""
    return _chunked(x, n, _max_core, 2)


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest of the last ``n`` values (see :func:`rolling_max`)."""
    return _chunked(x, n, _min_core, 2)


def rolling_apply(
    x: np.ndarray, n: int, fn: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``fn`` on every window of the last ``n`` values.

    ``fn`` maps windows of shape ``(m, n)`` (oldest value first) to ``(m,)``; it is applied in
    chunks so memory stays bounded. Windows holding a NaN give NaN without calling ``fn`` on them.
    """
    size = len(x)
    out = np.full(size, np.nan)
    if size < n:
        return out
    x = np.asarray(x, dtype=np.float64)
    windows = sliding_window_view(x, n)
    complete = ~np.isnan(rolling_max(np.where(np.isnan(x), np.nan, 0.0), n)[n - 1 :])
    for start in range(0, len(windows), _CHUNK):
        chunk = windows[start : start + _CHUNK]
        ok = complete[start : start + _CHUNK]
        if ok.all():
            out[n - 1 + start : n - 1 + start + len(chunk)] = fn(chunk)
        elif ok.any():
            rows = np.flatnonzero(ok)
            out[n - 1 + start + rows] = fn(chunk[rows])
    return out
