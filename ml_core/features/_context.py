"""The bars a feature recipe reads, as float arrays, with a cache for shared intermediates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from ml_core.config import FeatureConfig


class BarContext:
    """One bar frame (base or higher timeframe) prepared for the feature recipes.

    Parameters
    ----------
    bars : pandas.DataFrame
        Columns ``open, high, low, close, volume``; one row per bar, oldest first.
    config : FeatureConfig
        Feature settings (windows, fracdiff order).
    timeframe : timedelta
        Length of one bar of ``bars``; recipes with time-defined windows (``momentum_1h``)
        convert them to bars with it.

    Attributes
    ----------
    open, high, low, close, volume : ndarray of shape (n_bars,)
    log_close : ndarray of shape (n_bars,)
    log_return : ndarray of shape (n_bars,)
        ``log(close_t / close_{t-1})``, NaN at 0.
    """

    def __init__(self, bars: pd.DataFrame, config: FeatureConfig, timeframe: timedelta) -> None:
        self.config = config
        self.timeframe = timeframe
        self.n_bars = len(bars)
        for column in ("open", "high", "low", "close", "volume"):
            setattr(self, column, bars[column].to_numpy(dtype=np.float64, copy=True))
        self.log_close = np.log(self.close)
        # log of the ratio rather than a difference of logs: no cancellation, and exactly
        # invariant when prices are rescaled by a power of two.
        self.log_return = np.log(self.close / np.concatenate([[np.nan], self.close[:-1]]))
        self._cache: dict[Any, np.ndarray | tuple[np.ndarray, ...]] = {}

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per key, for intermediates several recipes share (EMAs, MACD, ATR)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]
