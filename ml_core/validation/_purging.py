"""Purging and embargo: which events may train a model tested on one contiguous block."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["purged_train_mask"]


def _as_datetime64(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as naive UTC ``datetime64[ns]`` (tz-aware input is converted to UTC)."""
    try:
        idx = pd.DatetimeIndex(values)
    except (TypeError, ValueError) as exc:
        dtype = np.asarray(values).dtype
        raise TypeError(f"`{name}` must hold datetimes, got dtype {dtype}") from exc
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    if idx.hasnans:
        first = int(np.flatnonzero(idx.isna())[0])
        raise ValueError(
            f"`{name}` must not contain NaT (first at position {first}); "
            "close open events at the last bar before cross-validating"
        )
    return idx.to_numpy(dtype="datetime64[ns]")


def _as_timedelta64(value: timedelta, name: str) -> np.timedelta64:
    td = pd.Timedelta(value)
    if td < pd.Timedelta(0):
        raise ValueError(f"`{name}` must not be negative, got `{name}={value}`")
    return td.to_timedelta64()


def _event_times(t0: Any, t1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert event start/end times; ``t1 >= t0`` element-wise."""
    t0 = _as_datetime64(t0, "t0")
    t1 = _as_datetime64(t1, "t1")
    if t0.shape != t1.shape:
        raise ValueError(f"`t0` and `t1` must have the same length, got {len(t0)} and {len(t1)}")
    bad = np.flatnonzero(t1 < t0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"`t1` must not precede `t0`, got t1={t1[i]} < t0={t0[i]} at position {i} "
            f"({bad.size} events)"
        )
    return t0, t1


def _mask(
    t0: np.ndarray, t1: np.ndarray, test_idx: np.ndarray, purge: np.timedelta64,
    embargo: np.timedelta64,
) -> np.ndarray:
    """Core of :func:`purged_train_mask` on already validated arrays."""
    start = t0[test_idx].min() - purge
    end = t1[test_idx].max()
    keep = (t1 < start) | (t0 > end + embargo)
    keep[test_idx] = False
    return keep


def purged_train_mask(
    t0: np.ndarray,
    t1: np.ndarray,
    test_idx: np.ndarray,
    purge: timedelta = timedelta(0),
    embargo: timedelta = timedelta(0),
) -> np.ndarray:
    """Boolean mask of the events that may train a model tested on one contiguous block.

    Event ``i`` spans ``[t0_i, t1_i]`` (its label is known only at ``t1_i``). With
    ``test_start = min(t0[test_idx])`` and ``test_end = max(t1[test_idx])``, event ``i`` is usable
    for training when it is not in the test block and

    - **purge**: ``[t0_i, t1_i]`` does not overlap ``[test_start - purge, test_end]``, i.e. its
      label neither reads test-period prices nor ends within ``purge`` before the test starts;
    - **embargo**: ``t0_i`` is not in ``(test_end, test_end + embargo]``, so features computed from
      serially correlated bars right after the test block do not leak into training.

    Together: keep ``i`` iff ``t1_i < test_start - purge`` or ``t0_i > test_end + embargo``; no kept
    event intersects ``[test_start - purge, test_end + embargo]``.

    Parameters
    ----------
    t0 : array-like of datetime64, shape (n_events,)
        Event start times (tz-aware values are compared in UTC).
    t1 : array-like of datetime64, shape (n_events,)
        Event end times (label resolution), ``t1 >= t0``; no NaT.
    test_idx : array-like of int, shape (n_test,)
        Positions of ONE contiguous test block (consecutive integers).
    purge : timedelta, default 0
        Extra span before the test start that training labels must not reach.
    embargo : timedelta, default 0
        Span after the test end in which no training event may start.

    Returns
    -------
    numpy.ndarray of bool, shape (n_events,)

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §7.4.1–7.4.2.
    """
    t0, t1 = _event_times(t0, t1)
    test_idx = np.asarray(test_idx)
    if test_idx.ndim != 1 or test_idx.size == 0 or not np.issubdtype(test_idx.dtype, np.integer):
        raise ValueError(f"`test_idx` must be a non-empty 1-d integer array, got {test_idx!r}")
    if test_idx.min() < 0 or test_idx.max() >= len(t0):
        raise ValueError(
            f"`test_idx` must lie in [0, {len(t0) - 1}], got values from {test_idx.min()} "
            f"to {test_idx.max()}"
        )
    if np.any(np.diff(test_idx) != 1):
        raise ValueError(
            "`test_idx` must be one contiguous block of consecutive positions; call "
            "purged_train_mask once per block and combine the masks with `&`"
        )
    return _mask(
        t0, t1, test_idx, _as_timedelta64(purge, "purge"), _as_timedelta64(embargo, "embargo")
    )


def _frame_event_times(
    X: Any, t1: Any, purge: timedelta, embargo: timedelta
) -> tuple[np.ndarray, np.ndarray, np.timedelta64, np.timedelta64]:
    """Event times of a splitter's ``X`` (index = t0) and ``t1``; validated purge and embargo.

    Shared by the purged splitters: ``X`` must be a DataFrame or Series with a sorted
    ``DatetimeIndex``; ``t1`` a Series on the same index (or an array of the same length), or None
    for point events (``t1 = t0``).
    """
    index = getattr(X, "index", None)
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(
            "`X` must be a DataFrame or Series indexed by event start time (DatetimeIndex), "
            f"got {type(X).__name__}"
            + (f" with {type(index).__name__}" if index is not None else "")
        )
    if not index.is_monotonic_increasing:
        raise ValueError("`X.index` must be sorted in time (monotonic increasing)")
    if t1 is None:
        t1_values: Any = index
    elif isinstance(t1, pd.Series):
        if not t1.index.equals(index):
            raise ValueError("`t1` must be aligned with `X`: `t1.index` differs from `X.index`")
        t1_values = t1.array
    else:
        t1_values = t1
    t0_arr, t1_arr = _event_times(index, t1_values)
    purge64 = _as_timedelta64(purge, "purge")
    embargo64 = _as_timedelta64(embargo, "embargo")
    span = t1_arr.max() - t0_arr.min()
    for name, value, td in (("purge", purge, purge64), ("embargo", embargo, embargo64)):
        if td > np.timedelta64(0, "ns") and td >= span:
            raise ValueError(
                f"`{name}` must be shorter than the data span {pd.Timedelta(span)}, "
                f"got `{name}={value}`"
            )
    return t0_arr, t1_arr, purge64, embargo64


def _check_train(train: np.ndarray, split: int, purge: timedelta, embargo: timedelta) -> None:
    if not train.any():
        raise ValueError(
            f"split {split} has no training events left after purging and embargo; reduce "
            f"`purge={purge}` / `embargo={embargo}` or use fewer test groups"
        )
