"""Purged k-fold: contiguous temporal test folds with purging and embargo."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from ml_core.validation._purging import _check_train, _frame_event_times, _mask

__all__ = ["PurgedKFold"]


class PurgedKFold(BaseCrossValidator):
    """K-fold cross-validation on time-ordered events, purged by label end time.

    The ``n_splits`` test folds are contiguous blocks of events in time order (sizes as in
    :func:`numpy.array_split`). For each fold, training events are those of the other folds whose
    ``[t0, t1]`` span does not overlap ``[test_start - purge, test_end + embargo]`` (see
    :func:`purged_train_mask`); training data lies on both sides of the test fold.

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds, at least 2.
    purge : timedelta, default 0
        Span before each test fold that training labels must not reach.
    embargo : timedelta, default 0
        Span after each test fold in which no training event may start.

    Notes
    -----
    ``split`` takes the label end times as the keyword ``t1``; scikit-learn helpers that call
    ``split(X, y, groups)`` get ``t1 = t0`` (point events), which only applies the embargo.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §7.4.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": range(6)}, index=pd.date_range("2024", periods=6, freq="h"))
    >>> [test.tolist() for _, test in PurgedKFold(n_splits=3).split(X)]
    [[0, 1], [2, 3], [4, 5]]
    """

    def __init__(
        self, n_splits: int = 5, purge: timedelta = timedelta(0), embargo: timedelta = timedelta(0)
    ) -> None:
        self.n_splits = n_splits
        self.purge = purge
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of splits, ``n_splits``."""
        return self.n_splits

    def split(
        self, X: Any, y: Any = None, groups: Any = None, *, t1: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` position arrays, test folds in time order.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_events, n_features)
            Indexed by a sorted ``DatetimeIndex`` of event start times ``t0``.
        y, groups : ignored
            For scikit-learn compatibility.
        t1 : pandas.Series of datetime64, shape (n_events,), optional
            Event end times on ``X.index``; None means ``t1 = t0``.

        Yields
        ------
        train_idx, test_idx : numpy.ndarray of int
        """
        if (
            not isinstance(self.n_splits, numbers.Integral)
            or isinstance(self.n_splits, bool)
            or self.n_splits < 2
        ):
            raise ValueError(
                f"`n_splits` must be an integer of at least 2, got `n_splits={self.n_splits}`"
            )
        t0, t1_arr, purge, embargo = _frame_event_times(X, t1, self.purge, self.embargo)
        n = len(t0)
        if self.n_splits > n:
            raise ValueError(
                f"`n_splits` must not exceed the number of events {n}, "
                f"got `n_splits={self.n_splits}`"
            )
        for k, test_idx in enumerate(np.array_split(np.arange(n), self.n_splits)):
            keep = _mask(t0, t1_arr, test_idx, purge, embargo)
            _check_train(keep, k, self.purge, self.embargo)
            yield np.flatnonzero(keep), test_idx
