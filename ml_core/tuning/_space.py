"""The forest search space, centred on a :class:`~ml_core.config.ForestSpec`."""

from __future__ import annotations

from typing import Any

import optuna

from ml_core.config import ForestSpec

__all__ = ["TUNED_PARAMS", "spec_params", "suggest_forest_params"]

TUNED_PARAMS = ("max_depth", "min_samples_split", "min_samples_leaf", "max_features")
_DEPTHS = (None, 4, 8, 16)


def _depth_choices(spec: ForestSpec) -> tuple[int | None, ...]:
    return _DEPTHS if spec.max_depth in _DEPTHS else (*_DEPTHS, spec.max_depth)


def _feature_choices(spec: ForestSpec) -> tuple[str | float, ...]:
    base: tuple[str | float, ...] = ("sqrt", "log2", 0.5)
    return base if spec.max_features in base else (*base, spec.max_features)


def suggest_forest_params(trial: optuna.Trial, spec: ForestSpec) -> dict[str, Any]:
    """Sample ``max_depth``, ``min_samples_split``, ``min_samples_leaf``, ``max_features``.

    The space always contains the spec's own values (so the spec itself can be a trial):

    - ``max_depth``: one of ``None, 4, 8, 16`` (plus the spec's depth);
    - ``min_samples_split``: integer in ``[2, max(32, 4 * spec)]``, log scale;
    - ``min_samples_leaf``: integer in ``[1, max(32, 4 * spec)]``, log scale -- larger leaves
      average more of the noisy financial labels;
    - ``max_features``: ``"sqrt"``, ``"log2"`` or ``0.5`` (plus the spec's value).

    ``n_estimators`` is not searched: it is Hyperband's resource.
    """
    return {
        "max_depth": trial.suggest_categorical("max_depth", _depth_choices(spec)),
        "min_samples_split": trial.suggest_int(
            "min_samples_split", 2, max(32, 4 * spec.min_samples_split), log=True
        ),
        "min_samples_leaf": trial.suggest_int(
            "min_samples_leaf", 1, max(32, 4 * spec.min_samples_leaf), log=True
        ),
        "max_features": trial.suggest_categorical("max_features", _feature_choices(spec)),
    }


def spec_params(spec: ForestSpec) -> dict[str, Any]:
    """The spec's values of the tuned parameters (enqueued as a new study's first trial)."""
    return {name: getattr(spec, name) for name in TUNED_PARAMS}
