"""The validate-data Prefect task (tasks/quality.py), on the real Prefect and GX engines."""

from __future__ import annotations

import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from expectations import RULE_POSITIVE_PRICES, QualityReport
from tasks.quality import ARTIFACT_KEY, DataQualityError, require_passed, validate_data

THIRTY = timedelta(minutes=30)


def _bars(n: int = 6, bad_row: int | None = None) -> pd.DataFrame:
    """Clean 30m bars; ``bad_row`` gets a negative low (breaks only "prices > 0")."""
    i = np.arange(n, dtype="float64")
    frame = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC"),
        "open": 100.0 + i, "high": 101.0 + i, "low": 99.5 + i, "close": 100.5 + i,
        "volume": 10.0 + i,
    })
    if bad_row is not None:
        frame.loc[bad_row, "low"] = -1.0
    return frame


def _gate_kwargs(**extra):
    return {"timeframe": THIRTY, "max_gap_ratio": 0.01, "source": "hand-made", "docs_dir": None,
            **extra}


def test_task_body_returns_the_report_on_clean_bars():
    report = validate_data.fn(_bars(), **_gate_kwargs())
    assert isinstance(report, QualityReport) and report.success


def test_task_body_raises_with_the_report_on_bad_bars():
    with pytest.raises(DataQualityError) as caught:
        validate_data.fn(_bars(bad_row=3), **_gate_kwargs())
    report = caught.value.report
    assert [r.rule for r in report.failed()] == [RULE_POSITIVE_PRICES]
    assert str(caught.value) == report.to_text()
    assert "row 3: -1" in str(caught.value)
    # The report survives pickling (Prefect may pickle a task's exception).
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.report.failed()[0].example_rows == [3]


def test_task_body_can_return_a_failed_report_for_logging_first():
    report = validate_data.fn(_bars(bad_row=1), **_gate_kwargs(), raise_on_failure=False)
    assert not report.success
    with pytest.raises(DataQualityError, match="prices > 0"):
        require_passed(report)
    require_passed(validate_data.fn(_bars(), **_gate_kwargs()))  # a pass goes through


def _artifacts_of(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
        ))


def test_flow_publishes_the_report_and_stops_before_training_on_bad_data(prefect_harness,
                                                                        tmp_path):
    from prefect import flow, task

    trained: list[str] = []

    @task
    def train(report: QualityReport) -> str:
        trained.append(report.source)
        return "model"

    @flow
    def retrain(bad_row: int | None = None) -> str:
        report = validate_data(_bars(bad_row=bad_row), **_gate_kwargs(docs_dir=tmp_path / "dd"))
        return train(report)

    good = retrain(return_state=True)
    assert good.is_completed()
    assert good.result() == "model" and trained == ["hand-made"]
    (artifact,) = _artifacts_of(good.state_details.flow_run_id)
    assert artifact.type == "markdown"
    assert "- verdict: passed" in artifact.data
    assert (tmp_path / "dd" / "index.html").is_file()

    bad = retrain(bad_row=2, return_state=True)
    assert bad.is_failed()
    with pytest.raises(DataQualityError) as caught:
        bad.result()
    assert caught.value.report.failed()[0].example_rows == [2]
    assert trained == ["hand-made"]  # nothing trained on bad data
    (artifact,) = _artifacts_of(bad.state_details.flow_run_id)
    assert "**FAILED**" in artifact.data
    assert "| prices > 0 | low | FAIL | 1 | 2 |" in artifact.data
