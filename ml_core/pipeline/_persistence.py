"""Save and load a :class:`RegimeForestPipeline` without pickle, checked file by file.

Pickle loading runs arbitrary code, so a model directory holds only:

- ``manifest.json``: format version (:data:`ml_core._migrations.MODEL_FORMAT`), feature columns,
  metadata, the ensemble's parameters and the kind of every learned attribute, the ONNX graphs
  (``onnx``) and the sha256 of every other file of the directory (``files``);
- ``config.json``: the validated profile, in the current profile schema;
- ``regime.json``: the HMM parameters (:meth:`RegimeHMM.to_dict`);
- ``ensemble/*.skops``: forests and the meta-learner in skops' format, loaded only when every type
  it contains is on an allow-list of scikit-learn and numpy types;
- ``ensemble/*.parquet``: learned tables (out-of-fold predictions, coefficients);
- ``ensemble/selector_/``: the fitted feature selector, if any, the same way (its parameters and
  plain attributes in the manifest, its tables as Parquet); only allow-listed ml_core classes
  are rebuilt from a manifest;
- ``onnx/*.onnx``: the forests, the meta-learner(s) and the calibrator compiled to ONNX
  (:func:`ml_core.ensemble.export_onnx`: ``components.onnx``, ``meta.onnx``,
  ``meta_<regime>.onnx``, ``calibrator.onnx``), which serve the model.

**Two engines.** :func:`load_pipeline` with ``engine="onnx"`` (the default) reads the JSON files
and the ONNX graphs only, never a ``.skops`` or ``.parquet`` file, and serves with a
:class:`~ml_core.ensemble.CompiledEnsemble` (onnxruntime, one thread; ~500x faster than
scikit-learn for one row, probabilities within ~1e-7 of it). ``engine="sklearn"`` rebuilds the
:class:`~ml_core.ensemble.RegimeForestEnsemble` with its forests, tables and diagnostics: the
reference, for analysis and for refits. ``pipeline.engine`` says which one a loaded pipeline runs.

**Integrity.** Before anything is read, every file the manifest lists is hashed and compared with
its recorded sha256; a modified or missing file is refused (:class:`ModelIntegrityError`, naming
the file and both hashes), and only listed files are read (a file present but not listed is
ignored). The manifest itself is the root of trust: record its own hash where the model is
registered to detect its replacement.

Forests are stored, and loaded, with ``n_jobs=1``: a served model predicts a few rows per call,
where starting a worker pool each time costs more than it saves (and scikit-learn warns on every
call). A model saved by an older release is migrated on load (:func:`ml_core._migrations.
migrate_model`, :func:`~ml_core._migrations.migrate_profile`) or refused in one line naming its
format version and the oldest this release reads. Formats 1 and 2 hold no ONNX graphs and no
hashes: they load with the scikit-learn engine (whatever ``engine`` asks), unchecked.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ml_core._migrations import MODEL_FORMAT, migrate_model
from ml_core.config import Config
from ml_core.pipeline._pipeline import RegimeForestPipeline

__all__ = ["ENGINES", "ModelIntegrityError", "load_pipeline", "save_pipeline"]

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.OrderedDict")

ENGINES: tuple[str, ...] = ("onnx", "sklearn")
"""Engines :func:`load_pipeline` serves with: onnxruntime (compiled graphs) or scikit-learn."""

_MANIFEST = "manifest.json"
_ONNX_DIR = "onnx"


class ModelIntegrityError(ValueError):
    """A model file that does not match the sha256 its manifest records, or is missing."""


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class _ModelFiles:
    """The files of one model directory that a load may read.

    With ``listed`` (format 3: relative path -> sha256), every listed file is hashed and
    checked when this is built, before anything is read, and :meth:`path` refuses a file the
    manifest does not list; without (formats 1 and 2 record no hashes) any file may be read.
    """

    def __init__(self, root: Path, listed: dict[str, str] | None) -> None:
        self.root = root
        self.listed = listed
        if listed is None:
            return
        for relative, expected in sorted(listed.items()):
            path = self._inside(relative)
            if not path.is_file():
                raise ModelIntegrityError(
                    f"{root}: {relative} is listed in {_MANIFEST} (sha256 {expected}) but "
                    "missing: refusing an incomplete model")
            actual = _sha256(path)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{root}: {relative} has sha256 {actual} but {_MANIFEST} records {expected}: "
                    "refusing a modified model file")

    def _inside(self, relative: str) -> Path:
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise ModelIntegrityError(f"{self.root}: {_MANIFEST} lists {relative!r}, which is "
                                      "not a path inside the model directory")
        return self.root.joinpath(*parts)

    def path(self, path: Path) -> Path:
        """``path`` (inside the directory), if the manifest lists it (or lists nothing)."""
        if self.listed is not None:
            relative = path.relative_to(self.root).as_posix()
            if relative not in self.listed:
                raise ModelIntegrityError(f"{self.root}: {relative} is not listed in "
                                          f"{_MANIFEST}: refusing to read an unchecked file")
        return path

    def read_bytes(self, relative: str) -> bytes:
        return self.path(self._inside(relative)).read_bytes()

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return {"__pydantic__": type(value).__name__, "value": value.model_dump(mode="json")}
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, pd.Timedelta) or hasattr(value, "total_seconds"):
        return {"__timedelta_s__": value.total_seconds()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _from_jsonable(value: Any) -> Any:
    from datetime import timedelta

    from ml_core import config as cfg

    if isinstance(value, dict):
        if "__pydantic__" in value:
            return getattr(cfg, value["__pydantic__"]).model_validate(value["value"])
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        if "__timedelta_s__" in value:
            return timedelta(seconds=value["__timedelta_s__"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def _single_threaded(obj: Any) -> Any:
    """``obj`` with ``n_jobs=1`` if it has that parameter (a shallow copy: ``obj`` is untouched)."""
    if isinstance(obj, BaseEstimator) and obj.get_params(deep=False).get("n_jobs") not in (None, 1):
        obj = copy.copy(obj)
        obj.n_jobs = 1
    return obj


def _dump_skops(obj: Any, path: Path) -> None:
    import skops.io as sio

    sio.dump(_single_threaded(obj), path, compression=8)


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise ValueError(f"{path}: refusing to load types outside the allow-list: {refused}")
    return _single_threaded(sio.load(path, trusted=untrusted))  # format 1 kept the training n_jobs


def _nested_classes() -> dict[str, type[BaseEstimator]]:
    """ml_core estimators stored inside the ensemble as JSON + Parquet (no skops, no pickle):
    an allow-list by class name, so a manifest cannot name any other class."""
    from ml_core.ensemble._calibration import ProbabilityCalibrator
    from ml_core.selection import FeatureSelector

    return {"FeatureSelector": FeatureSelector, "ProbabilityCalibrator": ProbabilityCalibrator}


def _save_attributes(estimator: BaseEstimator, directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    nested = _nested_classes()
    attrs: dict[str, Any] = {}
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, tuple(nested.values())):
            attrs[name] = {"kind": "nested", **_save_estimator(value, directory / name)}
        elif isinstance(value, dict) and value and all(
            isinstance(v, BaseEstimator) for v in value.values()
        ):
            for key, est in value.items():
                _dump_skops(est, directory / f"{name}{key}.skops")
            attrs[name] = {"kind": "estimators", "keys": list(value)}
        elif isinstance(value, BaseEstimator):
            _dump_skops(value, directory / f"{name}.skops")
            attrs[name] = {"kind": "estimator"}
        elif isinstance(value, pd.DataFrame):
            value.to_parquet(directory / f"{name}.parquet")
            attrs[name] = {"kind": "frame"}
        elif isinstance(value, pd.Series):
            value.to_frame(name=value.name or "value").to_parquet(directory / f"{name}.parquet")
            attrs[name] = {"kind": "series", "name": value.name}
        else:
            attrs[name] = {"kind": "json", "value": _jsonable(value)}
    return attrs


def _save_estimator(estimator: BaseEstimator, directory: Path) -> dict[str, Any]:
    return {
        "class": f"{type(estimator).__module__}:{type(estimator).__qualname__}",
        "params": _jsonable(_single_threaded(estimator).get_params(deep=False)),
        "attributes": _save_attributes(estimator, directory),
    }


def _load_attributes(estimator: BaseEstimator, attrs: dict[str, Any], directory: Path,
                     files: _ModelFiles) -> None:
    for name, info in attrs.items():
        kind = info["kind"]
        if kind == "nested":
            value: Any = _load_nested(info, directory / name, files)
        elif kind == "estimators":
            value = {k: _load_skops(files.path(directory / f"{name}{k}.skops"))
                     for k in info["keys"]}
        elif kind == "estimator":
            value = _load_skops(files.path(directory / f"{name}.skops"))
        elif kind == "frame":
            value = pd.read_parquet(files.path(directory / f"{name}.parquet"))
        elif kind == "series":
            frame = pd.read_parquet(files.path(directory / f"{name}.parquet"))
            value = frame.iloc[:, 0].rename(info["name"])
        else:
            value = _from_jsonable(info["value"])
        setattr(estimator, name, value)


def _load_nested(spec: dict[str, Any], directory: Path, files: _ModelFiles) -> BaseEstimator:
    name = spec["class"].split(":")[-1]
    nested = _nested_classes()
    if name not in nested:
        raise ValueError(f"refusing to load estimator class {spec['class']!r}: not on the "
                         f"allow-list {sorted(nested)}")
    estimator = nested[name](**_from_jsonable(spec["params"]))
    _load_attributes(estimator, spec["attributes"], directory, files)
    return estimator


def _ensemble_params(spec: dict[str, Any]) -> dict[str, Any]:
    from ml_core.ensemble import RegimeForestEnsemble

    if spec["class"].split(":")[-1] != RegimeForestEnsemble.__qualname__:
        raise ValueError(f"unknown ensemble class {spec['class']!r}")
    params = _from_jsonable(spec["params"])
    if "calibration" not in params:
        # saved before calibration existed: its meta probabilities were served uncalibrated
        params["calibration"] = "none"
    for cap in ("kelly_fraction", "cvar_budget"):
        # saved before the size caps existed: sized without caps (the default is now the profile's)
        params.setdefault(cap, None)
    return params


def _load_ensemble(spec: dict[str, Any], directory: Path, files: _ModelFiles) -> BaseEstimator:
    from ml_core.ensemble import RegimeForestEnsemble

    ensemble = RegimeForestEnsemble(**_ensemble_params(spec))
    _load_attributes(ensemble, spec["attributes"], directory, files)
    if "forests_" in spec["attributes"] and "forest_features_" not in spec["attributes"]:
        # saved before feature selection existed: every column fed the forests
        ensemble.forest_features_ = [str(c) for c in ensemble.feature_names_in_]
        ensemble.selector_ = None
    return ensemble


def _compile_ensemble(spec: dict[str, Any], graphs: dict[str, str],
                      files: _ModelFiles) -> Any:
    """The :class:`~ml_core.ensemble.CompiledEnsemble` of a format-3 manifest: its parameters and
    plain (JSON) attributes from the manifest, its graphs from ``onnx/``; no other file is read."""
    from ml_core.ensemble import CompiledEnsemble

    serving = _ensemble_params(spec)
    serving.update({name: _from_jsonable(info["value"])
                    for name, info in spec["attributes"].items() if info["kind"] == "json"})
    return CompiledEnsemble({name: files.read_bytes(relative) for name, relative in graphs.items()},
                            serving)


def save_pipeline(pipeline: RegimeForestPipeline, directory: str | Path) -> Path:
    """Write ``pipeline`` into ``directory`` (created; must be empty or absent).

    Besides the scikit-learn state, the ensemble is compiled to ONNX (``onnx/*.onnx``; 0.1–0.2 s
    for the demo profile's four 60-tree forests, against 1–2.5 s for the whole save), and the manifest records the sha256 of every
    file written.

    Raises
    ------
    FileExistsError
        ``directory`` holds files already.
    TypeError
        ``pipeline.ensemble`` is a compiled ensemble (load the model with ``engine="sklearn"`` to
        save it again: the graphs are built from the scikit-learn state).
    """
    from ml_core.ensemble import CompiledEnsemble, export_onnx

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"`directory` must be empty or absent, got {directory}")
    if isinstance(pipeline.ensemble, CompiledEnsemble):
        raise TypeError("`pipeline.ensemble` is a CompiledEnsemble, which cannot be saved: load "
                        "the model with engine='sklearn' to save it again")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(pipeline.config.model_dump_json(indent=2))
    (directory / "regime.json").write_text(json.dumps(pipeline.regime.to_dict(), indent=2))
    manifest: dict[str, Any] = {
        "format_version": MODEL_FORMAT,
        "feature_columns": list(pipeline.feature_columns),
        "metadata": _jsonable(pipeline.metadata),
        "ensemble": None,
        "onnx": None,
    }
    if pipeline.ensemble is not None:
        manifest["ensemble"] = _save_estimator(pipeline.ensemble, directory / "ensemble")
        (directory / _ONNX_DIR).mkdir()
        manifest["onnx"] = {}
        for name, model in export_onnx(pipeline.ensemble).items():
            relative = f"{_ONNX_DIR}/{name}.onnx"
            (directory / relative).write_bytes(model)
            manifest["onnx"][name] = relative
    manifest["files"] = {
        path.relative_to(directory).as_posix(): _sha256(path)
        for path in sorted(directory.rglob("*")) if path.is_file() and path.name != _MANIFEST
    }
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return directory


def load_pipeline(directory: str | Path, engine: str = "onnx") -> RegimeForestPipeline:
    """Read a pipeline written by :func:`save_pipeline` of this or an earlier release.

    Nothing is refitted. Every file the manifest lists is checked against its sha256 before any
    is read (format 3).

    Parameters
    ----------
    directory : str or Path
        The model directory.
    engine : {"onnx", "sklearn"}, default "onnx"
        ``"onnx"``: the ensemble is a :class:`~ml_core.ensemble.CompiledEnsemble` built from the
        ONNX graphs and the manifest alone (no ``.skops`` or ``.parquet`` file is read; it
        predicts, but holds no forest, table or diagnostic). ``"sklearn"``: the
        :class:`~ml_core.ensemble.RegimeForestEnsemble`, forests single-threaded. A model of
        format 1 or 2 has no ONNX graphs and no hashes: it loads with the scikit-learn engine
        whatever ``engine`` asks, without hash checks. ``pipeline.engine`` says which one runs.

    Raises
    ------
    ValueError
        ``engine`` is not one of :data:`ENGINES`.
    FileNotFoundError
        ``directory`` has no ``manifest.json``.
    ModelIntegrityError
        A listed file is missing or its sha256 differs from the manifest's (the message names the
        file and both hashes), or the manifest names a path outside the directory.
    ml_core._migrations.ModelFormatError
        When the model's format is newer than this release or older than the oldest it reads
        (one line naming both).
    """
    from ml_core.regime import RegimeHMM

    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {list(ENGINES)}, got `engine={engine!r}`")
    directory = Path(directory)
    manifest_path = directory / _MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{directory} is not a regimeforest model: no manifest.json")
    manifest = migrate_model(json.loads(manifest_path.read_text()), str(directory))
    files = _ModelFiles(directory, manifest["files"])
    # an older profile schema is migrated by Config's own validation
    config = Config.model_validate(files.read_json("config.json"))
    regime = RegimeHMM.from_dict(files.read_json("regime.json"))
    ensemble = None
    if manifest["ensemble"] is not None:
        if engine == "onnx" and manifest["onnx"]:
            ensemble = _compile_ensemble(manifest["ensemble"], manifest["onnx"], files)
        else:
            ensemble = _load_ensemble(manifest["ensemble"], directory / "ensemble", files)
    return RegimeForestPipeline(
        config=config,
        regime=regime,
        ensemble=ensemble,
        feature_columns=manifest["feature_columns"],
        metadata=_from_jsonable(manifest["metadata"]),
    )
