"""The tuning window's features: selected as the ensemble will select them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_core.config import load_config
from ml_core.pipeline import TrainingSet
from ml_core.selection import FeatureSelector
from tasks.tuning import tuning_features


def _dataset(n: int = 600) -> TrainingSet:
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC")
    a = rng.normal(size=n)
    X = pd.DataFrame({"a": a, "a_copy": 3 * a, "flat": 1.0,
                      **{f"noise_{i}": rng.normal(size=n) for i in range(12)}}, index=index)
    entry = (a + 0.3 * rng.normal(size=n) > 0).astype(int)
    targets = pd.DataFrame({"entry": entry, "position": a, "exit": entry, "profit": a},
                           index=index)
    return TrainingSet(X=X, targets=targets, events=pd.DataFrame(
        {"t1": index + pd.Timedelta(hours=2)}, index=index), n_dropped_warmup=0)


def test_tuning_reads_the_columns_a_selector_keeps_on_the_recent_window():
    dataset = _dataset()
    config = load_config("configs/demo.yaml", {"tuning": {"max_rows": 400}})
    X = tuning_features(dataset, config)
    expected = FeatureSelector.from_config(config.features.selection, config.seed).fit(
        dataset.X.iloc[-400:], dataset.targets["entry"].iloc[-400:]).selected_
    assert list(X.columns) == expected
    assert "flat" not in X.columns and not {"a", "a_copy"} <= set(X.columns)
    assert len(X) == len(dataset.X)  # tune_forest cuts the window itself


def test_without_selection_every_column_is_tuned():
    dataset = _dataset()
    config = load_config("configs/demo.yaml", {"features": {"selection": {"enabled": False}}})
    assert tuning_features(dataset, config) is dataset.X
