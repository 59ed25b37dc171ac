"""One random forest of the ensemble, built from its :class:`~ml_core.config.ForestSpec`."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from ml_core._contract import field_default
from ml_core.config import EnsembleConfig, ForestSpec

__all__ = ["build_forest"]


def build_forest(
    spec: ForestSpec,
    random_state: int | None,
    n_jobs: int = field_default(EnsembleConfig, "n_jobs"),
    **overrides: Any,
) -> RandomForestClassifier | RandomForestRegressor:
    """Build an unfitted random forest as ``spec`` describes it.

    Classifiers default to ``class_weight="balanced_subsample"``: class imbalance (take-profit
    hits are usually the minority) is handled by reweighting the classes inside every bootstrap
    sample, not by resampling rows, so the event order and the purging of the cross-validation
    stay intact.

    ``spec`` is the one declaration of a forest's parameters: every field but ``kind`` is passed
    to scikit-learn under its own name, and its default is scikit-learn's except where the spec
    says otherwise on purpose (``class_weight``; ``max_features="sqrt"`` for regressors too);
    ``tests/ml_core/test_contract.py`` checks defaults and bounds against scikit-learn's.

    Parameters
    ----------
    spec : ForestSpec
        ``kind`` (``"classifier"`` or ``"regressor"``) and the forest's parameters
        (``n_estimators``, ``max_depth``, ``min_samples_split``, ``min_samples_leaf``,
        ``max_features``, ``bootstrap``, ``max_samples``, ``criterion``, ``class_weight``,
        ``ccp_alpha``, ``min_impurity_decrease``, ``max_leaf_nodes``).
    random_state : int or None
        Seed of the forest's bootstraps and feature draws; None is not reproducible.
    n_jobs : int, default 1
        Cores used to grow and apply the trees (-1: all); the default is ``ensemble.n_jobs``'s
        (:class:`~ml_core.ensemble.RegimeForestEnsemble` says why it is 1).
    **overrides
        Any other :class:`~sklearn.ensemble.RandomForestClassifier` /
        :class:`~sklearn.ensemble.RandomForestRegressor` parameter, applied last (e.g.
        ``warm_start=True`` for tuning by trees grown).

    Returns
    -------
    RandomForestClassifier or RandomForestRegressor
    """
    if not isinstance(spec, ForestSpec):
        raise TypeError(f"`spec` must be a ForestSpec, got `spec={spec!r}`")
    params: dict[str, Any] = {
        "n_estimators": spec.n_estimators,
        "max_depth": spec.max_depth,
        "min_samples_split": spec.min_samples_split,
        "min_samples_leaf": spec.min_samples_leaf,
        "max_features": spec.max_features,
        "bootstrap": spec.bootstrap,
        "max_samples": spec.max_samples,
        "ccp_alpha": spec.ccp_alpha,
        "min_impurity_decrease": spec.min_impurity_decrease,
        "max_leaf_nodes": spec.max_leaf_nodes,
        "random_state": random_state,
        "n_jobs": n_jobs,
    }
    if spec.criterion is not None:
        params["criterion"] = spec.criterion
    if spec.kind == "classifier":
        params["class_weight"] = spec.class_weight
        params.update(overrides)
        return RandomForestClassifier(**params)
    params.update(overrides)
    return RandomForestRegressor(**params)
