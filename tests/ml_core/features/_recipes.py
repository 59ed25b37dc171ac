"""Run one registered recipe in batch and in streaming mode, outside ``compute_features``.

Lets the catalogue tests check a feature on frames shorter than the whole set's lookback, and on
bar lengths (12 hours, 1 day) that make time-defined windows a handful of bars.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import FeatureConfig
from ml_core.features._ops import BatchOps, Ops, Value
from ml_core.features._spec import DEFINITIONS
from ml_core.features._stream_ops import StreamOps

Recipe = Callable[[Ops], Value]


def batch(recipe: Recipe, bars: pd.DataFrame, timeframe: timedelta,
          config: FeatureConfig | None = None) -> np.ndarray:
    """The recipe's column on ``bars`` (batch mode)."""
    ctx = BatchOps(bars, config or FeatureConfig(), timeframe)
    with np.errstate(all="ignore"):
        return np.asarray(recipe(ctx), dtype=np.float64)


def stream(recipe: Recipe, bars: pd.DataFrame, timeframe: timedelta,
           config: FeatureConfig | None = None) -> np.ndarray:
    """The recipe's value after each bar of ``bars``, fed one at a time (streaming mode)."""
    ops = StreamOps(config or FeatureConfig(), timeframe)
    out = np.empty(len(bars))
    rows = bars[["open", "high", "low", "close", "volume"]].to_numpy()
    for i, row in enumerate(rows):
        ops.step(*row)
        out[i] = recipe(ops)
    return out


def lookback(name: str, timeframe: timedelta, config: FeatureConfig | None = None) -> int:
    """The declared lookback of the registered feature ``name`` on bars of ``timeframe``."""
    return int(DEFINITIONS[name].lookback(config or FeatureConfig(), timeframe))


def bars_from_arrays(close, volume, open_=None, high=None, low=None,
                     freq: str = "12h") -> pd.DataFrame:
    """Bars from explicit columns (open, high, low default to the close)."""
    close = np.asarray(close, dtype=np.float64)
    def column(x):
        return close.copy() if x is None else np.asarray(x, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(close), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"open": column(open_), "high": column(high), "low": column(low),
                         "close": close, "volume": np.asarray(volume, dtype=np.float64)},
                        index=index)
