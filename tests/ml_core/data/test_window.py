"""The training window of a point-in-time retrain."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.data import bars_window

H = timedelta(hours=1)


def _bars(n: int = 10) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    values = np.arange(n, dtype="float64")
    return pd.DataFrame({c: values for c in ("open", "high", "low", "close", "volume")},
                        index=index)


def test_only_bars_closed_by_as_of_are_kept() -> None:
    bars = _bars()
    # the 05:00 bar closes at 06:00: in at 06:00, out at 05:59
    assert bars_window(bars, H, "2024-01-01T06:00").index[-1] == pd.Timestamp("2024-01-01T05:00Z")
    assert bars_window(bars, H, "2024-01-01T05:59").index[-1] == pd.Timestamp("2024-01-01T04:00Z")
    assert len(bars_window(bars, H)) == 10


def test_lookback_counts_back_from_the_newest_close() -> None:
    bars = _bars()
    window = bars_window(bars, H, "2024-01-02T00:00", lookback=timedelta(hours=3))
    assert list(window["close"]) == [7.0, 8.0, 9.0]  # newest closes 10:00, window from 07:00
    fixed = bars_window(bars, H, lookback=timedelta(hours=2), end=pd.Timestamp("2024-01-01T04:00Z"))
    assert list(fixed["close"]) == [3.0, 4.0]


def test_the_future_cannot_change_the_window() -> None:
    bars = _bars()
    changed = bars.copy()
    changed.iloc[6:] *= 100.0  # bars that close after as_of
    a = bars_window(bars, H, "2024-01-01T06:00", lookback=timedelta(hours=4))
    b = bars_window(changed, H, "2024-01-01T06:00", lookback=timedelta(hours=4))
    pd.testing.assert_frame_equal(a, b)


def test_an_empty_window_names_the_request_and_the_data() -> None:
    with pytest.raises(ValueError, match=r"no bars in the window \(as_of=2023-12-31 00:00:00\+00:00"
                                         r"\): the data holds 10 bars from 2024-01-01 00:00:00"):
        bars_window(_bars(), H, "2023-12-31")
    with pytest.raises(ValueError, match=r"`as_of` must be a date-time, got `as_of='soon'`"):
        bars_window(_bars(), H, "soon")
    with pytest.raises(ValueError, match=r"`lookback` must be a positive duration"):
        bars_window(_bars(), H, lookback=timedelta(0))
