"""The bar length a file actually has, to catch a profile that does not match its data."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd


def infer_timeframe(timestamps: pd.Series | pd.DatetimeIndex) -> timedelta | None:
    """The most common positive spacing between consecutive sorted timestamps.

    Robust to gaps, duplicates and disorder (they are the quality gate's business); None when
    fewer than two distinct timestamps exist.
    """
    values = pd.Series(pd.DatetimeIndex(timestamps).dropna().sort_values())
    steps = values.diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty:
        return None
    return steps.mode().iloc[0].to_pytimedelta()
