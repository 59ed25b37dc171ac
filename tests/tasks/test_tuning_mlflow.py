"""Each study lands in its own MLflow child run under the retrain run (params, metrics, tables,
plots); the retrain run keeps the summary and the children's ids. (The tuning figures are tested
in ``tests/reporting/test_tuning_plots.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.tuning import TuningResult, pareto_front
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
