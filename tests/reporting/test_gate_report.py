"""The gate's verdict as markdown: every gate with its value and bound, the paired test."""

from __future__ import annotations

import math

from ml_core.lifecycle import GateCheck, GateVerdict, SharpeDifference
from reporting.gate_report import gate_cell, gate_markdown

CHECKS = (GateCheck("cpcv_trades", True, 120.0, 30.0, "enough trades"),
          GateCheck("pbo", False, 0.6667, 0.5, "PBO too high"),
          GateCheck("dsr", False, math.nan, 0.95, "no Sharpe to deflate"))


def test_cells_are_four_significant_digits_or_undefined() -> None:
    assert [gate_cell(v) for v in (120.0, 0.666666, 1e-7, math.nan, math.inf)] == [
        "120", "0.6667", "1e-07", "undefined", "undefined"]


def test_a_rejected_version_lists_its_gates() -> None:
    verdict = GateVerdict("rejected", CHECKS, None, "failed: pbo, dsr", 0.05, ("pbo", "dsr"))
    assert gate_markdown("btc-regime", "7", verdict, None) == "\n".join([
        "### btc-regime v7: rejected (alias: none)", "",
        "failed: pbo, dsr", "",
        "| gate | result | value | bound |", "|---|---|---|---|",
        "| cpcv_trades | pass | 120 | 30 |",
        "| pbo | **FAIL** | 0.6667 | 0.5 |",
        "| dsr | **FAIL** | undefined | 0.95 |"])


def test_a_challenger_shows_the_paired_test_against_the_champion() -> None:
    test = SharpeDifference(0.05, 0.03, 0.02, 0.015, 1.333, 0.0912, 480, "hac", "greater")
    verdict = GateVerdict("challenger", CHECKS[:1], test, "not better than the champion", 0.05)
    assert gate_markdown("btc-regime", "8", verdict, "challenger") == "\n".join([
        "### btc-regime v8: challenger (alias: challenger)", "",
        "not better than the champion", "",
        "| gate | result | value | bound |", "|---|---|---|---|",
        "| cpcv_trades | pass | 120 | 30 |", "",
        "Paired Sharpe test against the champion (hac, one-sided): difference +0.0200 per bar, "
        "p = 0.0912, n = 480"])
