"""The monitor's drift share reaches the training run's headline column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.monitoring import _headline_drift
from tasks.registry import Tracker


def test_drift_share_is_a_daily_series_on_the_run_that_trained_the_version(tmp_path: Path
                                                                          ) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = tracker.start_run("m", "train", {})
    tracker.client.create_registered_model("m")
    tracker.client.create_model_version("m", str(tmp_path), run_id=run_id,
                                        tags={"run_id": run_id})
    for day, share in ((20000, 0.25), (20001, float("nan")), (20002, 0.5)):
        stamp = int(pd.Timestamp(day, unit="D").value // 10**6)
        _headline_drift(tracker, "m", "1", {"drift_share": share}, stamp, day)
    history = tracker.client.get_metric_history(run_id, "headline/drift_share")
    assert [(m.step, m.value) for m in history] == [(20000, 0.25), (20002, 0.5)]
    # a version trained before runs were tagged is left alone
    tracker.client.create_model_version("m", str(tmp_path))
    _headline_drift(tracker, "m", "2", {"drift_share": 0.9}, 0, 20003)
    assert len(tracker.client.get_metric_history(run_id, "headline/drift_share")) == 2
