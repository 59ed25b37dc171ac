"""CombinatorialPurgedCV: exact splits, split and path counts, path assignment, invariants."""

import itertools
import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ml_core.validation import CombinatorialPurgedCV

H = timedelta(hours=1)


def _events(n=12):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="t0")
    return pd.DataFrame({"x": np.arange(n, dtype=float)}, index=index)


def test_exact_splits_with_label_spans_and_embargo():
    # groups [0,1,2] [3,4,5] [6,7,8] [9,10,11]; event 1's label reaches group 1 (ends 3h),
    # event 8's label reaches group 3 (ends 10h); embargo 1h
    X = _events()
    ends = [0, 3, 2, 3, 4, 5, 6, 7, 10, 9, 10, 11]
    t1 = pd.Series(X.index[0] + pd.to_timedelta(ends, unit="h"), index=X.index)
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, embargo=H)
    got = [(tr.tolist(), te.tolist()) for tr, te in cv.split(X, t1=t1)]
    assert got == [
        ([7, 8, 9, 10, 11], [0, 1, 2, 3, 4, 5]),  # group 0 ends 3h -> 3, 4 embargoed; 1 -> 6
        ([5], [0, 1, 2, 6, 7, 8]),  # group 2 ends at 10h -> 9, 10, 11 purged/embargoed
        ([5, 6, 7], [0, 1, 2, 9, 10, 11]),  # 8 purged: its label ends inside group 3
        ([0, 2], [3, 4, 5, 6, 7, 8]),  # 1 purged: its label ends at group 1's start
        ([0, 2, 7], [3, 4, 5, 9, 10, 11]),  # 6 embargoed after group 1; 8 purged
        ([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]),
    ]
    assert cv.test_groups() == list(itertools.combinations(range(4), 2))


def test_purge_is_applied_before_each_test_group():
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, purge=H)
    got = [tr.tolist() for tr, _ in cv.split(_events())]
    # point events: purge 1h drops the event right before each test group, nothing after it
    assert got == [[6, 7, 8, 9, 10, 11], [3, 4, 9, 10, 11], [3, 4, 5, 6, 7], [0, 1, 9, 10, 11],
                   [0, 1, 6, 7], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("n_groups", "n_test_groups", "n_splits", "n_paths"),
    [(4, 2, 6, 3), (6, 2, 15, 5), (6, 3, 20, 10), (10, 2, 45, 9), (5, 1, 5, 1), (8, 7, 8, 7)],
)
def test_split_and_path_counts(n_groups, n_test_groups, n_splits, n_paths):
    cv = CombinatorialPurgedCV(n_groups=n_groups, n_test_groups=n_test_groups)
    assert cv.get_n_splits() == n_splits == math.comb(n_groups, n_test_groups)
    assert cv.n_paths == n_paths == n_splits * n_test_groups // n_groups
    assert len(list(cv.split(_events(3 * n_groups)))) == n_splits
    assert cv.path_ids().shape == (n_splits, n_test_groups)


def test_path_ids_follow_afml_assignment():
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2)
    # splits (0,1) (0,2) (0,3) (1,2) (1,3) (2,3): each group's segments fill paths 0, 1, 2 in order
    assert cv.path_ids().tolist() == [[0, 0], [1, 0], [2, 0], [1, 1], [2, 1], [2, 2]]


@pytest.mark.parametrize(("n_groups", "n_test_groups"), [(4, 2), (6, 2), (6, 3), (7, 4), (5, 1)])
def test_every_group_appears_once_in_every_path(n_groups, n_test_groups):
    cv = CombinatorialPurgedCV(n_groups=n_groups, n_test_groups=n_test_groups)
    ids = cv.path_ids()
    paths: dict[int, list[int]] = {p: [] for p in range(cv.n_paths)}
    for combo, row in zip(cv.test_groups(), ids, strict=True):
        for g, p in zip(combo, row, strict=True):
            paths[int(p)].append(g)
    # every group lies in exactly n_paths paths, and each path covers every group once
    assert all(sorted(groups) == list(range(n_groups)) for groups in paths.values())
    assert set(ids.ravel().tolist()) == set(range(cv.n_paths))


def test_paths_recombine_to_one_prediction_per_event():
    X = _events(20)
    cv = CombinatorialPurgedCV(n_groups=5, n_test_groups=2)
    blocks = cv.group_indices(len(X))
    coverage = np.zeros((cv.n_paths, len(X)), dtype=int)
    for (_, test), combo, row in zip(cv.split(X), cv.test_groups(), cv.path_ids(), strict=True):
        assert np.array_equal(test, np.concatenate([blocks[g] for g in combo]))
        for g, p in zip(combo, row, strict=True):
            coverage[p, blocks[g]] += 1
    assert (coverage == 1).all()


@pytest.mark.parametrize(
    ("kwargs", "n", "message"),
    [
        ({"n_groups": 4, "n_test_groups": 4}, 12, "`n_test_groups=4`"),
        ({"n_groups": 1, "n_test_groups": 1}, 12, "`n_groups=1`"),
        ({"n_groups": 4, "n_test_groups": 0}, 12, "`n_test_groups=0`"),
        ({"n_groups": 13, "n_test_groups": 2}, 12, "`n_groups=13`"),
        ({"embargo": timedelta(days=1)}, 12, "`embargo=1 day"),
        ({"purge": 11 * H}, 12, "`purge=11:00:00`"),
        ({"n_groups": 3, "n_test_groups": 2, "embargo": 5 * H}, 12, "no training events"),
        ({"n_groups": 4, "min_group_size": 4}, 12, "leave 3 in the smallest, below "
                                                   "`min_group_size=4`"),
        ({"min_group_size": 0}, 12, "`min_group_size=0`"),
    ],
)
def test_errors_name_parameter_and_value(kwargs, n, message):
    with pytest.raises(ValueError, match=message):
        list(CombinatorialPurgedCV(**kwargs).split(_events(n)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    durations=st.lists(st.integers(0, 12), min_size=12, max_size=60),
    n_groups=st.integers(3, 6),
    k_frac=st.floats(0.0, 1.0),
    purge_h=st.integers(0, 4),
    embargo_h=st.integers(0, 4),
)
def test_no_training_event_overlaps_any_test_span(durations, n_groups, k_frac, purge_h, embargo_h):
    n_test_groups = 1 + int(k_frac * (n_groups - 2) + 0.5)
    n = len(durations)
    X = _events(n)
    t1 = pd.Series(X.index + pd.to_timedelta(durations, unit="h"), index=X.index)
    purge, embargo = timedelta(hours=purge_h), timedelta(hours=embargo_h)
    cv = CombinatorialPurgedCV(n_groups, n_test_groups, purge=purge, embargo=embargo)
    try:
        splits = list(cv.split(X, t1=t1))
    except ValueError as exc:
        assume("no training events" not in str(exc))
        raise
    t0_, t1_ = X.index.to_numpy(), t1.to_numpy()
    blocks = cv.group_indices(n)
    assert len(splits) == cv.get_n_splits()
    for (train, test), combo in zip(splits, cv.test_groups(), strict=True):
        assert np.intersect1d(train, test).size == 0
        blocked = np.zeros(n, dtype=bool)
        blocked[test] = True
        for g in combo:
            lo = t0_[blocks[g]].min() - purge
            hi = t1_[blocks[g]].max() + embargo
            overlaps = (t1_ >= lo) & (t0_ <= hi)
            assert not overlaps[train].any()
            blocked |= overlaps
        # nothing is dropped without reason: train is exactly the events clear of every span
        assert np.array_equal(np.flatnonzero(~blocked), train)
