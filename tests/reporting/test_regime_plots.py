"""The regime figures draw what they say: price by regime, one panel per regime, the transition
matrix with the stays it implies, hollow unconverged refits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reporting.regime_plots import (
    label_stability,
    regime_probabilities,
    regime_timeline,
    transition_matrix,
)

INDEX = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC", name="available_at")


def _probs(values: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=INDEX, columns=["bull", "bear", "sideways"])


def test_regime_timeline_colours_the_close_by_state(readable) -> None:  # noqa: ANN001
    close = pd.Series([100.0, 101.0, 99.0, 98.0, 102.0, 103.0], index=INDEX)
    probs = _probs([[0.8, 0.1, 0.1]] * 2 + [[0.1, 0.8, 0.1]] * 2 + [[0.2, 0.2, 0.6]] * 2)
    regime = probs.add_prefix("regime_prob_").assign(regime_state=[0, 0, 1, 1, 2, 2])
    fig = regime_timeline(close, regime)
    top, bottom = fig.axes
    assert [c.get_offsets()[:, 1].tolist() for c in top.collections] == [
        [100.0, 101.0], [99.0, 98.0], [102.0, 103.0]]
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["bull", "bear", "sideways"]
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == [
        "P(bull)", "P(bear)", "P(sideways)"]
    assert (top.get_ylabel(), bottom.get_ylabel(), bottom.get_xlabel()) == (
        "close (log scale)", "filtered P", "time (bar close)")
    assert readable(fig) == (1100, 600)


def test_transition_matrix_and_the_expected_stay_of_each_regime(readable) -> None:  # noqa: ANN001
    fig = transition_matrix(np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]]))
    matrix, stay, colourbar = fig.axes
    assert [t.get_text() for t in matrix.texts][:3] == ["0.900", "0.050", "0.050"]
    assert (matrix.get_xlabel(), matrix.get_ylabel()) == ("to", "from")
    assert colourbar.get_ylabel() == "P(to | from)"
    # 1 / (1 - P(stay)): 10 and 5 bars; a regime it never leaves has no finite stay
    assert [round(p.get_height(), 6) for p in stay.patches] == [10.0, 5.0, 0.0]
    assert [t.get_text() for t in stay.texts] == ["10.0", "5.0", "never leaves"]
    assert stay.get_ylabel() == "expected stay (regime bars)"
    assert readable(fig) == (1100, 450)


def test_regime_probabilities_one_panel_per_regime_with_the_smoothed_overlay(readable) -> None:  # noqa: ANN001
    filtered = _probs([[np.nan] * 3] + [[0.7, 0.2, 0.1]] * 3 + [[0.1, 0.8, 0.1]] * 2)
    smoothed = _probs([[np.nan] * 3] + [[0.9, 0.05, 0.05]] * 2 + [[0.05, 0.9, 0.05]] * 3)
    fig = regime_probabilities(filtered, smoothed)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["P(bull)", "P(bear)", "P(sideways)"]
    assert axes[-1].get_xlabel() == "time (regime bar close)"
    # the overlay of each panel is that regime's smoothed column
    np.testing.assert_array_equal(axes[1].lines[0].get_ydata(), smoothed["bear"].to_numpy())
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "filtered (causal)", "smoothed (diagnostic, uses later bars)"]
    assert readable(fig) == (1100, 650)

    alone = regime_probabilities(filtered)
    assert all(not ax.lines for ax in alone.axes)


def test_regime_probabilities_keeps_the_last_bars() -> None:
    filtered = _probs([[0.7, 0.2, 0.1]] * 6)
    fig = regime_probabilities(filtered, filtered, last=4)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), INDEX[-4:])
    assert fig.axes[0].get_title() == "Regime probabilities per regime bar, last 4"


def test_label_stability_points_mean_target_and_unconverged_refits(readable) -> None:  # noqa: ANN001
    table = pd.DataFrame({
        "end": pd.date_range("2024-01-07", periods=4, freq="7D", tz="UTC"),
        "agreement": [np.nan, 0.9, 0.6, 0.99],
        "converged": [True, True, False, True],
    })
    fig = label_stability(table)
    ax = fig.axes[0]
    filled, hollow = ax.collections
    np.testing.assert_allclose(filled.get_offsets()[:, 1], [np.nan, 0.9, 0.99])
    np.testing.assert_allclose(hollow.get_offsets(), [[2, 0.6]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "converged", "EM not converged", "target 0.95", "mean 0.830, min 0.600"]
    assert ax.get_ylim() == pytest.approx((0.55, 1.005))
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]
    assert readable(fig) == (1100, 450)
