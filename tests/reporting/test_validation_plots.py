"""The validation figures draw what they say and stay readable: CPCV paths with the median one
named, PBO and degradation as a grid of models, walk-forward windows coloured by threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from report_cases import pbo_result

from reporting.validation_plots import (
    cv_paths,
    median_path,
    overfitting_degradation,
    pbo_logits,
    walk_forward_sharpe,
)

GREEN, RED, GREY = "#2e7d32", "#c62828", "#9e9e9e"
MODELS = ("entry", "position", "exit", "profit")


# ---------------------------------------------------------------- CPCV paths
def _paths(n: int = 4) -> dict[int, pd.Series]:
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC", name="t0")
    return {p: pd.Series([0.01 * (p + 1), -0.01, 0.02], index=index) for p in range(n)}


def test_median_path_is_the_path_at_the_median_sharpe() -> None:
    assert median_path(pd.Series([1.2, 0.4, 2.0, 0.9, 1.0])) == 4
    assert median_path(pd.Series([1.2, 0.4, 2.0, 0.9])) == 3  # even: the lower middle path
    assert median_path(pd.Series([0.5, 0.5, 0.5])) == 1  # ties in path order
    assert median_path(pd.Series([np.nan, 0.4, 2.0], index=[5, 6, 7])) == 6
    assert median_path(pd.Series([np.nan, np.nan])) is None


def test_cv_paths_names_the_median_path_the_others_as_a_group_and_buy_and_hold(readable) -> None:  # noqa: ANN001
    fig = cv_paths(_paths(), pd.Series([1.2, 0.4, 2.0, 0.9]), buy_and_hold_sharpe=0.8)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "other paths (3)", "median path: 3 (Sharpe 0.90)"]
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "median 1.05", "buy and hold 0.80"]
    # cumulative return of path 3: 1.04 * 0.99 * 1.02 - 1
    np.testing.assert_allclose(left.lines[3].get_ydata(), [0.04, 0.0296, 0.050192])
    assert (left.get_xlabel(), left.get_ylabel()) == (
        "time (event start)", "cumulative return (compounded trades)")
    assert (right.get_xlabel(), right.get_ylabel()) == ("annualised Sharpe", "paths")
    assert left.get_title() == "CPCV backtest paths, out of sample (4 paths)"
    assert readable(fig) == (1100, 500)


def test_cv_paths_without_trades_or_buy_and_hold() -> None:
    fig = cv_paths(_paths(2), pd.Series([np.nan, np.nan]), buy_and_hold_sharpe=float("nan"))
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["paths (2, none traded)"]
    assert right.get_legend() is None and not right.lines


# ---------------------------------------------------------------- overfitting
def test_pbo_logits_one_panel_per_model_split_at_zero(readable) -> None:  # noqa: ANN001
    pbo = {"entry": pbo_result(4 / 6, [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8], [0.0] * 6),
           "exit": pbo_result(1 / 6, [-0.4, 0.5, 0.6, 1.2, 0.9, 0.7], [0.0] * 6)}
    fig = pbo_logits(pbo)
    entry, exit_ = fig.axes
    assert entry.get_title() == "entry: PBO 0.667 (6 combinations)"
    assert exit_.get_title() == "exit: PBO 0.167 (6 combinations)"
    # every combination is counted once, on its side of the line at 0
    overfit = sum(p.get_height() for p in entry.patches if p.get_facecolor()[0] > 0.7)
    assert overfit == 4 and sum(p.get_height() for p in entry.patches) == 6
    assert [line.get_xdata()[0] for line in entry.lines] == [0.0]
    assert [t.get_text() for t in entry.get_legend().get_texts()] == [
        "logit <= 0 (overfit)", "logit > 0"]
    assert (entry.get_xlabel(), entry.get_ylabel()) == (
        "logit of the OOS rank of the IS-best trial", "combinations")
    assert readable(fig) == (1100, 380)

    single = pbo_logits({"entry": pbo["entry"]})
    assert len(single.axes) == 1


@pytest.mark.parametrize("draw", [pbo_logits, overfitting_degradation])
def test_four_models_make_a_two_by_two_grid_not_a_strip(draw, readable) -> None:  # noqa: ANN001
    pbo = {m: pbo_result(0.5, [-0.5, 0.5, 1.0, -1.0], [0.1, -0.1, 0.2, 0.0]) for m in MODELS}
    fig = draw(pbo)
    assert [ax.get_subplotspec().get_geometry()[:3] for ax in fig.axes] == [
        (2, 2, 0), (2, 2, 1), (2, 2, 2), (2, 2, 3)]
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == list(MODELS)
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    assert readable(fig) == (1100, 760)  # was 1790x370 (one row of four panels)


@pytest.mark.parametrize("draw", [pbo_logits, overfitting_degradation])
def test_pbo_figures_without_tuning_say_so(draw, readable) -> None:  # noqa: ANN001
    fig = draw({})
    (ax,) = fig.axes
    assert ax.texts[0].get_text().startswith("no tuning trials")
    assert readable(fig) == (1100, 400)


def test_overfitting_degradation_fits_oos_on_is_sharpe(readable) -> None:  # noqa: ANN001
    # oos = 0.5 - 0.25 * is on is = 1..4: slope -0.25, the last two combinations lose
    fig = overfitting_degradation({"entry": pbo_result(0.5, [0.1] * 4,
                                                       [0.25, 0.0, -0.25, -0.5])})
    (ax,) = fig.axes
    assert ax.get_title() == "entry: P(OOS Sharpe < 0) 0.500"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "combinations (4)", "slope -0.25"]
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], [0.25, 0.0, -0.25, -0.5])
    assert (ax.get_xlabel(), ax.get_ylabel()) == (
        "in-sample Sharpe (per event)", "out-of-sample Sharpe (per event)")
    assert readable(fig) == (1100, 380)


# ---------------------------------------------------------------- walk-forward
def _windows(n: int) -> pd.DataFrame:
    starts = pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC")
    return pd.DataFrame({"test_start": starts, "sharpe": [1.5, 0.4, np.nan, 2.0],
                         "max_drawdown": [0.05, 0.2, 0.0, 0.1],
                         "buy_and_hold_sharpe": [0.5, 0.6, 0.4, 1.0]}).iloc[:n]


def test_walk_forward_sharpe_colours_windows_by_their_thresholds(readable) -> None:  # noqa: ANN001
    fig = walk_forward_sharpe(_windows(4), sharpe_threshold=1.0, drawdown_limit=0.15)
    top, bottom = fig.axes
    assert [to_hex(p.get_facecolor()) for p in top.patches] == [GREEN, RED, GREY, GREEN]
    assert [p.get_height() for p in top.patches] == [1.5, 0.4, 0.0, 2.0]
    np.testing.assert_array_equal(top.collections[0].get_offsets()[:, 1], [0.5, 0.6, 0.4, 1.0])
    assert top.get_title() == "Walk-forward windows: Sharpe > 1 in 2 of 4"
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "Sharpe > 1", "Sharpe <= 1", "no trades", "buy and hold", "threshold 1"]
    assert [to_hex(p.get_facecolor()) for p in bottom.patches] == [GREEN, RED, GREEN, GREEN]
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == [
        "drawdown < 0.15", "drawdown >= 0.15", "limit 0.15"]
    assert [t.get_text() for t in bottom.get_xticklabels()] == [
        "2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]
    assert (top.get_ylabel(), bottom.get_ylabel(), bottom.get_xlabel()) == (
        "annualised Sharpe", "max drawdown", "test window start")
    assert readable(fig) == (1100, 600)

    one = walk_forward_sharpe(_windows(1), sharpe_threshold=2.0, drawdown_limit=0.01)
    top, bottom = one.axes
    assert [to_hex(p.get_facecolor()) for p in top.patches] == [RED]
    assert [to_hex(p.get_facecolor()) for p in bottom.patches] == [RED]


def test_walk_forward_names_at_most_24_windows() -> None:
    starts = pd.date_range("2020-01-06", periods=50, freq="7D", tz="UTC")
    windows = pd.DataFrame({"test_start": starts, "sharpe": 1.0, "max_drawdown": 0.1,
                            "buy_and_hold_sharpe": 0.5})
    bottom = walk_forward_sharpe(windows, 1.0, 0.15).axes[1]
    labels = [t.get_text() for t in bottom.get_xticklabels()]
    assert len(labels) == 17 and labels[:2] == ["2020-01-06", "2020-01-27"]  # every 3rd
