"""The validation report lands in the run: markdown, self-contained HTML, figures, tables and
metrics, and the Prefect artifact ``validation-report`` (the report itself is tested in
``tests/reporting/test_validation_report.py``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from report_cases import cv_report, overfitting, walk_forward

from reporting.validation_report import validation_markdown
from tasks.registry import Tracker, tracked_run
from tasks.validation import log_validation, validation_metrics

IMG = '<img src="data:image/png;base64,'


# ---------------------------------------------------------------- metrics
def test_validation_metrics_merge_the_summaries_without_undefined_values() -> None:
    wf = walk_forward()
    wf.windows["buy_and_hold_sharpe"] = np.nan  # median NaN: not logged
    metrics = validation_metrics(wf, overfitting())
    assert metrics == pytest.approx({
        "wf_sharpe_consistency": 0.5, "wf_drawdown_control": 0.75, "wf_sharpe_median": 1.15,
        "wf_sharpe_mean": 1.175, "wf_max_drawdown_median": 0.1, "wf_n_windows": 4.0,
        "wf_long_every_event_sharpe_median": 1.0, "wf_n_windows_traded": 4.0,
        "pbo_entry": 4 / 6, "pbo_exit": 1 / 6, "pbo": 4 / 6, "psr_median": 0.9,
        "dsr_median": 0.4, "dsr_n_trials": 40.0, "dsr_sr_variance": 0.0004,
        "dsr_expected_max_sharpe": 0.12,
    })
    assert validation_metrics(None, None) == {}


# ---------------------------------------------------------------- task
def _in_a_flow(task, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run ``task`` inside a real Prefect flow run, as the retrain does."""
    from prefect import flow

    return flow(name="unit")(lambda: task(*args, **kwargs))()


def _artifacts(tracker: Tracker, run_id: str) -> set[str]:
    return {a.path for a in tracker.client.list_artifacts(run_id, "validation")}


@pytest.mark.usefixtures("prefect_harness")
def test_log_validation_writes_report_figures_tables_and_metrics(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_validation, tracker, run_id, cv_report(), walk_forward(),
                            overfitting(), promotion_metric="cv_sharpe_median", score=1.2)
    assert logged == validation_metrics(walk_forward(), overfitting())
    metrics = tracker.client.get_run(run_id).data.metrics
    assert {k: v for k, v in metrics.items() if not k.startswith("wf_window/")} == logged
    # each window as one step of the wf_window/<column> series; the last window is the latest
    assert [m.value for m in tracker.client.get_metric_history(run_id, "wf_window/sharpe")] == [
        1.5, 0.4, 0.8, 2.0]
    assert metrics["wf_window/n_trades"] == 8
    assert _artifacts(tracker, run_id) == {f"validation/{name}" for name in (
        "report.md", "report.html", "cpcv_paths.png", "walk_forward.png", "pbo_logits.png",
        "overfitting_degradation.png", "walk_forward_windows.csv", "pbo_logits.csv",
        "overfitting_paths.csv")}
    local = Path(tracker.client.download_artifacts(run_id, "validation", str(tmp_path)))
    assert (local / "report.md").read_text() == validation_markdown(
        cv_report(), walk_forward(), overfitting(), promotion_metric="cv_sharpe_median",
        score=1.2)
    assert (local / "report.html").read_text().count(IMG) == 4
    # readable in the MLflow UI's preview: 1,100 px wide, the two models side by side
    assert Image.open(local / "pbo_logits.png").size == (1100, 380)
    table = pd.read_csv(local / "pbo_logits.csv")
    assert table.columns.tolist() == ["model", "combination", "logit", "is_sharpe", "oos_sharpe"]
    assert table["model"].tolist() == ["entry"] * 6 + ["exit"] * 6
    np.testing.assert_array_equal(table["logit"].iloc[:6], [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8])
    windows = pd.read_csv(local / "walk_forward_windows.csv", index_col="window")
    assert windows["sharpe"].tolist() == [1.5, 0.4, 0.8, 2.0]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        shown = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["validation-report"])))
    assert shown and shown[0].type == "markdown"
    assert shown[0].data.startswith("## Validation report") and "<!--" not in shown[0].data


@pytest.mark.usefixtures("prefect_harness")
def test_log_validation_without_walk_forward_or_tuning(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_validation, tracker, run_id, cv_report(baselines=False), None,
                            overfitting(pbo=False), promotion_metric="cv_sharpe_median",
                            score=math.nan)
    assert set(logged) == {"psr_median", "dsr_median", "dsr_n_trials", "dsr_sr_variance",
                           "dsr_expected_max_sharpe"}
    assert _artifacts(tracker, run_id) == {
        "validation/report.md", "validation/report.html", "validation/cpcv_paths.png",
        "validation/pbo_logits.png", "validation/overfitting_paths.csv"}
