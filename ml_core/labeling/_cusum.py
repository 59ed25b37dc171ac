"""Event sampling with the symmetric CUSUM filter (López de Prado, AFML, section 2.5.2.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cusum_events(close: pd.Series, threshold: pd.Series | float) -> pd.DatetimeIndex:
    """Times at which cumulative log-return drift since the last event exceeds ``threshold``.

    Sampling events only after a meaningful move keeps overlapping triple-barrier labels from
    dominating the training set and cuts training cost. The filter is causal: whether ``t`` is an
    event depends on closes at or before ``t`` and on ``threshold`` at ``t``.

    Parameters
    ----------
    close : pandas.Series
        Close prices indexed by bar time.
    threshold : pandas.Series or float
        Positive threshold in log-return units, per bar (e.g. a multiple of rolling volatility) or
        constant. Bars where it is NaN are skipped and reset nothing.

    Returns
    -------
    pandas.DatetimeIndex
        Event times, a subset of ``close.index``.
    """
    log_ret = np.diff(np.log(close.to_numpy(dtype="float64")), prepend=np.nan)
    h = np.broadcast_to(np.asarray(threshold, dtype="float64"), log_ret.shape)
    if np.nanmin(h, initial=np.inf) <= 0:
        raise ValueError(f"`threshold` must be positive, got minimum {np.nanmin(h)}")
    events = np.zeros(len(log_ret), dtype=bool)
    s_pos = s_neg = 0.0
    for i in range(1, len(log_ret)):
        r, hi = log_ret[i], h[i]
        if np.isnan(r) or np.isnan(hi):
            continue
        s_pos = max(0.0, s_pos + r)
        s_neg = min(0.0, s_neg + r)
        if s_pos > hi:
            s_pos = 0.0
            events[i] = True
        elif s_neg < -hi:
            s_neg = 0.0
            events[i] = True
    return close.index[events]
