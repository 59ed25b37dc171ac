"""Publishing the final model's feature selection to MLflow: table, counts and tag."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

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
