"""Plain buy-and-hold of the asset over a time span: what holding it, and nothing else, gave."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BUY_AND_HOLD_METRICS", "buy_and_hold_metrics", "check_close", "event_span"]

BUY_AND_HOLD_METRICS: tuple[str, ...] = (
    "n_trades", "sharpe", "sortino", "max_drawdown", "hit_rate", "total_return", "n_bars")
"""Keys of :func:`buy_and_hold_metrics`."""


def check_close(close: Any) -> pd.Series:
    """``close`` as a float Series on a sorted DatetimeIndex of at least 2 positive finite prices.

    Raises
    ------
    ValueError
        Naming ``close`` and what is wrong with it.
    """
    if not isinstance(close, pd.Series) or not isinstance(close.index, pd.DatetimeIndex):
        raise ValueError(f"`close` must be a pandas Series on a DatetimeIndex, got "
                         f"{type(close).__name__}")
    if len(close) < 2:
        raise ValueError(f"`close` must hold at least 2 prices, got {len(close)}")
    if not close.index.is_monotonic_increasing:
        raise ValueError("`close` must be sorted by time")
    values = close.to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`close` must be positive and finite, got {values[first]} at "
                         f"{close.index[first]}")
    return close.astype(np.float64)


def event_span(events: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First event start ``t0`` (the index) and the last label end ``t1``: the span the events'
    trades can occupy."""
    return events.index[0], pd.Timestamp(events["t1"].max())


def buy_and_hold_metrics(close: pd.Series, start: pd.Timestamp,
                         end: pd.Timestamp) -> dict[str, float]:
    """Metrics of holding the asset long from the close at ``start`` to the close at ``end``.

    One position, no costs: the bar returns ``close[t] / close[t-1] - 1`` of every bar ``t`` in
    ``(start, end]``, scored with :mod:`ml_core.metrics` and annualised at the bars' own rate
    (:func:`~ml_core.metrics.periods_per_year` of the median bar spacing of ``close``).
    ``start`` and ``end`` are taken as the last bar at or before them.

    Parameters
    ----------
    close : pandas.Series of float
        Close prices on a sorted DatetimeIndex (:func:`check_close`).
    start, end : pandas.Timestamp
        The span, e.g. :func:`event_span` of the events a strategy traded.

    Returns
    -------
    dict
        :data:`BUY_AND_HOLD_METRICS`: ``n_trades`` (1), ``sharpe``, ``sortino``,
        ``max_drawdown``, ``hit_rate`` (share of the moving bars that rose), ``total_return``
        (``close[end] / close[start] - 1``), ``n_bars`` (bar returns in the span); the ratios are
        NaN when the span holds fewer than 2 bar returns.

    Raises
    ------
    ValueError
        If ``start`` is before the first bar or ``end`` is not after ``start``.

    Examples
    --------
    >>> idx = pd.date_range("2024", periods=4, freq="h")
    >>> m = buy_and_hold_metrics(pd.Series([100.0, 110.0, 99.0, 108.9], idx), idx[0], idx[3])
    >>> round(m["total_return"], 6), round(m["max_drawdown"], 6), m["n_bars"]
    (0.089, 0.1, 3.0)
    """
    from ml_core.metrics import (
        hit_rate,
        max_drawdown,
        periods_per_year,
        sharpe_ratio,
        sortino_ratio,
    )

    if start < close.index[0]:
        raise ValueError(f"`close` must cover the span: it starts at {close.index[0]}, after "
                         f"`start={start}`")
    if not end > start:
        raise ValueError(f"`end` must be after `start`, got `start={start}`, `end={end}`")
    first = int(close.index.searchsorted(start, side="right")) - 1
    last = int(close.index.searchsorted(end, side="right")) - 1
    prices = close.to_numpy(dtype=np.float64)[first:last + 1]
    returns = prices[1:] / prices[:-1] - 1.0
    ppy = periods_per_year(pd.Series(close.index).diff().median().to_pytimedelta())
    enough = returns.size >= 2
    nan = float("nan")
    return {
        "n_trades": 1.0,
        "sharpe": sharpe_ratio(returns, ppy) if enough else nan,
        "sortino": sortino_ratio(returns, ppy) if enough else nan,
        "max_drawdown": max_drawdown(returns) if returns.size else nan,
        "hit_rate": hit_rate(returns) if returns.size else nan,
        "total_return": float(prices[-1] / prices[0] - 1.0),
        "n_bars": float(returns.size),
    }
