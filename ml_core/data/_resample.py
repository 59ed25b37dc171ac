"""Aggregate base bars into higher-timeframe bars, stamped with when they become known."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd


def resample_ohlcv(
    bars: pd.DataFrame, timeframe: timedelta, base_timeframe: timedelta
) -> pd.DataFrame:
    """Aggregate base bars into bars of ``timeframe``, indexed by their availability time.

    A higher-timeframe bar covering ``[T, T + timeframe)`` is complete once its last base bar,
    opened at ``T + timeframe - base_timeframe``, has closed. The result is indexed by that
    open time, so that at base bar ``t`` every higher-timeframe row with index ``<= t`` was built
    from base bars opened at or before ``t`` only (no look-ahead; compare freqtrade's
    ``merge_informative_pair``). The last, possibly incomplete, bin is indexed past the data and
    never reaches a base bar.

    Parameters
    ----------
    bars : pandas.DataFrame
        Canonical bars (UTC ``timestamp`` index of open times, sorted, unique).
    timeframe : timedelta
        Higher bar length; a whole multiple of ``base_timeframe``.
    base_timeframe : timedelta
        Length of one base bar.

    Returns
    -------
    pandas.DataFrame
        Columns ``open, high, low, close, volume, n_bars`` and ``bin_start``; index name
        ``available_at``. Empty bins (gaps) are dropped.
    """
    if timeframe % base_timeframe or timeframe <= base_timeframe:
        raise ValueError(
            f"`timeframe` must be a whole multiple (> 1) of `base_timeframe`, got "
            f"timeframe={timeframe}, base_timeframe={base_timeframe}"
        )
    grouped = bars.resample(pd.Timedelta(timeframe), label="left", closed="left", origin="epoch")
    out = grouped.agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    out["n_bars"] = grouped["close"].count()
    out = out[out["n_bars"] > 0]
    out["bin_start"] = out.index
    out.index = out.index + pd.Timedelta(timeframe - base_timeframe)
    out.index.name = "available_at"
    return out
