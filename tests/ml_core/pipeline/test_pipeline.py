"""The fitted pipeline end to end: causal on the future, identical after a pickle-free round trip
with either engine, and refused when a model file was modified."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core._migrations import MODEL_FORMAT, ModelFormatError
from ml_core.config import Config
from ml_core.data import load_sample_bars
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import (ENGINES, ModelIntegrityError, RegimeForestPipeline,
                              assemble_training_set, load_pipeline, save_pipeline)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars().iloc[-6000:]


@pytest.fixture(scope="module")
def pipeline(bars: pd.DataFrame, unit_config: Config, unit_training,
             unit_ensemble) -> RegimeForestPipeline:
    regime, dataset = unit_training(bars)
    return RegimeForestPipeline(config=unit_config, regime=regime, ensemble=unit_ensemble(dataset),
                                feature_columns=list(dataset.X.columns),
                                metadata={"note": "unit"})


@pytest.fixture(scope="module")
def saved(pipeline: RegimeForestPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pipeline(pipeline, tmp_path_factory.mktemp("saved") / "model")


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


@pytest.mark.parametrize("engine", ENGINES)
def test_round_trip_without_pickle(pipeline: RegimeForestPipeline, bars: pd.DataFrame,
                                   saved: Path, engine: str) -> None:
    assert not list(saved.rglob("*.pkl")) and not list(saved.rglob("*.pickle"))
    loaded = load_pipeline(saved, engine=engine)
    assert (loaded.engine, pipeline.engine) == (engine, "sklearn")
    assert loaded.config == pipeline.config
    assert loaded.feature_columns == pipeline.feature_columns
    assert loaded.metadata == {"note": "unit"}
    expected = pipeline.predict(bars)
    got = loaded.predict(bars)
    if engine == "sklearn":
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    else:  # float64 trees: scikit-learn's arithmetic to the last bits
        pd.testing.assert_frame_equal(got, expected, rtol=0, atol=1e-12)
        assert (got["signal"] == expected["signal"]).all()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_manifest_hashes_every_file(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    assert sorted(manifest["files"]) == on_disk
    assert {"config.json", "regime.json", "onnx/components.onnx", "onnx/meta.onnx",
            "onnx/calibrator.onnx", "ensemble/forests_entry.skops"} <= set(on_disk)
    assert manifest["files"] == {name: _sha256(saved / name) for name in on_disk}
    assert manifest["onnx"] == {"components": "onnx/components.onnx", "meta": "onnx/meta.onnx",
                                "calibrator": "onnx/calibrator.onnx"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["onnx/components.onnx", "ensemble/forests_entry.skops",
                                  "config.json"])
def test_a_modified_file_is_refused_naming_it(saved: Path, tmp_path: Path, name: str,
                                              engine: str) -> None:
    """Every listed file is checked before any is read, whichever engine reads it."""
    directory = shutil.copytree(saved, tmp_path / "model")
    expected = _sha256(directory / name)
    content = bytearray((directory / name).read_bytes())
    content[len(content) // 2] ^= 0xFF
    (directory / name).write_bytes(bytes(content))
    with pytest.raises(ModelIntegrityError) as info:
        load_pipeline(directory, engine=engine)
    assert str(info.value) == (f"{directory}: {name} has sha256 {_sha256(directory / name)} but "
                               f"manifest.json records {expected}: refusing a modified model file")


def test_a_missing_file_is_refused_and_an_unlisted_one_ignored(saved: Path, bars: pd.DataFrame,
                                                               tmp_path: Path) -> None:
    directory = shutil.copytree(saved, tmp_path / "model")
    (directory / "onnx" / "notes.txt").write_text("not part of the model")
    assert load_pipeline(directory).engine == "onnx"  # an unlisted file is never read
    expected = _sha256(directory / "onnx" / "meta.onnx")
    (directory / "onnx" / "meta.onnx").unlink()
    with pytest.raises(ModelIntegrityError, match=rf"^{re.escape(str(directory))}: onnx/meta.onnx "
                       rf"is listed in manifest.json \(sha256 {expected}\) but missing"):
        load_pipeline(directory)


def test_a_manifest_cannot_point_outside_the_model(saved: Path, tmp_path: Path) -> None:
    directory = shutil.copytree(saved, tmp_path / "model")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["../outside.json"] = "0" * 64
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="lists '../outside.json', which is not a path "
                                                  "inside the model directory"):
        load_pipeline(directory)


def test_the_onnx_engine_reads_no_skops_and_no_table(saved: Path, bars: pd.DataFrame,
                                                     pipeline: RegimeForestPipeline,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"read {args[:1]}")

    monkeypatch.setattr(skops.io, "load", refuse)
    monkeypatch.setattr(skops.io, "get_untrusted_types", refuse)
    monkeypatch.setattr(pd, "read_parquet", refuse)
    loaded = load_pipeline(saved)  # engine="onnx"
    assert type(loaded.ensemble).__name__ == "CompiledEnsemble"
    pd.testing.assert_frame_equal(loaded.predict(bars.iloc[-800:]),
                                  pipeline.predict(bars.iloc[-800:]), rtol=0, atol=1e-12)
    with pytest.raises(AssertionError, match="read"):  # the patch does stop a skops read
        load_pipeline(saved, engine="sklearn")


def test_a_format_2_model_serves_with_sklearn_unchecked(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "models" / "format_2"
    directory = shutil.copytree(fixture / "model", tmp_path / "model")
    (directory / "config.json").write_text((directory / "config.json").read_text() + "\n")
    loaded = load_pipeline(directory, engine="onnx")  # no hashes to check, no graphs to run
    assert loaded.engine == "sklearn"
    signals = loaded.predict(pd.read_parquet(fixture / "bars.parquet"))
    pd.testing.assert_frame_equal(signals, pd.read_parquet(fixture / "signals.parquet"),
                                  rtol=0, atol=1e-9)


def test_saving_twice_writes_the_same_model(pipeline: RegimeForestPipeline, saved: Path,
                                            bars: pd.DataFrame, tmp_path: Path) -> None:
    """The same bytes, but for the zip timestamps inside the .skops files."""
    again = save_pipeline(pipeline, tmp_path / "again")
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (saved, again))
    differ = sorted(name for name in first["files"] if first["files"][name] != second["files"][name])
    assert all(name.endswith(".skops") for name in differ)
    assert {k: v for k, v in first.items() if k != "files"} == \
        {k: v for k, v in second.items() if k != "files"}
    for engine in ENGINES:
        pd.testing.assert_frame_equal(load_pipeline(again, engine=engine).predict(bars.iloc[-800:]),
                                      load_pipeline(saved, engine=engine).predict(bars.iloc[-800:]),
                                      check_exact=True)


def test_a_compiled_pipeline_is_not_saved_and_engines_are_named(saved: Path,
                                                                tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="load the model with engine='sklearn' to save it"):
        save_pipeline(load_pipeline(saved), tmp_path / "again")
    with pytest.raises(ValueError, match=r"`engine` must be one of \['onnx', 'sklearn'\], got "
                                         r"`engine='torch'`"):
        load_pipeline(saved, engine="torch")


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
                               f"formats 1 (oldest) to {MODEL_FORMAT}")


def test_saved_and_loaded_forests_run_on_one_core(pipeline: RegimeForestPipeline,
                                                  tmp_path: Path) -> None:
    trained = copy.copy(pipeline.ensemble)  # as a profile trains it: n_jobs=-1
    trained.n_jobs = -1
    trained.forests_ = {name: copy.copy(f) for name, f in pipeline.ensemble.forests_.items()}
    for forest in trained.forests_.values():
        forest.n_jobs = -1
    directory = save_pipeline(dataclasses.replace(pipeline, ensemble=trained), tmp_path / "m")

    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["format_version"], manifest["ensemble"]["params"]["n_jobs"]) == (3, 1)
    assert json.loads((directory / "config.json").read_text())["labels"]["max_holding"] == "12h"
    loaded = load_pipeline(directory, engine="sklearn").ensemble
    assert loaded.n_jobs == 1
    assert {f.n_jobs for f in loaded.forests_.values()} == {1}
    assert {f.n_jobs for f in trained.forests_.values()} == {-1}  # saving changed nothing


def test_features_only_pipeline_cannot_predict(pipeline: RegimeForestPipeline,
                                               bars: pd.DataFrame) -> None:
    features_only = RegimeForestPipeline(config=pipeline.config, regime=pipeline.regime)
    assert features_only.engine is None
    with pytest.raises(ValueError, match="no ensemble"):
        features_only.predict(bars)


def test_training_set_counts_warmup(pipeline: RegimeForestPipeline, bars: pd.DataFrame) -> None:
    labels = pipeline.config.labels
    events = triple_barrier_events(bars, labels)
    dataset = assemble_training_set(pipeline.features(bars), events, labels)
    assert len(dataset.X) + dataset.n_dropped_warmup == len(events)
    assert dataset.n_dropped_warmup > 0
    assert not dataset.X.isna().any().any()
    assert (dataset.events["t1"] > dataset.X.index).all()


def test_a_features_only_pipeline_round_trips_hashed(pipeline: RegimeForestPipeline,
                                                     bars: pd.DataFrame, tmp_path: Path) -> None:
    features_only = dataclasses.replace(pipeline, ensemble=None, feature_columns=[])
    directory = save_pipeline(features_only, tmp_path / "features")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["onnx"], sorted(manifest["files"])) == (None, ["config.json", "regime.json"])
    loaded = load_pipeline(directory)
    assert loaded.ensemble is None and loaded.engine is None
    pd.testing.assert_frame_equal(loaded.features(bars), pipeline.features(bars), check_exact=True)
