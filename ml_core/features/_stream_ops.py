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
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ml_core.features._ops import NAN, Ops, _check_window

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig

_INF = math.inf
_MISSING = object()  # no cached value yet


def _exhausted(default: Any) -> Any:
    """``next`` on an iterator with nothing left: while the first bar creates the states."""
    return default


class _Lag:
    """The value ``k`` bars ago: a ring of ``k`` values, NaN until filled."""

    __slots__ = ("buf", "k", "pos")

    def __init__(self, k: int) -> None:
        self.k = k = int(k)
        self.buf = [NAN] * k
        self.pos = 0

    def update(self, x: float) -> float:
        buf, pos = self.buf, self.pos
        out = buf[pos]
        buf[pos] = x
        pos += 1
        self.pos = 0 if pos == self.k else pos
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
    """Rolling sum with Neumaier-compensated add and remove (as pandas does).

    :meth:`update` returns the sum divided by ``divisor`` (1 for the sum, ``n`` for the mean;
    dividing by 1.0 is exact). The compensated additions are written out in :meth:`update`
    rather than called: a recipe set runs dozens of these per bar.
    """

    __slots__ = ("buf", "comp", "divisor", "flat", "full", "last", "n", "nan_count", "run",
                 "total")

    def __init__(self, n: int) -> None:
        self.n = n
        self.buf: deque[float] = deque(maxlen=n)
        self.full = False  # the window holds n values (the oldest leaves on each update)
        self.last = NAN  # the newest value (NaN before the first: never equal)
        self.total = 0.0
        self.comp = 0.0
        self.nan_count = 0
        self.run = 0  # bars the newest value has been repeated (exact results on flat windows)
        self.divisor = 1.0
        self.flat = n  # value on a flat window, as a multiple of the repeated value

    def update(self, x: float) -> float:
        buf = self.buf
        total = self.total
        comp = self.comp
        if self.full:
            old = buf[0]
            if old == old:  # total -= old, compensated (abs written out: no calls)
                t = total - old
                if (total if total >= 0.0 else -total) >= (old if old >= 0.0 else -old):
                    comp += (total - t) - old
                else:
                    comp += (-old - t) + total
                total = t
            else:
                self.nan_count -= 1
        if x == self.last:
            self.run += 1
        else:
            self.run = 1
        self.last = x
        buf.append(x)
        if x == x:  # total += x, compensated
            t = total + x
            if (total if total >= 0.0 else -total) >= (x if x >= 0.0 else -x):
                comp += (total - t) + x
            else:
                comp += (x - t) + total
            total = t
        else:
            self.nan_count += 1
        self.total = total
        self.comp = comp
        if not self.full:
            if len(buf) < self.n:
                return NAN
            self.full = True
        if self.nan_count:
            return NAN
        if self.run >= self.n:
            return x * self.flat
        return (total + comp) / self.divisor


class _Mean(_Sum):
    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.divisor = float(n)
        self.flat = 1


class _RollingSum(_Sum):
    __slots__ = ()


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
    """``fn`` on the window of the last ``n`` values (twin of ``_primitives.rolling_apply``).

    A kernel with a pure-float twin (:func:`~ml_core.features._stream_kernels.twin`) runs that
    on the window as a list: numpy's per-call overhead on one row of a few dozen values is
    10-70 us, the twin a few. Any other ``fn``, and a twin marked ``window_as_array``, gets a
    view of a ring buffer holding every value twice (``ring[pos:pos + n]`` is always the
    window, oldest first), so no array is built per bar. A window holding a NaN gives NaN
    without calling either.
    """

    __slots__ = ("as_array", "fn", "i", "n", "nan_last", "pos", "ring", "twin", "window")

    def __init__(self, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        from ml_core.features._stream_kernels import twin

        self.n, self.fn = n, fn
        self.i = -1
        self.nan_last = -(10**18)  # index of the latest NaN input
        self.twin = twin(fn, n)
        self.as_array = getattr(self.twin, "window_as_array", False)
        self.window: deque[float] = deque(maxlen=n)
        self.ring = np.full(2 * n, NAN) if self.twin is None or self.as_array else None
        self.pos = 0

    def update(self, x: float) -> float:
        self.i += 1
        n = self.n
        if x != x:
            self.nan_last = self.i
        if self.ring is None:
            self.window.append(x)
            if self.i < n - 1 or self.nan_last > self.i - n:
                return NAN
            return self.twin(list(self.window))
        ring, pos = self.ring, self.pos
        ring[pos] = ring[pos + n] = x
        pos = self.pos = pos + 1 if pos + 1 < n else 0
        if self.i < n - 1 or self.nan_last > self.i - n:
            return NAN
        if self.as_array:
            return self.twin(ring[pos:pos + n])
        return float(self.fn(ring[None, pos:pos + n])[0])


class StreamOps(Ops):
    """:class:`~ml_core.features._ops.Ops` on the newest bar; call :meth:`step` per bar.

    Each stateful call site owns the state at its position in the call order
    (:attr:`_states`); the first bar creates them (checking the arguments), later bars take
    them in order from an iterator and only check their kind: a recipe set makes ~200 such
    calls per bar, so each costs one C call and a type comparison. A bar calling fewer or more
    operations than the first, or another kind at a position, raises :class:`RuntimeError`.

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
        self._next: Callable[[Any], Any] = _exhausted  # the next state in call order, or None
        self._cache: dict[Any, Any] = {}
        self._prev_close = NAN
        self.n_bars = 0

    def step(self, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """Make the given bar the newest one (before the recipes run on it)."""
        if self.n_bars:
            left = self._next(None)
            if left is not None:
                raise RuntimeError(
                    f"a feature recipe called fewer stateful operations on the last bar than "
                    f"the {len(self._states)} before (the first left out: a "
                    f"{type(left).__name__[1:]}): recipes must call the same operations on "
                    "every bar"
                )
        self._next = partial(next, iter(self._states))
        self._cache.clear()
        self.n_bars += 1
        self.open, self.high, self.low = float(open_), float(high), float(low)
        close = self.close = float(close)
        self.volume = float(volume)
        self.log_close = _log(close)
        self.log_return = _log(_div(close, self._prev_close))
        self._prev_close = close

    def _create(self, cls: type, *args: Any) -> Any:
        """The state of a call site seen for the first time (the first bar only)."""
        if self.n_bars > 1:
            raise RuntimeError(
                f"a feature recipe called more stateful operations on this bar than the "
                f"{len(self._states)} before (one more {cls.__name__[1:]}): recipes must call "
                "the same operations on every bar"
            )
        state = cls(*args)
        self._states.append(state)
        self._next = _exhausted
        return state

    def _mismatch(self, state: Any, cls: type) -> None:
        i = self._states.index(state)
        raise RuntimeError(
            f"stateful operation #{i} is a {cls.__name__[1:]} on this bar but was a "
            f"{type(state).__name__[1:]} before: recipes must call the same operations "
            "in the same order on every bar"
        )

    # stateful: the next state in call order (a C call), its kind checked, its update called;
    # written out in each method, as a shared helper would add a Python call to each of them
    def lag(self, x: float, k: int) -> float:
        state = self._next(None)
        if state is None:
            if not isinstance(k, (int, np.integer)) or k < 1:
                raise ValueError(f"`k` must be at least 1 (only past values), got `k={k!r}`")
            state = self._create(_Lag, k)
        elif state.__class__ is not _Lag:
            self._mismatch(state, _Lag)
        return state.update(x)

    def smooth(self, x: float, alpha: float, n: int, seed_after: int | None = None) -> float:
        state = self._next(None)
        if state is None:
            _check_window("n", n)
            state = self._create(_Smooth, alpha, n, seed_after or n)
        elif state.__class__ is not _Smooth:
            self._mismatch(state, _Smooth)
        return state.update(x)

    def rolling_sum(self, x: float, n: int) -> float:
        state = self._next(None)
        if state is None:
            state = self._create(_RollingSum, n)
        elif state.__class__ is not _RollingSum:
            self._mismatch(state, _RollingSum)
        return state.update(x)

    def sma(self, x: float, n: int) -> float:
        state = self._next(None)
        if state is None:
            state = self._create(_Mean, n)
        elif state.__class__ is not _Mean:
            self._mismatch(state, _Mean)
        return state.update(x)

    def rolling_std(self, x: float, n: int, ddof: int = 1) -> float:
        state = self._next(None)
        if state is None:
            if n <= ddof:
                raise ValueError(f"`n` must exceed `ddof={ddof}`, got `n={n}`")
            state = self._create(_Std, n, ddof)
        elif state.__class__ is not _Std:
            self._mismatch(state, _Std)
        return state.update(x)

    def rolling_max(self, x: float, n: int) -> float:
        state = self._next(None)
        if state is None:
            state = self._create(_Extreme, n, 1.0)
        elif state.__class__ is not _Extreme or state.sign != 1.0:
            self._mismatch(state, _Extreme)
        return state.update(x)

    def rolling_min(self, x: float, n: int) -> float:
        state = self._next(None)
        if state is None:
            state = self._create(_Extreme, n, -1.0)
        elif state.__class__ is not _Extreme or state.sign != -1.0:
            self._mismatch(state, _Extreme)
        return state.update(x)

    def rolling_apply(self, x: float, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        state = self._next(None)
        if state is None:
            state = self._create(_Apply, n, fn)
        elif state.__class__ is not _Apply:
            self._mismatch(state, _Apply)
        return state.update(x)

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = self._cache[key] = make()
        return value

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
