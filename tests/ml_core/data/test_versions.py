"""The bar store's rules on tiny frames: new / identical / conflicting bars, reads as of a time."""

from __future__ import annotations

import hashlib
import struct
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.data import (
    BAR_VALUES,
    bars_as_of,
    bars_digest,
    compare_bars,
    find_gaps,
    latest_versions,
)

H = timedelta(hours=1)


def _bars(hours: list[int], close: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp("2024-01-01", tz="UTC") + h * H for h in hours],
                             name="timestamp")
    close_ = np.asarray(close, dtype="float64")
    return pd.DataFrame({"open": close_, "high": close_ + 1, "low": close_ - 1, "close": close_,
                         "volume": np.full(len(close_), 10.0)}, index=index)


def test_compare_splits_new_identical_and_conflicting() -> None:
    stored = _bars([0, 1, 2], [100.0, 101.0, 102.0])
    incoming = _bars([1, 2, 3, 4], [101.0, 102.5, 103.0, 104.0])
    diff = compare_bars(incoming, stored)
    assert list(diff.new.index.hour) == [3, 4]
    assert diff.identical == 1
    assert list(diff.conflicts.index) == [pd.Timestamp("2024-01-01 02:00", tz="UTC")]
    row = diff.conflicts.iloc[0]
    assert (row["close_stored"], row["close_incoming"]) == (102.0, 102.5)
    assert (row["volume_stored"], row["volume_incoming"]) == (10.0, 10.0)
    assert list(diff.revised.columns) == list(BAR_VALUES)
    assert diff.revised["close"].tolist() == [102.5]
    assert diff.describe_conflicts() == (
        "2024-01-01T02:00:00+00:00 open stored 102.0, incoming 102.5; "
        "high stored 103.0, incoming 103.5; low stored 101.0, incoming 101.5; "
        "close stored 102.0, incoming 102.5")


def test_compare_is_exact_and_nan_equals_nan() -> None:
    stored = _bars([0, 1], [100.0, 101.0])
    stored.loc[stored.index[1], "volume"] = np.nan
    incoming = stored.copy()
    incoming.loc[incoming.index[0], "close"] = 100.0 + 1e-12
    diff = compare_bars(incoming, stored)
    assert diff.identical == 1
    assert len(diff.conflicts) == 1 and diff.new.empty


def test_compare_with_empty_store_is_all_new() -> None:
    incoming = _bars([0, 1], [1.0, 2.0])
    diff = compare_bars(incoming, latest_versions(pd.DataFrame()))
    assert diff.identical == 0 and diff.conflicts.empty
    pd.testing.assert_frame_equal(diff.new, incoming)


def test_compare_names_a_duplicate_timestamp() -> None:
    incoming = _bars([0, 0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"`incoming` holds timestamp 2024-01-01T00:00:00\+00:00"):
        compare_bars(incoming, _bars([], []))


def _versions() -> pd.DataFrame:
    """Bars 0..2 ingested at 03:00 (ingest 1); bar 1 revised at 05:00 (ingest 2)."""
    first = _bars([0, 1, 2], [100.0, 101.0, 102.0]).reset_index()
    first["ingest_id"], first["ingested_at"] = 1, pd.Timestamp("2024-01-01 03:00", tz="UTC")
    revised = _bars([1], [111.0]).reset_index()
    revised["ingest_id"], revised["ingested_at"] = 2, pd.Timestamp("2024-01-01 05:00", tz="UTC")
    return pd.concat([revised, first], ignore_index=True)


def test_latest_versions_takes_the_highest_ingest() -> None:
    assert latest_versions(_versions())["close"].tolist() == [100.0, 111.0, 102.0]


@pytest.mark.parametrize(
    ("as_of", "ingested_by", "closes"),
    [
        ("2024-01-01 02:59", None, []),                      # nothing stored yet
        ("2024-01-01 03:00", None, [100.0, 101.0, 102.0]),   # bar 2 closed at 03:00: visible
        ("2024-01-01 04:59", None, [100.0, 101.0, 102.0]),   # revision not yet ingested
        ("2024-01-01 05:00", None, [100.0, 111.0, 102.0]),
        ("2024-01-01 02:00", "2024-01-01 06:00", [100.0, 111.0]),  # backfill: closed by 02:00
        ("2024-01-01 02:00", "2024-01-01 04:00", [100.0, 101.0]),
    ],
)
def test_bars_as_of(as_of: str, ingested_by: str | None, closes: list[float]) -> None:
    bars = bars_as_of(_versions(), H, pd.Timestamp(as_of, tz="UTC"),
                      None if ingested_by is None else pd.Timestamp(ingested_by))
    assert bars["close"].tolist() == closes
    assert list(bars.columns) == list(BAR_VALUES)


def test_bars_as_of_names_a_bad_time() -> None:
    with pytest.raises(ValueError, match="`as_of` must be a date-time, got `as_of='soon'`"):
        bars_as_of(_versions(), H, "soon")


def test_find_gaps() -> None:
    bars = _bars([0, 1, 4, 5, 7], [1.0] * 5)
    gaps = find_gaps(bars.index, H)
    assert gaps["start"].dt.hour.tolist() == [2, 6]
    assert gaps["end"].dt.hour.tolist() == [3, 6]
    assert gaps["missing"].tolist() == [2, 1]
    assert find_gaps(bars.index[:2], H).empty
    assert find_gaps(bars.index[:0], H).empty


def test_bars_digest_depends_on_values_not_order() -> None:
    bars = _bars([0, 1], [1.0, 2.0])
    assert bars_digest(bars) == bars_digest(bars.iloc[::-1])
    changed = bars.copy()
    changed.iloc[1, 3] = 2.0000001
    assert bars_digest(changed) != bars_digest(bars)
    # the documented layout: int64 ns timestamps, then the float64 rows, little-endian
    t0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00Z
    raw = struct.pack("<2q", t0, t0 + 3_600 * 10**9) + struct.pack(
        "<10d", 1.0, 2.0, 0.0, 1.0, 10.0, 2.0, 3.0, 1.0, 2.0, 10.0)
    assert bars_digest(bars) == hashlib.sha256(raw).hexdigest()
