"""Report rendering (expectations/_report.py), on hand-made results: no GX needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from expectations import RULE_GAPS, QualityReport, RuleResult


@pytest.fixture
def report() -> QualityReport:
    rules = [
        RuleResult("required columns exist", "timestamp", True, 0, [], [], "present"),
        RuleResult("timestamps unique", "timestamp", False, 7,
                   [3, 4, 10, 11, 20, 21], ["t3", "t3", "t10", "t10", "t20", "t20"],
                   "7 rows whose timestamp another row also has (1% of rows)"),
        RuleResult("low <= min(open, close) and low <= high", "low vs high", False, 1, [5],
                   [{"low": 101.0, "high": 100.0}], "1 row with low > high (12.5% of rows)"),
        RuleResult("volume >= 0", "volume", False, 0, [], [],
                   "not checked: needs missing column(s) volume", skipped=True),
        RuleResult(RULE_GAPS, "timestamp", True, 2, [9], [{"missing_bars_before": 3}], "ok",
                   observed_value=0.005),
    ]
    return QualityReport(source="bars.csv", n_rows=700, success=False, rules=rules,
                         data_docs=Path("docs/index.html"))


def test_failed_and_skipped_are_separate(report):
    assert [r.rule for r in report.failed()] == ["timestamps unique",
                                                 "low <= min(open, close) and low <= high"]
    assert [r.rule for r in report.skipped()] == ["volume >= 0"]


def test_text_has_one_line_per_failure_with_at_most_five_examples(report):
    lines = report.to_text().splitlines()
    assert lines[0] == ("Data quality gate FAILED: bars.csv, 700 rows, 2 of 5 checks failed, "
                        "1 not checked:")
    assert lines[1] == ("  FAIL timestamps unique (column timestamp): 7 rows whose timestamp "
                        "another row also has (1% of rows); e.g. row 3: t3, row 4: t3, "
                        "row 10: t10, row 11: t10, row 20: t20")
    assert lines[2] == ("  FAIL low <= min(open, close) and low <= high (column low vs high): "
                        "1 row with low > high (12.5% of rows); e.g. row 5: {low=101, high=100}")
    assert lines[3] == ("  SKIP volume >= 0 (column volume): not checked: needs missing "
                        "column(s) volume")
    assert len(lines) == 4
    assert "[" not in report.to_text()  # rich would take square brackets for markup


def test_pass_is_one_line():
    ok = QualityReport("s.parquet", 10, True, [RuleResult("no nulls", "open", True, 0, [], [],
                                                          "held")])
    assert ok.to_text() == "Data quality gate passed: s.parquet, 10 rows, all 1 checks held."
    assert ok.failed() == []


def test_markdown_has_a_row_per_check_and_the_failures(report):
    md = report.to_markdown()
    assert md.startswith("# Data quality gate\n")
    assert "- verdict: **FAILED** (2 held, 2 failed, 1 not checked)" in md
    table = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + 5
    assert "| timestamps unique | timestamp | FAIL | 7 | 3, 4, 10, 11, 20 |" in md
    assert "| volume >= 0 | volume | skipped | 0 |  |" in md
    assert "## Failures" in md


def test_markdown_escapes_pipes():
    odd = QualityReport("x", 1, False, [RuleResult("a|b", "c", False, 1, [0], [1], "d|e")])
    assert "| a\\|b | c | FAIL | 1 | 0 |" in odd.to_markdown()


def test_metrics(report):
    assert report.as_metrics() == {
        "dq_rows": 700.0,
        "dq_success": 0.0,
        "dq_rules_passed": 2.0,
        "dq_rules_failed": 2.0,
        "dq_rules_skipped": 1.0,
        "dq_unexpected_rows": 8.0,
        "dq_gap_ratio": 0.005,
    }
