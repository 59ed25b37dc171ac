"""One check of the canonical bar frame, shared by every stage that consumes bars."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def check_bars(
    bars: pd.DataFrame,
    *,
    columns: Sequence[str] = OHLCV,
    name: str = "bars",
    base_timeframe: timedelta | None = None,
) -> None:
    """Raise naming the problem unless ``bars`` is a usable canonical bar frame.

    The quality gate (``expectations``) reports every defect of a file with its rows; this check
    is the library's own guard for callers that skip the gate. It requires a sorted, unique
    ``DatetimeIndex`` of bar open times; the given ``columns``; finite prices above zero and
    finite, non-negative volume; and, with ``base_timeframe``, no two bars closer than it.

    Raises
    ------
    TypeError
        ``bars`` is not a DataFrame.
    ValueError
        Anything else, naming the column and the first offending bar time.
    """
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(bars).__name__}")
    missing = [c for c in columns if c not in bars.columns]
    if missing:
        raise ValueError(f"`{name}` lacks columns {missing}; it has {list(bars.columns)}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError(f"`{name}` must have a DatetimeIndex of bar open times, got "
                         f"{type(bars.index).__name__}")
    if not (bars.index.is_monotonic_increasing and bars.index.is_unique):
        raise ValueError(f"`{name}` index must be sorted ascending and unique")
    if base_timeframe is not None and len(bars) > 1:
        spacing = (bars.index[1:] - bars.index[:-1]).min()
        if spacing < base_timeframe:
            raise ValueError(f"`{name}` has bars {spacing} apart, less than "
                             f"`base_timeframe={base_timeframe}`")
    for column in columns:
        data = bars[column].to_numpy(dtype=np.float64)
        nonfinite = ~np.isfinite(data)
        if nonfinite.any():
            first = bars.index[int(np.flatnonzero(nonfinite)[0])]
            raise ValueError(f"`{name}[{column!r}]` holds NaN or infinite values "
                             f"({int(nonfinite.sum())}), the first in {column!r} at {first}")
        bad = data < 0 if column == "volume" else data <= 0
        if bad.any():
            first_i = int(np.flatnonzero(bad)[0])
            rule = "finite and >= 0" if column == "volume" else "finite and > 0"
            raise ValueError(f"`{name}[{column!r}]` must be {rule}; {int(bad.sum())} values are "
                             f"not, the first {data[first_i]} at {bars.index[first_i]} (run the "
                             f"data quality gate first)")
