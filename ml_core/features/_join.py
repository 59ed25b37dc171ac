"""Join higher-timeframe rows onto base bars without look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd


def join_higher_timeframe(base_index: pd.DatetimeIndex, htf: pd.DataFrame) -> pd.DataFrame:
    """Value at base bar ``t`` = the last ``htf`` row whose index is ``<= t``.

    ``htf`` must be indexed by *availability* time, as :func:`ml_core.data.resample_ohlcv`
    gives it (the open time of the last base bar of the bin, i.e. the bar whose close completes
    the higher-timeframe bar). A 1-hour bar covering 00:00-01:00 is thus indexed 00:30 on
    30-minute base bars and reaches the base bar opened at 00:30 (decided at its close, 01:00),
    never the one opened at 00:00 (compare freqtrade's ``merge_informative_pair``).

    Parameters
    ----------
    base_index : pandas.DatetimeIndex of shape (n_bars,)
        Base bar open times, sorted.
    htf : pandas.DataFrame of shape (n_htf_bars, n_columns)
        Higher-timeframe values indexed by availability time, sorted and unique.

    Returns
    -------
    pandas.DataFrame of shape (n_bars, n_columns)
        Index ``base_index``, the columns of ``htf``; NaN before the first ``htf`` row is
        available.
    """
    if not isinstance(base_index, pd.DatetimeIndex):
        raise TypeError(
            f"`base_index` must be a pandas.DatetimeIndex, got {type(base_index).__name__}"
        )
    if not isinstance(htf.index, pd.DatetimeIndex):
        raise TypeError(
            f"`htf` must be indexed by a DatetimeIndex, got {type(htf.index).__name__}"
        )
    if not (htf.index.is_monotonic_increasing and htf.index.is_unique):
        raise ValueError("`htf` index must be sorted ascending and unique")
    if (base_index.tz is None) != (htf.index.tz is None):
        raise ValueError(
            f"`base_index` and `htf` must both be time-zone aware or both naive, got "
            f"`base_index.tz={base_index.tz}`, `htf.index.tz={htf.index.tz}`"
        )
    if len(htf) == 0:
        return pd.DataFrame(np.nan, index=base_index, columns=htf.columns)
    position = htf.index.searchsorted(base_index, side="right") - 1
    out = htf.iloc[np.clip(position, 0, None)]
    out.index = base_index
    before = position < 0
    if before.any():
        out = out.astype({c: np.float64 for c in out.columns if out[c].dtype.kind in "iub"})
        out.iloc[np.flatnonzero(before)] = np.nan
    return out
