"""The retrain summary artifact links the MLflow run; the hint printed after a retrain opens
the runs table (the wording is tested in ``tests/reporting/test_retrain_summary.py``)."""

from __future__ import annotations

import math

import pytest

from reporting import retrain_summary
from tasks.registry import DEFAULT_TRACKING_URI
from tasks.summary import RetrainSummary, describe_score, describe_scores, row_label


def _summary(tracking_uri: str = DEFAULT_TRACKING_URI) -> RetrainSummary:
    return RetrainSummary(
        run_id="0123abcd", experiment="regimeforest-demo", experiment_id="3",
        tracking_uri=tracking_uri, data_source="data/btc.csv", data_rows=100, rules_passed=1,
        rules_total=1, n_features=2, n_events=3, n_dropped_warmup=0, regime_persistence={},
        cv_scores={}, promotion_metric="cv_sharpe_median", score=math.nan,
        model_name="btc-regime", version="1", alias=None, decision_reason="rejected: no trades",
        champion_version=None)


def test_to_markdown_links_the_run_in_the_mlflow_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    assert _summary().to_markdown().endswith("\n".join([
        "| score | `cv_sharpe_median` undefined (no trades behind it): never promoted |",
        "| registered | btc-regime v1 → no alias |",
        "| decision | rejected: no trades |",
        "| MLflow run | [`0123abcd`](http://127.0.0.1:5000/#/experiments/3/runs/0123abcd"
        "?workflowType=machine_learning) in `regimeforest-demo` |"]))


def test_ui_hint_prints_the_runs_table_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    assert _summary().ui_hint() == (
        "regimeforest ui, then open http://127.0.0.1:5000/#/experiments/3/runs"
        "?workflowType=machine_learning&viewStateShareKey=regimeforest-headline")
    assert _summary("http://mlflow:5000").ui_hint() == (  # the server serves its own UI
        "open http://mlflow:5000/#/experiments/3/runs"
        "?workflowType=machine_learning&viewStateShareKey=regimeforest-headline")


def test_the_cli_rows_are_the_reporting_layers() -> None:
    assert (describe_score, describe_scores, row_label) == (
        retrain_summary.describe_score, retrain_summary.describe_scores,
        retrain_summary.row_label)
