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
