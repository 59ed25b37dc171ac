"""Save and load a :class:`RegimeForestPipeline` without pickle.

Pickle loading runs arbitrary code, so a model directory holds only:

- ``manifest.json``: format version (:data:`ml_core._migrations.MODEL_FORMAT`), feature columns,
  metadata, the ensemble's parameters and the kind of every learned attribute;
- ``config.json``: the validated profile, in the current profile schema;
- ``regime.json``: the HMM parameters (:meth:`RegimeHMM.to_dict`);
- ``ensemble/*.skops``: forests and the meta-learner in skops' format, loaded only when every type
  it contains is on an allow-list of scikit-learn and numpy types;
- ``ensemble/*.parquet``: learned tables (out-of-fold predictions, coefficients);
- ``ensemble/selector_/``: the fitted feature selector, if any, the same way (its parameters and
  plain attributes in the manifest, its tables as Parquet); only allow-listed ml_core classes
  are rebuilt from a manifest.

Forests are stored, and loaded, with ``n_jobs=1``: a served model predicts a few rows per call,
where starting a worker pool each time costs more than it saves (and scikit-learn warns on every
call). A model saved by an older release is migrated on load (:func:`ml_core._migrations.
migrate_model`, :func:`~ml_core._migrations.migrate_profile`) or refused in one line naming its
format version and the oldest this release reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ml_core._migrations import MODEL_FORMAT, migrate_model
from ml_core.config import Config
from ml_core.pipeline._pipeline import RegimeForestPipeline

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.OrderedDict")


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


def _load_attributes(estimator: BaseEstimator, attrs: dict[str, Any], directory: Path) -> None:
    for name, info in attrs.items():
        kind = info["kind"]
        if kind == "nested":
            value: Any = _load_nested(info, directory / name)
        elif kind == "estimators":
            value = {k: _load_skops(directory / f"{name}{k}.skops") for k in info["keys"]}
        elif kind == "estimator":
            value = _load_skops(directory / f"{name}.skops")
        elif kind == "frame":
            value = pd.read_parquet(directory / f"{name}.parquet")
        elif kind == "series":
            frame = pd.read_parquet(directory / f"{name}.parquet")
            value = frame.iloc[:, 0].rename(info["name"])
        else:
            value = _from_jsonable(info["value"])
        setattr(estimator, name, value)


def _load_nested(spec: dict[str, Any], directory: Path) -> BaseEstimator:
    name = spec["class"].split(":")[-1]
    nested = _nested_classes()
    if name not in nested:
        raise ValueError(f"refusing to load estimator class {spec['class']!r}: not on the "
                         f"allow-list {sorted(nested)}")
    estimator = nested[name](**_from_jsonable(spec["params"]))
    _load_attributes(estimator, spec["attributes"], directory)
    return estimator


def _load_ensemble(spec: dict[str, Any], directory: Path) -> BaseEstimator:
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
    ensemble = RegimeForestEnsemble(**params)
    _load_attributes(ensemble, spec["attributes"], directory)
    if "forests_" in spec["attributes"] and "forest_features_" not in spec["attributes"]:
        # saved before feature selection existed: every column fed the forests
        ensemble.forest_features_ = [str(c) for c in ensemble.feature_names_in_]
        ensemble.selector_ = None
    return ensemble


def save_pipeline(pipeline: RegimeForestPipeline, directory: str | Path) -> Path:
    """Write ``pipeline`` into ``directory`` (created; must be empty or absent)."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"`directory` must be empty or absent, got {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(pipeline.config.model_dump_json(indent=2))
    (directory / "regime.json").write_text(json.dumps(pipeline.regime.to_dict(), indent=2))
    manifest: dict[str, Any] = {
        "format_version": MODEL_FORMAT,
        "feature_columns": list(pipeline.feature_columns),
        "metadata": _jsonable(pipeline.metadata),
        "ensemble": None,
    }
    if pipeline.ensemble is not None:
        manifest["ensemble"] = _save_estimator(pipeline.ensemble, directory / "ensemble")
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return directory


def load_pipeline(directory: str | Path) -> RegimeForestPipeline:
    """Read a pipeline written by :func:`save_pipeline` of this or an earlier release.

    Nothing is refitted; forests come back with ``n_jobs=1``.

    Raises
    ------
    ml_core._migrations.ModelFormatError
        When the model's format is newer than this release or older than the oldest it reads
        (one line naming both).
    """
    from ml_core.regime import RegimeHMM

    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{directory} is not a regimeforest model: no manifest.json")
    manifest = migrate_model(json.loads(manifest_path.read_text()), str(directory))
    # an older profile schema is migrated by Config's own validation
    config = Config.model_validate(json.loads((directory / "config.json").read_text()))
    regime = RegimeHMM.from_dict(json.loads((directory / "regime.json").read_text()))
    ensemble = None
    if manifest["ensemble"] is not None:
        ensemble = _load_ensemble(manifest["ensemble"], directory / "ensemble")
    return RegimeForestPipeline(
        config=config,
        regime=regime,
        ensemble=ensemble,
        feature_columns=manifest["feature_columns"],
        metadata=_from_jsonable(manifest["metadata"]),
    )
