"""The training window of a point-in-time retrain: the bars closed by ``as_of``, the last
``lookback`` of them, within an optional fixed span."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from ml_core._durations import format_duration

__all__ = ["bars_window", "utc_timestamp"]


def utc_timestamp(value: datetime | pd.Timestamp | str, name: str) -> pd.Timestamp:
    """``value`` as a UTC timestamp (naive means UTC); a ``ValueError`` names ``name`` otherwise."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be a date-time, got `{name}={value!r}`") from exc
    if stamp is pd.NaT:
        raise ValueError(f"`{name}` must be a date-time, got `{name}={value!r}`")
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def _span(bars: pd.DataFrame) -> str:
    if bars.empty:
        return "no bars"
    return f"{len(bars):,} bars from {bars.index[0]} to {bars.index[-1]}"


def bars_window(
    bars: pd.DataFrame,
    timeframe: timedelta,
    as_of: datetime | pd.Timestamp | str | None = None,
    lookback: timedelta | None = None,
    start: datetime | pd.Timestamp | None = None,
    end: datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The bars a retrain at ``as_of`` trains on.

    A bar opened at ``ts`` closes at ``ts + timeframe`` and is usable from then on, so only bars
    with ``ts + timeframe <= as_of`` are kept: nothing after ``as_of`` can reach a fit. Then
    ``start``/``end`` (open times, inclusive) cut a fixed span, and ``lookback`` keeps the bars
    opened within ``lookback`` of the newest bar's close: a window that moves with the data, so
    a retrain on a store whose newest bar lags ``as_of`` still gets its full window.

    Parameters
    ----------
    bars : pandas.DataFrame
        Canonical bars (UTC ``DatetimeIndex``, sorted).
    timeframe : timedelta
        Bar length.
    as_of : datetime or str, optional
        The retrain's moment (naive means UTC); None keeps every bar.
    lookback : timedelta, optional
        Length of the window; None keeps every bar.
    start, end : datetime, optional
        The profile's fixed ``data.start`` and ``data.end``.

    Returns
    -------
    pandas.DataFrame
        The window's bars.

    Raises
    ------
    ValueError
        When no bar is left, naming ``as_of``, the window and the bars' own span.
    """
    if timeframe <= timedelta(0):
        raise ValueError(f"`timeframe` must be positive, got `timeframe={timeframe}`")
    if lookback is not None and lookback <= timedelta(0):
        raise ValueError(f"`lookback` must be a positive duration, got `lookback={lookback}`")
    window = bars
    if as_of is not None:
        stamp = utc_timestamp(as_of, "as_of")
        window = window.loc[window.index + pd.Timedelta(timeframe) <= stamp]
    window = window.loc[start:end]
    if lookback is not None and len(window):
        newest_close = window.index[-1] + pd.Timedelta(timeframe)
        window = window.loc[window.index >= newest_close - pd.Timedelta(lookback)]
    if window.empty:
        asked = [f"as_of={utc_timestamp(as_of, 'as_of')}" if as_of is not None else None,
                 f"data.start={start}" if start is not None else None,
                 f"data.end={end}" if end is not None else None,
                 f"data.lookback={format_duration(lookback)}" if lookback is not None else None]
        raise ValueError(f"no bars in the window ({', '.join(a for a in asked if a)}): the data "
                         f"holds {_span(bars)}")
    return window
