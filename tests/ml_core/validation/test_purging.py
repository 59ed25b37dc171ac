"""purged_train_mask: exact masks on hand-made events."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.validation import purged_train_mask

H = timedelta(hours=1)


def _hours(values):
    return np.datetime64("2024-01-01T00:00") + np.array(values) * np.timedelta64(1, "h")


T0 = _hours(range(10))
# events 1 and 2 resolve late: 1 ends inside the test block [4, 6], 2 ends just before it
T1 = _hours([0, 4, 3, 3, 4, 5, 8, 7, 8, 9])
TEST = np.array([4, 5, 6])  # test_start = 4h, test_end = max t1 = 8h


def test_no_purge_no_embargo_removes_overlapping_labels_only():
    mask = purged_train_mask(T0, T1, TEST)
    # 1 (ends at 4h) overlaps; 7 and 8 start before the test end 8h (label of 6 reaches 8h)
    assert np.flatnonzero(mask).tolist() == [0, 2, 3, 9]


def test_purge_widens_the_window_backwards():
    mask = purged_train_mask(T0, T1, TEST, purge=H)
    # [3h, 8h]: events 2 and 3 end at 3h and are purged too
    assert np.flatnonzero(mask).tolist() == [0, 9]


def test_embargo_removes_events_starting_right_after_the_test_end():
    mask = purged_train_mask(T0, T1, TEST, embargo=H)
    # event 9 starts at 9h in (8h, 9h]
    assert np.flatnonzero(mask).tolist() == [0, 2, 3]


def test_tz_aware_input_is_compared_in_utc():
    t0 = pd.DatetimeIndex(T0).tz_localize("UTC").tz_convert("Asia/Tokyo")
    t1 = pd.DatetimeIndex(T1).tz_localize("UTC")
    assert np.array_equal(purged_train_mask(t0, t1, TEST), purged_train_mask(T0, T1, TEST))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_idx": np.array([1, 3])}, "contiguous"),
        ({"test_idx": np.array([], dtype=int)}, "non-empty"),
        ({"test_idx": np.array([9, 10])}, r"\[0, 9\]"),
        ({"test_idx": TEST, "embargo": -H}, "`embargo` must not be negative"),
        ({"test_idx": TEST, "t1": T0 - np.timedelta64(1, "h")}, "`t1` must not precede `t0`"),
        ({"test_idx": TEST, "t1": T1[:-1]}, "same length"),
        ({"test_idx": TEST, "t1": np.append(T1[:-1], np.datetime64("NaT"))}, "NaT"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {"t0": T0, "t1": T1, **kwargs}
    with pytest.raises(ValueError, match=message):
        purged_train_mask(**args)
