"""Publishing the final model's feature selection to MLflow: table, counts and tag."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from report_cases import PERSISTENCE, regime_evaluation

from ml_core.selection import FeatureSelector
from tasks.publish import log_selection, selection_metrics
from tasks.registry import Tracker, tracked_run


@pytest.fixture(scope="module")
def selected() -> SimpleNamespace:
    """An ensemble's selection: ``b`` copies ``a`` (correlated), ``c`` is constant, ``coin`` is
    binary noise under the importance threshold; ``a``/``d`` carry the signal."""
    rng = np.random.default_rng(0)
    a, d = rng.normal(size=600), rng.normal(size=600)
    X = pd.DataFrame({"a": a, "b": 2 * a + 1e-6 * rng.normal(size=600), "c": 1.0, "d": d,
                      "coin": rng.integers(0, 2, 600).astype(float)})
    y = (a + d + 0.5 * rng.normal(size=600) > 0).astype(int)
    selector = FeatureSelector(min_features=1, n_estimators=20, max_depth=4, random_state=0)
    selector.fit(X, y)
    assert len(selector.selected_) == 2 and "d" in selector.selected_
    return SimpleNamespace(selector_=selector, forest_features_=selector.selected_)


def test_selection_metrics_count_each_reason(selected: SimpleNamespace) -> None:
    assert selection_metrics(selected) == {
        "selection_n_selected": 2, "selection_n_dropped_constant": 1,
        "selection_n_dropped_correlated": 1, "selection_n_dropped_low_importance": 1,
    }
    unselected = SimpleNamespace(selector_=None, forest_features_=["a", "b", "c"])
    assert selection_metrics(unselected) == {"selection_n_selected": 3}


def test_log_selection_writes_table_metrics_and_tags(selected: SimpleNamespace,
                                                     tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        log_selection(tracker, run_id, selected)
    run = tracker.client.get_run(run_id)
    assert run.data.metrics == selection_metrics(selected)
    assert run.data.tags["selection.enabled"] == "True"
    assert run.data.tags["selection.selected"] == ",".join(selected.forest_features_)
    artifacts = {a.path for a in tracker.client.list_artifacts(run_id, "tables")}
    assert artifacts == {"tables/selection_dropped.csv", "tables/selection_importances.csv"}
    local = tracker.client.download_artifacts(run_id, "tables/selection_dropped.csv", str(tmp_path))
    table = pd.read_csv(local, keep_default_na=False)
    expected = selected.selector_.dropped_
    assert table.columns.tolist() == ["feature", "reason", "partner", "value"]
    assert table["feature"].tolist() == expected["feature"].tolist()
    assert table["reason"].tolist() == expected["reason"].tolist()
    assert table["partner"].tolist() == expected["partner"].tolist()
    np.testing.assert_allclose(table["value"], expected["value"], rtol=1e-12)


def test_log_features_writes_the_registry_and_the_proxy_disclaimer(tmp_path: Path) -> None:
    from ml_core.config import load_config
    from ml_core.pipeline import feature_catalogue
    from tasks.publish import PROXY_NOTE, log_features

    config = load_config("configs/demo.yaml")
    specs = feature_catalogue(config)
    features = pd.DataFrame(np.nan, index=range(5), columns=list(specs))
    features.iloc[3:] = 1.0
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        log_features.fn(tracker, run_id, config, features)
    run = tracker.client.get_run(run_id)
    assert run.data.tags["features.onchain_proxies"] == PROXY_NOTE
    assert "not on-chain data" in PROXY_NOTE
    families = {s.family for s in specs.values()}
    assert sum(run.data.metrics[f"features_{f}"] for f in families) == len(specs)
    local = tracker.client.download_artifacts(run_id, "tables/feature_catalogue.csv",
                                              str(tmp_path))
    table = pd.read_csv(local, index_col="name")
    assert table.index.tolist() == list(specs)
    assert (table["warmup_rows"] == 3).all()
    assert set(table.columns) == {"family", "timeframe", "lookback", "description", "warmup_rows"}


# ---------------------------------------------------------------- regime evaluation
def _evaluation(skipped: dict[str, str] | None = None, with_parts: bool = True):  # noqa: ANN202
    from tasks.features import RegimeEvaluation

    return RegimeEvaluation(**vars(regime_evaluation(skipped, with_parts)))


def test_regime_evaluation_metrics_are_the_headline_figures() -> None:
    from tasks.publish import regime_evaluation_metrics

    metrics = regime_evaluation_metrics(_evaluation())
    assert metrics == pytest.approx({
        "regime_oos_next_state_accuracy": 0.8, "regime_oos_next_state_baseline": 0.75,
        "regime_oos_next_state_lift": 0.05, "regime_oos_n_predictions": 200.0,
        "regime_oos_next_state_brier": 0.25, "regime_oos_next_state_brier_baseline": 0.3,
        "regime_stability_refits": 3.0, "regime_stability_agreement_mean": 0.8,
        "regime_stability_agreement_min": 0.7, "regime_stability_converged_share": 2 / 3,
    })
    assert regime_evaluation_metrics(_evaluation(with_parts=False)) == {}


def _in_a_flow(task, *args):  # noqa: ANN001, ANN202
    """Run ``task`` inside a real Prefect flow run, as the retrain does."""
    from prefect import flow

    return flow(name="unit")(lambda: task(*args))()


@pytest.mark.usefixtures("prefect_harness")
def test_log_regime_evaluation_writes_metrics_steps_tables_and_tags(tmp_path: Path) -> None:
    from tasks.publish import log_regime_evaluation

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        _in_a_flow(log_regime_evaluation, tracker, run_id, PERSISTENCE, _evaluation())
    run = tracker.client.get_run(run_id)
    assert run.data.metrics["regime_stability_agreement_min"] == 0.7
    history = tracker.client.get_metric_history(run_id, "regime_stability_agreement")
    # the first refit has nothing to agree with: NaN is not logged
    assert sorted((m.step, m.value) for m in history) == [(1, 0.9), (2, 0.7)]
    assert run.data.tags["regime.stability_restarts"] == "2"
    assert run.data.tags["regime.oos_split"] == "2024-01-01T00:00:00+00:00"
    tables = {a.path for a in tracker.client.list_artifacts(run_id, "tables")}
    assert tables == {"tables/regime_stability.csv"}
    plots_logged = {a.path for a in tracker.client.list_artifacts(run_id, "plots")}
    assert plots_logged == {"plots/regime_label_stability.png"}
    assert {a.path for a in tracker.client.list_artifacts(run_id)} >= {"regime_evaluation.md"}


@pytest.mark.usefixtures("prefect_harness")
def test_a_skipped_part_is_tagged_with_its_reason(tmp_path: Path) -> None:
    from tasks.publish import log_regime_evaluation

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    reason = "too few bars to fit: `bars` has 300 rows"
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        _in_a_flow(log_regime_evaluation, tracker, run_id, PERSISTENCE,
                   _evaluation({"stability": reason}, with_parts=False))
    run = tracker.client.get_run(run_id)
    assert run.data.tags["regime.evaluation.skipped.stability"] == reason
    assert not any(k.startswith("regime_") for k in run.data.metrics)
    assert tracker.client.list_artifacts(run_id, "plots") == []


@pytest.mark.usefixtures("prefect_harness")
def test_log_regime_writes_persistence_and_the_three_regime_plots(tmp_path: Path) -> None:
    from ml_core.config import load_config
    from ml_core.data import load_sample_bars
    from ml_core.regime import analyze_regime_persistence, fit_regime_model
    from tasks.publish import log_regime

    config = load_config("configs/demo.yaml", {"regime": {"n_restarts": 2}})
    bars = load_sample_bars().iloc[-3000:]
    model = fit_regime_model(bars, config.regime, config.data.timeframe, 0)
    persistence = analyze_regime_persistence(model, bars).table
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        _in_a_flow(log_regime, tracker, run_id, bars, model, model.transform(bars), persistence)
    run = tracker.client.get_run(run_id)
    assert run.data.metrics["regime_bear_p_stay"] == persistence.loc["bear", "p_stay"]
    assert run.data.metrics["regime_sideways_n_runs"] == persistence.loc["sideways", "n_runs"]
    assert run.data.metrics["regime_converged"] == float(model.converged_)
    assert run.data.metrics["regime_log_likelihood"] == model.log_likelihood_
    assert {a.path for a in tracker.client.list_artifacts(run_id, "plots")} == {
        "plots/regime_timeline.png", "plots/regime_probabilities.png",
        "plots/regime_transition_matrix.png"}
    assert {a.path for a in tracker.client.list_artifacts(run_id, "tables")} == {
        "tables/regime_persistence.csv"}


def test_validation_results_merge_every_part_and_any_can_be_the_promotion_metric() -> None:
    from tasks.publish import promotion_score, validation_results

    wf = SimpleNamespace(summary=lambda: {"wf_sharpe_consistency": 0.25})
    overfitting = SimpleNamespace(summary=lambda: {"pbo": 0.6, "dsr_median": 0.4})
    results = validation_results({"cv_sharpe_median": 1.2}, wf, overfitting)
    assert results == {"cv_sharpe_median": 1.2, "wf_sharpe_consistency": 0.25, "pbo": 0.6,
                       "dsr_median": 0.4}
    assert validation_results({"cv_sharpe_median": 1.2}, None, None) == {"cv_sharpe_median": 1.2}
    assert promotion_score(results, "dsr_median") == 0.4
    with pytest.raises(KeyError, match="promotion_metric='sharpe' is not a validation result"):
        promotion_score(results, "sharpe")
