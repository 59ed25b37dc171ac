"""The fitted pipeline end to end: causal on the future, identical after a pickle-free round trip."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core._migrations import ModelFormatError
from ml_core.config import Config, ForestSpec
from ml_core.data import load_sample_bars
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.pipeline import (RegimeForestPipeline, assemble_training_set, load_pipeline,
                              save_pipeline)
from ml_core.labeling import triple_barrier_events
from ml_core.regime import RegimeHMM

CONFIG = Config.model_validate({
    "profile": "unit",
    "features": {"higher_timeframes": ["1h", "4h"], "frac_diff_window": 50,
                 "volatility_window": 24},
    "regime": {"n_restarts": 2, "n_iter": 200},
    "labels": {"volatility_span": 50, "max_holding_bars": 24, "cusum_threshold": 1.5},
})


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars().iloc[-6000:]


@pytest.fixture(scope="module")
def pipeline(bars: pd.DataFrame) -> RegimeForestPipeline:
    regime = RegimeHMM.from_config(CONFIG.regime, CONFIG.data.timeframe, 3).fit(bars)
    features_only = RegimeForestPipeline(config=CONFIG, regime=regime)
    dataset = assemble_training_set(features_only.features(bars),
                                    triple_barrier_events(bars, CONFIG.labels), CONFIG.labels)
    small = {name: ForestSpec(kind=kind, n_estimators=8, max_depth=5)
             for name, kind in (("entry", "classifier"), ("position", "regressor"),
                                ("exit", "classifier"), ("profit", "regressor"))}
    ensemble = RegimeForestEnsemble(**small, meta_folds=3, random_state=3)
    ensemble.fit(dataset.X, dataset.targets, dataset.t1)
    return RegimeForestPipeline(config=CONFIG, regime=regime, ensemble=ensemble,
                                feature_columns=list(dataset.X.columns),
                                metadata={"note": "unit"})


@pytest.mark.parametrize("cut", [4000, 4003, 5999 - 48])
def test_features_and_signals_ignore_the_future(pipeline: RegimeForestPipeline,
                                                bars: pd.DataFrame, cut: int) -> None:
    full_features = pipeline.features(bars)
    full_signals = pipeline.predict(bars)
    t = bars.index[cut]

    rng = np.random.default_rng(42)
    altered = bars.copy()
    future = altered.index > t
    scale = np.exp(np.cumsum(rng.normal(0.0, 0.05, future.sum())))
    for column in ("open", "high", "low", "close"):
        altered.loc[future, column] = altered.loc[future, column].to_numpy() * scale
    altered.loc[future, "volume"] = rng.uniform(1.0, 1e4, future.sum())

    for variant in (bars.loc[:t], altered):
        pd.testing.assert_frame_equal(pipeline.features(variant).loc[:t], full_features.loc[:t],
                                      rtol=1e-12, atol=0)
        pd.testing.assert_frame_equal(pipeline.predict(variant).loc[:t], full_signals.loc[:t],
                                      rtol=1e-12, atol=0)


def test_round_trip_without_pickle(pipeline: RegimeForestPipeline, bars: pd.DataFrame,
                                   tmp_path: Path) -> None:
    directory = save_pipeline(pipeline, tmp_path / "model")
    assert not list(directory.rglob("*.pkl")) and not list(directory.rglob("*.pickle"))
    loaded = load_pipeline(directory)
    assert loaded.config == pipeline.config
    assert loaded.feature_columns == pipeline.feature_columns
    assert loaded.metadata == {"note": "unit"}
    pd.testing.assert_frame_equal(loaded.predict(bars), pipeline.predict(bars))


def test_save_never_overwrites(pipeline: RegimeForestPipeline, tmp_path: Path) -> None:
    save_pipeline(pipeline, tmp_path / "model")
    with pytest.raises(FileExistsError, match="must be empty or absent"):
        save_pipeline(pipeline, tmp_path / "model")


def test_load_refuses_other_formats(pipeline: RegimeForestPipeline, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        load_pipeline(tmp_path)
    directory = save_pipeline(pipeline, tmp_path / "model")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["format_version"] = 99
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError) as info:
        load_pipeline(directory)
    assert str(info.value) == (f"{directory}: model format 99 cannot be read; this release reads "
                               f"formats 1 (oldest) to 2")


def test_saved_and_loaded_forests_run_on_one_core(pipeline: RegimeForestPipeline,
                                                  tmp_path: Path) -> None:
    trained = copy.copy(pipeline.ensemble)  # as a profile trains it: n_jobs=-1
    trained.n_jobs = -1
    trained.forests_ = {name: copy.copy(f) for name, f in pipeline.ensemble.forests_.items()}
    for forest in trained.forests_.values():
        forest.n_jobs = -1
    directory = save_pipeline(dataclasses.replace(pipeline, ensemble=trained), tmp_path / "m")

    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["format_version"], manifest["ensemble"]["params"]["n_jobs"]) == (2, 1)
    assert json.loads((directory / "config.json").read_text())["labels"]["max_holding"] == "12h"
    loaded = load_pipeline(directory).ensemble
    assert loaded.n_jobs == 1
    assert {f.n_jobs for f in loaded.forests_.values()} == {1}
    assert {f.n_jobs for f in trained.forests_.values()} == {-1}  # saving changed nothing


def test_features_only_pipeline_cannot_predict(pipeline: RegimeForestPipeline,
                                               bars: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no ensemble"):
        RegimeForestPipeline(config=CONFIG, regime=pipeline.regime).predict(bars)


def test_training_set_counts_warmup(pipeline: RegimeForestPipeline, bars: pd.DataFrame) -> None:
    events = triple_barrier_events(bars, CONFIG.labels)
    dataset = assemble_training_set(pipeline.features(bars), events, CONFIG.labels)
    assert len(dataset.X) + dataset.n_dropped_warmup == len(events)
    assert dataset.n_dropped_warmup > 0
    assert not dataset.X.isna().any().any()
    assert (dataset.events["t1"] > dataset.X.index).all()
