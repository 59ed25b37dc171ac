"""split_holdout: the most recent events, purged from development, never both."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.pipeline import TrainingSet, holdout_start, split_holdout

H = timedelta(hours=1)


def _data(n=200, duration="3h"):
    idx = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="t0")
    X = pd.DataFrame({"x": np.arange(n, dtype=float)}, index=idx)
    targets = pd.DataFrame({"entry": np.arange(n) % 2}, index=idx)
    events = pd.DataFrame({"t1": idx + pd.Timedelta(duration), "ret": 0.0}, index=idx)
    return TrainingSet(X, targets, events, 7)


def test_span_holds_the_most_recent_period_and_development_is_purged():
    dev, hold = split_holdout(_data(), span=timedelta(hours=49), purge=2 * H)
    cut = _data().X.index[-1] - pd.Timedelta("49h")
    assert hold.X.index[0] == cut and len(hold.X) == 50
    # development labels end before cut - purge: t0 + 3h < cut - 2h
    assert (dev.t1 < cut - 2 * H).all() and dev.X.index[-1] == cut - 6 * H
    assert len(dev.X) == 200 - 50 - 5  # 5 events purged between the two
    assert dev.n_dropped_warmup == 7 and hold.n_dropped_warmup == 0
    assert dev.targets.index.equals(dev.X.index) and hold.events.index.equals(hold.X.index)


def test_fraction_counts_events():
    dev, hold = split_holdout(_data(), fraction=0.15)
    assert len(hold.X) == 30 and len(dev.X) == 200 - 30 - 3  # t1 = t0 + 3h reaches the cut


def test_no_event_is_on_both_sides_and_no_development_label_reaches_the_holdout():
    data = _data(duration="11h")
    dev, hold = split_holdout(data, fraction=0.3, purge=4 * H)
    assert not dev.X.index.isin(hold.X.index).any()
    assert dev.t1.max() < hold.X.index[0] - 4 * H


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give one of `span`, `fraction` and `cut`"),
        ({"span": H, "fraction": 0.1}, "give one of"),
        ({"fraction": 0.5}, "`fraction=0.5`"),
        ({"span": timedelta(0)}, "`span=0:00:00`"),
        ({"fraction": 0.05}, "`fraction=0.05` leaves 10 holdout events of 200"),
        ({"span": timedelta(hours=190)}, "leaves 6 development events of 200"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_holdout(_data(), **kwargs)


def test_a_given_cut_splits_there_with_the_purge():
    data = _data()
    cut = data.X.index[150]
    dev, hold = split_holdout(data, cut=cut, purge=2 * H)
    assert hold.X.index[0] == cut and len(hold.X) == 50
    assert dev.X.index[-1] == cut - 6 * H and len(dev.X) == 145


def test_holdout_start_counts_bars_or_a_span_back_from_the_last_bar():
    idx = pd.date_range("2024-01-01", periods=200, freq="30min", tz="UTC")
    assert holdout_start(idx, fraction=0.15) == idx[170]
    assert holdout_start(idx, span=timedelta(hours=10)) == idx[-21]  # 20 bars after it + itself
    # a span that does not fall on a bar starts at the next bar
    assert holdout_start(idx, span=timedelta(hours=10, minutes=10)) == idx[-21]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give one of `span` and `fraction`"),
        ({"fraction": 0.0}, "`fraction=0.0`"),
        ({"span": timedelta(days=30)}, "`span=30 days, 0:00:00` covers every bar"),
    ],
)
def test_holdout_start_names_bad_settings(kwargs, message):
    idx = pd.date_range("2024-01-01", periods=200, freq="30min", tz="UTC")
    with pytest.raises(ValueError, match=message):
        holdout_start(idx, **kwargs)
