"""The holdout report reads the holdout in plain words, then the tables behind it: six events,
40 trades at Sharpe 1.5 against buy and hold's 0.5 (see ``report_cases.holdout_report``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from report_cases import holdout_report

from reporting.holdout_report import holdout_figures, holdout_markdown, meta_weight_table

META = ["p_entry", "size", "p_exit", "profit"]


def _folds() -> pd.DataFrame:
    return pd.DataFrame([[1.0, 0.2, -0.5, 0.1], [3.0, 0.4, -0.1, 0.1]], columns=META,
                        index=pd.Index([0, 1], name="fold"))


def test_meta_weight_table_with_and_without_fold_weights() -> None:
    coef = pd.Series([2.0, 0.3, -0.3, 0.1], index=META)
    table = meta_weight_table(SimpleNamespace(meta_coef_=coef, meta_coef_folds_=_folds()))
    assert table.index.name == "feature" and table.index.tolist() == META
    assert table.columns.tolist() == ["coef", "fold_mean", "fold_std", "fold_0", "fold_1"]
    assert table.loc["p_entry"].tolist() == pytest.approx([2.0, 2.0, np.sqrt(2.0), 1.0, 3.0])
    assert table.loc["profit", "fold_std"] == 0.0
    single = meta_weight_table(SimpleNamespace(meta_coef_=coef))
    assert single.columns.tolist() == ["coef"] and single["coef"].tolist() == coef.tolist()
    assert meta_weight_table(SimpleNamespace()) is None


def test_markdown_headline_reads_the_holdout() -> None:
    model = SimpleNamespace(meta_coef_=pd.Series([2.0, 0.3, -0.3, 0.1], index=META),
                            brier_uncalibrated_=0.2, brier_calibrated_=0.18)
    text = holdout_markdown(holdout_report(), model)
    assert text.startswith("\n".join([
        "## Final holdout", "",
        "**6** events from 2024-03-01 00:00 to 2024-03-01 10:00, after every bar any fit read "
        "(features, HMM, tuning, selection, forests, meta-learner, calibration); scored once.",
        "",
        "- Ensemble: Sharpe **1.500** beats buy and hold's 0.500; 40 trades, hit rate 0.550, "
        "max drawdown 0.080.",
        "- Meta probability `p_long` vs `entry`: ROC AUC **0.600**, Brier **0.2400** (0.25 for "
        "a constant 0.5). On the training folds calibration took the Brier from 0.2000 to "
        "0.1800.",
    ]))
    assert "| ensemble | 0.650 | 0.600 | 40 | 1.500 | 0.080 | 0.550 |" in text
    assert "| regime | n_events | n_trades | sharpe |\n|---|---|---|---|\n| bull | 4 | 3 |" in text
    assert "| predicted | true 0 | true 1 |" in text
    assert "| signal | realised up | realised down |\n|---|---|---|\n| BUY | 2 | 1 |" in text
    assert "| x0 | 0.050 | 0.010 | 0.600 |\n| noise | 0.000 | 0.005 | 0.400 |" in text
    assert text.endswith("| p_entry | 2.000 |\n| size | 0.300 |\n| p_exit | -0.300 |\n"
                         "| profit | 0.100 |\n")


def test_markdown_says_the_model_held_when_it_did_not_trade() -> None:
    report = holdout_report(n_trades=0)
    report.metrics.loc["ensemble", ["sharpe", "max_drawdown", "hit_rate"]] = np.nan
    text = holdout_markdown(report, SimpleNamespace())
    assert ("- Ensemble: **no trades**: the model held on all 6 events, so its Sharpe, drawdown "
            "and hit rate are undefined; buy and hold of the asset over the same span: Sharpe "
            "0.500, return +3.0%.") in text
    assert "beats buy and hold" not in text and "does not beat" not in text


def test_markdown_says_a_handful_of_trades_proves_nothing() -> None:
    text = holdout_markdown(holdout_report(n_trades=2), SimpleNamespace())
    assert ("- Ensemble: Sharpe **1.500** beats buy and hold's 0.500; 2 trades, hit rate 0.550, "
            "max drawdown 0.080. Only 2 trades: too few to tell skill from luck (fewer than "
            "30).") in text


def test_markdown_without_close_prices_does_not_compare() -> None:
    text = holdout_markdown(holdout_report(close=False), SimpleNamespace())
    assert ("- Ensemble: Sharpe **1.500** (buy and hold of the asset: not measured (no close "
            "prices)); 40 trades") in text


def test_missing_parts_say_why() -> None:
    report = holdout_report()
    report.per_regime = pd.DataFrame()
    report.per_regime_reason = "the features lack the regime probability columns"
    report.importance_reason = "one class only"
    text = holdout_markdown(report, SimpleNamespace())
    assert ("*Per-regime metrics missing*: the features lack the regime probability "
            "columns.") in text
    assert "*Permutation importance missing*: one class only." in text
    assert "### Meta-learner weights" not in text


@pytest.mark.parametrize(("calibration", "sentence"), [
    ("none", "Not calibrated (`calibration: none`): `p_long` is the meta-learner's own "
             "probability, Brier 0.2499 on the training folds."),
    ("platt", "On the training folds calibration took the Brier from 0.2499 to 0.2400."),
])
def test_calibration_sentence_follows_the_setting(calibration, sentence) -> None:  # noqa: ANN001
    model = SimpleNamespace(calibration=calibration, brier_uncalibrated_=0.2499,
                            brier_calibrated_=0.2499 if calibration == "none" else 0.24)
    assert sentence in holdout_markdown(holdout_report(), model)


def test_figures_by_name_with_and_without_meta_weights() -> None:
    report = holdout_report()
    figures = holdout_figures(report, SimpleNamespace(
        meta_coef_=pd.Series([2.0, 0.3, -0.3, 0.1], index=META), meta_coef_folds_=_folds()))
    assert list(figures) == ["confusion", "reliability", "importances", "regime_sharpe",
                             "meta_weights"]
    assert figures["reliability"].axes[0].get_title() == (
        "Reliability of p_long on the holdout (Brier 0.2400)")
    assert len(figures["confusion"].axes) == 3
    bars = figures["meta_weights"].axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx([2.0, 0.3, -0.3, 0.1])
    assert "meta_weights" not in holdout_figures(report, SimpleNamespace())
