"""Compute the causal feature matrix of a bar frame."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import FeatureConfig
from ml_core.data import check_bars, resample_ohlcv
from ml_core.features._ops import BATCH, BatchOps
from ml_core.features._join import join_higher_timeframe
from ml_core.features._registry import PlannedColumn, plan_columns
from ml_core.features._spec import CrossTimeframeDefinition, timeframe_label



def compute_features(
    bars: pd.DataFrame, config: FeatureConfig, base_timeframe: timedelta
) -> pd.DataFrame:
    """The feature matrix of ``bars``: base, higher-timeframe and cross-timeframe features.

    Pure and causal: row ``t`` uses bars with open time ``<= t`` only (bar ``t`` itself is
    complete at decision time, its close). Higher-timeframe features are computed on
    :func:`ml_core.data.resample_ohlcv` bars and joined with :func:`join_higher_timeframe`, so
    a 4-hour value reaches the base bars only from the bar whose close completes the 4 hours.
    No value is normalised with statistics of the whole series.

    Parameters
    ----------
    bars : pandas.DataFrame of shape (n_bars, >= 5)
        Canonical bars: UTC ``DatetimeIndex`` of open times (sorted, unique, spaced at least
        ``base_timeframe`` apart), finite float columns ``open, high, low, close, volume`` with
        positive prices and non-negative volume. Other columns are ignored.
    config : FeatureConfig
        Windows, fracdiff settings and the higher timeframes.
    base_timeframe : timedelta
        Length of one base bar; every higher timeframe must be a whole multiple of it.

    Returns
    -------
    pandas.DataFrame of shape (n_bars, n_features)
        Index ``bars.index``; float64 columns named and ordered as
        :func:`feature_names` ``(config, base_timeframe)``. NaN while a feature warms up (see
        :attr:`FeatureSpec.lookback`), finite afterwards.

    Raises
    ------
    ValueError
        When ``bars`` is malformed, a higher timeframe is not a multiple of ``base_timeframe``,
        or ``bars`` is shorter than the longest lookback (the message names that feature and the
        bars it needs).
    """
    plan = plan_columns(config, base_timeframe)
    check_bars(bars, base_timeframe=base_timeframe)
    _check_length(bars, plan)

    values: dict[str, np.ndarray] = {}
    base_ctx = BatchOps(bars, config, base_timeframe)
    with np.errstate(all="ignore"):
        base_values = {c.definition.name: np.asarray(c.definition.compute(base_ctx), np.float64)
                       for c in plan if c.timeframe is None
                       and not isinstance(c.definition, CrossTimeframeDefinition)}
    values.update(base_values)
    frames = {timeframe_label(base_timeframe): base_values}

    higher = list(dict.fromkeys(c.timeframe for c in plan if c.timeframe is not None))
    for tf in higher:
        htf_bars = resample_ohlcv(bars, tf, base_timeframe)
        ctx = BatchOps(htf_bars, config, tf)
        columns = [c for c in plan if c.timeframe == tf]
        with np.errstate(all="ignore"):
            htf_values = pd.DataFrame(
                {c.definition.name: np.asarray(c.definition.compute(ctx), np.float64)
                 for c in columns}, index=htf_bars.index,
            )
        joined = join_higher_timeframe(bars.index, htf_values)
        frames[timeframe_label(tf)] = {name: joined[name].to_numpy() for name in joined.columns}
        for c in columns:
            values[c.spec.name] = frames[timeframe_label(tf)][c.definition.name]

    for column in plan:
        if isinstance(column.definition, CrossTimeframeDefinition):
            values[column.spec.name] = column.definition.compute(frames, BATCH)

    return pd.DataFrame(
        {c.spec.name: np.asarray(values[c.spec.name], dtype=np.float64) for c in plan},
        index=bars.index,
    )


def _check_length(bars: pd.DataFrame, plan: list[PlannedColumn]) -> None:
    longest = max(plan, key=lambda c: c.base_bars_needed)
    if len(bars) < longest.base_bars_needed:
        spec = longest.spec
        hint = "" if longest.timeframe is None else (
            f" or drop {spec.timeframe} from `higher_timeframes`"
        )
        raise ValueError(
            f"`bars` has {len(bars)} rows, fewer than feature `{spec.name}` needs: "
            f"{longest.base_bars_needed} base bars (lookback {spec.lookback} bars of "
            f"{spec.timeframe}); pass more history{hint}"
        )
