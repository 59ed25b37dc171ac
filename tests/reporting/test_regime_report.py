"""The regime evaluation in words and tables: persistence, next-state accuracy against "the
regime stays", agreement across weekly refits, and the parts skipped with their reasons."""

from __future__ import annotations

from report_cases import PERSISTENCE, regime_evaluation

from reporting.regime_report import regime_evaluation_markdown


def test_regime_evaluation_markdown_tables_and_reasons() -> None:
    text = regime_evaluation_markdown(PERSISTENCE, regime_evaluation({"stability": "too short"}))
    assert text.startswith("\n".join([
        "### Regime model evaluation", "",
        "Persistence per regime (HMM fitted on the training span, filtered argmax path; "
        "durations in regime bars):", "",
        "| regime | p_stay | expected_duration_bars |", "|---|---|---|",
        "| bull | 0.900 | 10.000 |", "| bear | 0.800 | 5.000 |", "| sideways | 0.950 | 20.000 |",
        "",
        "Next-state accuracy out of sample (fit before 2024-01-01 00:00:00+00:00, scored after "
        "it): **0.800** vs 0.750 for \"the regime stays\" on 200 regime bars; Brier score 0.2500 "
        "vs 0.3000 (lower is better).", "",
        "Label agreement across 3 weekly refits (2 EM restarts each): mean **0.800**, min "
        "0.700.", ""]))
    assert "| 2024-01-14 00:00 | 0.900 | -101.000 | False | 1000 |" in text
    assert "| 2024-01-07 00:00 | - |" in text
    assert text.endswith("*stability skipped*: too short")


def test_without_the_evaluated_parts_only_persistence_and_reasons() -> None:
    text = regime_evaluation_markdown(PERSISTENCE, regime_evaluation(
        {"out_of_sample": "too few bars", "stability": "too few bars"}, with_parts=False))
    assert "Next-state accuracy" not in text and "Label agreement" not in text
    assert text.endswith("| sideways | 0.950 | 20.000 |\n\n*out_of_sample skipped*: too few "
                         "bars\n*stability skipped*: too few bars")
