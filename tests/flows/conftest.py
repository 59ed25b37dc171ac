"""A small but real profile for running whole flows in tests: real bars, tiny forests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_core.data import load_bars, sample_bars_path

TINY = {
    "data": {"timeframe": "30m"},
    "features": {"higher_timeframes": ["1h", "4h"], "frac_diff_window": 50,
                 "volatility_window": 24},
    "regime": {"timeframe": "4h", "n_restarts": 2, "n_iter": 200},
    "labels": {"volatility_span": 50, "max_holding_bars": 24, "cusum_threshold": 1.5},
    "ensemble": {
        "entry": {"kind": "classifier", "n_estimators": 10, "max_depth": 6, "min_samples_leaf": 5},
        "position": {"kind": "regressor", "n_estimators": 10, "max_depth": 6},
        "exit": {"kind": "classifier", "n_estimators": 10, "max_depth": 6},
        "profit": {"kind": "regressor", "n_estimators": 10, "max_depth": 6},
        "meta_folds": 2, "n_jobs": 1,
    },
    "validation": {"n_groups": 4, "n_test_groups": 2, "purge": "12h", "embargo": "6h",
                   "walk_forward_windows": 3, "holdout_fraction": 0.2},
    "tuning": {"n_trials": 2, "tree_step": 5, "cv_folds": 2, "pipeline_trials": 2},
    # the score rule these flow tests were written for; tests/flows/test_promotion_gate.py
    # runs the gate (which a tiny model on 7,000 real bars fails, as it should)
    "promotion": {"gate": {"enabled": False}},
}


@pytest.fixture(scope="session")
def tiny_bars_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The most recent 7,000 bars of the bundled sample as a Parquet file."""
    frame = load_bars(sample_bars_path()).iloc[-7000:]
    path = tmp_path_factory.mktemp("data") / "btc_tail.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture()
def tiny_profile(tmp_path: Path) -> tuple[Path, str]:
    """A profile file and a fresh SQLite MLflow store in tmp_path."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    profile = {"profile": "tiny", "seed": 7, **TINY,
               "registry": {"tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path, uri


@pytest.fixture(scope="session")
def retrained_twice(tmp_path_factory: pytest.TempPathFactory, tiny_bars_file: Path,
                    prefect_harness: None) -> tuple[Path, str, object, object]:
    """Two weekly retrains of the tiny profile on the same bars, in one store: v1 the champion,
    v2 (the same model and score) a challenger judged against it. Shared by the tests that read
    such a store (the retrain's records, ``compare``, the MLflow UI); they only read it, or
    add artifacts. Returns (profile file, tracking URI, first summary, second summary)."""
    from flows.weekly_retrain import weekly_retrain

    folder = tmp_path_factory.mktemp("twice")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", "seed": 7, **TINY, "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}))
    first = weekly_retrain(config_path=str(path), data=str(tiny_bars_file))
    second = weekly_retrain(config_path=str(path), data=str(tiny_bars_file))
    return path, uri, first, second
