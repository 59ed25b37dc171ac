"""Technical indicators as TA-Lib defines them, written once for batch and streaming use.

Every function takes the inputs (arrays, or the newest bar's floats when streaming) and an
``ops`` (:class:`~ml_core.features._ops.Ops`, default: plain arrays) and returns the indicator,
NaN where TA-Lib would not yet output a value (its ``lookback``), so ``out[t]`` depends on inputs
``[: t + 1]`` only. TA-Lib's recursive averages (EMA, Wilder's smoothing) start from a simple
average of their first ``n`` inputs (TA-Lib's default, "unstable period" 0), reproduced by
:meth:`Ops.smooth`. ``benchmarks/indicators.py`` measures the agreement with TA-Lib.

References
----------
TA-Lib 0.4 C sources (``ta_RSI.c``, ``ta_ATR.c``, ``ta_ADX.c``, ``ta_MACD.c``, ``ta_EMA.c``,
``ta_BBANDS.c``, ``ta_STOCHF.c``, ``ta_WILLR.c``, ``ta_CCI.c``); J. W. Wilder, *New Concepts in
Technical Trading Systems* (1978).
"""

from __future__ import annotations

import numpy as np

from ml_core.features._ops import BATCH, NAN, Ops, Value

# TA-Lib's TA_IS_ZERO threshold.
_TA_EPSILON = 1e-14


def ema(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """TA-Lib EMA: ``alpha = 2 / (n + 1)``, seeded with the mean of the first ``n`` values."""
    return ops.ema(x, n)


def wilder(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Wilder's smoothing (``alpha = 1 / n``) seeded with the mean of the first ``n`` values."""
    return ops.wilder(x, n)


def sma(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Simple moving average over ``n`` values (NaN until ``n`` are available)."""
    return ops.sma(x, n)


def rolling_sum(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Sum of the last ``n`` values."""
    return ops.rolling_sum(x, n)


def rolling_max(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Highest of the last ``n`` values."""
    return ops.rolling_max(x, n)


def rolling_min(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Lowest of the last ``n`` values."""
    return ops.rolling_min(x, n)


def rolling_std(x: Value, n: int, ddof: int = 1, *, ops: Ops = BATCH) -> Value:
    """Standard deviation of the last ``n`` values (``ddof=0``: TA-Lib's population STDDEV)."""
    return ops.rolling_std(x, n, ddof)


def lag(x: Value, k: int, *, ops: Ops = BATCH) -> Value:
    """``x`` delayed by ``k >= 1`` bars (``out[t] = x[t - k]``, NaN for ``t < k``)."""
    return ops.lag(x, k)


def safe_ratio(num: Value, den: Value, fill: float, *, ops: Ops = BATCH) -> Value:
    """``num / den``, with ``fill`` where ``den`` is zero (NaN stays NaN)."""
    return ops.safe_ratio(num, den, fill)


def rsi(close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib RSI in ``[0, 100]``; first value at index ``n``; 0 when price did not move."""
    change = ops.diff(close)
    gain = ops.wilder(ops.maximum(change, 0.0), n)
    loss = ops.wilder(ops.maximum(-change, 0.0), n)
    total = gain + loss
    return ops.where(ops.abs(total) < _TA_EPSILON, ops.where(ops.isnan(total), NAN, 0.0),
                     ops.div(100.0 * gain, total))


def true_range(high: Value, low: Value, close: Value, *, ops: Ops = BATCH) -> Value:
    """TA-Lib TRANGE: ``max(high - low, |high - prev close|, |low - prev close|)``; NaN at 0."""
    prev = ops.lag(close, 1)
    return ops.maximum(high - low, ops.maximum(ops.abs(high - prev), ops.abs(low - prev)))


def atr(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib ATR: Wilder's average of the true range; first value at index ``n``."""
    return ops.wilder(true_range(high, low, close, ops=ops), n)


def natr(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib NATR: ``100 * ATR / close``."""
    return ops.div(100.0 * atr(high, low, close, n, ops=ops), close)


def directional_movement(
    high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH
) -> tuple[Value, Value]:
    """TA-Lib PLUS_DI and MINUS_DI (``(+DI, -DI)``, in ``[0, 100]``); first values at ``n``.

    As in ``ta_ADX.c``: +DM/-DM/TR are Wilder-smoothed *sums* seeded with the sum of their
    first ``n - 1`` values (from index 1); in mean units (sum / n) that is a Wilder recursion
    seeded after ``n - 1`` values, and the DI ratios do not depend on the unit.
    """
    up = ops.diff(high)
    down = -ops.diff(low)
    minus_dm = ops.where((down > 0) & (up < down), down, ops.where(ops.isnan(down), NAN, 0.0))
    plus_dm = ops.where((up > 0) & (up > down), up, ops.where(ops.isnan(up), NAN, 0.0))
    tr = true_range(high, low, close, ops=ops)
    early = ops.isnan(ops.lag(close, n))  # TA-Lib's first DI is at index n
    s_tr = ops.smooth(tr, 1.0 / n, n, n - 1)
    s_plus = ops.smooth(plus_dm, 1.0 / n, n, n - 1)
    s_minus = ops.smooth(minus_dm, 1.0 / n, n, n - 1)
    undefined = early | (ops.abs(s_tr) < _TA_EPSILON)
    plus_di = ops.where(undefined, NAN, ops.div(100.0 * s_plus, s_tr))
    minus_di = ops.where(undefined, NAN, ops.div(100.0 * s_minus, s_tr))
    return plus_di, minus_di


def adx(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib ADX in ``[0, 100]``; first value at index ``2n - 1``.

    DX is computed from index ``n``; ADX is seeded with the mean of the first ``n`` DX values,
    then Wilder-smoothed. Bars where DX is undefined (zero range or no directional movement)
    leave ADX unchanged, and count as 0 in the seed.
    """
    plus_di, minus_di = directional_movement(high, low, close, n, ops=ops)
    di_sum = plus_di + minus_di
    dx = ops.where(ops.abs(di_sum) < _TA_EPSILON, NAN,
                   ops.div(100.0 * ops.abs(plus_di - minus_di), di_sum))
    # Inside the seed window (indices n .. 2n - 1) an undefined DX counts as 0; after it, NaN
    # leaves the average unchanged.
    in_seed = ops.notnan(ops.lag(close, n)) & ops.isnan(ops.lag(close, 2 * n))
    return ops.wilder(ops.where(in_seed & ops.isnan(dx), 0.0, dx), n)


def macd(
    close: Value, fast: int = 12, slow: int = 26, signal: int = 9, *, ops: Ops = BATCH
) -> tuple[Value, Value, Value]:
    """TA-Lib MACD: ``(macd, signal, histogram)``, all first defined at ``slow + signal - 2``.

    The MACD line starts at index ``slow - 1``; as in ``ta_MACD.c`` the fast EMA is seeded there
    too (mean of the ``fast`` closes ending at ``slow - 1``), not at ``fast - 1``.
    """
    slow_ema = ops.ema(close, slow)
    fast_ema = ops.ema(close, fast, seed_after=slow)
    line = fast_ema - slow_ema
    sig = ops.ema(line, signal)
    line = ops.where(ops.isnan(sig), NAN, line)
    return line, sig, line - sig


def bbands(
    close: Value, n: int = 20, k: float = 2.0, *, ops: Ops = BATCH
) -> tuple[Value, Value, Value]:
    """TA-Lib BBANDS with an SMA middle band: ``(lower, middle, upper)``, population std."""
    mid = ops.sma(close, n)
    width = k * ops.rolling_std(close, n, 0)
    return mid - width, mid, mid + width


def stoch_k(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """Fast %K (TA-Lib STOCHF ``fastk``) in ``[0, 100]``; 0 when the ``n``-bar range is zero."""
    hh, ll = ops.rolling_max(high, n), ops.rolling_min(low, n)
    return ops.safe_ratio(100.0 * (close - ll), hh - ll, 0.0)


def williams_r(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib WILLR in ``[-100, 0]``; 0 when the ``n``-bar range is zero."""
    hh, ll = ops.rolling_max(high, n), ops.rolling_min(low, n)
    return ops.safe_ratio(-100.0 * (hh - close), hh - ll, 0.0) + 0.0  # + 0.0: no -0.0


def _mean_abs_deviation(windows: np.ndarray) -> np.ndarray:
    return np.abs(windows - windows.mean(axis=1, keepdims=True)).mean(axis=1)


def cci(high: Value, low: Value, close: Value, n: int = 20, *, ops: Ops = BATCH) -> Value:
    """TA-Lib CCI: ``(tp - SMA(tp)) / (0.015 * mean |tp - SMA(tp)|)``, ``tp = (h + l + c) / 3``.

    The mean deviation is taken around the *current* SMA over the last ``n`` typical prices;
    0 when that deviation is zero. First value at index ``n - 1``.
    """
    tp = (high + low + close) / 3.0
    mean_dev = ops.rolling_apply(tp, n, _mean_abs_deviation)
    return ops.safe_ratio(tp - ops.sma(tp, n), 0.015 * mean_dev, 0.0)


def ichimoku_cloud(
    high: Value, low: Value, tenkan: int = 9, kijun: int = 26, senkou: int = 52,
    *, ops: Ops = BATCH,
) -> tuple[Value, Value]:
    """Top and bottom of the Ichimoku cloud *as plotted under bar t*: ``(top, bottom)``.

    Senkou span A ``(tenkan + kijun) / 2`` and span B (the ``senkou``-bar midpoint) are plotted
    ``kijun`` bars ahead, so the cloud under bar ``t`` was computed at ``t - kijun``: causal.
    (The chikou span is plotted ``kijun`` bars *back* and would leak; it is not used.)
    """
    def midpoint(n: int) -> Value:
        return (ops.rolling_max(high, n) + ops.rolling_min(low, n)) / 2.0

    span_a = ops.lag((midpoint(tenkan) + midpoint(kijun)) / 2.0, kijun)
    span_b = ops.lag(midpoint(senkou), kijun)
    return ops.maximum(span_a, span_b), ops.minimum(span_a, span_b)
