"""The promotion gate's verdict as markdown: each gate with its value and bound, and the paired
Sharpe test against the champion when it ran."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_core.lifecycle import GateVerdict


def gate_cell(value: float) -> str:
    """A gate's value or bound: 4 significant digits, ``undefined`` when not finite."""
    return "undefined" if not math.isfinite(value) else f"{value:.4g}"


def gate_markdown(name: str, version: str, verdict: GateVerdict, alias: str | None) -> str:
    """The verdict as a heading (model, version, verdict, alias), its reason, a table of the
    gates and the paired test's line (Prefect artifact, summary)."""
    rows = "\n".join(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {gate_cell(c.value)} | "
                     f"{gate_cell(c.bound)} |" for c in verdict.checks)
    test = ""
    if verdict.comparison is not None:
        t = verdict.comparison
        test = (f"\n\nPaired Sharpe test against the champion ({t.method}, one-sided): "
                f"difference {t.difference:+.4f} per bar, p = {t.p_value:.3g}, n = {t.n}")
    return (f"### {name} v{version}: {verdict.verdict} (alias: {alias or 'none'})\n\n"
            f"{verdict.reason}\n\n| gate | result | value | bound |\n|---|---|---|---|\n"
            f"{rows}{test}")
