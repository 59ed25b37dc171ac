"""The retrain summary in words: no trades reads as no trades, not as a score of 0; the MLflow
run is a link to its page, the hint a link to the runs table."""

from __future__ import annotations

import math

import pytest

from reporting.retrain_summary import (
    RetrainFacts,
    describe_score,
    describe_scores,
    row_label,
    summary_markdown,
    ui_hint,
)

DEFAULT_STORE = "sqlite:///mlruns/mlflow.db"


def test_scores_read_as_numbers_and_undefined_ones_say_so() -> None:
    assert describe_scores("ensemble", {"ensemble_accuracy": 0.6, "sharpe_median": 1.25,
                                        "n_paths_traded": 3.0}) == (
        "ensemble_accuracy 0.600, sharpe_median 1.250, n_paths_traded 3.000")
    assert describe_scores("overfitting", {"pbo": math.nan, "dsr_median": 0.2}) == (
        "pbo undefined, dsr_median 0.200")


def test_no_trades_reads_as_no_trades() -> None:
    assert describe_scores("ensemble", {"ensemble_accuracy": math.nan,
                                        "sharpe_median": math.nan, "n_paths_traded": 0.0}) == (
        "no trades on any CPCV path (the model held; Sharpe and drawdown undefined)")
    assert describe_scores("walk-forward", {"wf_sharpe_consistency": math.nan,
                                            "wf_n_windows_traded": 0.0}) == (
        "no trades on any walk-forward window (the model held; Sharpe and drawdown undefined)")
    # the 1h market's holdout: the model held on 865 events while the asset fell
    assert describe_scores("holdout", {"holdout_ensemble_accuracy": math.nan,
                                       "holdout_ensemble_n_trades": 0.0,
                                       "holdout_buy_and_hold_sharpe": -2.183,
                                       "holdout_n_events": 865.0}) == (
        "no trades on any holdout event (the model held; Sharpe and drawdown undefined), "
        "holdout_buy_and_hold_sharpe -2.183, holdout_n_events 865.000")


def test_the_score_line() -> None:
    assert describe_score("cv_sharpe_median", 0.89641) == "cv_sharpe_median = 0.8964"
    assert describe_score("cv_sharpe_median", math.nan) == (
        "cv_sharpe_median undefined (no trades behind it): never promoted")


def test_row_labels() -> None:
    assert [row_label(g) for g in ("entry", "baselines", "walk-forward", "holdout")] == [
        "CV entry", "CV baselines", "walk-forward", "holdout"]


def _facts(**changes: object) -> RetrainFacts:
    facts = dict(
        run_id="0123abcd", experiment="regimeforest-demo", experiment_id="3",
        tracking_uri=DEFAULT_STORE, data_source="data/btc.csv", data_rows=12000, rules_passed=9,
        rules_total=10, n_features=42, n_events=1500, n_dropped_warmup=30,
        regime_persistence={"bull": {"p_stay": 0.95, "expected_duration_bars": 20.0}},
        cv_scores={"ensemble": {"sharpe_median": 1.25, "n_paths_traded": 5.0}},
        promotion_metric="cv_sharpe_median", score=1.25, model_name="btc-regime", version="4",
        alias="champion", decision_reason="passed every gate", champion_version="4")
    return RetrainFacts(**{**facts, **changes})


def test_summary_markdown_links_the_mlflow_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    assert summary_markdown(_facts()) == "\n".join([
        "### Weekly retrain", "",
        "| | |", "|---|---|",
        "| data checks | 9/10 rules passed on 12,000 rows (`data/btc.csv`) |",
        "| features | 42 features, 1,500 events (30 dropped in warm-up) |",
        "| regime bull | p_stay 0.950, expected 20.0 bars |",
        "| CV ensemble | sharpe_median 1.250, n_paths_traded 5.000 |",
        "| score | `cv_sharpe_median` = 1.2500 |",
        "| registered | btc-regime v4 → champion |",
        "| decision | passed every gate |",
        "| MLflow run | [`0123abcd`](http://127.0.0.1:5000/#/experiments/3/runs/0123abcd"
        "?workflowType=machine_learning) in `regimeforest-demo` |"])


def test_the_link_follows_the_tracking_server_or_the_explicit_ui(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    served = summary_markdown(_facts(tracking_uri="https://mlflow.example.org/",
                                     as_of="2024-05-01", data_span="a .. b (10 bars)",
                                     data_key="bars/btc"))
    assert "| as of | 2024-05-01: a .. b (10 bars), `bars/btc` |" in served
    assert ("| MLflow run | [`0123abcd`](https://mlflow.example.org/#/experiments/3/runs/0123abcd"
            "?workflowType=machine_learning) in `regimeforest-demo` |") in served
    monkeypatch.setenv("REGIMEFOREST_MLFLOW_UI", "http://ui.internal:8080/")
    assert "(http://ui.internal:8080/#/experiments/3/runs/0123abcd?" in summary_markdown(_facts())


def test_ui_hint_on_a_tracking_server_opens_its_own_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    assert ui_hint("http://mlflow:5000/", "2", DEFAULT_STORE) == (
        "open http://mlflow:5000/#/experiments/2/runs?workflowType=machine_learning"
        "&viewStateShareKey=regimeforest-headline")


def test_ui_hint_opens_the_runs_table_on_the_headline_view(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI", raising=False)
    assert ui_hint(DEFAULT_STORE, "3", DEFAULT_STORE) == (
        "regimeforest ui, then open http://127.0.0.1:5000/#/experiments/3/runs"
        "?workflowType=machine_learning&viewStateShareKey=regimeforest-headline")
    assert ui_hint("sqlite:///other.db", "5", DEFAULT_STORE) == (
        "regimeforest ui --tracking-uri sqlite:///other.db, then open "
        "http://127.0.0.1:5000/#/experiments/5/runs"
        "?workflowType=machine_learning&viewStateShareKey=regimeforest-headline")
