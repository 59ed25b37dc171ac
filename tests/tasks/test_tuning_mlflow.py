"""Each study lands in its own MLflow child run under the retrain run (params, metrics, tables,
plots); the retrain run keeps the summary and the children's ids. The tuning figures draw what
they say, placeholders included."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ml_core.tuning import TuningResult, pareto_front
from tasks import plots
from tasks.registry import Tracker, tracked_run
from tasks.tuning import (
    log_tuning,
    param_importances,
    tuning_metrics,
    tuning_params,
    tuning_summary,
)

PARTS = ("accuracy", "sharpe", "max_drawdown")


def _result(study: str = "demo-entry-abc", returns: bool = True) -> TuningResult:
    """Five trials of two workers: trial 1 pruned; trial 2 best (0.70) with accuracy 0.66,
    Sharpe 1.2 and drawdown 0.2. Without ``returns`` only accuracy was measured."""
    trials = pd.DataFrame({
        "number": range(5),
        "state": ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "COMPLETE"],
        "value": [0.60, 0.55, 0.70, 0.68, 0.65],
        "params_max_depth": [np.nan, 4.0, 8.0, 16.0, 8.0],
        "params_max_features": ["sqrt", "log2", "log2", "sqrt", 0.5],
        "user_attrs_accuracy": [0.62, np.nan, 0.66, 0.69, 0.60],
        "user_attrs_sharpe": [0.5, np.nan, 1.2, 0.9, 0.3],
        "user_attrs_max_drawdown": [0.04, np.nan, 0.20, 0.05, 0.30],
        "user_attrs_trees_fitted": [30, 10, 30, 30, 30],
        "user_attrs_worker": ["h:1", "h:2", "h:2", "h:1", "h:1"],
    })
    if not returns:
        trials = trials.drop(columns=["user_attrs_sharpe", "user_attrs_max_drawdown"])
    complete = trials[trials["state"] == "COMPLETE"].set_index("number")
    pareto = complete[["value"]].join(
        complete[[f"user_attrs_{p}" for p in PARTS if f"user_attrs_{p}" in complete]]
        .rename(columns=lambda c: c.removeprefix("user_attrs_")))
    pareto["pareto"] = pareto_front(pareto.drop(columns="value"))
    return TuningResult(best_params={"max_depth": 8, "max_features": "log2"}, best_value=0.70,
                        n_trials=5, n_pruned=1, n_complete=4, trees_fitted=130, trials=trials,
                        study_name=study, trial_returns=pd.DataFrame(), pareto=pareto)


def _in_a_flow(task, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run ``task`` inside a real Prefect flow run, as the retrain does."""
    from prefect import flow

    return flow(name="unit")(lambda: task(*args, **kwargs))()


@pytest.fixture()
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")


# ------------------------------------------------------------------ what is logged
def test_child_run_metrics_are_the_best_trials_parts() -> None:
    assert tuning_metrics(_result()) == {
        "best_value": 0.70, "n_trials": 5.0, "n_pruned": 1.0, "n_complete": 4.0,
        "trees_fitted": 130.0, "n_workers": 2.0, "best_trial": 2.0, "best_accuracy": 0.66,
        "best_sharpe": 1.2, "best_max_drawdown": 0.2}
    without_returns = tuning_metrics(_result(returns=False))
    assert "best_sharpe" not in without_returns and without_returns["best_accuracy"] == 0.66


def test_child_run_params_and_retrain_summary() -> None:
    assert tuning_params(_result()) == {"max_depth": 8, "max_features": "log2",
                                        "study_name": "demo-entry-abc", "n_trials": 5}
    assert tuning_summary({"entry": _result(), "exit": _result()}) == {
        f"tune_{m}_{k}": v for m in ("entry", "exit")
        for k, v in (("best_score", 0.70), ("trials", 5.0), ("pruned", 1.0),
                     ("trees_fitted", 130.0))}


@pytest.mark.usefixtures("prefect_harness")
def test_log_tuning_makes_one_child_run_per_study(tracker: Tracker, tmp_path: Path) -> None:
    tuned = {"entry": _result("demo-entry-abc"), "exit": _result("demo-exit-abc", returns=False)}
    with tracked_run(tracker, "exp", "retrain", {}) as run_id:
        _in_a_flow(log_tuning, tracker, run_id, tuned)
    parent = tracker.client.get_run(run_id)
    children = tracker.child_runs(run_id)
    assert list(children) == ["tune-entry", "tune-exit"]
    assert json.loads(parent.data.tags["tuning.child_runs"]) == {
        "entry": children["tune-entry"], "exit": children["tune-exit"]}
    # the retrain run keeps the summary and the tuned parameters
    assert parent.data.metrics == tuning_summary(tuned)
    assert parent.data.params == {"tuned.entry.max_depth": "8", "tuned.entry.max_features": "log2",
                                  "tuned.exit.max_depth": "8", "tuned.exit.max_features": "log2"}

    for model, result in tuned.items():
        child = tracker.client.get_run(children[f"tune-{model}"])
        assert child.data.tags["mlflow.parentRunId"] == run_id
        assert child.info.experiment_id == parent.info.experiment_id
        assert child.info.status == "FINISHED"
        assert (child.data.tags["tuning.model"], child.data.tags["tuning.study"]) == (
            model, result.study_name)
        assert child.data.params == {"max_depth": "8", "max_features": "log2",
                                     "study_name": result.study_name, "n_trials": "5"}
        assert child.data.metrics == tuning_metrics(result)
        artifacts = {a.path for folder in ("tables", "plots")
                     for a in tracker.client.list_artifacts(child.info.run_id, folder)}
        assert artifacts == {"tables/trials.csv", "tables/pareto.csv",
                             "tables/param_importances.csv", "plots/optimisation_history.png",
                             "plots/param_importances.png", "plots/pareto_front.png"}

    local = Path(tracker.client.download_artifacts(children["tune-entry"], "tables",
                                                   str(tmp_path)))
    trials = pd.read_csv(local / "trials.csv", index_col="number")
    assert trials["state"].tolist() == ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert trials["user_attrs_sharpe"].iloc[2] == 1.2
    pareto = pd.read_csv(local / "pareto.csv", index_col="number")
    assert pareto.index.tolist() == [0, 2, 3, 4]
    # trial 4 is beaten by trial 0 on all three; 0 (drawdown), 2 (Sharpe), 3 (accuracy) are not
    assert pareto["pareto"].tolist() == [True, True, True, False]
    importances = pd.read_csv(local / "param_importances.csv", index_col="param")
    pd.testing.assert_series_equal(importances["importance"],
                                   param_importances(tuned["entry"].trials))


@pytest.mark.usefixtures("prefect_harness")
def test_log_tuning_logs_nothing_when_tuning_was_disabled(tracker: Tracker) -> None:
    with tracked_run(tracker, "exp", "retrain", {}) as run_id:
        _in_a_flow(log_tuning, tracker, run_id, {})
    run = tracker.client.get_run(run_id)
    assert tracker.child_runs(run_id) == {}
    assert "tuning.child_runs" not in run.data.tags and not run.data.metrics


def test_a_child_run_that_raises_ends_failed(tracker: Tracker) -> None:
    with tracked_run(tracker, "exp", "retrain", {}) as run_id:
        with pytest.raises(RuntimeError), tracker.child_run(run_id, "tune-entry") as child:
            raise RuntimeError("boom")
    run = tracker.client.get_run(child)
    assert run.info.status == "FAILED" and run.data.tags["failure"] == "RuntimeError: boom"
    assert tracker.client.get_run(run_id).info.status == "FINISHED"
    assert tracker.child_runs(run_id) == {"tune-entry": child}


# ------------------------------------------------------------------ figures
def _placeholder_text(fig: Figure) -> str:
    (ax,) = fig.axes
    assert not ax.axison
    return ax.texts[0].get_text()


def test_optimisation_history_marks_pruned_trials_and_the_best_so_far() -> None:
    fig = plots.optimisation_history(_result().trials)
    (ax,) = fig.axes
    complete, pruned = ax.collections
    np.testing.assert_array_equal(complete.get_offsets()[:, 0], [0, 2, 3, 4])
    np.testing.assert_array_equal(pruned.get_offsets(), [[1, 0.55]])
    # the best complete value up to each trial; the pruned 0.55 never counts
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.60, 0.60, 0.70, 0.70, 0.70])
    assert ax.get_legend().get_texts()[0].get_text() == "complete (4)"
    plt.close(fig)


def test_optimisation_history_of_pruned_or_no_trials() -> None:
    trials = _result().trials
    only_pruned = plots.optimisation_history(trials[trials["state"] == "PRUNED"])
    assert len(only_pruned.axes[0].collections) == 1 and not only_pruned.axes[0].lines
    none = plots.optimisation_history(trials.iloc[:0])
    assert _placeholder_text(none) == "no finished trial: nothing to draw"
    for fig in (only_pruned, none):
        plt.close(fig)


def test_param_importances_bars_largest_on_top_or_a_placeholder() -> None:
    fig = plots.param_importances(pd.Series({"max_depth": 0.2, "bootstrap": 0.9, "criterion": 0.5}),
                                  n_trials=7)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["max_depth", "criterion", "bootstrap"]
    assert [round(p.get_width(), 3) for p in ax.patches] == [0.2, 0.5, 0.9]
    assert ax.get_title() == "Parameter importances (7 complete trials)"
    empty = plots.param_importances(param_importances(_result().trials.iloc[:1]))
    assert _placeholder_text(empty).startswith("fewer than two complete trials")
    for f in (fig, empty):
        plt.close(f)


def test_pareto_front_rings_the_front_coloured_by_drawdown() -> None:
    fig = plots.pareto_front(_result().pareto)
    ax, colourbar = fig.axes
    points, front = ax.collections
    np.testing.assert_array_equal(points.get_array(), [0.04, 0.20, 0.05, 0.30])
    np.testing.assert_array_equal(front.get_offsets(), [[0.62, 0.5], [0.66, 1.2], [0.69, 0.9]])
    assert [t.get_text() for t in ax.texts] == ["0", "2", "3"]
    assert colourbar.get_ylabel() == "max drawdown (lower is better)"
    plt.close(fig)
    # two workers that drew the same configuration scored alike: one label for both
    twin = pd.concat([_result().pareto, _result().pareto.loc[[2]].rename(index={2: 5})])
    fig = plots.pareto_front(twin)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "2, 5", "3"]
    plt.close(fig)


def test_pareto_front_edge_cases() -> None:
    pareto = _result().pareto
    no_drawdown = plots.pareto_front(pareto.drop(columns="max_drawdown"))
    assert len(no_drawdown.axes) == 1  # no colour bar
    no_front = plots.pareto_front(pareto.assign(pareto=False))
    assert len(no_front.axes[0].collections) == 1 and no_front.axes[0].get_legend() is None
    for frame in (_result(returns=False).pareto, pareto.iloc[:0]):
        fig = plots.pareto_front(frame)
        assert "no front to draw" in _placeholder_text(fig)
        plt.close(fig)
    for fig in (no_drawdown, no_front):
        plt.close(fig)
