"""The HMM refitted on a cross-validation split's training events only, and its feature columns."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import RegimeConfig
from ml_core.regime._api import fit_regime_model
from ml_core.regime._columns import TRANSFORM_COLUMNS
from ml_core.regime._hmm import RegimeHMM


def training_segments(t1: pd.Series,
                      train_idx: np.ndarray) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The bar spans a split's training events cover: one per run of consecutive training rows.

    A run of rows ``i..j`` (consecutive positions, all in ``train_idx``) spans
    ``[t0_i, max(t1_i..t1_j)]``: from its first event's start to its last label end. Rows missing
    from ``train_idx`` (test groups, purged and embargoed events) end a run, so no segment
    reaches into a test group when the split is purged: a training event before a test group
    ends before the group starts, and one after it starts after the group's last label end.

    Parameters
    ----------
    t1 : pandas.Series
        Label end per event, indexed by the sorted event starts ``t0``.
    train_idx : ndarray of int
        Positions of the training events in ``t1``, sorted.

    Returns
    -------
    list of (start, end)
        Inclusive bar spans in time order; empty when ``train_idx`` is.
    """
    idx = np.asarray(train_idx, dtype=np.int64)
    if idx.size and (np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= len(t1)):
        raise ValueError(
            f"`train_idx` must be sorted unique positions in [0, {len(t1)}), got "
            f"{idx.size} positions from {idx.min()} to {idx.max()}"
        )
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    t0 = pd.DatetimeIndex(t1.index)
    ends = pd.DatetimeIndex(t1.to_numpy())
    return [(t0[run[0]], ends[run].max()) for run in np.split(idx, breaks) if run.size]


def refit_regime_features(
    bars: pd.DataFrame,
    t1: pd.Series,
    train_idx: np.ndarray,
    config: RegimeConfig,
    base_timeframe: timedelta,
    random_state: int | None = None,
) -> tuple[RegimeHMM, pd.DataFrame]:
    """Fit the HMM on the bars of a split's training events only; its features at every event.

    The model is :func:`~ml_core.regime.fit_regime_model` on the :func:`training_segments` of
    ``train_idx``, each a separate sequence (its own warm-up; no return across a test group).
    Its features are :meth:`RegimeHMM.transform` over all of ``bars`` (the forward filter, causal:
    an event's row reads bars up to its ``t0`` and this split's parameters), read at the events.
    Test events thus get the features a model fitted without their bars gives, as live bars
    would; the filter still runs through the test bars on its way to later training events, as
    every causal feature with a look-back does (purge and embargo bound that).

    Parameters
    ----------
    bars : pandas.DataFrame
        Base bars (canonical schema) covering every event's ``t0``; the development bars,
        never the final holdout's.
    t1 : pandas.Series
        Label end per event, indexed by the sorted event starts ``t0``.
    train_idx : ndarray of int
        Positions of the split's (purged) training events in ``t1``.
    config, base_timeframe, random_state
        As for :func:`~ml_core.regime.fit_regime_model`.

    Returns
    -------
    model : RegimeHMM
        Fitted on the training segments only (``n_fit_bars_`` regime observations).
    features : pandas.DataFrame
        :data:`~ml_core.regime.TRANSFORM_COLUMNS` on ``t1.index``.

    Raises
    ------
    ValueError
        ``bars`` lacking an event start, or the fit's own errors (too few training bars, every
        restart degenerate).
    """
    missing = pd.DatetimeIndex(t1.index).difference(bars.index)
    if len(missing):
        raise ValueError(
            f"`bars` must hold every event start, got {len(missing)} missing, the first "
            f"{missing[0]}"
        )
    segments = [bars.loc[start:end] for start, end in training_segments(t1, train_idx)]
    model = fit_regime_model(segments, config, base_timeframe, random_state)
    features = model.transform(bars).reindex(t1.index)
    return model, features.loc[:, list(TRANSFORM_COLUMNS)]
