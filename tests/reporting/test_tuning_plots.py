"""The tuning figures draw what they say, placeholders included: five trials of a study, trial 1
pruned, trial 2 the best (0.70); the front is trials 0, 2 and 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.tuning_plots import optimisation_history, param_importances, pareto_front

TRIALS = pd.DataFrame({"number": range(5),
                       "state": ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "COMPLETE"],
                       "value": [0.60, 0.55, 0.70, 0.68, 0.65]})
PARETO = pd.DataFrame({"value": [0.60, 0.70, 0.68, 0.65], "accuracy": [0.62, 0.66, 0.69, 0.60],
                       "sharpe": [0.5, 1.2, 0.9, 0.3], "max_drawdown": [0.04, 0.20, 0.05, 0.30],
                       "pareto": [True, True, True, False]},
                      index=pd.Index([0, 2, 3, 4], name="number"))


def _placeholder_text(fig: Figure) -> str:
    (ax,) = fig.axes
    assert not ax.axison
    return ax.texts[0].get_text()


def test_optimisation_history_marks_pruned_trials_and_the_best_so_far(readable) -> None:  # noqa: ANN001
    fig = optimisation_history(TRIALS)
    (ax,) = fig.axes
    complete, pruned = ax.collections
    np.testing.assert_array_equal(complete.get_offsets()[:, 0], [0, 2, 3, 4])
    np.testing.assert_array_equal(pruned.get_offsets(), [[1, 0.55]])
    # the best complete value up to each trial; the pruned 0.55 never counts
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.60, 0.60, 0.70, 0.70, 0.70])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "complete (4)", "pruned (1), last reported value", "best so far"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("trial", "objective")
    assert readable(fig) == (1100, 450)


def test_optimisation_history_of_pruned_or_no_trials(readable) -> None:  # noqa: ANN001
    only_pruned = optimisation_history(TRIALS[TRIALS["state"] == "PRUNED"])
    assert len(only_pruned.axes[0].collections) == 1 and not only_pruned.axes[0].lines
    none = optimisation_history(TRIALS.iloc[:0])
    assert _placeholder_text(none) == "no finished trial: nothing to draw"
    assert readable(none) == (1100, 400)


def test_param_importances_bars_largest_on_top_or_a_placeholder(readable) -> None:  # noqa: ANN001
    fig = param_importances(pd.Series({"max_depth": 0.2, "bootstrap": 0.9, "criterion": 0.5}),
                            n_trials=7)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["max_depth", "criterion", "bootstrap"]
    assert [round(p.get_width(), 3) for p in ax.patches] == [0.2, 0.5, 0.9]
    assert ax.get_title() == "Parameter importances (7 complete trials)"
    assert ax.get_ylabel() == "parameter"
    assert readable(fig) == (1100, 400)
    empty = param_importances(pd.Series(dtype=float))
    assert _placeholder_text(empty).startswith("fewer than two complete trials")


def test_pareto_front_rings_the_front_coloured_by_drawdown(readable) -> None:  # noqa: ANN001
    fig = pareto_front(PARETO)
    ax, colourbar = fig.axes
    points, front = ax.collections
    np.testing.assert_array_equal(points.get_array(), [0.04, 0.20, 0.05, 0.30])
    np.testing.assert_array_equal(front.get_offsets(), [[0.62, 0.5], [0.66, 1.2], [0.69, 0.9]])
    assert [t.get_text() for t in ax.texts] == ["0", "2", "3"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "complete trials (4)", "Pareto front (3 trials)"]
    assert colourbar.get_ylabel() == "max drawdown (lower is better)"
    assert readable(fig) == (1100, 600)
    # two workers that drew the same configuration scored alike: one label for both
    twin = pd.concat([PARETO, PARETO.loc[[2]].rename(index={2: 5})])
    assert [t.get_text() for t in pareto_front(twin).axes[0].texts] == ["0", "2, 5", "3"]


def test_pareto_front_edge_cases() -> None:
    no_drawdown = pareto_front(PARETO.drop(columns="max_drawdown"))
    assert len(no_drawdown.axes) == 1  # no colour bar
    no_front = pareto_front(PARETO.assign(pareto=False))
    assert len(no_front.axes[0].collections) == 1
    assert [t.get_text() for t in no_front.axes[0].get_legend().get_texts()] == [
        "complete trials (4)"]
    for frame in (PARETO.drop(columns=["sharpe", "max_drawdown"]), PARETO.iloc[:0]):
        assert "no front to draw" in _placeholder_text(pareto_front(frame))
