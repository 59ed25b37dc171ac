"""The gate on real files with real defects (../shared/data/dirty, see its README)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from expectations import RULE_GAPS, RULE_GRID, RULE_INCREASING, RULE_UNIQUE, run_quality_gate
from ml_core.data import load_bars


def _by_rule(report):
    return {r.rule: r for r in report.failed()}


def test_yahoo_15m_fails_order_duplicate_grid_and_gap_rules(dirty_dir):
    path = dirty_dir / "BTC-USD-15m_yahoo_2021.csv"
    report = run_quality_gate(load_bars(path), timeframe=timedelta(minutes=15),
                              max_gap_ratio=0.01, source=str(path))
    failed = _by_rule(report)
    assert set(failed) == {RULE_UNIQUE, RULE_INCREASING, RULE_GRID, RULE_GAPS}, report.to_text()
    assert report.n_rows == 8721

    # 32 timestamps appear twice: 64 rows; the first examples open the repeated block.
    assert failed[RULE_UNIQUE].unexpected_count == 64
    assert failed[RULE_UNIQUE].example_rows == [2849, 2850, 2851, 2852, 2853]
    # The repeated block starts again after a partial bar, so time runs backwards once.
    assert failed[RULE_INCREASING].example_rows == [2882]
    assert failed[RULE_INCREASING].example_values == [
        {"timestamp": "2021-10-27T06:00:00+00:00", "previous_row": "2021-10-27T13:46:02+00:00"}]
    # Partial bars such as the last row's 13:50:02 stamp.
    assert failed[RULE_GRID].example_rows == [2881, 5853, 8720]
    assert failed[RULE_GRID].example_values[-1] == "2021-12-29T13:50:02+00:00"
    # The ~2.3-day hole: 222 missing 15m bars before row 5854.
    gaps = failed[RULE_GAPS]
    assert 5854 in gaps.example_rows
    assert {"timestamp": "2021-11-29T13:45:00+00:00", "missing_bars_before": 222} in (
        gaps.example_values)
    assert gaps.observed_value > 0.01

    text = report.to_text()
    for rule in (RULE_UNIQUE, RULE_INCREASING, RULE_GRID, RULE_GAPS):
        assert rule in text
    assert "row 8720: 2021-12-29T13:50:02+00:00" in text


def test_alt_1m_feather_fails_only_the_gap_rule(dirty_dir):
    path = dirty_dir / "ALT_BTC-1m_2017-11.feather"
    report = run_quality_gate(load_bars(path), timeframe=timedelta(minutes=1),
                              max_gap_ratio=0.01, source=str(path))
    assert set(_by_rule(report)) == {RULE_GAPS}, report.to_text()
    (gaps,) = report.failed()
    assert gaps.unexpected_count == 538  # gaps, as the data README counts them
    assert gaps.observed_value == pytest.approx(717 / 13_681)
    assert len(gaps.example_rows) == 5
    assert all(v["missing_bars_before"] >= 5 for v in gaps.example_values)
