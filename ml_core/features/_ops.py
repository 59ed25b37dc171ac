"""The operations a feature recipe is written with, in two modes: whole arrays or one bar.

A recipe is written once, against :class:`Ops`, and runs in both modes:

* :class:`BatchOps` evaluates it on whole columns (numpy arrays), vectorised, for training;
* :class:`~ml_core.features._stream_ops.StreamOps` evaluates it on the newest bar only (Python
  floats), updating a small state per operation, for live signals.

Stateful operations (``lag``, ``ema``, ``rolling_*``, ...) are methods; in streaming mode each
call site owns one state, found by call order, so **a recipe must call the same stateful
operations in the same order on every bar** (no data-dependent branching around them; use
:meth:`Ops.where` to choose between values). Element-wise arithmetic (``+ - * abs()``) works on
both arrays and floats; for division, logs and choices use the methods here (:meth:`div`,
:meth:`safe_ratio`, :meth:`log`, :meth:`where`, ...), which give numpy's results in both modes
(``x / 0`` is ``inf``, ``log(0)`` is ``-inf``), so a float never raises ``ZeroDivisionError``.
Write results functionally (``ops.where(mask, nan, x)``), never by assigning into an array.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import pandas as pd

from ml_core.features import _primitives as kernel

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig

#: A column (batch mode) or the newest bar's value (streaming mode).
Value = Union[np.ndarray, float]

NAN = float("nan")


def _check_window(name: str, n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`{name}` must be a positive integer, got `{name}={n!r}`")


class Ops:
    """Interface shared by :class:`BatchOps` and ``StreamOps``.

    Attributes
    ----------
    open, high, low, close, volume : Value
        The bar(s).
    log_close : Value
        ``log(close)``.
    log_return : Value
        ``log(close_t / close_{t-1})``; NaN on the first bar.
    config : FeatureConfig
        Feature settings (windows, fracdiff order).
    timeframe : timedelta
        Length of one bar; recipes with windows defined in time convert them with it.
    """

    open: Value
    high: Value
    low: Value
    close: Value
    volume: Value
    log_close: Value
    log_return: Value
    config: FeatureConfig
    timeframe: timedelta

    # ---------------------------------------------------------------- stateful operations
    def lag(self, x: Value, k: int) -> Value:
        """``x`` from ``k >= 1`` bars ago (NaN before)."""
        raise NotImplementedError

    def diff(self, x: Value, k: int = 1) -> Value:
        """``x - lag(x, k)``."""
        return x - self.lag(x, k)

    def smooth(self, x: Value, alpha: float, n: int, seed_after: int | None = None) -> Value:
        """Seeded exponential average ``y += alpha * (x - y)`` (see ``_primitives``)."""
        raise NotImplementedError

    def ema(self, x: Value, n: int, seed_after: int | None = None) -> Value:
        """TA-Lib EMA(n): ``alpha = 2 / (n + 1)``, seeded with the SMA of the first ``n`` values
        (``seed_after`` seeds later, with the SMA of the ``n`` values ending there, as
        TA-Lib's MACD does for its fast average)."""
        return self.smooth(x, 2.0 / (n + 1), n, seed_after)

    def wilder(self, x: Value, n: int, seed_after: int | None = None) -> Value:
        """Wilder's smoothing (``alpha = 1 / n``), seeded with the SMA of the first ``n`` values."""
        return self.smooth(x, 1.0 / n, n, seed_after)

    def rolling_sum(self, x: Value, n: int) -> Value:
        """Sum of the last ``n`` values (NaN until ``n`` are seen or while one is NaN)."""
        raise NotImplementedError

    def sma(self, x: Value, n: int) -> Value:
        """Mean of the last ``n`` values."""
        raise NotImplementedError

    def rolling_std(self, x: Value, n: int, ddof: int = 1) -> Value:
        """Standard deviation of the last ``n`` values; exactly 0 when they are all equal."""
        raise NotImplementedError

    def rolling_max(self, x: Value, n: int) -> Value:
        """Highest of the last ``n`` values."""
        raise NotImplementedError

    def rolling_min(self, x: Value, n: int) -> Value:
        """Lowest of the last ``n`` values."""
        raise NotImplementedError

    def rolling_apply(self, x: Value, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> Value:
        """``fn`` on the window of the last ``n`` values.

        ``fn`` maps a 2-D array of windows, shape ``(m, n)`` with the oldest value first, to
        shape ``(m,)``, using row-wise numpy reductions only (batch mode passes many rows,
        streaming mode one). For what no other operation expresses (Hurst, entropy, ...).
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- per-bar helpers
    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per key (and per bar when streaming), for shared intermediates."""
        raise NotImplementedError


class BatchOps(Ops):
    """:class:`Ops` on whole columns.

    Parameters
    ----------
    bars : pandas.DataFrame or None
        Columns ``open, high, low, close, volume``, one row per bar, oldest first; None for a
        data-free instance (``BATCH``) whose operations are used as plain array functions.
    config : FeatureConfig or None
    timeframe : timedelta or None
    """

    def __init__(
        self,
        bars: pd.DataFrame | None = None,
        config: FeatureConfig | None = None,
        timeframe: timedelta | None = None,
    ) -> None:
        self.config = config  # type: ignore[assignment]
        self.timeframe = timeframe  # type: ignore[assignment]
        self._cache: dict[Any, Any] = {}
        if bars is None:
            return
        self.n_bars = len(bars)
        for column in ("open", "high", "low", "close", "volume"):
            setattr(self, column, bars[column].to_numpy(dtype=np.float64, copy=True))
        self.log_close = np.log(self.close)
        # log of the ratio, not a difference of logs: no cancellation, exactly scale-invariant
        # for powers of two.
        self.log_return = np.log(self.close / kernel.lag(self.close, 1))

    # stateful
    def lag(self, x: Value, k: int) -> np.ndarray:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"`k` must be at least 1 (only past values), got `k={k!r}`")
        return kernel.lag(np.asarray(x, dtype=np.float64), int(k))

    def smooth(self, x: Value, alpha: float, n: int, seed_after: int | None = None) -> np.ndarray:
        _check_window("n", n)
        return kernel.smooth(np.asarray(x, dtype=np.float64), alpha, n,
                             seed_after or n)

    def rolling_sum(self, x: Value, n: int) -> np.ndarray:
        _check_window("n", n)
        return kernel.rolling_sum(np.asarray(x, dtype=np.float64), n)

    def sma(self, x: Value, n: int) -> np.ndarray:
        _check_window("n", n)
        return kernel.rolling_mean(np.asarray(x, dtype=np.float64), n)

    def rolling_std(self, x: Value, n: int, ddof: int = 1) -> np.ndarray:
        _check_window("n", n)
        if n <= ddof:
            raise ValueError(f"`n` must exceed `ddof={ddof}`, got `n={n}`")
        return kernel.rolling_std(np.asarray(x, dtype=np.float64), n, ddof)

    def rolling_max(self, x: Value, n: int) -> np.ndarray:
        _check_window("n", n)
        return kernel.rolling_max(np.asarray(x, dtype=np.float64), n)

    def rolling_min(self, x: Value, n: int) -> np.ndarray:
        _check_window("n", n)
        return kernel.rolling_min(np.asarray(x, dtype=np.float64), n)

    def rolling_apply(self, x: Value, n: int, fn: Callable[[np.ndarray], np.ndarray]
                      ) -> np.ndarray:
        _check_window("n", n)
        return kernel.rolling_apply(np.asarray(x, dtype=np.float64), n, fn)

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # element-wise
    @staticmethod
    def div(a: Value, b: Value) -> np.ndarray:
        """``a / b`` with IEEE results (``inf``, ``nan``) instead of errors."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.divide(a, b)

    @staticmethod
    def safe_ratio(num: Value, den: Value, fill: float) -> np.ndarray:
        """``num / den``, ``fill`` where ``den`` is zero; NaN where either is NaN."""
        num = np.asarray(num, dtype=np.float64)
        den = np.asarray(den, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = num / den
        return np.where(den == 0.0, np.where(np.isnan(num), np.nan, fill), out)

    @staticmethod
    def where(cond: Value, a: Value, b: Value) -> np.ndarray:
        """``a`` where ``cond`` else ``b`` (a NaN comparison is False)."""
        return np.where(cond, a, b)

    @staticmethod
    def maximum(a: Value, b: Value) -> np.ndarray:
        """Element-wise max; NaN if either is NaN."""
        return np.maximum(a, b)

    @staticmethod
    def minimum(a: Value, b: Value) -> np.ndarray:
        """Element-wise min; NaN if either is NaN."""
        return np.minimum(a, b)

    @staticmethod
    def clip(x: Value, lo: float, hi: float) -> np.ndarray:
        """``x`` limited to ``[lo, hi]`` (NaN stays NaN)."""
        return np.minimum(np.maximum(x, lo), hi)

    @staticmethod
    def sign(x: Value) -> np.ndarray:
        """-1, 0 or +1 (NaN stays NaN)."""
        return np.sign(x)

    @staticmethod
    def abs(x: Value) -> np.ndarray:
        return np.abs(x)

    @staticmethod
    def log(x: Value) -> np.ndarray:
        """Natural log; ``-inf`` at 0, NaN below."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def sqrt(x: Value) -> np.ndarray:
        """Square root; NaN below 0."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    @staticmethod
    def exp(x: Value) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(x)

    @staticmethod
    def isnan(x: Value) -> np.ndarray:
        return np.isnan(x)

    @staticmethod
    def notnan(x: Value) -> np.ndarray:
        return ~np.isnan(x)

    @staticmethod
    def tanh(x: Value) -> np.ndarray:
        return np.tanh(x)


#: Data-free batch operations: the indicator functions' default, usable on plain arrays.
BATCH = BatchOps()
