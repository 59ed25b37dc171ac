"""The retrain's figures draw what they say: one panel per regime, hatched unconverged refits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from tasks import plots

INDEX = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC", name="available_at")


def _probs(values: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=INDEX, columns=["bull", "bear", "sideways"])


def test_regime_probabilities_one_panel_per_regime_with_the_smoothed_overlay() -> None:
    filtered = _probs([[np.nan] * 3] + [[0.7, 0.2, 0.1]] * 3 + [[0.1, 0.8, 0.1]] * 2)
    smoothed = _probs([[np.nan] * 3] + [[0.9, 0.05, 0.05]] * 2 + [[0.05, 0.9, 0.05]] * 3)
    fig = plots.regime_probabilities(filtered, smoothed)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["P(bull)", "P(bear)", "P(sideways)"]
    # the overlay of each panel is that regime's smoothed column
    np.testing.assert_array_equal(axes[1].lines[0].get_ydata(), smoothed["bear"].to_numpy())
    assert "smoothed" in axes[0].get_legend().get_texts()[1].get_text()
    plt.close(fig)

    alone = plots.regime_probabilities(filtered)
    assert all(not ax.lines for ax in alone.axes)
    plt.close(alone)


def test_regime_probabilities_keeps_the_last_bars() -> None:
    filtered = _probs([[0.7, 0.2, 0.1]] * 6)
    fig = plots.regime_probabilities(filtered, filtered, last=4)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), INDEX[-4:])
    assert fig.axes[0].get_title() == "Regime probabilities per regime bar, last 4"
    plt.close(fig)


def test_label_stability_points_mean_target_and_unconverged_refits() -> None:
    table = pd.DataFrame({
        "end": pd.date_range("2024-01-07", periods=4, freq="7D", tz="UTC"),
        "agreement": [np.nan, 0.9, 0.6, 0.99],
        "converged": [True, True, False, True],
    })
    fig = plots.label_stability(table)
    ax = fig.axes[0]
    filled, hollow = ax.collections
    np.testing.assert_allclose(filled.get_offsets()[:, 1], [np.nan, 0.9, 0.99])
    np.testing.assert_allclose(hollow.get_offsets(), [[2, 0.6]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "converged", "EM not converged", "target 0.95", "mean 0.830, min 0.600"]
    assert ax.get_ylim() == pytest.approx((0.55, 1.005))
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]
    plt.close(fig)


# ---------------------------------------------------------------- validation figures
def _pbo_result(pbo: float, logits: list[float], oos: list[float]):  # noqa: ANN202
    from ml_core.validation import PBOResult

    is_sharpe = np.arange(1.0, len(logits) + 1)
    return PBOResult(pbo, np.array(logits), len(logits), is_sharpe, np.array(oos))


def test_pbo_logits_one_panel_per_model_split_at_zero() -> None:
    pbo = {"entry": _pbo_result(4 / 6, [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8], [0.0] * 6),
           "exit": _pbo_result(1 / 6, [-0.4, 0.5, 0.6, 1.2, 0.9, 0.7], [0.0] * 6)}
    fig = plots.pbo_logits(pbo)
    entry, exit_ = fig.axes
    assert entry.get_title() == "entry: PBO 0.667 (6 combinations)"
    assert exit_.get_title() == "exit: PBO 0.167 (6 combinations)"
    # every combination is counted once, on its side of the line at 0
    overfit = sum(p.get_height() for p in entry.patches if p.get_facecolor()[0] > 0.7)
    assert overfit == 4 and sum(p.get_height() for p in entry.patches) == 6
    assert [line.get_xdata()[0] for line in entry.lines] == [0.0]
    plt.close(fig)

    single = plots.pbo_logits({"entry": pbo["entry"]})
    assert len(single.axes) == 1
    plt.close(single)


@pytest.mark.parametrize("draw", [plots.pbo_logits, plots.overfitting_degradation])
def test_pbo_figures_without_tuning_say_so(draw) -> None:  # noqa: ANN001
    fig = draw({})
    (ax,) = fig.axes
    assert ax.texts[0].get_text().startswith("no tuning trials")
    plt.close(fig)


def test_overfitting_degradation_fits_oos_on_is_sharpe() -> None:
    # oos = 0.5 - 0.25 * is on is = 1..4: slope -0.25, the last two combinations lose
    fig = plots.overfitting_degradation({"entry": _pbo_result(0.5, [0.1] * 4,
                                                              [0.25, 0.0, -0.25, -0.5])})
    (ax,) = fig.axes
    assert ax.get_title() == "entry: P(OOS Sharpe < 0) 0.500"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["slope -0.25"]
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], [0.25, 0.0, -0.25, -0.5])
    plt.close(fig)


def _windows(n: int) -> pd.DataFrame:
    starts = pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC")
    return pd.DataFrame({"test_start": starts, "sharpe": [1.5, 0.4, np.nan, 2.0],
                         "max_drawdown": [0.05, 0.2, 0.0, 0.1],
                         "buy_and_hold_sharpe": [0.5, 0.6, 0.4, 1.0]}).iloc[:n]


def test_walk_forward_sharpe_colours_windows_by_their_thresholds() -> None:
    from matplotlib.colors import to_hex

    fig = plots.walk_forward_sharpe(_windows(4), sharpe_threshold=1.0, drawdown_limit=0.15)
    top, bottom = fig.axes
    green, red, grey = "#2e7d32", "#c62828", "#9e9e9e"
    assert [to_hex(p.get_facecolor()) for p in top.patches] == [green, red, grey, green]
    assert [p.get_height() for p in top.patches] == [1.5, 0.4, 0.0, 2.0]
    np.testing.assert_array_equal(top.collections[0].get_offsets()[:, 1], [0.5, 0.6, 0.4, 1.0])
    assert top.get_title() == "Walk-forward windows: Sharpe > 1 in 2 of 4"
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["buy and hold", "threshold 1"]
    assert [to_hex(p.get_facecolor()) for p in bottom.patches] == [green, red, green, green]
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == ["limit 0.15"]
    assert [t.get_text() for t in bottom.get_xticklabels()] == [
        "2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]
    plt.close(fig)

    one = plots.walk_forward_sharpe(_windows(1), sharpe_threshold=2.0, drawdown_limit=0.01)
    top, bottom = one.axes
    assert [to_hex(p.get_facecolor()) for p in top.patches] == [red]
    assert [to_hex(p.get_facecolor()) for p in bottom.patches] == [red]
    plt.close(one)
