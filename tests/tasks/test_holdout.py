"""The holdout report lands in the run apart from the CV: holdout_* metrics, the holdout/ folder
(tables, figures, report.md) and the Prefect artifact holdout-report (the report itself is
tested in ``tests/reporting/test_holdout_report.py``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ml_core.config import Config, ForestSpec
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.evaluation._holdout import HoldoutReport, evaluate_holdout
from ml_core.pipeline import RegimeForestPipeline, TrainingSet
from reporting.holdout_report import holdout_figures, holdout_markdown, meta_weight_table
from tasks.holdout import evaluate_final_holdout, holdout_metrics, log_holdout
from tasks.registry import Tracker, tracked_run
from tasks.training import events_per_year

META = ["p_entry", "size", "p_exit", "profit"]
# Hourly closes over the holdout (2024-03-01 00:00 to its last label end, 03-08 11:00).
BARS = pd.DataFrame({"close": 100.0 * np.exp(np.cumsum(
    np.random.default_rng(5).normal(0, 0.01, 180)))},
    index=pd.date_range("2024-03-01", periods=180, freq="h", tz="UTC"))


def _dataset(n: int, start: str = "2024-01-01", seed: int = 0,
             regimes: bool = True) -> TrainingSet:
    """Events every 3 h; ``x0`` drives the return, ``noise`` does not."""
    rng = np.random.default_rng(seed)
    t0 = pd.date_range(start, periods=n, freq="3h", tz="UTC", name="t0")
    x0 = rng.normal(size=n)
    X = pd.DataFrame({"x0": x0, "noise": rng.normal(size=n)}, index=t0)
    if regimes:
        probs = rng.dirichlet([1.0, 1.0, 1.0], n)
        for k, label in enumerate(("bull", "bear", "sideways")):
            X[f"regime_prob_{label}"] = probs[:, k]
    ret = 0.01 * (x0 + 0.5 * rng.normal(size=n))
    targets = pd.DataFrame({"entry": (ret > 0).astype(int),
                            "position": np.clip(0.5 + ret * 20, 0, 1),
                            "exit": (ret < 0).astype(int), "profit": ret}, index=t0)
    events = pd.DataFrame({"t1": t0 + pd.Timedelta(hours=2), "ret": ret}, index=t0)
    return TrainingSet(X, targets, events, 0)


def _ensemble(train: TrainingSet, seed: int = 0) -> RegimeForestEnsemble:
    small = {"n_estimators": 8, "max_depth": 3}
    return RegimeForestEnsemble(
        entry=ForestSpec(kind="classifier", **small), exit=ForestSpec(kind="classifier", **small),
        position=ForestSpec(kind="regressor", **small),
        profit=ForestSpec(kind="regressor", **small), meta_folds=2,
        purge=timedelta(hours=3), embargo=timedelta(hours=3), random_state=seed,
    ).fit(train.X, train.targets, train.t1)


@pytest.fixture(scope="module")
def fitted() -> tuple[RegimeForestEnsemble, TrainingSet]:
    """An ensemble fitted on 160 events and a holdout of the 60 events after them."""
    return _ensemble(_dataset(160)), _dataset(60, start="2024-03-01", seed=1)


def _report(fitted, regimes: bool = True) -> HoldoutReport:  # noqa: ANN001
    model, holdout = fitted
    if not regimes:  # the same events, scored by a model that never had regime columns
        holdout = _dataset(60, start="2024-03-01", seed=1, regimes=False)
        model = _ensemble(_dataset(160, regimes=False))
    return evaluate_holdout(model, holdout, cost_bps=5.0, events_per_year=2920, random_state=0,
                            close=BARS["close"])


def _folds() -> pd.DataFrame:
    return pd.DataFrame([[1.0, 0.2, -0.5, 0.1], [3.0, 0.4, -0.1, 0.1]], columns=META,
                        index=pd.Index([0, 1], name="fold"))


def test_the_real_ensembles_meta_weights_are_drawn(fitted) -> None:  # noqa: ANN001
    # the report reads meta_coef_ / meta_coef_folds_: the names a fitted ensemble really has
    assert "meta_weights" in holdout_figures(_report(fitted), fitted[0])
    assert meta_weight_table(fitted[0]) is not None


# ---------------------------------------------------------------------- tasks
def _in_a_flow(task, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run ``task`` inside a real Prefect flow run, as the retrain does."""
    from prefect import flow

    return flow(name="unit")(lambda: task(*args, **kwargs))()


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    """One SQLite store for the module (creating its tables takes seconds); a run per test."""
    return Tracker(f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}")


def _artifacts(tracker: Tracker, run_id: str) -> set[str]:
    return {a.path for a in tracker.client.list_artifacts(run_id, "holdout")}


TABLES = {"metrics.csv", "per_regime.csv", "smoothing.csv", "confusion_entry.csv", "confusion_exit.csv",
          "confusion_ensemble.csv", "reliability.csv", "importances.csv", "returns.csv"}
FIGURES = {"confusion.png", "reliability.png", "importances.png", "regime_sharpe.png"}


@pytest.mark.usefixtures("prefect_harness")
def test_log_holdout_writes_tables_figures_metrics_and_the_artifact(
        tmp_path: Path, fitted, tracker: Tracker) -> None:  # noqa: ANN001
    report = _report(fitted)
    model = SimpleNamespace(meta_coef_=fitted[0].meta_coef_, meta_coef_folds_=_folds())
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_holdout, tracker, run_id, report, model)
    assert logged == holdout_metrics(report)
    assert all(k.startswith("holdout_") for k in logged)
    run = tracker.client.get_run(run_id)
    assert run.data.metrics == pytest.approx(logged)
    assert run.data.tags["holdout.first_event"] == "2024-03-01 00:00:00+00:00"
    assert run.data.tags["holdout.last_event"] == "2024-03-08 09:00:00+00:00"
    assert _artifacts(tracker, run_id) == {f"holdout/{name}" for name in (
        TABLES | FIGURES | {"meta_weights.png", "meta_weights.csv", "report.md"})}
    local = Path(tracker.client.download_artifacts(run_id, "holdout", str(tmp_path)))
    assert (local / "report.md").read_text() == holdout_markdown(report, model)
    entry = pd.read_csv(local / "confusion_entry.csv", index_col=0)
    assert entry.index.name == "predicted\\true" and entry.columns.tolist() == ["0", "1"]
    np.testing.assert_array_equal(entry.to_numpy(), report.confusion["entry"].to_numpy())
    metrics = pd.read_csv(local / "metrics.csv", index_col="model")
    assert metrics.loc["ensemble", "sharpe"] == pytest.approx(report.metrics.loc["ensemble",
                                                                                  "sharpe"])
    weights = pd.read_csv(local / "meta_weights.csv", index_col="feature")
    assert weights.loc["p_entry", "fold_mean"] == 2.0

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        shown = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["holdout-report"])))
    assert shown and shown[0].type == "markdown"
    assert shown[0].data.startswith("## Final holdout")


@pytest.mark.usefixtures("prefect_harness")
def test_log_holdout_without_regimes_or_meta_weights(
        tmp_path: Path, fitted, tracker: Tracker) -> None:  # noqa: ANN001
    report = _report(fitted, regimes=False)
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_holdout, tracker, run_id, report, SimpleNamespace())
    assert not [k for k in logged if k.startswith(("holdout_bull", "holdout_bear"))]
    assert _artifacts(tracker, run_id) == {f"holdout/{name}" for name in (
        TABLES | FIGURES | {"report.md"})}
    local = Path(tracker.client.download_artifacts(run_id, "holdout", str(tmp_path)))
    assert "*Per-regime metrics missing*: the features lack the regime probability columns" in (
        local / "report.md").read_text()


@pytest.mark.usefixtures("prefect_harness")
def test_evaluate_final_holdout_uses_the_profiles_costs_seed_and_the_holdouts_pace(
        fitted) -> None:  # noqa: ANN001
    model, holdout = fitted
    config = Config.model_validate({"profile": "unit", "seed": 3,
                                    "validation": {"transaction_cost_bps": 7.0}})
    pipeline = RegimeForestPipeline(config=config, regime=None, ensemble=model,
                                    feature_columns=list(holdout.X.columns))
    report = _in_a_flow(evaluate_final_holdout, pipeline, holdout, config, BARS)
    # 60 events over 177 h
    assert events_per_year(holdout) == pytest.approx(60 / (177 / (24 * 365)))
    expected = evaluate_holdout(model, holdout, cost_bps=7.0,
                                events_per_year=events_per_year(holdout), random_state=3,
                                close=BARS["close"])
    pd.testing.assert_frame_equal(report.metrics, expected.metrics)
    pd.testing.assert_frame_equal(report.importances, expected.importances)
    with pytest.raises(ValueError, match="`pipeline` has no ensemble"):
        evaluate_final_holdout.fn(RegimeForestPipeline(config=config, regime=None), holdout,
                                  config)
