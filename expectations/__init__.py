"""Great Expectations quality gate for bar files (see :mod:`expectations.ohlcv`).

Importing this package is cheap: Great Expectations itself is imported on first use.
"""

from expectations.ohlcv import (
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
    QualityReport,
    RuleResult,
    build_ohlcv_suite,
    prepare_frame,
    run_quality_gate,
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
