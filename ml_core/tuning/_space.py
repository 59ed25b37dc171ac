"""The forest search space of a profile (``tuning.forest_space``), sampled per Optuna trial."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from ml_core._search_space import FOREST_PARAMS, ParamRange
from ml_core.config import CRITERIA, ForestSpec

__all__ = ["spec_params", "suggest", "suggest_forest_params"]

_DEFAULT_CRITERION = {"classifier": "gini", "regressor": "squared_error"}


def _spec_value(spec: ForestSpec, name: str) -> Any:
    """The spec's own value of ``name`` as a point of the search space."""
    if name == "criterion":
        return spec.criterion or _DEFAULT_CRITERION[spec.kind]
    if name == "max_samples":
        return 1.0 if spec.max_samples is None else spec.max_samples  # None draws every row
    return getattr(spec, name)


def _applies(name: str, spec: ForestSpec) -> bool:
    return not (name == "class_weight" and spec.kind == "regressor")


def _fitted_range(name: str, rng: ParamRange, spec: ForestSpec) -> ParamRange:
    """``rng`` for this spec's kind, always containing the spec's own value (so the spec itself
    can be trial 0 and the best trial is never worse than it in CV)."""
    own = _spec_value(spec, name)
    if rng.type == "categorical":
        choices = list(rng.choices or [])
        if name == "criterion":
            choices = [c for c in choices if c in CRITERIA[spec.kind]]
        if own not in choices:
            choices.append(own)
        return rng.model_copy(update={"choices": choices})
    low, high = min(rng.low, own), max(rng.high, own)
    step = rng.step
    if step and not all(float((v - low) / step).is_integer() for v in (own, high)):
        step = None  # the spec's value is off the grid: search the range continuously
    return rng.model_copy(update={"low": low, "high": high, "step": step})


def suggest(trial: optuna.Trial, name: str, rng: ParamRange) -> Any:
    """Sample ``name`` from ``rng`` with the matching ``trial.suggest_*`` call."""
    if rng.type == "categorical":
        return trial.suggest_categorical(name, rng.choices)
    if rng.type == "int":
        return trial.suggest_int(name, int(rng.low), int(rng.high), log=rng.log,
                                 step=int(rng.step or 1))
    return trial.suggest_float(name, rng.low, rng.high, log=rng.log, step=rng.step)


def suggest_forest_params(
    trial: optuna.Trial, spec: ForestSpec, space: Mapping[str, ParamRange]
) -> dict[str, Any]:
    """Sample every parameter of ``space`` that applies to ``spec``'s kind.

    - ``criterion`` keeps only the choices valid for the kind; ``class_weight`` is searched for
      classifiers only;
    - ``max_samples`` is searched only when the trial bootstraps (otherwise every row is used);
    - every range is widened (or every choice list extended) to contain the spec's own value.

    ``n_estimators`` is never sampled: it is Hyperband's resource.
    """
    params: dict[str, Any] = {}
    for name in FOREST_PARAMS:  # fixed order: bootstrap is known before max_samples
        if name not in space or not _applies(name, spec):
            continue
        if name == "max_samples" and not params.get("bootstrap", spec.bootstrap):
            params[name] = None
            continue
        params[name] = suggest(trial, name, _fitted_range(name, space[name], spec))
    if params.get("max_samples") == 1.0:
        params["max_samples"] = None
    return params


def spec_params(spec: ForestSpec, space: Mapping[str, ParamRange]) -> dict[str, Any]:
    """The spec's own point of ``space`` (enqueued as a new study's first trial)."""
    params = {name: _spec_value(spec, name) for name in FOREST_PARAMS
              if name in space and _applies(name, spec)}
    if not params.get("bootstrap", spec.bootstrap):
        params.pop("max_samples", None)
    return params
