"""Combinatorial purged cross-validation (CPCV)."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from ml_core.validation._purging import _check_train, _frame_event_times, _mask

__all__ = ["CombinatorialPurgedCV"]


class CombinatorialPurgedCV(BaseCrossValidator):
    """Combinatorial purged cross-validation: every choice of ``k`` test groups out of ``N``.

    The events (time-ordered) are cut into ``N = n_groups`` contiguous groups (sizes as in
    :func:`numpy.array_split`). Each of the ``C(N, k)`` splits tests on the union of
    ``k = n_test_groups`` groups and trains on the rest, after purging and embargoing around EACH
    test group as its own contiguous block (:func:`purged_train_mask`). Every group is tested in
    ``C(N-1, k-1)`` splits, so the out-of-sample predictions recombine into
    ``n_paths = C(N, k) * k / N`` complete backtest paths (:meth:`path_ids`).

    Parameters
    ----------
    n_groups : int, default 6
        Number of contiguous groups ``N``, at least 2.
    n_test_groups : int, default 2
        Test groups per split ``k``, ``1 <= k < N``.
    purge : timedelta, default 0
        Span before each test group that training labels must not reach.
    embargo : timedelta, default 0
        Span after each test group in which no training event may start.
    min_group_size : int, default 1
        Fewest events a group may hold; fewer raise ``ValueError`` in :meth:`split`, because a
        backtest segment of a handful of events has no meaningful Sharpe ratio.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §12.4.
    skfolio's ``CombinatorialPurgedCV`` (which purges a fixed number of rows instead of by ``t1``).

    Examples
    --------
    >>> cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2)
    >>> cv.get_n_splits(), cv.n_paths
    (6, 3)
    >>> cv.path_ids().tolist()
    [[0, 0], [1, 0], [2, 0], [1, 1], [2, 1], [2, 2]]
    """

    def __init__(
        self,
        n_groups: int = 6,
        n_test_groups: int = 2,
        purge: timedelta = timedelta(0),
        embargo: timedelta = timedelta(0),
        min_group_size: int = 1,
    ) -> None:
        self.n_groups = n_groups
        self.n_test_groups = n_test_groups
        self.purge = purge
        self.embargo = embargo
        self.min_group_size = min_group_size

    def _validate(self) -> None:
        for name in ("n_groups", "n_test_groups", "min_group_size"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"`{name}` must be an integer, got `{name}={value!r}`")
        if self.n_groups < 2:
            raise ValueError(f"`n_groups` must be at least 2, got `n_groups={self.n_groups}`")
        if self.n_test_groups < 1:
            raise ValueError(
                f"`n_test_groups` must be at least 1, got `n_test_groups={self.n_test_groups}`"
            )
        if self.min_group_size < 1:
            raise ValueError(
                f"`min_group_size` must be at least 1, got `min_group_size={self.min_group_size}`"
            )
        if self.n_test_groups >= self.n_groups:
            raise ValueError(
                f"`n_test_groups` must be below `n_groups={self.n_groups}`, "
                f"got `n_test_groups={self.n_test_groups}`"
            )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of splits, ``C(n_groups, n_test_groups)``."""
        self._validate()
        return math.comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """Number of backtest paths, ``C(N, k) * k / N = C(N-1, k-1)``."""
        self._validate()
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def test_groups(self) -> list[tuple[int, ...]]:
        """Test groups of each split, in split order (lexicographic combinations)."""
        self._validate()
        return list(itertools.combinations(range(self.n_groups), self.n_test_groups))

    def path_ids(self) -> np.ndarray:
        """Backtest path of each out-of-sample segment.

        Returns
        -------
        numpy.ndarray of int, shape (n_splits, n_test_groups)
            ``path_ids()[s, j]`` is the path that split ``s``'s ``j``-th test group (in
            :meth:`test_groups` order) belongs to. As in AFML §12.4, group ``g``'s segments go to
            paths ``0, 1, ...`` in split order, so path ``p`` is the concatenation over ``g`` of the
            ``p``-th split testing ``g``: one prediction for every event, in time order.
        """
        combos = self.test_groups()
        seen = np.zeros(self.n_groups, dtype=int)
        out = np.empty((len(combos), self.n_test_groups), dtype=int)
        for s, combo in enumerate(combos):
            for j, g in enumerate(combo):
                out[s, j] = seen[g]
                seen[g] += 1
        return out

    def split(
        self, X: Any, y: Any = None, groups: Any = None, *, t1: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` position arrays for the ``C(N, k)`` splits.

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
            ``test_idx`` is the sorted union of the split's test groups.
        """
        self._validate()
        t0, t1_arr, purge, embargo = _frame_event_times(X, t1, self.purge, self.embargo)
        n = len(t0)
        if self.n_groups > n:
            raise ValueError(
                f"`n_groups` must not exceed the number of events {n}, "
                f"got `n_groups={self.n_groups}`"
            )
        if n // self.n_groups < self.min_group_size:
            raise ValueError(
                f"too few events per group: {n} events in `n_groups={self.n_groups}` groups "
                f"leave {n // self.n_groups} in the smallest, below "
                f"`min_group_size={self.min_group_size}`; use fewer groups or more data"
            )
        blocks = np.array_split(np.arange(n), self.n_groups)
        for s, combo in enumerate(self.test_groups()):
            keep = np.ones(n, dtype=bool)
            for g in combo:
                keep &= _mask(t0, t1_arr, blocks[g], purge, embargo)
            _check_train(keep, s, self.purge, self.embargo)
            yield np.flatnonzero(keep), np.concatenate([blocks[g] for g in combo])

    def group_indices(self, n_events: int) -> list[np.ndarray]:
        """Positions of each group's events for ``n_events`` events (contiguous, in time order)."""
        self._validate()
        return np.array_split(np.arange(n_events), self.n_groups)
