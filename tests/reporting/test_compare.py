"""Two versions side by side: exact tables and differences, the figures' lines and labels, and
one self-contained page holding the tables and the figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml_core.lifecycle import SharpeDifference
from reporting.compare import (COLUMNS, MISSING, VersionInputs, artifact_name, comparison_html,
                               comparison_markdown, equity_figure, format_table, headline_table,
                               importance_figure, importance_table, overfitting_sentence,
                               overfitting_table, paired_test_sentence, regime_table,
                               side_by_side)
from reporting.headline import HEADLINE

A_RUN = {"promotion_score": 0.25, "gate_trustworthy": 1.0, "gate_cpcv_trades": 1.0,
         "gate_holdout_trades": 1.0, "gate_pbo": 1.0, "gate_dsr": 1.0, "gate_buy_and_hold": 1.0,
         "cv_sharpe_median": 0.25, "cv_baseline_long_every_event_sharpe_median": 0.125,
         "pbo": 0.5, "pbo_entry": 0.25, "dsr_median": 0.75, "psr_median": 0.875,
         "dsr_n_trials": 20.0, "holdout_ensemble_sharpe": 1.5, "holdout_ensemble_n_trades": 40.0,
         "wf_sharpe_consistency": 0.5, "regime_bull_p_stay": 0.9, "regime_converged": 1.0,
         "cv_bull_sharpe": 0.5, "cv_bear_sharpe": -0.25, "cv_sideways_n_trades": 12.0,
         "headline/drift_share": 0.1, "cv_sharpe_mean": 9.0}
B_RUN = {"promotion_score": 0.5, "gate_trustworthy": 0.0, "gate_cpcv_trades": 1.0,
         "gate_holdout_trades": 0.0, "gate_pbo": 1.0, "gate_dsr": 0.0, "gate_buy_and_hold": 1.0,
         "gate_test_sharpe_difference": 0.0125, "gate_test_p_value": 0.03,
         "cv_sharpe_median": 0.5, "cv_baseline_long_every_event_sharpe_median": 0.125,
         "pbo": 0.25, "pbo_exit": 0.5, "dsr_median": 0.5, "psr_median": 0.625,
         "dsr_n_trials": 30.0, "holdout_ensemble_n_trades": 12.0, "wf_sharpe_consistency": 0.75,
         "regime_bull_p_stay": 0.8, "regime_oos_next_state_lift": 0.05, "cv_bull_sharpe": 0.75,
         "cv_bear_n_trades": 3.0}
LABELS = ("v1 (champion)", "v2")
IDX = pd.date_range("2025-03-01", periods=6, freq="1h", tz="UTC")


def test_side_by_side_is_a_b_and_b_minus_a_missing_never_zero() -> None:
    table = side_by_side({"x": 1.0, "y": 2.0}, {"x": 1.5, "z": 3.0, "y": math.nan},
                         ["x", "y", "z"])
    assert list(table.columns) == list(COLUMNS) == ["A", "B", "B−A"]
    assert list(table.index) == ["x", "y", "z"]
    expected = pd.DataFrame({"A": [1.0, 2.0, np.nan], "B": [1.5, np.nan, 3.0],
                             "B−A": [0.5, np.nan, np.nan]}, index=["x", "y", "z"])
    pd.testing.assert_frame_equal(table, expected, check_names=False)


def test_headline_table_has_every_headline_row_in_order_with_differences() -> None:
    table = headline_table(A_RUN, B_RUN)
    assert list(table.index) == list(HEADLINE)
    assert table.loc["score"].tolist() == [0.25, 0.5, 0.25]
    assert table.loc["gate_passed"].tolist() == [1.0, 0.0, -1.0]
    assert table.loc["gate_failed_checks"].tolist() == [0.0, 2.0, 2.0]
    assert table.loc["cv_sharpe_median"].tolist() == [0.25, 0.5, 0.25]
    assert table.loc["cv_buy_hold_sharpe"].tolist() == [0.125, 0.125, 0.0]
    assert table.loc["pbo"].tolist() == [0.5, 0.25, -0.25]
    assert table.loc["dsr"].tolist() == [0.75, 0.5, -0.25]
    assert table.loc["holdout_trades"].tolist() == [40.0, 12.0, -28.0]
    assert table.loc["wf_consistency"].tolist() == [0.5, 0.75, 0.25]
    # measured on one side only: the other side and the difference are missing, not zero
    assert table.loc["paired_p_value", "B"] == 0.03
    assert np.isnan(table.loc["paired_p_value", ["A", "B−A"]].astype(float)).all()
    assert table.loc["holdout_sharpe", "A"] == 1.5 and np.isnan(table.loc["holdout_sharpe", "B"])
    # logged by the monitor as a headline figure only
    assert table.loc["drift_share", "A"] == 0.1 and np.isnan(table.loc["drift_share", "B"])


def test_cells_read_as_four_significant_digits_signed_differences_and_dashes() -> None:
    table = side_by_side({"p": 0.0123456, "n": 40.0, "s": 1.0},
                         {"p": 0.0234567, "n": 12.0, "s": 1.0, "q": 2.5}, ["p", "n", "s", "q"])
    text = format_table(table)
    assert text.to_dict("index") == {
        "p": {"A": "0.01235", "B": "0.02346", "B−A": "+0.01111"},
        "n": {"A": "40", "B": "12", "B−A": "-28"},
        "s": {"A": "1", "B": "1", "B−A": "0"},
        "q": {"A": MISSING, "B": "2.5", "B−A": MISSING}}


def test_overfitting_rows_headline_first_then_the_rest_by_name() -> None:
    table = overfitting_table(A_RUN, B_RUN)
    assert list(table.index) == ["pbo", "dsr_median", "psr_median", "dsr_n_trials", "pbo_entry",
                                 "pbo_exit"]
    assert table.loc["dsr_n_trials"].tolist() == [20.0, 30.0, 10.0]
    assert overfitting_sentence(A_RUN, B_RUN, LABELS) == (
        "PBO 0.5 for v1 (champion), 0.25 for v2 (B−A -0.25) — 0.5 is a random pick, lower is "
        "better; deflated Sharpe probability 0.75 for v1 (champion), 0.5 for v2 (B−A -0.25) — "
        "higher is better.")


def test_regime_rows_model_figures_then_cv_per_regime_in_regime_order() -> None:
    table = regime_table(A_RUN, B_RUN)
    assert list(table.index) == ["regime_bull_p_stay", "regime_converged",
                                 "regime_oos_next_state_lift", "cv_bull_sharpe",
                                 "cv_bear_n_trades", "cv_bear_sharpe", "cv_sideways_n_trades"]
    assert table.loc["regime_bull_p_stay", "B−A"] == pytest.approx(-0.1)
    assert table.loc["cv_bull_sharpe"].tolist() == [0.5, 0.75, 0.25]


def test_importances_are_the_forest_means_top_by_both_versions() -> None:
    a = pd.DataFrame({"entry": [0.5, 0.25, 0.25], "exit": [0.25, 0.25, 0.5]},
                     index=["rsi", "adx", "vol"])
    b = pd.DataFrame({"entry": [0.75, 0.5], "exit": [0.75, 0.5]}, index=["rsi", "hurst"])
    table = importance_table(a, b, top=3)  # by (A + B) / 2: rsi .5625, hurst .25, vol .1875
    assert table.to_dict("index") == {"rsi": {"A": 0.375, "B": 0.75},
                                      "hurst": {"A": 0.0, "B": 0.5},
                                      "vol": {"A": 0.375, "B": 0.0}}
    assert list(table.index) == ["rsi", "hurst", "vol"]
    assert list(importance_table(a, None).columns) == ["A", "B"]
    assert importance_table(None, None).empty
    with pytest.raises(ValueError, match="`top` must be at least 1, got `top=0`"):
        importance_table(a, b, top=0)


def test_paired_test_in_words() -> None:
    test = SharpeDifference(sharpe_a=0.05, sharpe_b=0.02, difference=0.03, std_error=0.01,
                            statistic=3.0, p_value=0.00135, n=1200, method="hac",
                            alternative="greater")
    assert paired_test_sentence(test, LABELS, 0.05) == (
        "v2 beats v1 (champion) on the newest bars at alpha 0.05: Sharpe per bar 0.0500 "
        "against 0.0200, difference +0.0300 (s.e. 0.0100, hac, one-sided p = 0.00135 over "
        "1,200 bars).")
    assert paired_test_sentence(test, LABELS, 0.001).startswith("v2 does not beat v1")
    flat = SharpeDifference(0.0, 0.0, 0.0, math.nan, math.nan, 1.0, 20, "hac", "greater")
    assert paired_test_sentence(flat, LABELS, 0.05) == (
        "v2 does not beat v1 (champion) on the newest bars at alpha 0.05: Sharpe per bar 0.0000 "
        "against 0.0000, difference +0.0000 (no s.e.: both held flat on every bar, nothing can "
        "be shown, hac, one-sided p = 1 over 20 bars).")


def _returns() -> dict[str, pd.Series]:
    return {"v1 (champion)": pd.Series([0.0, 0.01, -0.02, 0.0, 0.01, 0.0], index=IDX),
            "v2": pd.Series([0.0, 0.0, 0.01, 0.01, 0.0, -0.01], index=IDX)}


def test_equity_figure_has_both_versions_and_buy_and_hold_labelled() -> None:
    close = pd.Series([100.0, 101.0, 99.0, 100.0, 102.0, 103.0], index=IDX)
    fig = equity_figure(_returns(), close)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()
             if not line.get_label().startswith("_")}
    assert list(lines) == ["v1 (champion)", "v2", "buy-and-hold"]
    np.testing.assert_allclose(lines["v1 (champion)"].get_ydata(),
                               [0.0, 0.01, -0.0102, -0.0102, -0.000302, -0.000302])
    np.testing.assert_allclose(lines["buy-and-hold"].get_ydata(),
                               [0.0, 0.01, -0.01, 0.0, 0.02, 0.03])
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(lines)
    assert ax.get_xlabel() == "time (UTC)"
    assert ax.get_ylabel() == "cumulative return (compounded, net of costs)"
    assert "6 bars" in ax.get_title()


def test_importance_figure_pairs_a_bar_of_each_version_per_feature() -> None:
    table = pd.DataFrame({"A": [0.5, 0.25], "B": [0.25, 0.5]}, index=["rsi", "adx"])
    (ax,) = importance_figure(table, LABELS).axes
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(LABELS)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["adx", "rsi"]  # top one on top
    assert ax.get_xlabel().startswith("mean decrease in impurity")
    assert importance_figure(importance_table(None, None), LABELS).axes[0].texts


def test_page_is_self_contained_with_tables_test_and_figures() -> None:
    a = VersionInputs("v1 (champion)", A_RUN, _returns()["v1 (champion)"],
                      pd.DataFrame({"entry": [0.5]}, index=["rsi"]), note="run abc")
    b = VersionInputs("v2", B_RUN, _returns()["v2"], None)
    close = pd.Series(np.linspace(100.0, 105.0, 6), index=IDX)
    page = comparison_html("tiny: v2 against v1", a, b, "v2 does not beat v1 (champion)",
                           "challenger — does not beat the champion", close)
    assert page.startswith("<!DOCTYPE html>") and "<title>tiny: v2 against v1</title>" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert "<th>A: v1 (champion)</th>" in page and "<th>B−A</th>" in page
    assert "<td>pbo</td>\n<td>0.5</td>\n<td>0.25</td>\n<td>-0.25</td>" in page
    assert "v2 does not beat v1 (champion)" in page and "run abc" in page
    assert "<td>cv_bull_sharpe</td>" in page and "<td>rsi</td>" in page
    assert "<script" not in page and "<link" not in page and 'src="http' not in page
    assert "<h3>The regime model (" in page and "<h3>CPCV by regime</h3>" in page
    text = comparison_markdown("t", a, b, "test", "verdict")
    assert text.index("## Is B better than A?") < text.index("## Headline figures") < text.index(
        "## Is it overfit?") < text.index("## Regimes") < text.index("## Feature importances")


def test_the_page_is_named_after_both_versions() -> None:
    assert artifact_name("1", "2") == "compare/v2_vs_v1.html"
