"""Technical indicators as TA-Lib defines them, vectorised with numpy/pandas.

Every function takes float arrays of shape ``(n_bars,)`` and returns arrays of the same shape,
NaN where TA-Lib would not yet output a value (its ``lookback``), so ``out[t]`` depends on
inputs ``[: t + 1]`` only. TA-Lib's recursive averages (EMA, Wilder's smoothing) start from a
simple average of their first ``n`` inputs; that is reproduced by seeding an
``ewm(adjust=False)`` recursion with that average (TA-Lib's default, "unstable period" 0).

References
----------
TA-Lib 0.4 C sources (``ta_RSI.c``, ``ta_ATR.c``, ``ta_ADX.c``, ``ta_MACD.c``, ``ta_EMA.c``,
``ta_BBANDS.c``, ``ta_STOCHF.c``, ``ta_WILLR.c``, ``ta_CCI.c``); J. W. Wilder, *New Concepts in
Technical Trading Systems* (1978).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

# TA-Lib's TA_IS_ZERO threshold.
_TA_EPSILON = 1e-14


def seeded_recursion(x: np.ndarray, alpha: float, seed_index: int, seed_value: float) -> np.ndarray:
    """``y[s] = seed_value``, ``y[t] = (1 - alpha) * y[t-1] + alpha * x[t]`` for ``t > s``.

    NaN before ``s``; a NaN input after ``s`` leaves ``y`` unchanged (TA-Lib skips such
    updates, e.g. ADX when the range is zero).
    """
    n = len(x)
    out = np.full(n, np.nan)
    if seed_index >= n or not np.isfinite(seed_value):
        return out
    tail = np.array(x[seed_index:], dtype=np.float64, copy=True)
    tail[0] = seed_value
    out[seed_index:] = (
        pd.Series(tail).ewm(alpha=alpha, adjust=False, ignore_na=True).mean().to_numpy()
    )
    return out


def _first_valid(x: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(x))
    return int(finite[0]) if len(finite) else len(x)


def ema(x: np.ndarray, n: int, seed_end: int | None = None) -> np.ndarray:
    """TA-Lib EMA: ``alpha = 2 / (n + 1)``, seeded with the mean of the first ``n`` values.

    ``seed_end`` moves the seed later (the mean of the ``n`` values ending there), as TA-Lib's
    MACD does for its fast average. Leading NaNs are skipped.
    """
    start = _first_valid(x)
    end = start + n - 1 if seed_end is None else max(seed_end, start + n - 1)
    if end >= len(x):
        return np.full(len(x), np.nan)
    return seeded_recursion(x, 2.0 / (n + 1), end, float(np.mean(x[end - n + 1 : end + 1])))


def wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing (``alpha = 1 / n``) seeded with the mean of the first ``n`` values."""
    start = _first_valid(x)
    end = start + n - 1
    if end >= len(x):
        return np.full(len(x), np.nan)
    return seeded_recursion(x, 1.0 / n, end, float(np.mean(x[start : end + 1])))


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over ``n`` values (NaN until ``n`` are available)."""
    return pd.Series(x).rolling(n, min_periods=n).mean().to_numpy()


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values (NaN until ``n`` are available)."""
    return pd.Series(x).rolling(n, min_periods=n).sum().to_numpy()


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Highest of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).max().to_numpy()


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest of the last ``n`` values."""
    return pd.Series(x).rolling(n, min_periods=n).min().to_numpy()


def rolling_std(x: np.ndarray, n: int, ddof: int = 1) -> np.ndarray:
    """Standard deviation of the last ``n`` values (``ddof=0``: TA-Lib's population STDDEV)."""
    return pd.Series(x).rolling(n, min_periods=n).std(ddof=ddof).to_numpy()


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k >= 1`` bars (``out[t] = x[t - k]``, NaN for ``t < k``)."""
    if k < 1:
        raise ValueError(f"`k` must be at least 1 (only past values), got `k={k}`")
    out = np.full(len(x), np.nan)
    out[k:] = x[:-k]
    return out


def safe_ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """``num / den``, with ``fill`` where ``den`` is zero (NaN stays NaN)."""
    out = np.full(len(num), np.nan)
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    out[(den == 0) & ~np.isnan(num)] = fill
    return out


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """TA-Lib RSI in ``[0, 100]``; first value at index ``n``; 0 when price did not move."""
    change = np.diff(close, prepend=np.nan)
    gain = wilder(np.where(np.isnan(change), np.nan, np.maximum(change, 0.0)), n)
    loss = wilder(np.where(np.isnan(change), np.nan, np.maximum(-change, 0.0)), n)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * gain / total
    out[np.abs(total) < _TA_EPSILON] = 0.0
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib TRANGE: ``max(high - low, |high - prev close|, |low - prev close|)``; NaN at 0."""
    prev = lag(close, 1)
    return np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """TA-Lib ATR: Wilder's average of the true range; first value at index ``n``."""
    return wilder(true_range(high, low, close), n)


def natr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """TA-Lib NATR: ``100 * ATR / close``."""
    return 100.0 * atr(high, low, close, n) / close


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """TA-Lib ADX in ``[0, 100]``; first value at index ``2n - 1``.

    As in ``ta_ADX.c``: +DM/-DM/TR are Wilder-smoothed *sums* seeded with the sum of their
    first ``n - 1`` values; DX is computed from index ``n``; ADX is seeded with the mean of the
    first ``n`` DX values, then Wilder-smoothed. Bars where DX is undefined (zero range or no
    directional movement) leave ADX unchanged and count as 0 in the seed.
    """
    size = len(close)
    up = np.diff(high, prepend=np.nan)
    down = -np.diff(low, prepend=np.nan)
    minus_dm = np.where((down > 0) & (up < down), down, 0.0)
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    plus_dm[0] = minus_dm[0] = np.nan
    tr = true_range(high, low, close)
    if size < 2 * n:
        return np.full(size, np.nan)

    def smoothed_sum(x: np.ndarray) -> np.ndarray:
        # TA-Lib's running sum S[t] = S[t-1] - S[t-1]/n + x[t], S[n-1] = sum(x[1:n]); in mean
        # units (S/n) this is a Wilder recursion, and the DI ratios do not depend on the unit.
        out = seeded_recursion(x, 1.0 / n, n - 1, float(np.sum(x[1:n])) / n)
        out[:n] = np.nan
        return out

    s_tr, s_plus, s_minus = smoothed_sum(tr), smoothed_sum(plus_dm), smoothed_sum(minus_dm)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = np.where(np.abs(s_tr) < _TA_EPSILON, np.nan, 100.0 * s_plus / s_tr)
        minus_di = np.where(np.abs(s_tr) < _TA_EPSILON, np.nan, 100.0 * s_minus / s_tr)
        di_sum = plus_di + minus_di
        dx = np.where(np.abs(di_sum) < _TA_EPSILON, np.nan, 100.0 * np.abs(plus_di - minus_di)
                      / di_sum)
    dx[:n] = np.nan
    seed_index = 2 * n - 1
    return seeded_recursion(dx, 1.0 / n, seed_index, float(np.nansum(dx[n : seed_index + 1])) / n)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib MACD: ``(macd, signal, histogram)``, all first defined at ``slow + signal - 2``.

    The MACD line starts at index ``slow - 1``; as in ``ta_MACD.c`` the fast EMA is seeded there
    too (mean of the ``fast`` closes ending at ``slow - 1``), not at ``fast - 1``.
    """
    slow_ema = ema(close, slow)
    fast_ema = ema(close, fast, seed_end=_first_valid(close) + slow - 1)
    line = fast_ema - slow_ema
    sig = ema(line, signal)
    line = np.where(np.isnan(sig), np.nan, line)
    return line, sig, line - sig


def bbands(
    close: np.ndarray, n: int = 20, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib BBANDS with an SMA middle band: ``(lower, middle, upper)``, population std."""
    mid = sma(close, n)
    width = k * rolling_std(close, n, ddof=0)
    return mid - width, mid, mid + width


def stoch_k(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Fast %K (TA-Lib STOCHF ``fastk``) in ``[0, 100]``; 0 when the ``n``-bar range is zero."""
    hh, ll = rolling_max(high, n), rolling_min(low, n)
    return safe_ratio(100.0 * (close - ll), hh - ll, fill=0.0)


def williams_r(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """TA-Lib WILLR in ``[-100, 0]``; 0 when the ``n``-bar range is zero."""
    hh, ll = rolling_max(high, n), rolling_min(low, n)
    return safe_ratio(-100.0 * (hh - close), hh - ll, fill=0.0) + 0.0  # + 0.0: no -0.0


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 20) -> np.ndarray:
    """TA-Lib CCI: ``(tp - SMA(tp)) / (0.015 * mean |tp - SMA(tp)|)``, ``tp = (h + l + c) / 3``.

    The mean deviation is taken around the *current* SMA over the last ``n`` typical prices;
    0 when that deviation is zero. First value at index ``n - 1``.
    """
    tp = (high + low + close) / 3.0
    out = np.full(len(tp), np.nan)
    if len(tp) < n:
        return out
    windows = sliding_window_view(tp, n)
    mean = windows.mean(axis=1)
    mean_dev = np.abs(windows - mean[:, None]).mean(axis=1)
    dev = tp[n - 1 :] - mean
    out[n - 1 :] = safe_ratio(dev, 0.015 * mean_dev, fill=0.0)
    return out


def ichimoku_cloud(
    high: np.ndarray, low: np.ndarray, tenkan: int = 9, kijun: int = 26, senkou: int = 52
) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom of the Ichimoku cloud *as plotted under bar t*: ``(top, bottom)``.

    Senkou span A ``(tenkan + kijun) / 2`` and span B (the ``senkou``-bar midpoint) are plotted
    ``kijun`` bars ahead, so the cloud under bar ``t`` was computed at ``t - kijun``: causal.
    (The chikou span is plotted ``kijun`` bars *back* and would leak; it is not used.)
    """
    def midpoint(n: int) -> np.ndarray:
        return (rolling_max(high, n) + rolling_min(low, n)) / 2.0

    span_a = lag((midpoint(tenkan) + midpoint(kijun)) / 2.0, kijun)
    span_b = lag(midpoint(senkou), kijun)
    return np.maximum(span_a, span_b), np.minimum(span_a, span_b)
