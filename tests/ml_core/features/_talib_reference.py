"""Bar-by-bar loops transcribing TA-Lib 0.4's C sources, to check the vectorised indicators.

Slow and plain on purpose: each follows the order of operations of the named ``ta_*.c`` file
(default compatibility, unstable period 0).
"""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def _is_zero(v: float) -> bool:
    return -1e-14 < v < 1e-14


def ema(x: list[float], n: int, start: int | None = None) -> np.ndarray:
    """TA_INT_EMA: SMA seed over the ``n`` values ending at ``start``, then EMA."""
    out = np.full(len(x), NAN)
    start = n - 1 if start is None else start
    k = 2.0 / (n + 1)
    prev = sum(x[start - n + 1 : start + 1]) / n
    out[start] = prev
    for t in range(start + 1, len(x)):
        prev = (x[t] - prev) * k + prev
        out[t] = prev
    return out


def rsi(close: list[float], n: int) -> np.ndarray:
    out = np.full(len(close), NAN)
    gain = loss = 0.0
    for t in range(1, n + 1):
        d = close[t] - close[t - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    gain /= n
    loss /= n
    out[n] = 0.0 if _is_zero(gain + loss) else 100.0 * gain / (gain + loss)
    for t in range(n + 1, len(close)):
        d = close[t] - close[t - 1]
        gain *= n - 1
        loss *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        gain /= n
        loss /= n
        out[t] = 0.0 if _is_zero(gain + loss) else 100.0 * gain / (gain + loss)
    return out


def _tr(h: list[float], l: list[float], c: list[float], t: int) -> float:
    return max(h[t] - l[t], abs(h[t] - c[t - 1]), abs(l[t] - c[t - 1]))


def atr(h: list[float], l: list[float], c: list[float], n: int) -> np.ndarray:
    out = np.full(len(c), NAN)
    prev = sum(_tr(h, l, c, t) for t in range(1, n + 1)) / n
    out[n] = prev
    for t in range(n + 1, len(c)):
        prev = (prev * (n - 1) + _tr(h, l, c, t)) / n
        out[t] = prev
    return out


def adx(h: list[float], l: list[float], c: list[float], n: int) -> np.ndarray:
    """ta_ADX.c, transcribed."""
    out = np.full(len(c), NAN)
    plus = minus = tr = 0.0

    def dm(t: int) -> tuple[float, float]:
        dp, dmn = h[t] - h[t - 1], l[t - 1] - l[t]
        if dmn > 0 and dp < dmn:
            return 0.0, dmn
        if dp > 0 and dp > dmn:
            return dp, 0.0
        return 0.0, 0.0

    for t in range(1, n):
        p, m = dm(t)
        plus, minus, tr = plus + p, minus + m, tr + _tr(h, l, c, t)
    sum_dx = 0.0
    t = n - 1
    for _ in range(n):
        t += 1
        p, m = dm(t)
        plus, minus = plus - plus / n + p, minus - minus / n + m
        tr = tr - tr / n + _tr(h, l, c, t)
        if not _is_zero(tr):
            mdi, pdi = 100.0 * minus / tr, 100.0 * plus / tr
            if not _is_zero(mdi + pdi):
                sum_dx += 100.0 * abs(mdi - pdi) / (mdi + pdi)
    prev_adx = sum_dx / n
    out[t] = prev_adx
    while t < len(c) - 1:
        t += 1
        p, m = dm(t)
        plus, minus = plus - plus / n + p, minus - minus / n + m
        tr = tr - tr / n + _tr(h, l, c, t)
        if not _is_zero(tr):
            mdi, pdi = 100.0 * minus / tr, 100.0 * plus / tr
            if not _is_zero(mdi + pdi):
                dx = 100.0 * abs(mdi - pdi) / (mdi + pdi)
                prev_adx = (prev_adx * (n - 1) + dx) / n
        out[t] = prev_adx
    return out


def macd(close: list[float], fast: int, slow: int, signal: int) -> tuple[np.ndarray, ...]:
    """ta_MACD.c: both EMAs start at ``slow - 1`` (the fast one seeded there), signal EMA of it."""
    start = slow - 1
    line = ema(close, fast, start) - ema(close, slow, start)
    sig = np.full(len(close), NAN)
    sig[start:] = ema(list(line[start:]), signal)
    first = start + signal - 1
    line[:first] = NAN
    return line, sig, line - sig


def stoch_k(h: list[float], l: list[float], c: list[float], n: int) -> np.ndarray:
    out = np.full(len(c), NAN)
    for t in range(n - 1, len(c)):
        hh, ll = max(h[t - n + 1 : t + 1]), min(l[t - n + 1 : t + 1])
        diff = (hh - ll) / 100.0
        out[t] = (c[t] - ll) / diff if diff != 0.0 else 0.0
    return out


def willr(h: list[float], l: list[float], c: list[float], n: int) -> np.ndarray:
    out = np.full(len(c), NAN)
    for t in range(n - 1, len(c)):
        hh, ll = max(h[t - n + 1 : t + 1]), min(l[t - n + 1 : t + 1])
        diff = (hh - ll) / -100.0
        out[t] = (hh - c[t]) / diff if diff != 0.0 else 0.0
    return out


def cci(h: list[float], l: list[float], c: list[float], n: int) -> np.ndarray:
    out = np.full(len(c), NAN)
    tp = [(h[t] + l[t] + c[t]) / 3.0 for t in range(len(c))]
    for t in range(n - 1, len(c)):
        window = tp[t - n + 1 : t + 1]
        mean = sum(window) / n
        dev = sum(abs(v - mean) for v in window) / n
        diff = tp[t] - mean
        out[t] = diff / (0.015 * dev) if diff != 0.0 and dev != 0.0 else 0.0
    return out


def bbands(close: list[float], n: int, k: float) -> tuple[np.ndarray, ...]:
    lower, mid, upper = (np.full(len(close), NAN) for _ in range(3))
    for t in range(n - 1, len(close)):
        window = close[t - n + 1 : t + 1]
        mean = sum(window) / n
        std = (sum(v * v for v in window) / n - mean * mean) ** 0.5
        lower[t], mid[t], upper[t] = mean - k * std, mean, mean + k * std
    return lower, mid, upper
