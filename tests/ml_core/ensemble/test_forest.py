import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from ml_core.config import ForestSpec
from ml_core.ensemble import build_forest

SPEC = dict(n_estimators=7, max_depth=4, min_samples_split=3, min_samples_leaf=2, max_features=0.5)


def test_classifier_from_spec_uses_balanced_subsample_class_weights():
    forest = build_forest(ForestSpec(kind="classifier", **SPEC), random_state=3, n_jobs=2)
    assert isinstance(forest, RandomForestClassifier)
    params = forest.get_params()
    assert {k: params[k] for k in SPEC} == SPEC
    assert params["class_weight"] == "balanced_subsample"
    assert (params["random_state"], params["n_jobs"]) == (3, 2)


def test_regressor_from_spec_has_no_class_weight():
    forest = build_forest(ForestSpec(kind="regressor", **SPEC), random_state=None)
    assert isinstance(forest, RandomForestRegressor)
    assert "class_weight" not in forest.get_params()
    assert forest.get_params()["n_jobs"] == 1


def test_overrides_win():
    forest = build_forest(ForestSpec(kind="classifier"), 0, warm_start=True, n_estimators=5,
                          class_weight=None)
    assert forest.warm_start and forest.n_estimators == 5 and forest.class_weight is None


def test_class_weights_lift_the_minority_class():
    # 5 % positives that a tree can separate only partly: balanced weights predict more of them.
    rng = np.random.default_rng(42)
    X = rng.normal(size=(2000, 2))
    y = ((X[:, 0] + rng.normal(size=2000)) > 2.3).astype(int)
    spec = ForestSpec(kind="classifier", n_estimators=20, max_depth=3)
    balanced = build_forest(spec, 0).fit(X, y).predict(X).sum()
    plain = build_forest(spec, 0, class_weight=None).fit(X, y).predict(X).sum()
    assert y.mean() < 0.1
    assert balanced > 2 * max(plain, 1)


def test_not_a_spec():
    with pytest.raises(TypeError, match="`spec` must be a ForestSpec"):
        build_forest({"kind": "classifier"}, 0)
