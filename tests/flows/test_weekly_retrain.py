"""The weekly retrain on the real Prefect engine, a real MLflow SQLite store and real GX."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_two_retrains_register_champion_then_challenger(
    retrained_twice: tuple[Path, str, object, object], tiny_bars_file: Path, tmp_path: Path
) -> None:
    from tasks.registry import Tracker

    config_path, uri, first, second = retrained_twice
    assert (first.version, first.alias) == ("1", "champion")
    assert first.rules_passed == first.rules_total > 0
    assert first.n_events > 200 and first.n_features >= 20

    client = _client(uri)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert len(run.data.metrics) >= 20
    assert {"cv_sharpe_median", "cv_entry_precision", "cv_position_r2", "cv_exit_recall",
            "cv_profit_rmse", "cv_baseline_buy_and_hold_sharpe_median",
            "cv_baseline_momentum_sharpe_median"} <= set(run.data.metrics)
    plots = [a.path for a in client.list_artifacts(first.run_id, "plots")]
    assert {"plots/regime_timeline.png", "plots/feature_importances.png",
            "plots/regime_probabilities.png", "plots/regime_transition_matrix.png",
            "plots/regime_label_stability.png"} <= set(plots)
    # the regime evaluation: out of sample next-state accuracy and 10 weekly refits
    metrics = run.data.metrics
    assert 0.0 <= metrics["regime_oos_next_state_baseline"] <= 1.0
    assert metrics["regime_oos_next_state_lift"] == pytest.approx(
        metrics["regime_oos_next_state_accuracy"] - metrics["regime_oos_next_state_baseline"])
    assert metrics["regime_stability_refits"] == 10
    assert 0.0 <= metrics["regime_stability_agreement_min"] <= metrics[
        "regime_stability_agreement_mean"] <= 1.0
    assert len(client.get_metric_history(first.run_id, "regime_stability_agreement")) == 9
    assert not any(k.startswith("regime.evaluation.skipped") for k in run.data.tags)
    tables = {a.path for a in client.list_artifacts(first.run_id, "tables")}
    assert {"tables/regime_persistence.csv", "tables/regime_stability.csv"} <= tables
    assert client.list_artifacts(first.run_id, "data_quality")
    assert str(client.get_model_version_by_alias("tiny", "champion").version) == "1"
    # validation: walk-forward windows, PSR/DSR at the real trial count, the report
    assert metrics["wf_n_windows"] == 3 and 0.0 <= metrics["wf_sharpe_consistency"] <= 1.0
    # 2 pipeline trials + 2 trials x 4 forests, pruned ones included
    assert metrics["dsr_n_trials"] == 10
    # one child run per study; the final holdout logged apart from the CV figures
    children = Tracker(uri).child_runs(first.run_id)
    assert set(children) == {f"tune-{m}" for m in ("pipeline", "entry", "position", "exit",
                                                     "profit")}
    assert metrics["holdout_n_events"] >= 20 and "holdout_buy_and_hold_sharpe" in metrics
    # no trades on the holdout is no Sharpe (not logged), not a Sharpe of 0
    assert ("holdout_ensemble_sharpe" in metrics) == (metrics["holdout_ensemble_n_trades"] > 0)
    holdout_files = {a.path for a in client.list_artifacts(first.run_id, "holdout")}
    assert {"holdout/report.md", "holdout/reliability.png"} <= holdout_files
    assert 0.0 <= metrics["dsr_median"] <= metrics["psr_median"] <= 1.0
    validation = {a.path for a in client.list_artifacts(first.run_id, "validation")}
    assert {"validation/report.html", "validation/report.md"} <= validation
    # per-split and per-window figures are series (one step each), with no split means of
    # path figures beside them; search spaces are an artifact, not params
    splits = client.get_metric_history(first.run_id, "cv_split/n_test")
    assert [m.step for m in splits] == list(range(int(metrics["cv_n_splits"])))
    # a split or window without trades has no Sharpe: no point, rather than a made-up 0
    sharpe_steps = {m.step for m in client.get_metric_history(first.run_id, "cv_split/sharpe")}
    assert sharpe_steps <= set(range(int(metrics["cv_n_splits"])))
    assert len(client.get_metric_history(first.run_id, "wf_window/n_test")) == 3
    assert not {"cv_split_sharpe", "split_sharpe"} & set(metrics)
    assert not any(k.startswith(("tuning.forest_space", "tuning.pipeline_space"))
                   for k in run.data.params)
    assert any(k.startswith("tuning.") for k in run.data.params)
    spaces = client.download_artifacts(first.run_id, "tuning/search_space.json", str(tmp_path))
    assert set(json.loads(Path(spaces).read_text())) == {"forest_space", "pipeline_space"}
    # the experiment's saved view: the runs table's headline columns
    experiment = client.get_experiment(run.info.experiment_id)
    assert "mlflow.sharedViewState.regimeforest-headline" in experiment.tags
    version_tags = client.get_model_version("tiny", "1").tags
    assert float(version_tags["validation.dsr_median"]) == metrics["dsr_median"]
    assert float(version_tags["validation.wf_sharpe_consistency"]) == metrics[
        "wf_sharpe_consistency"]

    # same data, config and seed: the same model and score; not better, so a challenger
    assert second.version == "2"
    assert second.score == first.score
    assert second.alias == "challenger"
    assert second.champion_version == "1"
    tags = client.get_model_version("tiny", "2").tags
    assert float(tags["cv_score"]) == second.score
    assert float(tags["champion_score_at_decision"]) == first.score

    history = Tracker(uri).history("tiny")
    assert [(e.alias, e.version) for e in history] == [("champion", "1"), ("challenger", "2")]

    # the registered pipeline applies its fitted state without refitting
    from ml_core.data import as_bars, load_bars
    from ml_core.pipeline import load_pipeline

    directory = Tracker(uri).download_pipeline("models:/tiny@champion", tmp_path / "dl")
    pipeline = load_pipeline(directory)
    bars = as_bars(load_bars(tiny_bars_file))
    signals = pipeline.predict(bars)
    assert set(signals["signal"].unique()) <= {-1, 0, 1}
    assert len(signals) > 0.9 * len(bars)

    # `regimeforest regimes --model models:/...` applies the champion's HMM, no refit
    from typer.testing import CliRunner

    from ml_core.regime import get_regime_probabilities
    from regimeforest.cli import app

    out = tmp_path / "regimes.parquet"
    result = CliRunner().invoke(app, ["regimes", str(tiny_bars_file), "--out", str(out),
                                      "--config", str(config_path), "--tracking-uri", uri,
                                      "--model", "models:/tiny@champion"])
    assert result.exit_code == 0, result.output
    expected = get_regime_probabilities(pipeline.regime, bars).dropna()
    got = pd.read_parquet(out)
    assert got.index.equals(expected.index)
    assert (got["prob_bull"].to_numpy() == expected["bull"].to_numpy()).all()


def test_bad_data_stops_before_training_and_registers_nothing(
    stored_tiny_profile: tuple[Path, str], tiny_bars_file: Path, tmp_path: Path
) -> None:
    from flows.weekly_retrain import weekly_retrain
    from tasks.quality import DataQualityError

    config_path, uri = stored_tiny_profile
    frame = pd.read_parquet(tiny_bars_file)
    frame.loc[100, "timestamp"] = frame.loc[99, "timestamp"]  # a duplicated timestamp
    frame.loc[200, "low"] = frame.loc[200, "high"] + 1.0      # high < low
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)

    with pytest.raises(DataQualityError) as info:
        weekly_retrain(config_path=str(config_path), data=str(bad))
    text = info.value.report.to_text()
    assert "100" in text and "200" in text

    client = _client(uri)
    assert client.search_registered_models() == []
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["data.quality"] == "failed"
    assert client.list_artifacts(run.info.run_id, "data_quality")


def test_the_gate_rejects_a_model_without_evidence_and_the_served_model_holds(
    stored_tiny_profile: tuple[Path, str], tiny_bars_file: Path
) -> None:
    """The profile's defaults (gate on): a tiny model on 7,000 real bars has no evidence of
    skill, so the gate rejects it, records every statistic and the failed gates, and there is
    no champion. What a serving process does with it: load it as pyfunc by version and send it
    bars (as a JSON request hands them over: Python objects); it holds on every bar, saying
    why. This run also refits the served model on every event once the holdout is scored.
    tests/tasks/test_serving.py posts to the real server."""
    import mlflow
    import yaml

    from flows.weekly_retrain import weekly_retrain
    from ml_core.data import as_bars, load_bars, signal_rows
    from ml_core.pipeline import load_pipeline
    from tasks.registry import Tracker

    config_path, uri = stored_tiny_profile
    profile = yaml.safe_load(config_path.read_text())
    profile["validation"]["refit_on_all"] = True
    profile["validation"]["walk_forward_windows"] = 0  # no gate reads it: less to wait for
    del profile["promotion"]  # the defaults: gate on, rollout on
    config_path.write_text(yaml.safe_dump(profile))
    summary = weekly_retrain(config_path=str(config_path), data=str(tiny_bars_file))

    assert summary.version == "1" and summary.alias is None
    client = _client(uri)
    tags = client.get_model_version("tiny", "1").tags
    assert tags["gate.verdict"] == tags["decision"] == "rejected"
    assert tags["gate.trustworthy"] == "false"
    failed = tags["gate.failed"].split(", ")
    assert failed and set(failed) <= {"cpcv_trades", "holdout_trades", "pbo", "dsr",
                                      "buy_and_hold"}
    metrics = client.get_run(summary.run_id).data.metrics
    # each check against the run's own figures
    assert tags["gate.pbo"].startswith("pass" if metrics["pbo"] <= 0.5 else "FAIL")
    assert tags["gate.dsr"].startswith("pass" if metrics["dsr_median"] >= 0.95 else "FAIL")
    assert tags["gate.cpcv_trades"].startswith(
        "pass" if metrics["cv_n_trades_median"] >= 20 else "FAIL")
    assert metrics["gate_trustworthy"] == 0.0
    assert summary.decision_reason.startswith("rejected: failed the absolute gate (")
    # what a data scientist reads first: the run's description (the version's too), the
    # headline figures copied from the run's own, the input dataset, the Prefect link
    run = client.get_run(summary.run_id)
    note = run.data.tags["mlflow.note.content"]
    title, links, gate, data = note.split("\n\n")
    assert title == "### tiny v1: rejected"
    assert links.startswith(f"[validation report](#/experiments/{run.info.experiment_id}/runs/"
                            f"{summary.run_id}/artifacts/validation/report.html?")
    assert gate.startswith(f"**Gate: failed** ({tags['gate.failed']}) — rejected.")
    assert data.startswith("Trained on ")
    assert client.get_model_version("tiny", "1").description == note
    headline = {k: v for k, v in run.data.metrics.items() if k.startswith("headline/")}
    assert headline["headline/pbo"] == float(f"{metrics['pbo']:.4g}")
    assert headline["headline/cv_sharpe_median"] == float(f"{metrics['cv_sharpe_median']:.4g}")
    assert headline["headline/gate_passed"] == 0.0
    assert headline["headline/gate_failed_checks"] == len(failed)
    assert float(tags["headline.pbo"]) == pytest.approx(metrics["pbo"], rel=1e-3)
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.digest == run.data.tags["data.hash"][:12]
    assert dataset.dataset.name.endswith(
        f"30m {run.data.tags['data.first'][:10]}..{run.data.tags['data.last'][:10]}")
    from prefect import get_client

    with get_client(sync_client=True) as prefect:
        flow_run = prefect.read_flow_run(run.data.tags["prefect.flow_run_id"])
        links = [a for a in prefect.read_artifacts() if a.key == "mlflow-run"]
    assert flow_run.name.startswith("tiny-as-of-") and "profile:tiny" in flow_run.tags
    assert any(a.flow_run_id == flow_run.id and summary.run_id in a.data for a in links)
    assert Tracker(uri).alias_version("tiny", "champion") is None
    assert Tracker(uri).history("tiny") == []  # no alias ever moved

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/tiny/1")
    assert model.metadata.signature.inputs.input_names()[0] == "timestamp"
    bars = as_bars(load_bars(tiny_bars_file))
    served = model.predict(bars.astype(object))
    assert list(served.columns[:5]) == ["timestamp", "signal", "confidence", "size", "p_long"]
    assert (served["signal"] == 0).all() and (served["size"] == 0).all()
    assert served["note"].iloc[0] == f"no trustworthy model: {tags['gate.reason']}"
    # the pipeline's own figures, held, naming the registered version
    directory = Tracker(uri).download_pipeline("models:/tiny/1", Path(config_path).parent / "dl")
    direct = signal_rows(load_pipeline(directory).predict(bars), "tiny", "1", tags["gate.reason"])
    pd.testing.assert_frame_equal(served, direct, check_dtype=False, check_exact=True)
    # served: refit on the development AND holdout events (the purge gap's too)
    local = load_pipeline(directory, engine="sklearn")  # the fitted estimators, not the graphs
    assert local.metadata["refit_on_all"] is True
    n_development = client.get_run(summary.run_id).data.metrics["n_events"]
    assert len(local.ensemble.oof_predictions_) > n_development + 40  # >= 20% holdout


def test_too_little_history_fails_the_run_naming_the_cause(
    stored_tiny_profile: tuple[Path, str], tiny_bars_file: Path, tmp_path: Path
) -> None:
    from flows.weekly_retrain import weekly_retrain

    config_path, uri = stored_tiny_profile
    short = tmp_path / "short.parquet"
    pd.read_parquet(tiny_bars_file).iloc[-300:].to_parquet(short)
    # the HMM fits on the 240 bars before the final holdout (the tiny profile holds out 20%)
    with pytest.raises(ValueError, match=r"too few bars to fit: `bars` has 240 rows"):
        weekly_retrain(config_path=str(config_path), data=str(short))
    client = _client(uri)
    assert client.search_registered_models() == []
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FAILED"
    assert "too few bars" in run.data.tags["failure"]
