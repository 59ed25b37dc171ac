"""The HMM's observations: regime-scale log return and log realised volatility, causally built."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ml_core.data import resample_ohlcv

OBSERVATION_NAMES: tuple[str, ...] = ("log_return", "log_realised_vol")
_OHLCV = ("open", "high", "low", "close", "volume")
# Floor on the mean squared return before the log, used outside fitting only: a window of
# unchanged closes gives a very low (not -inf) volatility so the filter can carry on.
_MIN_MEAN_SQUARE = 1e-24


def regime_bars(
    bars: pd.DataFrame, timeframe: timedelta, base_timeframe: timedelta
) -> pd.DataFrame:
    """Closed regime bars: :func:`ml_core.data.resample_ohlcv` without the still-open last bin.

    A bin is closed once a base bar at or after its availability time exists; the last bin of
    ``bars`` whose availability time lies past ``bars.index[-1]`` is still forming and is dropped
    (it could never be joined causally anyway).
    """
    out = resample_ohlcv(bars.loc[:, list(_OHLCV)], timeframe, base_timeframe)
    if len(bars):
        out = out[out.index <= bars.index[-1]]
    return out


def regime_observations(
    bars: pd.DataFrame,
    timeframe: timedelta,
    base_timeframe: timedelta,
    volatility_window: int,
    floor_volatility: bool = True,
) -> pd.DataFrame:
    """Raw (unstandardised) observations per closed regime bar.

    ``log_return[j] = log(close[j] / close[j-1])`` and ``log_realised_vol[j] =
    0.5 * log(mean(log_return[j-w+1..j] ** 2))`` with ``w = volatility_window`` (realised
    volatility about zero, the usual convention for short windows). Row ``j`` uses regime bars
    ``<= j`` only. The first ``w`` rows are NaN (warm-up).

    Parameters
    ----------
    floor_volatility : bool
        Floor the mean square at a tiny positive value so a window of unchanged closes gives a
        finite (very low) value; with ``False`` such rows are ``-inf``.

    Returns
    -------
    pandas.DataFrame
        Index ``available_at`` of the regime bars, columns :data:`OBSERVATION_NAMES`.
    """
    regime = regime_bars(bars, timeframe, base_timeframe)
    log_close = np.log(regime["close"])
    log_ret = log_close.diff()
    square = (log_ret**2).to_numpy(dtype="float64")
    mean_square = np.full(len(square), np.nan)
    if len(square) >= volatility_window:  # NaN in a window (row 0's return) gives NaN
        mean_square[volatility_window - 1 :] = (
            sliding_window_view(square, volatility_window).sum(axis=1) / volatility_window
        )
    if floor_volatility:
        mean_square = np.maximum(mean_square, _MIN_MEAN_SQUARE)  # NaN stays NaN
    with np.errstate(divide="ignore"):
        log_vol = 0.5 * np.log(mean_square)
    return pd.DataFrame(
        {OBSERVATION_NAMES[0]: log_ret, OBSERVATION_NAMES[1]: log_vol}, index=regime.index
    )
