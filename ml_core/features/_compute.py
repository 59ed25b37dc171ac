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

    # One Fortran-ordered block, filled column by column: pandas wraps it without a copy, so the
    # peak memory is the matrix plus the few columns being computed.
    out = np.empty((len(bars), len(plan)), dtype=np.float64, order="F")
    position = {c.spec.name: j for j, c in enumerate(plan)}
    needed = {name for c in plan if isinstance(c.definition, CrossTimeframeDefinition)
              for name in c.definition.requires}
    frames: dict[str, dict[str, np.ndarray]] = {}

    base_ctx = BatchOps(bars, config, base_timeframe)
    base_label = timeframe_label(base_timeframe)
    frames[base_label] = {}
    with np.errstate(all="ignore"):
        for c in plan:
            if c.timeframe is None and not isinstance(c.definition, CrossTimeframeDefinition):
                out[:, position[c.spec.name]] = c.definition.compute(base_ctx)
                if c.definition.name in needed:
                    frames[base_label][c.definition.name] = out[:, position[c.spec.name]]
    del base_ctx

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
        label = timeframe_label(tf)
        frames[label] = {}
        for c in columns:
            out[:, position[c.spec.name]] = joined[c.definition.name].to_numpy()
            if c.definition.name in needed:
                frames[label][c.definition.name] = out[:, position[c.spec.name]]

    with np.errstate(all="ignore"):
        for c in plan:
            if isinstance(c.definition, CrossTimeframeDefinition):
                out[:, position[c.spec.name]] = c.definition.compute(frames, BATCH)

    return pd.DataFrame(out, index=bars.index, columns=[c.spec.name for c in plan], copy=False)


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
