"""The derived columns and the suite definition (expectations/_rules.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from expectations import RULES, build_ohlcv_suite, prepare_frame
from expectations._rules import (
    MAX_OPEN_CLOSE,
    MIN_OPEN_CLOSE,
    MISSING_BARS_BEFORE,
    ON_GRID,
    RULE_COLUMNS,
    RULE_GAPS,
)

FIFTEEN = timedelta(minutes=15)


def _stamps(*minutes: float) -> pd.Series:
    return pd.Series(pd.Timestamp("2021-12-29 12:00", tz="UTC")
                     + pd.to_timedelta(list(minutes), unit="min"))


def test_prepare_frame_exact_derived_columns():
    # Slots (15m): 0, 1, 4, 2, 2 (a repeat), 7, and a partial bar 50 s after slot 7.
    frame = pd.DataFrame({
        "timestamp": _stamps(0, 15, 60, 30, 30, 105, 105 + 50 / 60),
        "open": [1.0, 2.0, 3.0, 4.0, 4.0, 6.0, 7.0],
        "close": [1.5, 1.0, 3.5, 3.0, 4.0, np.nan, 7.0],
    })
    out = prepare_frame(frame, FIFTEEN)

    assert out[MAX_OPEN_CLOSE].tolist()[:5] == [1.5, 2.0, 3.5, 4.0, 4.0]
    assert out[MIN_OPEN_CLOSE].tolist()[:5] == [1.0, 1.0, 3.0, 3.0, 4.0]
    assert np.isnan(out[MAX_OPEN_CLOSE].iloc[5]) and np.isnan(out[MIN_OPEN_CLOSE].iloc[5])
    assert out[ON_GRID].tolist() == [True, True, True, True, True, True, False]
    # Slot 3 is missing before slot 4 (row 2); slots 5 and 6 before slot 7 (row 5). Row 3 is
    # out of file order but fills slot 2, so it follows no gap; repeats count nothing.
    assert out[MISSING_BARS_BEFORE].tolist() == [0, 0, 1, 0, 0, 2, 0]
    # Sum = grid span - occupied slots = 8 - 5.
    assert out[MISSING_BARS_BEFORE].sum() == 3


def test_prepare_frame_leaves_input_alone_and_keeps_row_order(bars):
    frame = bars(5)
    before = frame.copy()
    out = prepare_frame(frame, timedelta(minutes=30))
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(out[list(frame.columns)], frame)
    assert out.index.equals(frame.index)


def test_prepare_frame_skips_derived_columns_whose_inputs_are_missing(bars):
    out = prepare_frame(bars(4).drop(columns=["open", "timestamp"]), timedelta(minutes=30))
    for derived in (MAX_OPEN_CLOSE, MIN_OPEN_CLOSE, ON_GRID, MISSING_BARS_BEFORE):
        assert derived not in out.columns


def test_prepare_frame_missing_timestamp_is_on_grid_and_counts_no_gap(bars):
    frame = bars(4)
    frame.loc[2, "timestamp"] = pd.NaT
    out = prepare_frame(frame, timedelta(minutes=30))
    assert out[ON_GRID].tolist() == [True] * 4
    assert out[MISSING_BARS_BEFORE].tolist() == [0, 0, 0, 1]


def test_prepare_frame_daily_grid_is_utc_midnight(bars):
    frame = bars(3, timedelta(days=1))
    frame.loc[1, "timestamp"] += pd.Timedelta(hours=1)
    assert prepare_frame(frame, timedelta(days=1))[ON_GRID].tolist() == [True, False, True]


def test_prepare_frame_rejects_naive_timestamps_and_bad_timeframe(bars):
    frame = bars(3)
    with pytest.raises(ValueError, match="timeframe"):
        prepare_frame(frame, timedelta(0))
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    with pytest.raises(TypeError, match="timestamp"):
        prepare_frame(frame, timedelta(minutes=30))


def test_suite_is_built_from_named_builtin_expectations():
    suite = build_ohlcv_suite(0.02)
    rules = [e.meta["rule"] for e in suite.expectations]
    assert set(rules) == set(RULES)
    assert rules.count(RULE_COLUMNS) == 6
    assert len(suite.expectations) == 25
    assert all(e.meta["column"] and e.meta["broken"] for e in suite.expectations)
    (gaps,) = [e for e in suite.expectations if e.meta["rule"] == RULE_GAPS]
    assert gaps.expectation_type == "expect_column_mean_to_be_between"
    assert gaps.max_value == 0.02
    increasing = [e for e in suite.expectations
                  if e.expectation_type == "expect_column_values_to_be_increasing"]
    assert len(increasing) == 1


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_suite_rejects_bad_gap_ratio(ratio):
    with pytest.raises(ValueError, match=f"`max_gap_ratio={ratio}`"):
        build_ohlcv_suite(ratio)


def test_importing_the_gate_does_not_import_great_expectations():
    # GX costs ~3 s to import; the CLI imports this package and must stay fast.
    import subprocess
    import sys

    code = ("import sys, expectations, tasks.quality; "
            "print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
