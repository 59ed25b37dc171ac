"""A small but real profile for running whole flows in tests: real bars, tiny forests; the
stores several tests read, built once per session by real tiny retrains."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
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

QUICK = {
    "tuning": {"enabled": False},
    "validation": {"cpcv_refit_regime": False, "walk_forward_windows": 0},
}
"""Over :data:`TINY`, for the flow tests whose subject is not the model but what a retrain
reads, records or is run by (as_of spans, backfill resumption, serving): no tuning, CPCV
without HMM refits, no walk-forward; about a third less time a retrain. Its models still trade
(a finite CPCV score, so a version can become champion): fewer CPCV splits or HMM restarts
left the tiny models without a trade. The tests of the model and its validation keep
:data:`TINY`."""


def with_quick(profile: dict) -> dict:
    """``profile`` (a profile file's mapping) with :data:`QUICK`'s settings over its own."""
    return {**profile, **{section: {**profile.get(section, {}), **values}
                          for section, values in QUICK.items()}}


def write_tiny_profile(folder: Path, store: Path | None = None) -> tuple[Path, str]:
    """``folder/tiny.yaml``: the :data:`TINY` profile with its SQLite MLflow store in
    ``folder/mlruns``: none yet, or a copy of ``store``. Returns (profile file, tracking URI)."""
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    if store is not None:
        (folder / "mlruns").mkdir()
        shutil.copyfile(store, folder / "mlruns" / "mlflow.db")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", "seed": 7, **TINY, "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}))
    return path, uri


@pytest.fixture(scope="session")
def tiny_bars_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The most recent 7,000 bars of the bundled sample as a Parquet file."""
    frame = load_bars(sample_bars_path()).iloc[-7000:]
    path = tmp_path_factory.mktemp("data") / "btc_tail.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables and nothing in them, made once. A copy spares a
    retrain MLflow's creating the tables (2-4 s) where a first run on no store is not the
    subject (the CLI's and the backfill's refusals start with none)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture()
def tiny_profile(tmp_path: Path) -> tuple[Path, str]:
    """A profile file and a fresh SQLite MLflow store (none yet) in tmp_path."""
    return write_tiny_profile(tmp_path)


@pytest.fixture()
def stored_tiny_profile(tmp_path: Path, empty_mlflow_store: Path) -> tuple[Path, str]:
    """:func:`tiny_profile` with its MLflow store's tables made (:func:`empty_mlflow_store`)."""
    return write_tiny_profile(tmp_path, empty_mlflow_store)


@pytest.fixture()
def quick_profile(stored_tiny_profile: tuple[Path, str]) -> tuple[Path, str]:
    """:func:`stored_tiny_profile` with :data:`QUICK`'s settings."""
    path, uri = stored_tiny_profile
    path.write_text(yaml.safe_dump(with_quick(yaml.safe_load(path.read_text()))))
    return path, uri


# ------------------------------------------------------------------ the fit spy
@dataclass
class FitSpy:
    """A spy on the entry point of each fitted component of a retrain, recording the bars each
    call could read (tests/flows/test_holdout_isolation.py). It only records: every wrapped
    call returns what the original returns.

    Wrapped: the fracdiff order's ADF search, the HMM's ``fit`` (the regime evaluation's and
    the CPCV splits' refits included), each forest study, and the ensemble's ``fit``, inside
    which feature selection, the four forests, the meta-learner and the calibrator are fitted
    on subsets of its rows. ``calls``: (component, first bar read, last bar read) of every
    intercepted fit.
    """

    calls: list[tuple[str, pd.Timestamp, pd.Timestamp]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FitSpy:
        import ml_core.features
        import ml_core.tuning
        from ml_core.ensemble import RegimeForestEnsemble
        from ml_core.regime._hmm import RegimeHMM

        def record(component, start, end):
            self.calls.append((component, pd.Timestamp(start), pd.Timestamp(end)))

        def wrap_method(cls, component, span_of):
            original = cls.fit

            def fit(model, *args, **kwargs):
                record(component, *span_of(*args))
                return original(model, *args, **kwargs)

            monkeypatch.setattr(cls, "fit", fit)

        def bars_span(bars, *_):  # one frame, or the segments of a CPCV split's training
            frames = bars if isinstance(bars, list) else [bars]
            return (min(f.index[0] for f in frames), max(f.index[-1] for f in frames))

        wrap_method(RegimeHMM, "regime", bars_span)
        wrap_method(RegimeForestEnsemble, "ensemble",
                    lambda X, targets, t1: (X.index[0], t1.max()))

        adf = ml_core.features.min_frac_diff_order

        def min_frac_diff_order(log_price, *args, **kwargs):
            record("feature_settings", log_price.index[0], log_price.index[-1])
            return adf(log_price, *args, **kwargs)

        monkeypatch.setattr(ml_core.features, "min_frac_diff_order", min_frac_diff_order)
        tune = ml_core.tuning.tune_forest

        def tune_forest(spec, X, y, t1, **kwargs):
            record("tuning", X.index[0], t1.max())
            return tune(spec, X, y, t1, **kwargs)

        monkeypatch.setattr(ml_core.tuning, "tune_forest", tune_forest)
        return self

    def components(self) -> set[str]:
        return {component for component, _, _ in self.calls}

    def reaching(self, cut: pd.Timestamp) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
        """The calls that read a bar at or after ``cut``."""
        return [call for call in self.calls if call[2] >= cut]


@pytest.fixture()
def fit_spy(monkeypatch: pytest.MonkeyPatch) -> FitSpy:
    """A :class:`FitSpy` on the fits of whatever this test runs."""
    return FitSpy().install(monkeypatch)


# ------------------------------------------------------------------ stores built once
@dataclass(frozen=True)
class SpiedRetrain:
    """One weekly retrain of the tiny profile: its profile file, tracking URI and summary, and
    the :class:`FitSpy` that watched it."""

    config_path: Path
    uri: str
    summary: object
    spy: FitSpy


@pytest.fixture(scope="session")
def spied_retrain(tmp_path_factory: pytest.TempPathFactory, tiny_bars_file: Path,
                  empty_mlflow_store: Path, prefect_harness: None) -> SpiedRetrain:
    """A weekly retrain of the tiny profile in a new store, every fit watched by a
    :class:`FitSpy` (tests/flows/test_holdout_isolation.py reads what it saw). The spy only
    records, so this is also the first retrain of :func:`retrained_twice`, which adds the
    second to the same store."""
    from flows.weekly_retrain import weekly_retrain

    path, uri = write_tiny_profile(tmp_path_factory.mktemp("twice"), empty_mlflow_store)
    with pytest.MonkeyPatch.context() as patch:
        spy = FitSpy().install(patch)
        summary = weekly_retrain(config_path=str(path), data=str(tiny_bars_file))
    return SpiedRetrain(path, uri, summary, spy)


@pytest.fixture(scope="session")
def retrained_twice(spied_retrain: SpiedRetrain,
                    tiny_bars_file: Path) -> tuple[Path, str, object, object]:
    """Two weekly retrains of the tiny profile on the same bars, in one store: v1 the champion
    (:func:`spied_retrain`), v2 (the same model and score) a challenger judged against it.
    Shared by the tests that read such a store (the retrain's records, ``compare``, the MLflow
    UI); they only read it, or add artifacts. Returns (profile file, tracking URI, first
    summary, second summary)."""
    from flows.weekly_retrain import weekly_retrain

    path = spied_retrain.config_path
    second = weekly_retrain(config_path=str(path), data=str(tiny_bars_file))
    return path, spied_retrain.uri, spied_retrain.summary, second
