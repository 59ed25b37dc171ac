"""Walk-forward cross-validation: train on the past, test on the next window, purged by ``t1``."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from ml_core.validation._purging import _frame_event_times, _mask

__all__ = ["WalkForwardCV"]

_MODES = ("expanding", "sliding")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be an integer, got `{name}={value!r}`")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got `{name}={value}`")


class WalkForwardCV(BaseCrossValidator):
    """Walk-forward (rolling-origin) cross-validation on time-ordered events, purged by ``t1``.

    The ``n_events`` events (sorted by start time ``t0``) are cut into an initial training block
    of ``initial_train_size`` events followed by ``n_windows`` consecutive test windows that
    cover the remaining events exactly once, in time order (sizes as in
    :func:`numpy.array_split`: they differ by at most one, larger windows first). Split ``k``
    tests on window ``k`` and trains on events strictly BEFORE the window:

    - ``mode="expanding"``: all earlier events;
    - ``mode="sliding"``: only the ``train_size`` events right before the window;

    then purged of every event whose ``[t0, t1]`` span overlaps
    ``[test_start - purge, test_end]`` (see :func:`purged_train_mask`), i.e. whose label was
    still unresolved ``purge`` before the first test event starts.

    Parameters
    ----------
    n_windows : int, default 5
        Number of test windows = number of splits, at least 1.
    mode : {"expanding", "sliding"}, default "expanding"
        Whether the training span grows from the first event or slides with a fixed size.
    initial_train_size : int or None, default None
        Events in the initial block that is never tested (the first split's training candidates).
        None uses ``n_events // (n_windows + 1)`` (as scikit-learn's ``TimeSeriesSplit``), so the
        initial block is about one window long.
    train_size : int or None, default None
        ``mode="sliding"`` only: number of events right before each window that are training
        candidates (fewer remain after purging). None uses the initial training block size.
        Must stay None with ``mode="expanding"``.
    purge : timedelta, default 0
        Span before each test window that training labels must not reach.
    embargo : timedelta, default 0
        Accepted (and validated) for parity with :class:`PurgedKFold`, but it never changes the
        splits: training never includes an event at or after the test window, so there is no
        post-test span to embargo.
    min_window_size : int, default 1
        Fewest events a test window may hold; fewer raise ``ValueError``, because a window of a
        handful of events has no meaningful Sharpe ratio or drawdown.

    Notes
    -----
    ``split`` takes the label end times as the keyword ``t1``; scikit-learn helpers that call
    ``split(X, y, groups)`` get ``t1 = t0`` (point events). The windows are counted in events,
    not time; with irregular event times the windows cover unequal time spans.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §7.4 and §12.2
    (walk-forward backtesting).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": range(8)}, index=pd.date_range("2024", periods=8, freq="h"))
    >>> [(tr.tolist(), te.tolist()) for tr, te in WalkForwardCV(n_windows=3).split(X)]
    [([0, 1], [2, 3]), ([0, 1, 2, 3], [4, 5]), ([0, 1, 2, 3, 4, 5], [6, 7])]
    """

    def __init__(
        self,
        n_windows: int = 5,
        mode: str = "expanding",
        initial_train_size: int | None = None,
        train_size: int | None = None,
        purge: timedelta = timedelta(0),
        embargo: timedelta = timedelta(0),
        min_window_size: int = 1,
    ) -> None:
        self.n_windows = n_windows
        self.mode = mode
        self.initial_train_size = initial_train_size
        self.train_size = train_size
        self.purge = purge
        self.embargo = embargo
        self.min_window_size = min_window_size

    def _validate(self) -> None:
        _check_int("n_windows", self.n_windows, 1)
        _check_int("min_window_size", self.min_window_size, 1)
        if self.mode not in _MODES:
            raise ValueError(f"`mode` must be one of {_MODES}, got `mode={self.mode!r}`")
        if self.initial_train_size is not None:
            _check_int("initial_train_size", self.initial_train_size, 1)
        if self.train_size is not None:
            if self.mode != "sliding":
                raise ValueError(
                    "`train_size` applies only to mode='sliding', got "
                    f"`train_size={self.train_size}` with `mode={self.mode!r}`"
                )
            _check_int("train_size", self.train_size, 1)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of splits, ``n_windows``."""
        self._validate()
        return int(self.n_windows)

    def _initial_size(self, n_events: int) -> int:
        if self.initial_train_size is not None:
            return int(self.initial_train_size)
        return n_events // (self.n_windows + 1)

    def test_windows(self, n_events: int) -> list[np.ndarray]:
        """Positions of each test window's events for ``n_events`` events, in time order.

        Raises
        ------
        ValueError
            If the initial block plus ``n_windows`` non-empty windows do not fit in ``n_events``.
        """
        self._validate()
        initial = self._initial_size(n_events)
        if initial < 1:
            raise ValueError(
                f"`n_windows` leaves no initial training events for {n_events} events "
                f"(need at least n_windows + 2 events), got `n_windows={self.n_windows}`"
            )
        if initial + self.n_windows > n_events:
            name = "initial_train_size" if self.initial_train_size is not None else "n_windows"
            raise ValueError(
                f"`{name}` leaves fewer than one event per test window: initial block of "
                f"{initial} + {self.n_windows} windows exceeds the {n_events} events, "
                f"got `{name}={getattr(self, name)}`"
            )
        smallest = (n_events - initial) // self.n_windows
        if smallest < self.min_window_size:
            raise ValueError(
                f"too few events per test window: {n_events - initial} events after the initial "
                f"block in `n_windows={self.n_windows}` windows leave {smallest} in the smallest, "
                f"below `min_window_size={self.min_window_size}`; use fewer windows or more data"
            )
        return np.array_split(np.arange(initial, n_events), self.n_windows)

    def split(
        self, X: Any, y: Any = None, groups: Any = None, *, t1: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` position arrays, test windows in time order.

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
            ``train_idx`` is sorted and lies strictly before ``test_idx[0]``.
        """
        self._validate()
        t0, t1_arr, purge, embargo = _frame_event_times(X, t1, self.purge, self.embargo)
        n = len(t0)
        windows = self.test_windows(n)
        width = int(self.train_size or self._initial_size(n))
        for k, test_idx in enumerate(windows):
            start = int(test_idx[0])
            lo = 0 if self.mode == "expanding" else max(0, start - width)
            # Candidates are strictly before the window (t0 sorted), so _mask's embargo branch
            # (t0 > test_end + embargo) can never admit one: only the purge condition acts.
            keep = _mask(t0, t1_arr, test_idx, purge, embargo)[lo:start]
            if not keep.any():
                raise ValueError(
                    f"split {k} has no training events left after purging; reduce "
                    f"`purge={self.purge}` or enlarge "
                    f"`initial_train_size={self.initial_train_size}` / "
                    f"`train_size={self.train_size}`"
                )
            yield lo + np.flatnonzero(keep), test_idx
