"""The holdout figures: confusion counts with row shares, calibration beside the bin counts,
permutation beside impurity, Sharpe per regime, meta weights across folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_cases import holdout_report

from reporting.holdout_plots import (
    confusion_matrices,
    meta_weights,
    permutation_vs_impurity,
    regime_sharpe,
    reliability_diagram,
)


def test_confusion_matrices_one_panel_each_with_counts_and_row_shares(readable) -> None:  # noqa: ANN001
    fig = confusion_matrices(holdout_report().confusion)
    entry, exit_, ensemble = fig.axes
    assert [ax.get_subplotspec().get_geometry()[:3] for ax in fig.axes] == [
        (1, 3, 0), (1, 3, 1), (1, 3, 2)]
    assert [t.get_text() for t in entry.texts] == ["2\n(67%)", "1\n(33%)", "1\n(33%)",
                                                   "2\n(67%)"]
    assert (ensemble.get_xlabel(), ensemble.get_ylabel()) == ("realised", "signal")
    assert [t.get_text() for t in ensemble.get_yticklabels()] == ["BUY", "SELL", "HOLD"]
    assert ensemble.get_title() == "ensemble (n=6)"
    assert readable(fig) == (1100, 380)


def test_reliability_beside_the_events_per_bin(readable) -> None:  # noqa: ANN001
    report = holdout_report()
    fig = reliability_diagram(report.reliability, report.brier)
    curve, counts = fig.axes
    assert curve.get_title() == "Reliability of p_long on the holdout (Brier 0.2400)"
    np.testing.assert_array_equal(curve.lines[1].get_ydata(), [0.25, 0.75])
    assert [p.get_height() for p in counts.patches] == [4, 2]
    assert [t.get_text() for t in curve.get_legend().get_texts()] == [
        "perfectly calibrated", "holdout"]
    assert readable(fig) == (1100, 480)


def test_permutation_beside_impurity_or_the_reason_there_is_none(readable) -> None:  # noqa: ANN001
    importances = holdout_report().importances
    fig = permutation_vs_impurity(importances)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["noise", "x0"]
    assert [p.get_width() for p in left.patches] == [0.0, 0.05]
    assert [p.get_width() for p in right.patches] == [0.4, 0.6]
    assert fig.get_suptitle() == "Entry forest: top 2 features"
    assert readable(fig) == (1100, 400)
    missing = permutation_vs_impurity(importances.assign(permutation_mean=np.nan),
                                      reason="one class only")
    assert missing.axes[0].texts[0].get_text() == "one class only"


def test_regime_sharpe_bars_or_why_there_are_none(readable) -> None:  # noqa: ANN001
    fig = regime_sharpe(holdout_report().per_regime)
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == [1.2, -0.4]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bull\n4 events, 3 trades",
                                                            "bear\n2 events, 1 trades"]
    assert readable(fig) == (1100, 450)
    empty = regime_sharpe(pd.DataFrame(), reason="no regime columns")
    assert empty.axes[0].texts[0].get_text() == "no regime columns"


def test_meta_weights_over_folds_and_the_final_fit(readable) -> None:  # noqa: ANN001
    coef = pd.Series([2.0, 0.3], index=["p_entry", "size"])
    folds = pd.DataFrame([[1.0, 0.2], [3.0, 0.4]], columns=["p_entry", "size"])
    fig = meta_weights(coef, folds)
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx([2.0, 0.3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "one fold", "final fit", "mean ± std over 2 folds"]
    assert readable(fig) == (1100, 450)
    single = meta_weights(coef)
    assert single.axes[0].get_title() == "Meta-learner weights (final fit)"
