"""The final holdout: the most recent events, kept out of everything but one last score."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.pipeline._dataset import TrainingSet

__all__ = ["holdout_start", "split_holdout"]

_MIN_EVENTS = 20  # fewer holdout (or development) events cannot be scored meaningfully


def _rows(dataset: TrainingSet, mask: np.ndarray) -> TrainingSet:
    return replace(dataset, X=dataset.X[mask], targets=dataset.targets[mask],
                   events=dataset.events[mask])


def holdout_start(
    index: pd.DatetimeIndex,
    *,
    span: timedelta | None = None,
    fraction: float | None = None,
) -> pd.Timestamp:
    """The first bar of the final holdout, chosen on the bars before anything is fitted.

    The holdout is cut on the *bars*, not on labelled events, so that every fitted component
    (feature settings, the HMM, tuning, selection, forests, meta-learner, calibrator) can be
    given the bars before it and nothing else: events depend on tuned barrier widths, bars do not.

    Parameters
    ----------
    index : DatetimeIndex
        Bar open times in increasing order.
    span : timedelta, optional
        Length of the holdout: the first bar at or after ``index[-1] - span``.
    fraction : float, optional
        Share of the bars in the holdout, in (0, 0.5): bar ``n - ceil(fraction * n)``.
        Give ``span`` or ``fraction``.

    Returns
    -------
    Timestamp
        Bars at or after it are the holdout's; no fit may read them.

    Raises
    ------
    ValueError
        Neither or both of ``span``/``fraction``, or a value out of range (named with its value).

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=100, freq="h")
    >>> str(holdout_start(idx, fraction=0.2)), str(holdout_start(idx, span=timedelta(hours=10)))
    ('2024-01-04 08:00:00', '2024-01-04 17:00:00')
    """
    if (span is None) == (fraction is None):
        raise ValueError(f"give one of `span` and `fraction`, got `span={span}`, "
                         f"`fraction={fraction}`")
    n = len(index)
    if n < 2:
        raise ValueError(f"`index` needs at least 2 bars to hold a holdout out, got {n}")
    if fraction is not None:
        if not 0.0 < fraction < 0.5:
            raise ValueError(f"`fraction` must be in (0, 0.5), got `fraction={fraction}`")
        return index[n - math.ceil(fraction * n)]
    if pd.Timedelta(span) <= pd.Timedelta(0):
        raise ValueError(f"`span` must be positive, got `span={span}`")
    position = int(index.searchsorted(index[-1] - pd.Timedelta(span), side="left"))
    if position == 0:
        raise ValueError(f"`span={span}` covers every bar ({index[0]} to {index[-1]}); nothing "
                         f"would be left to fit on")
    return index[position]


def split_holdout(
    dataset: TrainingSet,
    *,
    span: timedelta | None = None,
    fraction: float | None = None,
    cut: pd.Timestamp | None = None,
    purge: timedelta = timedelta(0),
) -> tuple[TrainingSet, TrainingSet]:
    """Split off the most recent events as a final holdout.

    The holdout starts at ``cut``: given (from :func:`holdout_start` on the bars, as a retrain
    does), or ``span`` before the last event start, or the start of the last
    ``ceil(fraction * n)`` events. It holds every event with ``t0 >= cut``. The development
    set (tuning, selection, CPCV, walk-forward, meta-learner, calibration, the served model) holds
    the events whose label ended before ``cut - purge``: an event whose label reads holdout prices
    is dropped from both, so no development label knows anything about the holdout period.

    Parameters
    ----------
    dataset : TrainingSet
        Events in time order.
    span : timedelta, optional
        Length of the holdout period (production: 180 days).
    fraction : float, optional
        Share of the events in the holdout, in (0, 0.5).
    cut : Timestamp, optional
        First time of the holdout. Give exactly one of ``span``, ``fraction`` and ``cut``.
    purge : timedelta, default 0
        Gap before ``cut`` that development labels must not reach (use the CV's purge).

    Returns
    -------
    development, holdout : TrainingSet
        ``n_dropped_warmup`` is carried over to the development set and 0 in the holdout.

    Raises
    ------
    ValueError
        Not exactly one of ``span``/``fraction``/``cut``, values out of range, or fewer than 20 events
        left on either side (the message names the parameter and its value).

    Examples
    --------
    >>> from datetime import timedelta
    >>> idx = pd.date_range("2024-01-01", periods=100, freq="h", name="t0")
    >>> frame = pd.DataFrame({"x": range(100)}, index=idx)
    >>> events = pd.DataFrame({"t1": idx + pd.Timedelta("2h")}, index=idx)
    >>> data = TrainingSet(frame, frame.rename(columns={"x": "entry"}), events, 0)
    >>> dev, hold = split_holdout(data, fraction=0.2, purge=timedelta(hours=1))
    >>> len(dev.X), len(hold.X), str(hold.X.index[0])
    (77, 20, '2024-01-04 08:00:00')
    """
    if sum(x is not None for x in (span, fraction, cut)) != 1:
        raise ValueError(f"give one of `span`, `fraction` and `cut`, got `span={span}`, "
                         f"`fraction={fraction}`, `cut={cut}`")
    t0 = dataset.X.index
    n = len(t0)
    if cut is not None:
        name, value = "cut", cut
    elif fraction is not None:
        if not 0.0 < fraction < 0.5:
            raise ValueError(f"`fraction` must be in (0, 0.5), got `fraction={fraction}`")
        cut = t0[n - math.ceil(fraction * n)]
        name, value = "fraction", fraction
    else:
        if pd.Timedelta(span) <= pd.Timedelta(0):
            raise ValueError(f"`span` must be positive, got `span={span}`")
        cut = t0[-1] - pd.Timedelta(span)
        name, value = "span", span
    holdout = np.asarray(t0 >= cut)
    development = np.asarray(pd.DatetimeIndex(dataset.t1) < cut - pd.Timedelta(purge)) & ~holdout
    for side, mask in (("holdout", holdout), ("development", development)):
        if mask.sum() < _MIN_EVENTS:
            raise ValueError(
                f"`{name}={value}` leaves {int(mask.sum())} {side} events of {n} "
                f"(at least {_MIN_EVENTS} needed); the holdout starts at {cut}")
    dev = _rows(dataset, development)
    return dev, replace(_rows(dataset, holdout), n_dropped_warmup=0)
