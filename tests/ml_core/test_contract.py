"""The profile and the estimators agree, field by field, on defaults and bounds."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from ml_core._contract import field_choices
from ml_core.config import EnsembleConfig, ForestSpec, RegimeConfig
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.ensemble._checks import CALIBRATIONS, IMBALANCE_METHODS
from ml_core.ensemble._forest import build_forest
from ml_core.ensemble._regimes import REGIME_MODES
from ml_core.ensemble._smoothing import SMOOTHING_METHODS
from ml_core.regime import RegimeHMM

SHARED_REGIME = sorted(set(RegimeConfig.model_fields)
                       & set(inspect.signature(RegimeHMM).parameters))


def test_regime_fields_are_all_estimator_parameters() -> None:
    assert set(RegimeConfig.model_fields) - set(SHARED_REGIME) == {"n_states"}


@pytest.mark.parametrize("name", SHARED_REGIME)
def test_regime_defaults_agree(name: str) -> None:
    assert RegimeConfig.model_fields[name].default == \
        inspect.signature(RegimeHMM).parameters[name].default


@pytest.mark.parametrize(("value", "accepted"), [(0.0, True), (0.3333, True), (1 / 3, False),
                                                 (0.335, False), (-0.01, False)])
def test_min_state_occupancy_bounds_agree(value: float, accepted: bool) -> None:
    try:
        RegimeConfig(min_state_occupancy=value)
        profile = True
    except ValidationError:
        profile = False
    try:
        RegimeHMM(min_state_occupancy=value)._check_params()
        estimator = True
    except ValueError:
        estimator = False
    assert (profile, estimator) == (accepted, accepted)


# ------------------------------------------------------------------ ensemble

ENSEMBLE_PARAMS = inspect.signature(RegimeForestEnsemble).parameters
SHARED_ENSEMBLE = sorted(set(EnsembleConfig.model_fields) & set(ENSEMBLE_PARAMS))
SCALAR_ENSEMBLE = [name for name in SHARED_ENSEMBLE
                   if name not in ("entry", "position", "exit", "profit", "regime_thresholds")]


def _profile_accepts(section: type, **value: object) -> bool:
    try:
        section(**value)
    except ValidationError:
        return False
    return True


def _ensemble_accepts(**value: object) -> bool:
    try:
        RegimeForestEnsemble(**value)._check_params()
    except ValueError:
        return False
    return True


def test_ensemble_fields_are_all_estimator_parameters() -> None:
    assert SHARED_ENSEMBLE == sorted(EnsembleConfig.model_fields)
    assert set(ENSEMBLE_PARAMS) - set(SHARED_ENSEMBLE) == {
        "purge", "embargo", "selection", "payoff_ratio", "random_state"}  # other sections


@pytest.mark.parametrize("name", SHARED_ENSEMBLE)
def test_ensemble_defaults_agree(name: str) -> None:
    default = ENSEMBLE_PARAMS[name].default
    if name == "regime_thresholds":  # the estimator's None stands for the profile's {}
        assert default is None
        default = {}
    assert EnsembleConfig.model_fields[name].get_default(call_default_factory=True) == default


def test_ensemble_defaults_are_the_profiles() -> None:
    """The values themselves, so that a change of default is a visible change of this test."""
    params = RegimeForestEnsemble().get_params(deep=False)
    assert {name: params[name] for name in SCALAR_ENSEMBLE} == {
        "calibration": "sigmoid", "confidence_threshold": 0.6, "cvar_alpha": 0.05,
        "cvar_budget": 0.02, "ewma_span": 3, "hysteresis_band": 0.05, "imbalance": "class_weight",
        "kelly_fraction": 0.5, "meta_C": 1.0, "meta_folds": 4, "min_regime_events": 50,
        "n_jobs": 1, "regime_mode": "global", "smoothing": "none"}


BOUNDARIES = {
    "meta_C": [(1e-9, True), (0.0, False), (-1.0, False)],
    "meta_folds": [(2, True), (1, False), (True, False)],
    "confidence_threshold": [(0.5, True), (1.0, True), (0.4999, False), (1.0001, False)],
    "n_jobs": [(1, True), (-1, True), (-2, True), (0, False)],
    "calibration": [("isotonic", True), ("sigmoid", True), ("none", True), ("platt", False),
                    (None, False)],
    "kelly_fraction": [(None, True), (1.0, True), (1e-9, True), (0.0, False), (1.0001, False)],
    "cvar_budget": [(None, True), (1e-9, True), (5.0, True), (0.0, False), (-0.01, False)],
    "cvar_alpha": [(1e-9, True), (0.9999, True), (0.0, False), (1.0, False)],
    "smoothing": [("none", True), ("hysteresis", True), ("ewma", True), ("median", False)],
    "hysteresis_band": [(0.0, True), (0.4999, True), (0.5, False), (-0.01, False)],
    "ewma_span": [(1, True), (0, False), (1.5, False)],
    "imbalance": [("class_weight", True), ("smote", True), ("adasyn", False)],
    "regime_mode": [("global", True), ("thresholds", True), ("models", True),
                    ("per_regime", False)],
    "regime_thresholds": [({"bull": 0.5}, True), ({"bear": 1.0}, True),
                          ({"bull": 0.4999}, False), ({"sideways": 1.0001}, False),
                          ({"crab": 0.6}, False)],
    "min_regime_events": [(10, True), (9, False)],
    "entry": [(ForestSpec(kind="classifier"), True), (ForestSpec(kind="regressor"), False)],
    "position": [(ForestSpec(kind="regressor"), True), (ForestSpec(kind="classifier"), False)],
    "exit": [(ForestSpec(kind="classifier"), True), (ForestSpec(kind="regressor"), False)],
    "profit": [(ForestSpec(kind="regressor"), True), (ForestSpec(kind="classifier"), False)],
}
"""Values inside and just outside each bound. Types are each side's own: a profile read from
YAML takes ``meta_folds: 4.0`` as 4 (pydantic's lax mode), the estimator wants an integer."""


def test_every_shared_ensemble_field_has_boundaries() -> None:
    assert sorted(BOUNDARIES) == SHARED_ENSEMBLE


@pytest.mark.parametrize(("name", "value", "accepted"),
                         [(name, value, accepted) for name, cases in BOUNDARIES.items()
                          for value, accepted in cases])
def test_ensemble_bounds_agree(name: str, value: object, accepted: bool) -> None:
    assert (_profile_accepts(EnsembleConfig, **{name: value}),
            _ensemble_accepts(**{name: value})) == (accepted, accepted)


def test_ensemble_errors_name_parameter_bound_and_value() -> None:
    cases = {"kelly_fraction": (0.0, r"`kelly_fraction` must be in \(0, 1\] or None, "
                                     r"got `kelly_fraction=0.0`"),
             "cvar_alpha": (1.0, r"`cvar_alpha` must be in \(0, 1\), got `cvar_alpha=1.0`"),
             "min_regime_events": (9, r"`min_regime_events` must be an integer of at least 10, "
                                      r"got `min_regime_events=9`"),
             "n_jobs": (0, r"`n_jobs` must be a non-zero integer, got `n_jobs=0`"),
             "meta_C": (0.0, r"`meta_C` must be a number above 0, got `meta_C=0.0`")}
    for name, (value, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            RegimeForestEnsemble(**{name: value})._check_params()


def test_choice_constants_are_the_profiles() -> None:
    """The ensemble modules' tuples of choices list the profile's ``Literal`` values, in order."""
    assert CALIBRATIONS == field_choices(EnsembleConfig, "calibration")
    assert IMBALANCE_METHODS == field_choices(EnsembleConfig, "imbalance")
    assert REGIME_MODES == field_choices(EnsembleConfig, "regime_mode")
    assert SMOOTHING_METHODS == field_choices(EnsembleConfig, "smoothing")


def test_build_forest_takes_the_ensembles_n_jobs_default() -> None:
    assert inspect.signature(build_forest).parameters["n_jobs"].default == \
        EnsembleConfig.model_fields["n_jobs"].default == 1


# ------------------------------------------------------------------ forests

SPEC_FIELDS = sorted(set(ForestSpec.model_fields) - {"kind"})
FORESTS = {"classifier": RandomForestClassifier, "regressor": RandomForestRegressor}
DELIBERATE = {  # (kind, field): the spec's default, scikit-learn's
    ("classifier", "class_weight"): ("balanced_subsample", None),
    ("regressor", "max_features"): ("sqrt", 1.0),
}
"""Where the spec's default differs from scikit-learn's on purpose (see ``build_forest``)."""


@pytest.mark.parametrize("kind", sorted(FORESTS))
def test_spec_fields_are_forest_parameters(kind: str) -> None:
    forest = set(inspect.signature(FORESTS[kind]).parameters)
    assert set(SPEC_FIELDS) - forest == ({"class_weight"} if kind == "regressor" else set())


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind in sorted(FORESTS)
                                            for name in SPEC_FIELDS
                                            if (kind, name) != ("regressor", "class_weight")])
def test_spec_defaults_agree_with_scikit_learn(kind: str, name: str) -> None:
    ours = ForestSpec.model_fields[name].default
    theirs = inspect.signature(FORESTS[kind]).parameters[name].default
    if name == "criterion":  # None: scikit-learn's default criterion
        assert (ours, build_forest(ForestSpec(kind=kind), 0).criterion) == (None, theirs)
        return
    assert (ours, theirs) == DELIBERATE.get((kind, name), (ours, ours))
    assert build_forest(ForestSpec(kind=kind), 0).get_params()[name] == ours


def _forest_accepts(kind: str, **value: object) -> bool:
    spec = ForestSpec.model_construct(**{**ForestSpec(kind=kind).model_dump(), **value})
    try:
        build_forest(spec, 0)._validate_params()
    except ValueError:  # scikit-learn's InvalidParameterError is a ValueError
        return False
    return True


FOREST_BOUNDARIES = {
    "n_estimators": [(1, True), (0, False)],
    "max_depth": [(None, True), (1, True), (0, False)],
    "min_samples_split": [(2, True), (1, False)],
    "min_samples_leaf": [(1, True), (0, False)],
    "max_features": [("sqrt", True), ("log2", True), (1.0, True), (1e-9, True), (0.0, False),
                     (1.0001, False), ("auto", False)],
    "max_samples": [(None, True), (1.0, True), (1e-9, True), (0.0, False), (1.0001, False)],
    "ccp_alpha": [(0.0, True), (-1e-9, False)],
    "min_impurity_decrease": [(0.0, True), (-1e-9, False)],
    "max_leaf_nodes": [(None, True), (2, True), (1, False)],
    "bootstrap": [(True, True), (False, True)],
}
"""Values inside and just outside each bound; fields the spec checks across fields
(``criterion`` per kind, ``max_samples`` with ``bootstrap``) are ``_consistent``'s business."""
NARROWER = {("max_samples", 1.0001)}
"""Values the spec refuses on purpose although scikit-learn takes them: ``max_samples`` is a share
of the rows (scikit-learn 1.9 also draws more rows than there are)."""


@pytest.mark.parametrize(("kind", "name", "value", "accepted"),
                         [(kind, name, value, accepted) for kind in sorted(FORESTS)
                          for name, cases in FOREST_BOUNDARIES.items()
                          for value, accepted in cases])
def test_spec_bounds_agree_with_scikit_learn(kind: str, name: str, value: object,
                                             accepted: bool) -> None:
    forest = accepted or (name, value) in NARROWER
    assert (_profile_accepts(ForestSpec, kind=kind, **{name: value}),
            _forest_accepts(kind, **{name: value})) == (accepted, forest)
