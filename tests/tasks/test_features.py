"""The fitted feature settings: the fracdiff order is chosen on the training bars and logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prefect import flow

from ml_core.config import load_config
from ml_core.data import load_sample_bars
from ml_core.features import min_frac_diff_order
from tasks.features import choose_feature_settings
from tasks.registry import Tracker

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def _choose(n_bars: int, config_overrides: dict, uri: str, run_id: str):
    """The task inside a real Prefect flow run, as the weekly retrain calls it."""
    bars = load_sample_bars().iloc[:n_bars]
    config = load_config("configs/demo.yaml", config_overrides)
    return config, choose_feature_settings(bars, config, Tracker(uri), run_id)


def _tracked(tmp_path: Path) -> tuple[Tracker, str]:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tracker, tracker.start_run("unit", "features", {})


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_the_order_is_the_smallest_passing_one_and_is_logged(tmp_path):
    bars = load_sample_bars().iloc[:8_000]
    tracker, run_id = _tracked(tmp_path)
    config, chosen = _choose(8_000, {}, _uri(tmp_path), run_id)
    expected = min_frac_diff_order(np.log(bars["close"].to_numpy()), 100)
    assert expected.passed
    assert chosen.features.frac_diff_d == expected.d
    assert chosen.features.model_dump(exclude={"frac_diff_d"}) == config.features.model_dump(
        exclude={"frac_diff_d"})
    run = tracker.client.get_run(run_id)
    assert float(run.data.params["features.frac_diff_d_chosen"]) == expected.d
    assert run.data.metrics["frac_diff_d"] == expected.d
    tracker.end_run(run_id)


def test_a_fixed_order_is_left_alone(tmp_path):
    tracker, run_id = _tracked(tmp_path)
    config, chosen = _choose(2, {"features": {"frac_diff_auto": False}}, _uri(tmp_path), run_id)
    assert chosen == config
    tracker.end_run(run_id)
