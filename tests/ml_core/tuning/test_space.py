"""The forest search space: what a trial samples, and that the spec is always a point of it."""

import optuna
import pytest

from ml_core._search_space import DEFAULT_FOREST_SPACE, FOREST_PARAMS, ParamRange
from ml_core.config import ForestSpec
from ml_core.tuning._space import spec_params, suggest_forest_params

CLASSIFIER = ForestSpec(kind="classifier", n_estimators=20, max_depth=10, min_samples_leaf=100)
REGRESSOR = ForestSpec(kind="regressor", n_estimators=20, criterion="squared_error")


def _sample(spec, seed=0, space=DEFAULT_FOREST_SPACE):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return suggest_forest_params(trial, spec, space), trial


def test_a_classifier_searches_eleven_parameters_and_trees_are_the_resource():
    params, _ = _sample(CLASSIFIER)
    assert set(params) == set(FOREST_PARAMS) and "n_estimators" not in params
    ForestSpec.model_validate({**CLASSIFIER.model_dump(), **params})  # a valid forest


def test_a_regressor_skips_class_weight_and_keeps_regression_criteria():
    for seed in range(20):
        params, trial = _sample(REGRESSOR, seed)
        assert "class_weight" not in params
        assert params["criterion"] == "squared_error"
        ForestSpec.model_validate({**REGRESSOR.model_dump(), **params})
    choices = trial.distributions["criterion"].choices
    assert choices == ("squared_error",)  # friedman_mse, deprecated by scikit-learn 1.9, is out


def test_max_samples_is_searched_only_when_the_trial_bootstraps():
    seen = set()
    for seed in range(30):
        params, trial = _sample(CLASSIFIER, seed)
        seen.add(params["bootstrap"])
        if not params["bootstrap"]:
            assert params["max_samples"] is None and "max_samples" not in trial.params
    assert seen == {True, False}


def test_ranges_widen_to_contain_the_specs_own_values():
    _, trial = _sample(CLASSIFIER)
    assert trial.distributions["min_samples_leaf"].high == 100  # the space says 64
    assert 10 in trial.distributions["max_depth"].choices  # the space says None, 4, 8, 16


def test_the_spec_is_a_point_of_the_space():
    point = spec_params(CLASSIFIER, DEFAULT_FOREST_SPACE)
    assert point == {"max_depth": 10, "min_samples_split": 2, "min_samples_leaf": 100,
                     "max_features": "sqrt", "bootstrap": True, "max_samples": 1.0,
                     "criterion": "gini", "class_weight": "balanced_subsample",
                     "ccp_alpha": 0.0, "min_impurity_decrease": 0.0, "max_leaf_nodes": None}
    fixed = optuna.trial.FixedTrial(point)
    params = suggest_forest_params(fixed, CLASSIFIER, DEFAULT_FOREST_SPACE)
    rebuilt = ForestSpec.model_validate({**CLASSIFIER.model_dump(), **params})
    assert rebuilt == CLASSIFIER.model_copy(update={"criterion": "gini"})  # None means gini


def test_a_stepped_range_stays_on_its_grid():
    space = {"ccp_alpha": ParamRange(type="float", low=0.0, high=0.01, step=0.005)}
    values = {_sample(CLASSIFIER, seed, space)[0]["ccp_alpha"] for seed in range(20)}
    assert values <= {0.0, 0.005, 0.01}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "categorical"}, "non-empty list `choices`"),
        ({"type": "int", "low": 5, "high": 2}, "low=5.0, high=2.0"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "low=0.0"),
        ({"type": "int", "low": 1.5, "high": 3}, "integer bounds"),
        ({"type": "categorical", "choices": [1], "low": 0}, "takes only `choices`"),
    ],
)
def test_malformed_ranges_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ParamRange(**kwargs)
