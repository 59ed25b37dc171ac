"""The gate on the real GX engine (expectations/_gate.py): one broken rule at a time, the sample."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from expectations import (
    RULE_COLUMNS,
    RULE_GAPS,
    RULE_GRID,
    RULE_HAS_ROWS,
    RULE_HIGH,
    RULE_INCREASING,
    RULE_LOW,
    RULE_NOT_NULL,
    RULE_POSITIVE_PRICES,
    RULE_UNIQUE,
    RULE_VOLUME,
    run_quality_gate,
)

THIRTY = timedelta(minutes=30)


def _gate(frame: pd.DataFrame, max_gap_ratio: float = 0.0, **kwargs):
    return run_quality_gate(frame, timeframe=THIRTY, max_gap_ratio=max_gap_ratio, **kwargs)


def _duplicated(frame):  # row 3 repeated right after itself
    return pd.concat([frame.iloc[:4], frame.iloc[3:4], frame.iloc[4:]], ignore_index=True)


def _negative_price(frame):
    frame.loc[2, "low"] = -1.0
    return frame


def _high_below_low(frame):  # open = close = high < low: only the low/high rule can see it
    frame.loc[5, ["open", "high", "close", "low"]] = [100.0, 100.0, 100.0, 101.0]
    return frame


def _high_below_close(frame):
    frame.loc[2, "high"] = frame.loc[2, "close"] - 0.25
    return frame


def _no_volume(frame):
    return frame.drop(columns="volume")


def _out_of_order(frame):  # rows 3 and 4 swapped
    return frame.iloc[[0, 1, 2, 4, 3, 5, 6, 7]].reset_index(drop=True)


def _off_grid(frame):  # a partial last bar, stamped 20 min 2 s after the previous one
    frame.loc[7, "timestamp"] = frame.loc[6, "timestamp"] + pd.Timedelta("20min 2s")
    return frame


def _gaps(frame):  # bars 3 and 4 missing: 2 missing / 6 present
    return frame.drop(index=[3, 4]).reset_index(drop=True)


def _null_close(frame):
    frame.loc[1, "close"] = np.nan
    return frame


def _negative_volume(frame):
    frame.loc[0, "volume"] = -5.0
    return frame


STAMP = "2024-01-01T{}:00+00:00".format
CASES = [
    # (breaker, failed rule, failed column, example rows, example values of each failed result)
    (_duplicated, RULE_UNIQUE, "timestamp", [3, 4], [[STAMP("01:30")] * 2]),
    (_negative_price, RULE_POSITIVE_PRICES, "low", [2], [[-1.0]]),
    (_high_below_low, RULE_LOW, "low vs high", [5],
     [[{"low": 101.0, "open": 100.0, "close": 100.0}], [{"low": 101.0, "high": 100.0}]]),
    (_high_below_close, RULE_HIGH, "high vs max(open, close)", [2],
     [[{"high": 102.25, "open": 102.0, "close": 102.5}]]),
    (_no_volume, RULE_COLUMNS, "volume", [], [[]]),
    (_out_of_order, RULE_INCREASING, "timestamp", [4],
     [[{"timestamp": STAMP("01:30"), "previous_row": STAMP("02:00")}]]),
    (_off_grid, RULE_GRID, "timestamp", [7], [["2024-01-01T03:20:02+00:00"]]),
    (_gaps, RULE_GAPS, "timestamp", [3], [[{"timestamp": STAMP("02:30"),
                                            "missing_bars_before": 2}]]),
    (_null_close, RULE_NOT_NULL, "close", [1], [[None]]),
    (_negative_volume, RULE_VOLUME, "volume", [0], [[-5.0]]),
]


def test_clean_bars_pass_every_check(bars):
    report = _gate(bars())
    assert report.success, report.to_text()
    assert report.n_rows == 8 and len(report.rules) == 25
    assert report.failed() == [] and report.skipped() == []
    assert report.data_docs is None
    assert report.to_text().startswith("Data quality gate passed")


@pytest.mark.parametrize(("breaker", "rule", "column", "rows", "values"), CASES,
                         ids=[c[0].__name__.strip("_") for c in CASES])
def test_each_defect_fails_exactly_its_rule_and_names_the_rows(
    bars, breaker, rule, column, rows, values
):
    report = _gate(breaker(bars()), max_gap_ratio=0.1)

    assert not report.success
    failed = report.failed()
    assert {r.rule for r in failed} == {rule}, report.to_text()
    assert column in [r.column for r in failed]
    assert sorted({row for r in failed for row in r.example_rows}) == rows
    assert [r.example_values for r in failed] == values
    assert all(r.unexpected_count == max(len(rows), 1) for r in failed)
    text = report.to_text()
    assert rule in text and column in text
    for row in rows:
        assert f"row {row}:" in text


def test_gap_ratio_is_missing_over_present_and_has_a_threshold(bars):
    frame = _gaps(bars())  # 2 missing / 6 present
    report = _gate(frame, max_gap_ratio=0.34)
    assert report.success
    (gaps,) = [r for r in report.rules if r.rule == RULE_GAPS]
    assert gaps.observed_value == pytest.approx(2 / 6)
    assert report.as_metrics()["dq_gap_ratio"] == pytest.approx(2 / 6)
    assert "2 missing 30m bars over 6 present bars, ratio 0.3333 <= max_gap_ratio 0.34" in (
        gaps.detail)


def test_missing_column_is_reported_and_its_checks_skipped(bars):
    report = _gate(bars().drop(columns=["volume", "open"]))
    assert not report.success
    assert [(r.rule, r.column) for r in report.failed()] == [(RULE_COLUMNS, "open"),
                                                            (RULE_COLUMNS, "volume")]
    skipped = {(r.rule, r.column) for r in report.skipped()}
    assert skipped == {
        (RULE_NOT_NULL, "open"), (RULE_NOT_NULL, "volume"), (RULE_POSITIVE_PRICES, "open"),
        (RULE_HIGH, "high vs max(open, close)"), (RULE_LOW, "low vs min(open, close)"),
        (RULE_VOLUME, "volume"),
    }
    # Checks that do not need the missing columns still ran.
    assert any(r.rule == RULE_LOW and r.column == "low vs high" and r.success
               for r in report.rules)
    assert "column 'volume' is missing" in report.to_text()
    assert "SKIP volume >= 0 (column volume)" in report.to_text()


def test_frame_without_timestamps_or_rows_is_reported(bars):
    no_time = _gate(bars().drop(columns="timestamp"))
    assert {r.rule for r in no_time.failed()} == {RULE_COLUMNS}
    assert {r.rule for r in no_time.skipped()} >= {RULE_UNIQUE, RULE_INCREASING, RULE_GRID,
                                                   RULE_GAPS}
    empty = _gate(bars().iloc[:0])
    assert not empty.success
    assert RULE_HAS_ROWS in {r.rule for r in empty.failed()}


def test_index_must_be_file_rows(bars):
    with pytest.raises(ValueError, match="RangeIndex"):
        _gate(bars().set_index("timestamp"))


def test_rows_are_named_by_index_label_for_a_slice_of_the_file(bars):
    frame = _out_of_order(bars())
    frame.index = pd.RangeIndex(100, 108)  # e.g. file rows 100-107 of a longer file
    (order,) = _gate(frame).failed()
    assert order.example_rows == [104]
    assert order.example_values == [{"timestamp": STAMP("01:30"), "previous_row": STAMP("02:00")}]


def test_source_defaults_to_the_frame_attrs(bars):
    frame = bars()
    frame.attrs["source"] = "data/x.csv"
    assert _gate(frame).source == "data/x.csv"


def test_data_docs_site_is_written_where_asked(bars, tmp_path):
    docs = tmp_path / "docs"
    report = _gate(_negative_price(bars()), docs_dir=docs, source="label")
    assert report.source == "label"
    assert report.data_docs == docs / "index.html"
    assert report.data_docs.is_file()
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 1
    assert "prices &gt; 0" in (docs / "expectations" / "ohlcv_bars.html").read_text()
    assert f"- Data Docs: `{report.data_docs}`" in report.to_markdown()


# --- the bundled sample -------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_report():
    from ml_core.data import load_bars, sample_bars_path

    frame = load_bars(sample_bars_path())
    return frame, run_quality_gate(frame, timeframe=THIRTY, max_gap_ratio=0.01,
                                   source="bundled sample")


def test_bundled_sample_passes(sample_report):
    frame, report = sample_report
    assert report.success, report.to_text()
    assert report.n_rows == len(frame) == 35_019
    # Gap ratio checked against an independent count: grid span minus present bars.
    span = (frame["timestamp"].max() - frame["timestamp"].min()) // pd.Timedelta(THIRTY) + 1
    expected = (span - len(frame)) / len(frame)
    assert 0 < expected < 0.01
    assert report.as_metrics()["dq_gap_ratio"] == pytest.approx(expected)
    assert report.as_metrics()["dq_rules_failed"] == 0.0
