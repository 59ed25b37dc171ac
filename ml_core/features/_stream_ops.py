"""Streaming twin of :class:`~ml_core.features._ops.BatchOps`: one bar at a time, O(1) each.

Every stateful operation keeps a small state object, found by call order (a recipe calls the
same operations in the same order on every bar). Each state mirrors one kernel of
:mod:`ml_core.features._primitives`, with the same warm-up, NaN and seeding rules, so the stream
equals the batch result on the same history up to rounding.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ml_core.features._ops import NAN, Ops, _check_window

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig

_INF = math.inf


class _Lag:
    __slots__ = ("buf", "k")

    def __init__(self, k: int) -> None:
        self.k = k
        self.buf: deque[float] = deque(maxlen=k)

    def update(self, x: float) -> float:
        buf = self.buf
        out = buf[0] if len(buf) == self.k else NAN
        buf.append(x)
        return out


class _Smooth:
    """Seeded exponential recursion, rounded as ``_primitives.smooth`` (``lfilter``) rounds it:
    ``y = alpha * x + (1 - alpha) * y``, so the twins are equal to the bit."""

    __slots__ = ("alpha", "count", "keep", "n", "seed_after", "started", "window", "y")

    def __init__(self, alpha: float, n: int, seed_after: int) -> None:
        self.alpha, self.n, self.seed_after = alpha, n, seed_after
        self.keep = 1.0 - alpha
        self.started = False
        self.count = 0
        self.window: deque[float] = deque(maxlen=n)
        self.y = NAN

    def update(self, x: float) -> float:
        if self.count >= self.seed_after:
            if x == x:
                self.y = self.alpha * x + self.keep * self.y
            return self.y
        if not self.started:
            if x != x:
                return NAN
            self.started = True
        self.count += 1
        self.window.append(x)
        if self.count < self.seed_after:
            return NAN
        self.y = math.fsum(v for v in self.window if v == v) / self.n
        return self.y


class _Sum:
    """Rolling sum with Neumaier-compensated add and remove (as pandas does)."""

    __slots__ = ("buf", "comp", "n", "nan_count", "run", "total")

    def __init__(self, n: int) -> None:
        self.n = n
        self.buf: deque[float] = deque(maxlen=n)
        self.total = 0.0
        self.comp = 0.0
        self.nan_count = 0
        self.run = 0  # bars the newest value has been repeated (exact results on flat windows)

    def _add(self, v: float) -> None:
        t = self.total + v
        if abs(self.total) >= abs(v):
            self.comp += (self.total - t) + v
        else:
            self.comp += (v - t) + self.total
        self.total = t

    def push(self, x: float) -> bool:
        """Add ``x``; True when the window is full and free of NaN."""
        buf = self.buf
        if len(buf) == self.n:
            old = buf[0]
            if old == old:
                self._add(-old)
            else:
                self.nan_count -= 1
        if buf and x == buf[-1]:
            self.run += 1
        else:
            self.run = 1
        buf.append(x)
        if x == x:
            self._add(x)
        else:
            self.nan_count += 1
        return len(buf) == self.n and self.nan_count == 0

    def value(self) -> float:
        if self.run >= self.n:
            return self.buf[-1] * self.n
        return self.total + self.comp


class _Mean(_Sum):
    __slots__ = ()

    def update(self, x: float) -> float:
        if not self.push(x):
            return NAN
        if self.run >= self.n:
            return self.buf[-1]
        return (self.total + self.comp) / self.n


class _RollingSum(_Sum):
    __slots__ = ()

    def update(self, x: float) -> float:
        return self.value() if self.push(x) else NAN


class _Std:
    """Rolling standard deviation, exact to a few ulps on any history (twin of ``rolling_std``).

    Sliding-window aggregation with two stacks: ``back`` holds the values pushed since the last
    flip and their running aggregate; ``front`` holds, for the older values, the aggregates of
    each suffix (the last entry covers them all), built when a value must leave and ``front``
    is empty. An aggregate is ``(count, ref, off, m2)``: the mean is ``ref + off`` with ``ref``
    one of its values, ``m2`` the sum of squared deviations; aggregates join with Chan et al.'s
    update (see ``_primitives.rolling_std``). The window's value is computed from its own values
    only, so no error accumulates over the history (Welford's update with removal, as pandas
    does it, drifts by 1e-9 to 1e-6 relative over 10**5 bars of prices ~1e4). A NaN poisons
    the aggregates that hold it and leaves with them. Amortised O(1): each value is aggregated
    twice.
    """

    __slots__ = ("b_m2", "b_off", "back", "ddof", "front", "n", "seen")

    def __init__(self, n: int, ddof: int) -> None:
        self.n, self.ddof = n, ddof
        self.back: list[float] = []  # oldest first; ref = back[0]
        self.b_off = 0.0
        self.b_m2 = 0.0
        self.front: list[tuple[int, float, float, float]] = []
        self.seen = 0

    def update(self, x: float) -> float:
        back = self.back
        back.append(x)
        k = len(back)
        if k == 1:
            self.b_off = self.b_m2 = x - x  # 0, NaN for NaN
        else:  # join the back (k - 1 values) and x
            d = (x - back[0]) - self.b_off
            self.b_off += d / k
            self.b_m2 += d * d * ((k - 1) / k)
        self.seen += 1
        if self.seen > self.n:  # the oldest value leaves
            front = self.front
            if not front:
                ref = back[-1]
                off = m2 = ref - ref
                count = 0
                for v in reversed(back):
                    count += 1
                    if count > 1:
                        d = (v - ref) - off
                        off += d / count
                        m2 += d * d * ((count - 1) / count)
                    front.append((count, ref, off, m2))
                back.clear()
            front.pop()
        if self.seen < self.n:
            return NAN
        k = len(self.back)
        if not self.front:
            m2 = self.b_m2
        else:
            count, ref, off, m2 = self.front[-1]
            if k:
                d = (self.back[0] - ref) + (self.b_off - off)
                m2 = m2 + self.b_m2 + d * d * (count * k / (count + k))
        if m2 != m2:
            return NAN
        return math.sqrt(m2 / (self.n - self.ddof))


class _Extreme:
    """Rolling max (``sign = 1``) or min (``sign = -1``) with a monotonic deque."""

    __slots__ = ("cand", "i", "n", "nan_last", "sign")

    def __init__(self, n: int, sign: float) -> None:
        self.n, self.sign = n, sign
        self.cand: deque[tuple[int, float]] = deque()
        self.i = -1
        self.nan_last = -(10**18)  # index of the latest NaN input

    def update(self, x: float) -> float:
        self.i += 1
        i, cand = self.i, self.cand
        while cand and cand[0][0] <= i - self.n:
            cand.popleft()
        if x != x:
            self.nan_last = i
        else:
            key = self.sign * x
            while cand and self.sign * cand[-1][1] <= key:
                cand.pop()
            cand.append((i, x))
        if i < self.n - 1 or self.nan_last > i - self.n:
            return NAN
        return cand[0][1]


class _Apply:
    __slots__ = ("buf", "fn", "n", "nan_count")

    def __init__(self, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.n, self.fn = n, fn
        self.buf: deque[float] = deque(maxlen=n)
        self.nan_count = 0

    def update(self, x: float) -> float:
        buf = self.buf
        if len(buf) == self.n and buf[0] != buf[0]:
            self.nan_count -= 1
        buf.append(x)
        if x != x:
            self.nan_count += 1
        if len(buf) < self.n or self.nan_count:
            return NAN
        return float(self.fn(np.array(buf, dtype=np.float64)[None, :])[0])


class StreamOps(Ops):
    """:class:`~ml_core.features._ops.Ops` on the newest bar; call :meth:`step` per bar.

    Parameters
    ----------
    config : FeatureConfig
    timeframe : timedelta
        Length of one bar of this stream.
    """

    def __init__(self, config: FeatureConfig, timeframe: timedelta) -> None:
        self.config = config
        self.timeframe = timeframe
        self._states: list[Any] = []
        self._i = 0
        self._cache: dict[Any, Any] = {}
        self._prev_close = NAN
        self.n_bars = 0

    def step(self, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """Make the given bar the newest one (before the recipes run on it)."""
        if self.n_bars and self._i != len(self._states):
            raise RuntimeError(
                f"a feature recipe called {self._i} stateful operations on the last bar but "
                f"{len(self._states)} before: recipes must call the same operations on every bar"
            )
        self._i = 0
        self._cache.clear()
        self.n_bars += 1
        self.open, self.high, self.low = float(open_), float(high), float(low)
        self.close, self.volume = float(close), float(volume)
        self.log_close = _log(self.close)
        self.log_return = _log(_div(self.close, self._prev_close))
        self._prev_close = self.close

    def _state(self, cls: type, *args: Any) -> Any:
        i = self._i
        self._i = i + 1
        states = self._states
        if i < len(states):
            state = states[i]
            if type(state) is not cls:
                raise RuntimeError(
                    f"stateful operation #{i} is a {cls.__name__[1:]} on this bar but was a "
                    f"{type(state).__name__[1:]} before: recipes must call the same operations "
                    "in the same order on every bar"
                )
            return state
        state = cls(*args)
        states.append(state)
        return state

    # stateful
    def lag(self, x: float, k: int) -> float:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"`k` must be at least 1 (only past values), got `k={k!r}`")
        return self._state(_Lag, int(k)).update(x)

    def smooth(self, x: float, alpha: float, n: int, seed_after: int | None = None) -> float:
        if self._i >= len(self._states):
            _check_window("n", n)
        return self._state(_Smooth, alpha, n, seed_after or n).update(x)

    def rolling_sum(self, x: float, n: int) -> float:
        return self._state(_RollingSum, n).update(x)

    def sma(self, x: float, n: int) -> float:
        return self._state(_Mean, n).update(x)

    def rolling_std(self, x: float, n: int, ddof: int = 1) -> float:
        if self._i >= len(self._states) and n <= ddof:
            raise ValueError(f"`n` must exceed `ddof={ddof}`, got `n={n}`")
        return self._state(_Std, n, ddof).update(x)

    def rolling_max(self, x: float, n: int) -> float:
        return self._state(_Extreme, n, 1.0).update(x)

    def rolling_min(self, x: float, n: int) -> float:
        return self._state(_Extreme, n, -1.0).update(x)

    def rolling_apply(self, x: float, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        return self._state(_Apply, n, fn).update(x)

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        cache = self._cache
        if key not in cache:
            cache[key] = make()
        return cache[key]

    # element-wise
    @staticmethod
    def div(a: float, b: float) -> float:
        return _div(a, b)

    @staticmethod
    def safe_ratio(num: float, den: float, fill: float) -> float:
        if den == 0.0:
            return fill if num == num else NAN
        return num / den if den == den else NAN

    @staticmethod
    def where(cond: Any, a: float, b: float) -> float:
        return a if cond else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        if a != a or b != b:
            return NAN
        return a if a >= b else b

    @staticmethod
    def minimum(a: float, b: float) -> float:
        if a != a or b != b:
            return NAN
        return a if a <= b else b

    @staticmethod
    def clip(x: float, lo: float, hi: float) -> float:
        if x != x:
            return NAN
        return lo if x < lo else hi if x > hi else x

    @staticmethod
    def sign(x: float) -> float:
        if x != x:
            return NAN
        return 1.0 if x > 0 else -1.0 if x < 0 else 0.0

    @staticmethod
    def abs(x: float) -> float:
        return abs(x)

    @staticmethod
    def log(x: float) -> float:
        return _log(x)

    @staticmethod
    def sqrt(x: float) -> float:
        return math.sqrt(x) if x >= 0 else NAN

    @staticmethod
    def exp(x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return _INF

    @staticmethod
    def isnan(x: float) -> bool:
        return x != x

    @staticmethod
    def notnan(x: float) -> bool:
        return x == x

    @staticmethod
    def tanh(x: float) -> float:
        return math.tanh(x)


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return NAN
        return math.copysign(_INF, a) * math.copysign(1.0, b)


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -_INF if x == 0 else NAN
