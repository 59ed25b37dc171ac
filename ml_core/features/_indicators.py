"""Technical indicators as TA-Lib defines them, written once for batch and streaming use.

Every function takes the inputs (arrays, or the newest bar's floats when streaming) and an
``ops`` (:class:`~ml_core.features._ops.Ops`, default: plain arrays) and returns the indicator,
NaN where TA-Lib would not yet output a value (its ``lookback``), so ``out[t]`` depends on inputs
``[: t + 1]`` only. TA-Lib's recursive averages (EMA, Wilder's smoothing) start from a simple
average of their first ``n`` inputs (TA-Lib's default, "unstable period" 0), reproduced by
:meth:`Ops.smooth`.

Where TA-Lib's definition depends on the scale of the prices (a "is zero" test against a fixed
threshold such as 1e-14 or 1.0) the functions here test for exact zero instead, so they stay
scale-free; each such difference is stated in the function's docstring. Outputs TA-Lib only
emits together with a slower companion (STOCH's slow %K, STOCHRSI's %K) start as soon as they
are defined. The chaikin money flow and the volume-profile point of control are not TA-Lib
indicators. ``tests/ml_core/features/test_indicators.py`` checks the agreement with TA-Lib.

References
----------
TA-Lib 0.4 C sources (``ta_RSI.c``, ``ta_ATR.c``, ``ta_ADX.c``, ``ta_PLUS_DI.c``, ``ta_MACD.c``,
``ta_EMA.c``, ``ta_BBANDS.c``, ``ta_STOCH.c``, ``ta_STOCHF.c``, ``ta_STOCHRSI.c``, ``ta_WILLR.c``,
``ta_CCI.c``, ``ta_MFI.c``, ``ta_ROC.c``, ``ta_TRIX.c``, ``ta_ULTOSC.c``, ``ta_AROON.c``,
``ta_PPO.c``, ``ta_BOP.c``); J. W. Wilder, *New Concepts in Technical Trading Systems* (1978);
S. B. Achelis, *Technical Analysis from A to Z* (2nd ed., 2000) for the Chaikin money flow;
J. P. Steidlmayer and K. Koy, *Markets and Market Logic* (1986) for the volume profile.
"""

from __future__ import annotations

import struct

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


def _smoothed_movement(
    high: Value, low: Value, close: Value, n: int, ops: Ops
) -> tuple[Value, Value, Value, Value]:
    """Wilder-smoothed +DM, -DM and true range as in ``ta_ADX.c``, and the warm-up mask.

    TA-Lib smooths *sums* seeded with the sum of the first ``n - 1`` values (from index 1); in
    mean units (sum / n) that is a Wilder recursion seeded after ``n - 1`` values, and every
    ratio built from them is unit-free.
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
    return s_plus, s_minus, s_tr, early


def dmi(
    high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH
) -> tuple[Value, Value, Value]:
    """TA-Lib PLUS_DI, MINUS_DI and ADX in one pass: ``(+DI, -DI, ADX)``, all in ``[0, 100]``.

    The DIs are first defined at index ``n`` and are 0 while the smoothed true range is zero
    (as TA-Lib outputs them). ADX is first defined at ``2n - 1``: DX is computed from index
    ``n``, ADX is seeded with the mean of the first ``n`` DX values, then Wilder-smoothed. Bars
    where DX is undefined (zero range or no directional movement) leave ADX unchanged, and count
    as 0 in the seed (``ta_ADX.c``).
    """
    s_plus, s_minus, s_tr, early = _smoothed_movement(high, low, close, n, ops)
    undefined = early | (ops.abs(s_tr) < _TA_EPSILON)
    plus_di = ops.where(undefined, NAN, ops.div(100.0 * s_plus, s_tr))
    minus_di = ops.where(undefined, NAN, ops.div(100.0 * s_minus, s_tr))
    di_sum = plus_di + minus_di
    dx = ops.where(ops.abs(di_sum) < _TA_EPSILON, NAN,
                   ops.div(100.0 * ops.abs(plus_di - minus_di), di_sum))
    # Inside the seed window (indices n .. 2n - 1) an undefined DX counts as 0; after it, NaN
    # leaves the average unchanged.
    in_seed = ops.notnan(ops.lag(close, n)) & ops.isnan(ops.lag(close, 2 * n))
    adx_ = ops.wilder(ops.where(in_seed & ops.isnan(dx), 0.0, dx), n)
    zero = ops.where(early, NAN, 0.0)
    return (ops.where(ops.isnan(plus_di), zero, plus_di),
            ops.where(ops.isnan(minus_di), zero, minus_di), adx_)


def directional_movement(
    high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH
) -> tuple[Value, Value]:
    """TA-Lib PLUS_DI and MINUS_DI (``(+DI, -DI)``, in ``[0, 100]``); first values at ``n``.

    0 while the smoothed true range is zero, as TA-Lib. See :func:`dmi`.
    """
    plus_di, minus_di, _ = dmi(high, low, close, n, ops=ops)
    return plus_di, minus_di


def adx(high: Value, low: Value, close: Value, n: int = 14, *, ops: Ops = BATCH) -> Value:
    """TA-Lib ADX in ``[0, 100]``; first value at index ``2n - 1`` (see :func:`dmi`)."""
    return dmi(high, low, close, n, ops=ops)[2]


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


def ichimoku(
    high: Value, low: Value, tenkan: int = 9, kijun: int = 26, senkou: int = 52,
    *, ops: Ops = BATCH,
) -> tuple[Value, Value, Value, Value]:
    """Ichimoku lines usable at bar t: ``(tenkan_sen, kijun_sen, senkou_a, senkou_b)``.

    Tenkan and kijun are the midpoints of the last ``tenkan`` and ``kijun`` bars' range. Senkou
    span A ``(tenkan + kijun) / 2`` and span B (the ``senkou``-bar midpoint) are plotted
    ``kijun`` bars ahead, so the spans *under bar t* were computed at ``t - kijun``: causal,
    first defined at index ``senkou + kijun - 2`` (span B). (The chikou span is plotted
    ``kijun`` bars *back* and would leak; it is not computed.)
    """
    def midpoint(n: int) -> Value:
        return (ops.rolling_max(high, n) + ops.rolling_min(low, n)) / 2.0

    tenkan_sen, kijun_sen = midpoint(tenkan), midpoint(kijun)
    span_a = ops.lag((tenkan_sen + kijun_sen) / 2.0, kijun)
    span_b = ops.lag(midpoint(senkou), kijun)
    return tenkan_sen, kijun_sen, span_a, span_b


def ichimoku_cloud(
    high: Value, low: Value, tenkan: int = 9, kijun: int = 26, senkou: int = 52,
    *, ops: Ops = BATCH,
) -> tuple[Value, Value]:
    """Top and bottom of the Ichimoku cloud *as plotted under bar t*: ``(top, bottom)``.

    The larger and smaller of the displaced senkou spans of :func:`ichimoku`.
    """
    _, _, span_a, span_b = ichimoku(high, low, tenkan, kijun, senkou, ops=ops)
    return ops.maximum(span_a, span_b), ops.minimum(span_a, span_b)


def stoch(
    high: Value, low: Value, close: Value, fastk: int = 14, slowk: int = 3, slowd: int = 3,
    *, ops: Ops = BATCH,
) -> tuple[Value, Value]:
    """TA-Lib STOCH with SMA slowing: ``(slow %K, slow %D)`` in ``[0, 100]``.

    Slow %K is the ``slowk``-bar SMA of fast %K (:func:`stoch_k`), slow %D the ``slowd``-bar
    SMA of slow %K, first defined at index ``fastk + slowk + slowd - 3``. TA-Lib outputs slow
    %K only from that index too (one lookback for both outputs); here it starts ``slowd - 1``
    bars earlier, with the same values.
    """
    slow_k = ops.sma(stoch_k(high, low, close, fastk, ops=ops), slowk)
    return slow_k, ops.sma(slow_k, slowd)


# RSI ranges narrower than this (in RSI points) count as flat in `stoch_rsi_k`.
_RSI_FLAT_RANGE = 1e-9


def stoch_rsi_k(rsi_values: Value, fastk: int = 14, *, ops: Ops = BATCH) -> Value:
    """Stochastic %K of an RSI series: ``100 * (rsi - min) / (max - min)`` over ``fastk`` values.

    0 when the range is below 1e-9 RSI points, where TA-Lib's STOCHF (used by STOCHRSI) only
    outputs 0 on an exactly zero range: once prices stop moving, the RSI is a ratio of two
    decaying averages that wobbles by ~1e-12 from rounding, and dividing that wobble by its own
    range would be noise.
    """
    hh, ll = ops.rolling_max(rsi_values, fastk), ops.rolling_min(rsi_values, fastk)
    width = hh - ll
    k = ops.safe_ratio(100.0 * (rsi_values - ll), width, 0.0)
    return ops.where(width < _RSI_FLAT_RANGE, ops.where(ops.isnan(width), NAN, 0.0), k)


def stoch_rsi(
    close: Value, n: int = 14, fastk: int = 14, fastd: int = 3, *, ops: Ops = BATCH
) -> tuple[Value, Value]:
    """TA-Lib STOCHRSI with an SMA %D: ``(%K, %D)`` of the fast stochastic of RSI(``n``).

    ``%K`` (:func:`stoch_rsi_k`) is first defined at index ``n + fastk - 1``; ``%D`` is its
    ``fastd``-bar SMA. TA-Lib outputs %K only from %D's first index (``fastd - 1`` bars later),
    with the same values.
    """
    k = stoch_rsi_k(rsi(close, n, ops=ops), fastk, ops=ops)
    return k, ops.sma(k, fastd)


def sum_of_nonnegative(x: Value, n: int, *, ops: Ops = BATCH) -> Value:
    """Sum of the last ``n`` values of ``x >= 0``, exactly 0 when they all are.

    A running sum may keep a rounding residue once a large value has left the window; a ratio
    of two such residues would be noise (and differ between batch and streaming).
    """
    highest = ops.rolling_max(x, n)
    return ops.where(highest > 0, ops.rolling_sum(x, n), highest)


def mfi(
    high: Value, low: Value, close: Value, volume: Value, n: int = 14, *, ops: Ops = BATCH
) -> Value:
    """TA-Lib MFI (money flow index) in ``[0, 100]``; first value at index ``n``.

    Money flow ``tp * volume`` (``tp = (h + l + c) / 3``) counts as positive when ``tp`` rose,
    negative when it fell; ``MFI = 100 * positive / (positive + negative)`` over the last ``n``
    bars. Difference from ``ta_MFI.c``: TA-Lib outputs 0 when the total flow is below 1 (a
    threshold in price-times-volume units, so not scale-free); here only when it is exactly 0
    (no volume, or a flat typical price).
    """
    tp = (high + low + close) / 3.0
    change = ops.diff(tp)
    flow = tp * volume
    none = ops.where(ops.isnan(change), NAN, 0.0)
    positive = sum_of_nonnegative(ops.where(change > 0, flow, none), n, ops=ops)
    negative = sum_of_nonnegative(ops.where(change < 0, flow, none), n, ops=ops)
    return 100.0 * ops.safe_ratio(positive, positive + negative, 0.0)


def roc(close: Value, n: int = 10, *, ops: Ops = BATCH) -> Value:
    """TA-Lib ROC: ``100 * (close / close[t - n] - 1)``, percent; first value at index ``n``."""
    return (ops.div(close, ops.lag(close, n)) - 1.0) * 100.0


def trix(close: Value, n: int = 30, *, ops: Ops = BATCH) -> Value:
    """TA-Lib TRIX: one-bar ROC (percent) of the triple EMA(``n``); first value at ``3n - 2``.

    Each EMA is seeded with the SMA of its first ``n`` inputs (``ta_TRIX.c``).
    """
    triple = ops.ema(ops.ema(ops.ema(close, n), n), n)
    return roc(triple, 1, ops=ops)


def ultosc(
    high: Value, low: Value, close: Value, n1: int = 7, n2: int = 14, n3: int = 28,
    *, ops: Ops = BATCH,
) -> Value:
    """TA-Lib ULTOSC (Williams' ultimate oscillator) in ``[0, 100]``; first value at ``n3``.

    Buying pressure ``close - min(low, prev close)`` over the true range, summed over the last
    ``n1``, ``n2`` and ``n3`` bars, averaged with weights 4, 2, 1. A window whose true ranges
    are all zero contributes 0 (TA-Lib: a sum below 1e-14 does, a scale-dependent threshold).
    TA-Lib sorts the periods; here they must be given shortest first.
    """
    buying = close - ops.minimum(low, ops.lag(close, 1))
    tr = true_range(high, low, close, ops=ops)
    out: Value = 0.0
    for n, weight in ((n1, 4.0), (n2, 2.0), (n3, 1.0)):
        moved = ops.rolling_max(tr, n)
        ratio = ops.div(ops.rolling_sum(buying, n), ops.rolling_sum(tr, n))
        out = out + weight * ops.where(moved > 0, ratio, moved)
    return 100.0 * (out / 7.0)


def _bars_since_last_max(windows: np.ndarray) -> np.ndarray:
    # Reversed, the first maximum is the newest one (TA-Lib keeps the newest on ties).
    return np.argmax(windows[:, ::-1], axis=1).astype(np.float64)


def _bars_since_last_min(windows: np.ndarray) -> np.ndarray:
    return np.argmin(windows[:, ::-1], axis=1).astype(np.float64)


def aroon(high: Value, low: Value, n: int = 14, *, ops: Ops = BATCH) -> tuple[Value, Value]:
    """TA-Lib AROON: ``(down, up)`` in ``[0, 100]``; first values at index ``n``.

    ``up = 100 * (n - bars since the highest high) / n`` over the last ``n + 1`` bars (the
    newest extreme on ties); ``down`` likewise with the lowest low.
    """
    factor = 100.0 / n
    down = factor * (n - ops.rolling_apply(low, n + 1, _bars_since_last_min))
    up = factor * (n - ops.rolling_apply(high, n + 1, _bars_since_last_max))
    return down, up


def ppo(close: Value, fast: int = 12, slow: int = 26, *, ops: Ops = BATCH) -> Value:
    """TA-Lib PPO with its default SMA: ``100 * (SMA(fast) - SMA(slow)) / SMA(slow)``.

    First value at index ``slow - 1``.
    """
    slow_ma = ops.sma(close, slow)
    return ops.safe_ratio(ops.sma(close, fast) - slow_ma, slow_ma, 0.0) * 100.0


def bop(open_: Value, high: Value, low: Value, close: Value, *, ops: Ops = BATCH) -> Value:
    """TA-Lib BOP (balance of power): ``(close - open) / (high - low)``, 0 on a zero range.

    (TA-Lib also outputs 0 when the range is below 1e-14, a scale-dependent threshold.)
    """
    return ops.safe_ratio(close - open_, high - low, 0.0)


def chaikin_money_flow(
    high: Value, low: Value, close: Value, volume: Value, n: int = 20, *, ops: Ops = BATCH
) -> Value:
    """Chaikin money flow in ``[-1, 1]``: volume-weighted close location over ``n`` bars.

    ``sum(clv * volume) / sum(volume)`` with the close location value
    ``clv = ((close - low) - (high - close)) / (high - low)`` (0 on a zero range, as TA-Lib's
    AD); 0 when nothing traded in the window. Not in TA-Lib (its AD/ADOSC are cumulative).
    """
    clv = ops.safe_ratio((close - low) - (high - close), high - low, 0.0)
    traded = sum_of_nonnegative(volume, n, ops=ops)
    return ops.safe_ratio(ops.rolling_sum(clv * volume, n), traded, 0.0)


def force_index(close: Value, volume: Value, n: int = 13, *, ops: Ops = BATCH) -> Value:
    """Elder's force index per unit of volume: ``sum(return * volume) / sum(volume)``.

    Elder's force index ``(close - prev close) * volume`` is in price-times-volume units; here
    the simple return replaces the price change and the ``n``-bar sum is divided by the volume
    traded in those bars, giving the volume-weighted mean return (0 when nothing traded). First
    value at index ``n``. Not in TA-Lib.
    """
    change = ops.div(close, ops.lag(close, 1)) - 1.0
    traded = sum_of_nonnegative(volume, n, ops=ops)
    return ops.safe_ratio(ops.rolling_sum(change * volume, n), traded, 0.0)


# Largest volume a float32 half of a packed pair holds (see `_pack_price_volume`).
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _pack_price_volume(price: Value, volume: Value) -> Value:
    """``(price, volume)`` as the two float32 halves of one float64, for ``rolling_apply``.

    ``rolling_apply`` windows one series; the volume profile needs two. Rounded to float32
    (relative 6e-8, ample to bin prices), both fit in one float64 bit pattern: price in the
    high half, volume in the low half, little-endian everywhere. As both halves are finite,
    the float64 is never NaN or infinite. Scaling prices or volumes by a power of two scales
    the halves exactly. Works on arrays (batch) and floats (streaming) alike.
    """
    if isinstance(price, np.ndarray) or isinstance(volume, np.ndarray):
        volume = np.minimum(volume, _FLOAT32_MAX)
        pair = np.stack(np.broadcast_arrays(volume, price), axis=-1).astype("<f4")
        return pair.view("<f8")[..., 0]
    return struct.unpack("<d", struct.pack("<ff", min(volume, _FLOAT32_MAX), price))[0]


def _unpack_price_volume(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_pack_price_volume` on windows of shape ``(m, n)``: float32
    ``(price, volume)``, each of shape ``(m, n)``."""
    pairs = np.ascontiguousarray(windows, dtype="<f8").view("<f4")
    return pairs[:, 1::2], pairs[:, 0::2]


def _point_of_control(windows: np.ndarray, bins: int) -> np.ndarray:
    """Centre of the heaviest of ``bins`` price bins, per row of packed ``(m, n)`` windows."""
    price, volume = _unpack_price_volume(windows)
    price = price.astype(np.float64)
    lo = price.min(axis=1)
    width = price.max(axis=1) - lo
    scale = bins / np.where(width > 0, width, 1.0)
    index = ((price - lo[:, None]) * scale[:, None]).astype(np.int64)
    np.minimum(index, bins - 1, out=index)  # the highest price falls in the last bin
    index += bins * np.arange(len(price))[:, None]
    # No volume in the window: fall back to time at price (each bar weighs 1).
    weights = np.where(volume.any(axis=1, keepdims=True), volume, np.float32(1.0))
    histogram = np.bincount(index.ravel(), weights.ravel(), minlength=bins * len(price))
    return lo + (histogram.reshape(-1, bins).argmax(axis=1) + 0.5) * (width / bins)


def volume_profile_poc(
    high: Value, low: Value, close: Value, volume: Value, n: int = 48, bins: int = 12,
    *, ops: Ops = BATCH,
) -> Value:
    """Point of control of the rolling volume profile: the most-traded price level.

    The typical prices ``(h + l + c) / 3`` of the last ``n`` bars are binned into ``bins``
    equal bins spanning their range, each bar's volume adding to its bin; the output is the
    centre of the heaviest bin (the lowest on ties; the bar count replaces volume when nothing
    traded; the price itself when the range is zero). First value at index ``n - 1``. Prices and
    volumes are binned at float32 precision (see :func:`_pack_price_volume`), identical in batch
    and streaming mode and exactly invariant to power-of-two rescaling.

    A bar's volume is placed at its typical price rather than spread over its range: a coarse
    but causal and cheap profile (a market-profile TPO would need intrabar data).
    """
    if bins < 1:
        raise ValueError(f"`bins` must be at least 1, got `bins={bins}`")
    tp = (high + low + close) / 3.0
    return ops.rolling_apply(_pack_price_volume(tp, volume), n,
                             lambda windows: _point_of_control(windows, bins))
