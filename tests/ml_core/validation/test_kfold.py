"""PurgedKFold: exact folds, purging, embargo, scikit-learn compatibility, errors."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from ml_core.validation import PurgedKFold

H = timedelta(hours=1)


def _events(n=12):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="t0")
    return pd.DataFrame({"x": np.arange(n, dtype=float)}, index=index)


def _splits(cv, X, t1=None):
    return [(tr.tolist(), te.tolist()) for tr, te in cv.split(X, t1=t1)]


def test_point_events_without_purge_is_plain_kfold():
    X = _events()
    assert _splits(PurgedKFold(n_splits=3), X) == [
        (list(range(4, 12)), [0, 1, 2, 3]),
        ([0, 1, 2, 3, *range(8, 12)], [4, 5, 6, 7]),
        (list(range(8)), [8, 9, 10, 11]),
    ]
    assert PurgedKFold(n_splits=3).get_n_splits() == 3


def test_purge_removes_events_ending_within_purge_before_each_fold():
    X = _events()
    assert _splits(PurgedKFold(n_splits=3, purge=2 * H), X) == [
        (list(range(4, 12)), [0, 1, 2, 3]),
        ([0, 1, *range(8, 12)], [4, 5, 6, 7]),
        ([0, 1, 2, 3, 4, 5], [8, 9, 10, 11]),
    ]


def test_label_spans_and_embargo():
    X = _events()
    t1 = pd.Series(X.index + pd.Timedelta("2h"), index=X.index)
    # fold 0 ends at 5h (label of 3), embargo to 6h -> train from 7; fold 1 spans [4h, 9h]
    # -> keep events ending before 4h (0, 1) and starting after 10h (11); fold 2 starts at 8h
    # -> keep events ending before 8h (0..5)
    assert _splits(PurgedKFold(n_splits=3, embargo=H), X, t1) == [
        ([7, 8, 9, 10, 11], [0, 1, 2, 3]),
        ([0, 1, 11], [4, 5, 6, 7]),
        ([0, 1, 2, 3, 4, 5], [8, 9, 10, 11]),
    ]


def test_uneven_fold_sizes_follow_array_split():
    tests = [te.tolist() for _, te in PurgedKFold(n_splits=5).split(_events())]
    assert tests == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9], [10, 11]]


def test_works_inside_cross_val_score():
    rng = np.random.default_rng(42)
    X = pd.DataFrame({"z": rng.normal(size=60)}, index=_events(60).index)
    y = (X["z"] > 0).astype(int)
    scores = cross_val_score(
        LogisticRegression(), X, y, cv=PurgedKFold(n_splits=3, embargo=2 * H)
    )
    assert scores.shape == (3,)
    assert scores.min() > 0.8  # y is a threshold on z


def test_real_sample_no_train_event_touches_a_test_fold(sample_bars):
    X = sample_bars.iloc[:4000]
    t1 = pd.Series(X.index + pd.Timedelta("24h"), index=X.index)
    purge, embargo = timedelta(hours=6), timedelta(hours=12)
    t0_ = X.index.to_numpy()
    t1_ = t1.to_numpy()
    n_train = []
    for train, test in PurgedKFold(n_splits=4, purge=purge, embargo=embargo).split(X, t1=t1):
        lo, hi = t0_[test].min() - purge, t1_[test].max() + embargo
        assert not np.any((t1_[train] >= lo) & (t0_[train] <= hi))
        n_train.append(len(train))
    # 30m bars: a 24h label purges 48 + 12 events before a fold, the embargo 24 + 48 after it
    assert n_train == [4000 - 1000 - 48 - 24, 4000 - 1000 - 60 - 72, 4000 - 1000 - 60 - 72,
                       4000 - 1000 - 60]


@pytest.mark.parametrize(
    ("cv", "X", "t1", "error", "message"),
    [
        (PurgedKFold(n_splits=1), _events(), None, ValueError, "`n_splits=1`"),
        (PurgedKFold(n_splits=13), _events(), None, ValueError, "`n_splits=13`"),
        (PurgedKFold(embargo=12 * H), _events(), None, ValueError, "`embargo=12:00:00`"),
        (PurgedKFold(purge=-H), _events(), None, ValueError, "`purge` must not be negative"),
        (PurgedKFold(), np.zeros((12, 1)), None, TypeError, "DatetimeIndex"),
        (PurgedKFold(), _events().iloc[::-1], None, ValueError, "sorted"),
        (PurgedKFold(), _events(), pd.Series(_events().index).iloc[::-1], ValueError, "aligned"),
        (PurgedKFold(n_splits=2, embargo=6 * H), _events(), None, ValueError, "no training"),
    ],
)
def test_errors_name_parameter_and_value(cv, X, t1, error, message):
    with pytest.raises(error, match=message):
        list(cv.split(X, t1=t1))
