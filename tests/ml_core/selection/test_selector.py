"""FeatureSelector: exactly which features each filter drops and why, on constructed frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ml_core.config import SelectionConfig
from ml_core.selection import DROP_REASONS, DROPPED_COLUMNS, FeatureSelector

FAST = dict(n_estimators=50, max_depth=4, random_state=0)


def _frame(n: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """``y = 1[x1 + 0.5 x3 + 0.5 noise > 0]``.

    ``x2 = x1 + 0.4 N(0, 1)`` is a noisier proxy of ``x1`` (r ~ 0.925), ``const`` is constant,
    ``coin`` is binary noise (one possible split: impurity importance ~0.001-0.002) and ``noise``
    continuous noise (importance ~0.02-0.03, above the 0.01 threshold).
    """
    rng = np.random.default_rng(seed)
    x1, x3 = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({
        "x1": x1, "x2": x1 + 0.4 * rng.normal(size=n), "const": 3.0, "x3": x3,
        "coin": rng.integers(0, 2, n).astype(float), "noise": rng.normal(size=n),
    }, index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    y = pd.Series((x1 + 0.5 * x3 + 0.5 * rng.normal(size=n) > 0).astype(int), index=X.index)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return _frame()


@pytest.fixture(scope="module")
def fitted(data) -> FeatureSelector:
    X, y = data
    return FeatureSelector(min_features=1, **FAST).fit(X, y)


# ------------------------------------------------------------------ exact behaviour

def test_each_filter_drops_its_feature_with_reason_partner_and_value(fitted, data):
    X, _ = data
    assert fitted.selected_ == ["x1", "x3", "noise"]
    dropped = fitted.dropped_
    assert list(dropped.columns) == list(DROPPED_COLUMNS)
    assert dropped["feature"].tolist() == ["x2", "const", "coin"]  # column order of X
    assert dropped["reason"].tolist() == ["correlated", "constant", "low_importance"]
    assert dropped["partner"].tolist() == ["x1", "", ""]
    assert set(dropped["reason"]) <= set(DROP_REASONS)
    r = abs(np.corrcoef(X["x1"], X["x2"])[0, 1])
    assert dropped["value"].iloc[0] == pytest.approx(r, rel=1e-12) and r > 0.9
    assert dropped["value"].iloc[1] == 0.0
    assert dropped["value"].iloc[2] == fitted.importances_["coin"] < 0.01


def test_importances_are_of_the_correlation_survivors_and_sum_to_one(fitted):
    imp = fitted.importances_
    assert imp.index.tolist() == ["x1", "x3", "coin", "noise"]
    assert imp.sum() == pytest.approx(1.0)
    assert imp["x1"] > imp["x3"] > imp["noise"] >= 0.01 > imp["coin"]


def test_transform_returns_the_selected_columns(fitted, data):
    X, y = data
    shuffled = X[X.columns[::-1]].assign(extra=1.0)
    out = fitted.transform(shuffled)
    pd.testing.assert_frame_equal(out, X[["x1", "x3", "noise"]])
    assert fitted.get_feature_names_out().tolist() == ["x1", "x3", "noise"]
    pd.testing.assert_frame_equal(clone(fitted).fit_transform(X, y), out)


def test_of_a_correlated_pair_the_more_important_stays_whichever_comes_first(data):
    X, y = data
    swapped = FeatureSelector(min_features=1, **FAST).fit(X[["x2", "x1", "x3"]], y)
    assert swapped.selected_ == ["x1", "x3"]
    assert swapped.dropped_[["feature", "reason", "partner"]].values.tolist() == [
        ["x2", "correlated", "x1"]]


def test_no_kept_pair_correlates_above_the_threshold_on_a_redundant_frame():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(800, 4))
    # 12 columns: each base column and two noisy copies of it
    cols = {f"b{j}_{k}": base[:, j] + s * rng.normal(size=800)
            for j in range(4) for k, s in enumerate((0.0, 0.2, 0.4))}
    X = pd.DataFrame(cols)
    y = (base[:, 0] - base[:, 1] + rng.normal(size=800) > 0).astype(int)
    sel = FeatureSelector(corr_threshold=0.9, importance_threshold=0.0, **FAST).fit(X, y)
    corr = X[sel.selected_].corr().abs().to_numpy(copy=True)
    np.fill_diagonal(corr, 0.0)
    assert corr.max() <= 0.9
    correlated = sel.dropped_.query("reason == 'correlated'")
    assert len(correlated) + len(sel.selected_) == 12
    assert set(correlated["partner"]) <= set(sel.selected_)
    for row in correlated.itertuples():
        assert row.value == pytest.approx(abs(X[row.feature].corr(X[row.partner])))
        assert row.value > 0.9


def test_threshold_one_and_zero_drop_nothing_but_constants(data):
    X, y = data
    sel = FeatureSelector(corr_threshold=1.0, importance_threshold=0.0, **FAST).fit(X, y)
    assert sel.selected_ == ["x1", "x2", "x3", "coin", "noise"]
    assert sel.dropped_["reason"].tolist() == ["constant"]


# ------------------------------------------------------------------ min_features

def test_min_features_keeps_the_most_important_in_column_order(data):
    X, y = data
    sel = FeatureSelector(importance_threshold=0.99, min_features=2, **FAST).fit(X, y)
    assert sel.selected_ == ["x1", "x3"]
    low = sel.dropped_.query("reason == 'low_importance'")
    assert low["feature"].tolist() == ["coin", "noise"]
    assert low["value"].tolist() == sel.importances_[["coin", "noise"]].tolist()


def test_min_features_above_the_survivors_keeps_every_survivor(data):
    X, y = data
    sel = FeatureSelector(importance_threshold=0.99, min_features=50, **FAST).fit(X, y)
    assert sel.selected_ == ["x1", "x3", "coin", "noise"]
    assert "low_importance" not in set(sel.dropped_["reason"])


def test_single_class_target_keeps_the_first_min_features(data):
    """No tree can split: every importance is 0, so the first ``min_features`` survivors stay."""
    X, _ = data
    sel = FeatureSelector(min_features=2, **FAST).fit(X, np.ones(len(X), dtype=int))
    assert (sel.importances_ == 0.0).all()
    # no ranking: the column order decides, also of the correlated pair
    assert sel.selected_ == ["x1", "x3"]
    assert sel.dropped_["reason"].tolist() == ["correlated", "constant", "low_importance",
                                               "low_importance"]


def test_single_column_and_nothing_dropped():
    X = pd.DataFrame({"a": np.arange(10.0)})
    sel = FeatureSelector(**FAST).fit(X, np.arange(10) % 2)
    assert sel.selected_ == ["a"]
    assert sel.dropped_.empty and list(sel.dropped_.columns) == list(DROPPED_COLUMNS)


# ------------------------------------------------------------------ determinism, contract

def test_same_seed_same_selection_other_seed_other_importances(data):
    X, y = data
    a = FeatureSelector(min_features=1, **FAST).fit(X, y)
    b = FeatureSelector(min_features=1, **FAST).fit(X, y)
    pd.testing.assert_frame_equal(a.dropped_, b.dropped_)
    pd.testing.assert_series_equal(a.importances_, b.importances_)
    c = FeatureSelector(min_features=1, **{**FAST, "random_state": 1}).fit(X, y)
    assert not np.allclose(a.importances_, c.importances_)
    rs = FeatureSelector(min_features=1, **{**FAST, "random_state": np.random.RandomState(0)})
    assert rs.fit(X, y).selected_ == a.selected_


def test_estimator_contract_get_params_clone_and_fit_returns_self(data):
    X, y = data
    sel = FeatureSelector(corr_threshold=0.8, min_features=3, **FAST)
    params = sel.get_params()
    assert params == {"corr_threshold": 0.8, "importance_threshold": 0.01, "min_features": 3,
                      "n_estimators": 50, "max_depth": 4, "random_state": 0}
    assert vars(FeatureSelector()).keys() == FeatureSelector().get_params().keys()
    twin = clone(sel)
    assert twin is not sel and twin.get_params() == params
    assert clone(sel.set_params(max_depth=None)).max_depth is None
    before = set(vars(twin))
    assert twin.fit(X, y) is twin
    learned = set(vars(twin)) - before
    assert learned == {"selected_", "dropped_", "importances_", "feature_names_in_",
                       "n_features_in_"}
    assert twin.feature_names_in_.tolist() == list(X.columns) and twin.n_features_in_ == 6


def test_from_config_maps_the_section():
    cfg = SelectionConfig(corr_threshold=0.8, importance_threshold=0.02, min_features=4,
                          n_estimators=30)
    sel = FeatureSelector.from_config(cfg, random_state=7)
    assert sel.get_params() == {"corr_threshold": 0.8, "importance_threshold": 0.02,
                                "min_features": 4, "n_estimators": 30, "max_depth": 8,
                                "random_state": 7}


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize(("params", "message"), [
    ({"corr_threshold": 0}, "`corr_threshold` must be in (0, 1], got `corr_threshold=0`"),
    ({"corr_threshold": 1.5}, "`corr_threshold` must be in (0, 1], got `corr_threshold=1.5`"),
    ({"corr_threshold": "0.9"}, "`corr_threshold` must be a number, got `corr_threshold='0.9'`"),
    ({"importance_threshold": 1.0},
     "`importance_threshold` must be in [0, 1), got `importance_threshold=1.0`"),
    ({"importance_threshold": -0.1},
     "`importance_threshold` must be in [0, 1), got `importance_threshold=-0.1`"),
    ({"min_features": 0}, "`min_features` must be an integer of at least 1, got `min_features=0`"),
    ({"min_features": 2.5},
     "`min_features` must be an integer of at least 1, got `min_features=2.5`"),
    ({"n_estimators": True},
     "`n_estimators` must be an integer of at least 1, got `n_estimators=True`"),
    ({"max_depth": 0}, "`max_depth` must be an integer of at least 1 or None, got `max_depth=0`"),
])
def test_bad_parameters_fail_in_fit_naming_the_value(data, params, message):
    X, y = data
    sel = FeatureSelector(**params)  # __init__ validates nothing
    with pytest.raises(ValueError) as err:
        sel.fit(X, y)
    assert str(err.value) == message


def test_bad_inputs(data):
    X, y = data
    sel = FeatureSelector(**FAST)
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        sel.fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match=r"NaN or infinite values in columns \['x3'\]"):
        sel.fit(X.assign(x3=np.where(np.arange(len(X)) == 5, np.nan, X["x3"])), y)
    with pytest.raises(TypeError, match="non-numeric columns"):
        sel.fit(X.assign(name="a"), y)
    with pytest.raises(TypeError, match="column names must be strings"):
        sel.fit(X.set_axis(range(6), axis=1), y)
    with pytest.raises(ValueError, match="`y` must be aligned with `X`"):
        sel.fit(X, y.iloc[::-1])
    with pytest.raises(ValueError, match=r"one label per row of `X` \(1000\), got shape \(999,\)"):
        sel.fit(X, y.to_numpy()[1:])
    with pytest.raises(ValueError, match="every column of `X` is constant"):
        sel.fit(X[["const"]], y)
    with pytest.raises(ValueError, match="at least 2 rows"):
        sel.fit(X.iloc[:1], y.iloc[:1])


def test_transform_before_fit_and_missing_columns(fitted, data):
    X, _ = data
    with pytest.raises(NotFittedError):
        FeatureSelector().transform(X)
    with pytest.raises(ValueError, match=r"`X` lacks columns selected in fit: \['x3', 'noise'\]"):
        fitted.transform(X.drop(columns=["x3", "noise", "x2"]))
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        fitted.transform(X.to_numpy())
