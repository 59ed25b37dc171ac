"""Whole-array kernels behind :class:`~ml_core.features._ops.BatchOps`.

Each kernel is the batch twin of one streaming state in :mod:`ml_core.features._stream_ops`: the
two must agree to rounding on every input (``tests/ml_core/features/test_ops.py`` checks it), so
any change here needs the same change there. ``out[t]`` depends on ``x[: t + 1]`` only.

Conventions shared with the streaming twins:

* rolling windows hold the last ``n`` values and give NaN while fewer than ``n`` are seen or
  while any of them is NaN (pandas ``min_periods=n``);
* recursive averages start at the first non-NaN input, are seeded ``seed_after`` inputs later
  with the sum of the non-NaN values among the last ``n`` divided by ``n`` (TA-Lib seeds EMA,
  RSI and ATR with a simple average; ADX counts undefined DX as 0), and then ignore NaN inputs,
  carrying the last value (TA-Lib skips such updates).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

# Rows of sliding windows materialised at once by `rolling_apply` (bounds peak memory).
_CHUNK = 65_536


def _first_valid(x: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(x))
    return int(finite[0]) if len(finite) else len(x)


def smooth(x: np.ndarray, alpha: float, n: int, seed_after: int) -> np.ndarray:
    """Seeded exponential recursion ``y[t] = y[t-1] + alpha * (x[t] - y[t-1])``.

    Starts at the first non-NaN input ``s``; ``y[s + seed_after - 1]`` is the seed (see the
    module docstring); NaN before it.
    """
    size = len(x)
    out = np.full(size, np.nan)
    seed_index = _first_valid(x) + seed_after - 1
    if seed_index >= size:
        return out
    window = x[max(seed_index - n + 1, 0) : seed_index + 1]
    tail = np.array(x[seed_index:], dtype=np.float64, copy=True)
    tail[0] = np.nansum(window) / n
    out[seed_index:] = (
        pd.Series(tail).ewm(alpha=alpha, adjust=False, ignore_na=True).mean().to_numpy()
    )
    return out


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """``out[t] = x[t - k]``; NaN for ``t < k``."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).sum().to_numpy()


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).mean().to_numpy()


def rolling_std(x: np.ndarray, n: int, ddof: int) -> np.ndarray:
    """Standard deviation of the last ``n`` values (exactly 0 on a window of equal values)."""
    return pd.Series(x).rolling(n, min_periods=n).std(ddof=ddof).to_numpy()


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Highest of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).max().to_numpy()


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).min().to_numpy()


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
    windows = sliding_window_view(np.asarray(x, dtype=np.float64), n)
    complete = rolling_sum(np.isnan(x).astype(np.float64), n)[n - 1 :] == 0
    for start in range(0, len(windows), _CHUNK):
        chunk = windows[start : start + _CHUNK]
        ok = complete[start : start + _CHUNK]
        if ok.all():
            out[n - 1 + start : n - 1 + start + len(chunk)] = fn(chunk)
        elif ok.any():
            rows = np.flatnonzero(ok)
            out[n - 1 + start + rows] = fn(chunk[rows])
    return out
