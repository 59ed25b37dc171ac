"""WalkForwardCV: exact windows, expanding vs sliding, purging, window cover, errors."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from ml_core.validation._walk_forward import WalkForwardCV

H = timedelta(hours=1)

# Hand-set label durations (hours) of 20 hourly events: event 2 ends at 5h, 6 at 9h, 8 at 9h,
# 15 at 20h; all others are point events.
DURATIONS = [0, 0, 3, 0, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]
WINDOWS = [[4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16, 17, 18, 19]]


def _events(n=20):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="t0")
    return pd.DataFrame({"x": np.arange(n, dtype=float)}, index=index)


def _t1(X, durations=DURATIONS):
    return pd.Series(X.index + pd.to_timedelta(durations, unit="h"), index=X.index)


def _splits(cv, X, t1=None):
    return [(tr.tolist(), te.tolist()) for tr, te in cv.split(X, t1=t1)]


def test_expanding_exact_splits_purge_labels_reaching_the_window():
    X = _events()
    # window 0 starts at 4h: event 2 (ends 5h) is purged; window 1 starts at 8h: event 6
    # (ends 9h) is purged; window 3 starts at 16h: event 15 (ends 20h) is purged
    assert _splits(WalkForwardCV(n_windows=4), X, _t1(X)) == [
        ([0, 1, 3], WINDOWS[0]),
        ([0, 1, 2, 3, 4, 5, 7], WINDOWS[1]),
        (list(range(12)), WINDOWS[2]),
        (list(range(15)), WINDOWS[3]),
    ]


def test_sliding_keeps_only_the_most_recent_train_size_events():
    X = _events()
    assert _splits(WalkForwardCV(n_windows=4, mode="sliding"), X, _t1(X)) == [
        ([0, 1, 3], WINDOWS[0]),
        ([4, 5, 7], WINDOWS[1]),
        ([8, 9, 10, 11], WINDOWS[2]),
        ([12, 13, 14], WINDOWS[3]),
    ]
    assert _splits(WalkForwardCV(n_windows=4, mode="sliding", train_size=6), X, _t1(X)) == [
        ([0, 1, 3], WINDOWS[0]),
        ([2, 3, 4, 5, 7], WINDOWS[1]),
        ([6, 7, 8, 9, 10, 11], WINDOWS[2]),
        ([10, 11, 12, 13, 14], WINDOWS[3]),
    ]


def test_purge_widens_the_window_backwards():
    X = _events()
    # keep t1 < test_start - 1h: window 0 -> t1 < 3h drops event 3 (ends 3h) and 2
    assert _splits(WalkForwardCV(n_windows=4, purge=H), X, _t1(X)) == [
        ([0, 1], WINDOWS[0]),
        ([0, 1, 2, 3, 4, 5], WINDOWS[1]),
        (list(range(11)), WINDOWS[2]),
        (list(range(15)), WINDOWS[3]),
    ]


def test_embargo_never_changes_walk_forward_splits():
    X = _events()
    base = _splits(WalkForwardCV(n_windows=4), X, _t1(X))
    assert _splits(WalkForwardCV(n_windows=4, embargo=5 * H), X, _t1(X)) == base


@pytest.mark.parametrize(
    ("cv", "windows"),
    [
        # default initial block 20 // 6 = 3; 17 events in 5 windows: 4, 4, 3, 3, 3
        (WalkForwardCV(n_windows=5), [[3, 4, 5, 6], [7, 8, 9, 10], [11, 12, 13], [14, 15, 16],
                                      [17, 18, 19]]),
        (WalkForwardCV(n_windows=3, initial_train_size=8), [list(range(8, 12)),
                                                            list(range(12, 16)),
                                                            list(range(16, 20))]),
        (WalkForwardCV(n_windows=1, initial_train_size=19), [[19]]),
    ],
)
def test_window_sizes_and_get_n_splits(cv, windows):
    X = _events()
    assert [te for _, te in _splits(cv, X)] == windows
    assert [w.tolist() for w in cv.test_windows(20)] == windows
    assert cv.get_n_splits() == cv.get_n_splits(X) == len(windows)


def test_scikit_learn_cross_val_score_accepts_the_splitter():
    X = _events(40)
    y = (np.arange(40) % 2).astype(int)
    scores = cross_val_score(LogisticRegression(), X, y, cv=WalkForwardCV(n_windows=3))
    assert scores.shape == (3,)


@pytest.mark.parametrize(
    ("cv", "X", "error", "message"),
    [
        (WalkForwardCV(n_windows=0), _events(), ValueError, "`n_windows=0`"),
        (WalkForwardCV(n_windows=2.5), _events(), TypeError, "`n_windows=2.5`"),
        (WalkForwardCV(mode="rolling"), _events(), ValueError, "`mode='rolling'`"),
        (WalkForwardCV(initial_train_size=0), _events(), ValueError, "`initial_train_size=0`"),
        (WalkForwardCV(n_windows=4, initial_train_size=17), _events(), ValueError,
         "`initial_train_size=17`"),
        (WalkForwardCV(n_windows=20), _events(), ValueError, "`n_windows=20`"),
        (WalkForwardCV(n_windows=25), _events(), ValueError, "`n_windows=25`"),
        (WalkForwardCV(mode="sliding", train_size=0), _events(), ValueError, "`train_size=0`"),
        (WalkForwardCV(train_size=5), _events(), ValueError, "only to mode='sliding'"),
        (WalkForwardCV(purge=-H), _events(), ValueError, "`purge` must not be negative"),
        (WalkForwardCV(embargo=-H), _events(), ValueError, "`embargo` must not be negative"),
        (WalkForwardCV(purge=30 * H), _events(), ValueError, "`purge=1 day, 6:00:00`"),
        (WalkForwardCV(), np.zeros((20, 1)), TypeError, "DatetimeIndex"),
        (WalkForwardCV(n_windows=4, purge=4 * H), _events(), ValueError, "no training"),
        (WalkForwardCV(n_windows=4, min_window_size=5), _events(), ValueError,
         "leave 4 in the smallest, below `min_window_size=5`"),
        (WalkForwardCV(min_window_size=0), _events(), ValueError, "`min_window_size=0`"),
    ],
)
def test_errors_name_parameter_and_value(cv, X, error, message):
    with pytest.raises(error, match=message):
        list(cv.split(X))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    durations=st.lists(st.integers(0, 4), min_size=12, max_size=60),
    n_windows=st.integers(1, 5),
    sliding=st.booleans(),
    train_size=st.one_of(st.none(), st.integers(1, 20)),
    purge_h=st.integers(0, 2),
)
def test_property_no_training_label_reaches_its_window(
    durations, n_windows, sliding, train_size, purge_h
):
    n = len(durations)
    X = _events(n)
    t1 = _t1(X, durations)
    mode = "sliding" if sliding else "expanding"
    cv = WalkForwardCV(n_windows=n_windows, mode=mode, train_size=train_size if sliding else None,
                       purge=purge_h * H)
    t0v, t1v = X.index.to_numpy(), t1.to_numpy()
    initial = n // (n_windows + 1)
    if initial < 1:
        with pytest.raises(ValueError, match="n_windows"):
            list(cv.split(X, t1=t1))
        return
    width = train_size or initial
    tests = []
    for k, test in enumerate(cv.test_windows(n)):
        start = int(test[0])
        lo = max(0, start - width) if sliding else 0
        lo_t, hi_t = t0v[test].min() - np.timedelta64(purge_h, "h"), t1v[test].max()
        expected = [i for i in range(lo, start) if t1v[i] < lo_t]
        if not expected:
            with pytest.raises(ValueError, match=f"split {k} has no training"):
                list(cv.split(X, t1=t1))
            return
        tests.append(test)
    splits = list(cv.split(X, t1=t1))
    assert len(splits) == cv.get_n_splits() == n_windows
    # the test windows cover the post-initial events exactly once, in order
    np.testing.assert_array_equal(np.concatenate([te for _, te in splits]), np.arange(initial, n))
    for (train, test), window in zip(splits, tests, strict=True):
        np.testing.assert_array_equal(test, window)
        assert train.dtype.kind == "i" and test.dtype.kind == "i"
        assert np.all(np.diff(train) > 0) and train.max() < test[0]
        if sliding:
            assert train.min() >= test[0] - width
        # no training [t0, t1] overlaps [test_start - purge, test_end]
        lo_t, hi_t = t0v[test].min() - np.timedelta64(purge_h, "h"), t1v[test].max()
        assert not np.any((t0v[train] <= hi_t) & (t1v[train] >= lo_t))
        # and nothing else was dropped: training is every admissible candidate
        lo = test[0] - width if sliding else 0
        candidates = np.arange(max(0, lo), test[0])
        np.testing.assert_array_equal(train, candidates[t1v[candidates] < lo_t])
