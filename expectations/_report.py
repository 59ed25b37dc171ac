"""The quality gate's verdict, readable by people (console, Markdown) and by trackers (metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expectations._rules import RULE_GAPS

_MAX_EXAMPLES = 5


@dataclass
class RuleResult:
    """The outcome of one expectation of the suite, in the words of its rule.

    Attributes
    ----------
    rule : str
        Human rule name, one of :data:`expectations.RULES`.
    column : str
        The column(s) the expectation is about, e.g. ``"volume"`` or ``"low vs high"``.
    success : bool
        Whether the expectation held. False as well when it was skipped.
    unexpected_count : int
        Rows breaking it (for the gap rule: rows that follow a gap; for a missing column: 1).
    example_rows : list of int
        Up to five file row numbers (0 = first data row) breaking it.
    example_values : list
        The values of those rows (a scalar, or a dict when several columns tell the story).
    detail : str
        What was observed, starting with the count for row checks (e.g. ``"3 null values
        (0.1% of rows)"``).
    skipped : bool
        Not evaluated because a column it needs is missing (reported by the column rule).
    observed_value : float or None
        The aggregate the expectation measured, when it measures one (the gap ratio).
    """

    rule: str
    column: str
    success: bool
    unexpected_count: int
    example_rows: list[int]
    example_values: list[Any]
    detail: str
    skipped: bool = False
    observed_value: float | None = None

    def to_line(self) -> str:
        """One console line: rule, column, count, and the example rows with their values."""
        if self.skipped:
            return f"SKIP {self.rule} (column {self.column}): {self.detail}"
        if self.success:
            return f"ok   {self.rule} (column {self.column})"
        examples = ", ".join(
            f"row {row}: {_fmt(value)}"
            for row, value in zip(self.example_rows[:_MAX_EXAMPLES],
                                  self.example_values[:_MAX_EXAMPLES], strict=False)
        )
        # No square brackets: rich (the CLI's console) would read them as markup and drop them.
        line = f"FAIL {self.rule} (column {self.column}): {self.detail}"
        return f"{line}; e.g. {examples}" if examples else line


@dataclass
class QualityReport:
    """What the gate found in one bars file.

    Attributes
    ----------
    source : str
        The file (or a label) the frame came from.
    n_rows : int
        Data rows checked.
    success : bool
        True when every rule held.
    rules : list of RuleResult
        One entry per expectation, in suite order.
    data_docs : Path or None
        ``index.html`` of the Data Docs site built for this run, if one was asked for.
    """

    source: str
    n_rows: int
    success: bool
    rules: list[RuleResult] = field(default_factory=list)
    data_docs: Path | None = None

    def failed(self) -> list[RuleResult]:
        """Expectations that were evaluated and did not hold."""
        return [r for r in self.rules if not r.success and not r.skipped]

    def skipped(self) -> list[RuleResult]:
        """Expectations not evaluated because a column they need is missing."""
        return [r for r in self.rules if r.skipped]

    def to_text(self) -> str:
        """Console message: one line per failed (or skipped) expectation, or a one-line pass."""
        where = self.source or "bars"
        if self.success:
            return (f"Data quality gate passed: {where}, {self.n_rows} rows, "
                    f"all {len(self.rules)} checks held.")
        head = (f"Data quality gate FAILED: {where}, {self.n_rows} rows, "
                f"{len(self.failed())} of {len(self.rules)} checks failed")
        head += f", {len(self.skipped())} not checked:" if self.skipped() else ":"
        return "\n".join([head] + ["  " + r.to_line() for r in self.failed() + self.skipped()])

    def to_markdown(self) -> str:
        """Markdown for a Prefect artifact or an MLflow text artifact: verdict, table, failures."""
        status = "passed" if self.success else "**FAILED**"
        lines = [
            "# Data quality gate",
            "",
            f"- source: `{self.source or 'bars'}`",
            f"- rows: {self.n_rows}",
            f"- verdict: {status} ({len(self.rules) - len(self.failed()) - len(self.skipped())} "
            f"held, {len(self.failed())} failed, {len(self.skipped())} not checked)",
        ]
        if self.data_docs is not None:
            lines.append(f"- Data Docs: `{self.data_docs}`")
        lines += ["", "| rule | column | result | unexpected | example rows |",
                  "|---|---|---|---:|---|"]
        for r in self.rules:
            result = "skipped" if r.skipped else ("ok" if r.success else "FAIL")
            rows = ", ".join(str(i) for i in r.example_rows[:_MAX_EXAMPLES])
            lines.append(f"| {_md(r.rule)} | {_md(r.column)} | {result} | "
                         f"{r.unexpected_count} | {rows} |")
        problems = self.failed() + self.skipped()
        if problems:
            lines += ["", "## Failures", ""]
            lines += [f"- {_md(r.to_line())}" for r in problems]
        return "\n".join(lines) + "\n"

    def as_metrics(self) -> dict[str, float]:
        """Numbers for a tracker: rows, rules passed/failed/skipped, unexpected rows, gap ratio."""
        metrics = {
            "dq_rows": float(self.n_rows),
            "dq_success": float(self.success),
            "dq_rules_passed": float(sum(r.success for r in self.rules)),
            "dq_rules_failed": float(len(self.failed())),
            "dq_rules_skipped": float(len(self.skipped())),
            "dq_unexpected_rows": float(sum(r.unexpected_count for r in self.failed())),
        }
        for r in self.rules:
            if r.rule == RULE_GAPS and r.observed_value is not None:
                metrics["dq_gap_ratio"] = float(r.observed_value)
        return metrics


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _md(text: str) -> str:
    return text.replace("|", "\\|")
