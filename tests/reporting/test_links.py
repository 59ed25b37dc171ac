"""Links into the MLflow UI open its model-training pages, the runs table on the headline view."""

from __future__ import annotations

import json

import pytest

from reporting.links import (
    DEFAULT_UI,
    VIEW_KEY,
    VIEW_NAME,
    artifact_url,
    column_key,
    compare_runs_url,
    headline_view,
    model_version_url,
    run_url,
    runs_url,
    ui_base,
)


def test_runs_table_link_names_the_workflow_and_the_saved_view() -> None:
    assert runs_url("http://127.0.0.1:5000/", "3") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
        "&viewStateShareKey=regimeforest-headline")


def test_an_empty_base_gives_links_relative_to_the_ui_page() -> None:
    assert run_url("", "1", "abc") == "#/experiments/1/runs/abc?workflowType=machine_learning"
    assert artifact_url("", "1", "abc", "/validation/report.html") == (
        "#/experiments/1/runs/abc/artifacts/validation/report.html?workflowType=machine_learning")
    assert model_version_url("", "regime forest", "7") == (
        "#/models/regime%20forest/versions/7?workflowType=machine_learning")


def test_compare_link_lists_the_runs_as_json() -> None:
    assert compare_runs_url("http://h", "2", ["a", "b"]) == (
        "http://h/#/compare-runs?runs=%5B%22a%22%2C%22b%22%5D&experiments=%5B%222%22%5D"
        "&workflowType=machine_learning")


def test_column_keys_follow_the_ui_canonical_form() -> None:
    assert column_key("metrics", "headline/pbo") == "metrics.`headline/pbo`"
    with pytest.raises(ValueError, match="kind='metric'"):
        column_key("metric", "x")


def test_headline_view_is_a_saved_view_envelope_with_the_columns_in_order() -> None:
    tags = headline_view(["headline/score", "headline/pbo"], ["promotion.decision"],
                         created_ms=1234)
    assert list(tags) == [f"mlflow.sharedViewState.{VIEW_KEY}"]
    envelope = json.loads(tags[f"mlflow.sharedViewState.{VIEW_KEY}"])
    assert (envelope["name"], envelope["createdAt"]) == (VIEW_NAME, 1234)
    state = json.loads(envelope["state"])
    assert state["selectedColumns"] == [
        "attributes.`Dataset`", "attributes.`Models`", "tags.`promotion.decision`",
        "metrics.`headline/score`", "metrics.`headline/pbo`"]
    assert (state["orderByKey"], state["orderByAsc"]) == ("attributes.start_time", False)
    # the table would sort metric columns by name: the order is given, the run's name first
    assert state["columnOrder"] == [
        "attributes.`Run Name`", "runDateAndNestInfo", "attributes.`Dataset`",
        "tags.`promotion.decision`", "metrics.`headline/score`", "metrics.`headline/pbo`",
        "attributes.`Models`"]
    assert state["columnWidths"]["metrics.`headline/pbo`"] == 120


def test_ui_base_the_explicit_address_the_tracking_server_or_the_local_ui() -> None:
    explicit = {"REGIMEFOREST_MLFLOW_UI": "http://ui.internal:8080/"}
    assert ui_base("sqlite:///mlruns/mlflow.db", explicit) == "http://ui.internal:8080"
    assert ui_base("https://mlflow.example.org/", explicit) == "http://ui.internal:8080"
    assert ui_base("https://mlflow.example.org/", {}) == "https://mlflow.example.org"
    assert ui_base("http://127.0.0.1:5001", {"REGIMEFOREST_MLFLOW_UI": ""}) == (
        "http://127.0.0.1:5001")
    assert ui_base("sqlite:///mlruns/mlflow.db", {}) == DEFAULT_UI == "http://127.0.0.1:5000"
    assert ui_base("postgresql://db/mlflow", {}) == DEFAULT_UI


def test_ui_base_reads_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIMEFOREST_MLFLOW_UI", "http://from-env:9000")
    assert ui_base("sqlite:///mlruns/mlflow.db") == "http://from-env:9000"
    monkeypatch.delenv("REGIMEFOREST_MLFLOW_UI")
    assert ui_base("sqlite:///mlruns/mlflow.db") == DEFAULT_UI


def test_chart_view_shows_headline_bars_then_series_then_the_rest_collapsed() -> None:
    from reporting.links import chart_layout

    layout = chart_layout(["headline/score", "headline/pbo"], ["cv_split/sharpe"])
    sections = [(s["name"], s["display"]) for s in layout["compareRunSections"]]
    assert sections == [("headline", True), ("cv_split", True), ("Model metrics", False)]
    charts = [(c["type"], c["metricKey"], c["metricSectionId"])
              for c in layout["compareRunCharts"]]
    assert charts == [("BAR", "headline/score", "regimeforest-section-headline"),
                      ("BAR", "headline/pbo", "regimeforest-section-headline"),
                      ("LINE", "cv_split/sharpe", "regimeforest-section-cv_split")]
    assert layout["compareRunCharts"][2]["xAxisKey"] == "step"
    assert layout["isAccordionReordered"] is True
