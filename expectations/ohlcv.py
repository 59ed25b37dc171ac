"""The OHLCV quality gate: suite, derived columns, report and runner in one public namespace.

Usage::

    from ml_core.data import load_bars
    from expectations import run_quality_gate

    report = run_quality_gate(load_bars(path), timeframe=timedelta(minutes=30), max_gap_ratio=0.01,
                              source=str(path), docs_dir=Path("reports/data_docs"))
    if not report.success:
        print(report.to_text())

Great Expectations is imported only when a suite is built or a gate is run (it costs ~3 s).
"""

from expectations._gate import run_quality_gate
from expectations._report import QualityReport, RuleResult
from expectations._rules import (
    DERIVED_COLUMNS,
    REQUIRED_COLUMNS,
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
    RULES,
    build_ohlcv_suite,
    prepare_frame,
)

__all__ = [
    "DERIVED_COLUMNS",
    "QualityReport",
    "REQUIRED_COLUMNS",
    "RULES",
    "RULE_COLUMNS",
    "RULE_GAPS",
    "RULE_GRID",
    "RULE_HAS_ROWS",
    "RULE_HIGH",
    "RULE_INCREASING",
    "RULE_LOW",
    "RULE_NOT_NULL",
    "RULE_POSITIVE_PRICES",
    "RULE_UNIQUE",
    "RULE_VOLUME",
    "RuleResult",
    "build_ohlcv_suite",
    "prepare_frame",
    "run_quality_gate",
]
