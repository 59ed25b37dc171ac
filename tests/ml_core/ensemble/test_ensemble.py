from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml_core.config import EnsembleConfig, ForestSpec, SelectionConfig, ValidationConfig
from ml_core.ensemble import (
    COMPONENT_COLUMNS,
    MODEL_NAMES,
    RegimeForestEnsemble,
    apply_signal_rule,
    build_forest,
)

CLF = ForestSpec(kind="classifier", n_estimators=10, max_depth=3)  # as in conftest's `tiny`
REG = ForestSpec(kind="regressor", n_estimators=10, max_depth=3)
PURGE = EMBARGO = timedelta(hours=3)

REGIME_COLS = ["regime_prob_bull", "regime_prob_bear", "regime_prob_sideways"]


# ---------------------------------------------------------------- estimator contract

def test_estimator_contract_get_params_clone_and_fit_returns_self(synthetic, tiny):
    """``parametrize_with_checks`` does not fit this API, so the contract is tested by hand.

    scikit-learn's common checks call ``fit(X, y)`` with a numpy ``X`` and one 1-d ``y``; the
    ensemble needs a DataFrame indexed by event time, four targets and the label end times ``t1``
    (to purge its meta folds). Instead: ``__init__`` stores parameters untouched (``clone`` round
    trip), ``set_params`` works, ``fit`` returns ``self`` and sets only ``_``-suffixed attributes.
    """
    model = tiny(entry=CLF, meta_C=0.5, confidence_threshold=0.7)
    params = model.get_params()
    assert params["meta_C"] == 0.5 and params["entry"] is CLF and params["purge"] == PURGE
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert clone(model.set_params(meta_folds=4)).meta_folds == 4
    assert vars(RegimeForestEnsemble()).keys() == RegimeForestEnsemble().get_params().keys()

    X, targets, events = synthetic
    before = set(vars(twin))
    assert twin.fit(X, targets, events["t1"]) is twin
    learned = set(vars(twin)) - before
    assert learned and all(name.endswith("_") for name in learned)
    assert {"forests_", "meta_", "meta_features_", "feature_names_in_", "oof_predictions_",
            "meta_coef_", "meta_coef_folds_", "calibrator_", "calibration_",
            "brier_uncalibrated_", "brier_calibrated_", "regime_mode_", "regime_meta_",
            "regime_models_"} <= learned


def test_from_config_maps_the_sections():
    ens = EnsembleConfig(entry=ForestSpec(kind="classifier", n_estimators=3), meta_C=2.0,
                         meta_folds=5, confidence_threshold=0.65, n_jobs=2, calibration="sigmoid",
                         imbalance="smote", regime_mode="thresholds",
                         regime_thresholds={"bear": 0.7}, min_regime_events=20)
    val = ValidationConfig(purge="6h", embargo="2h")
    model = RegimeForestEnsemble.from_config(ens, val, random_state=7)
    assert model.entry.n_estimators == 3 and model.position == ens.position
    assert (model.meta_C, model.meta_folds, model.confidence_threshold) == (2.0, 5, 0.65)
    assert (model.purge, model.embargo) == (timedelta(hours=6), timedelta(hours=2))
    assert (model.n_jobs, model.random_state) == (2, 7)
    assert (model.calibration, model.imbalance, model.regime_mode) == (
        "sigmoid", "smote", "thresholds")
    assert model.regime_thresholds == {"bear": 0.7} and model.min_regime_events == 20
    assert model.regime_thresholds is not ens.regime_thresholds  # a copy: the config stays frozen


def test_defaults_match_the_config_defaults():
    model = RegimeForestEnsemble.from_config(EnsembleConfig(), ValidationConfig(), 0)
    default = RegimeForestEnsemble()
    for name in ("meta_C", "meta_folds", "confidence_threshold", "calibration", "imbalance",
                 "regime_mode", "min_regime_events", "kelly_fraction", "cvar_budget",
                 "cvar_alpha", "smoothing", "hysteresis_band", "ewma_span", "n_jobs"):
        assert getattr(model, name) == getattr(default, name), name
    assert model.regime_thresholds == {} and default.regime_thresholds is None


def test_learned_attributes(fitted, synthetic):
    X, _, _ = synthetic
    assert list(fitted.forests_) == list(MODEL_NAMES)
    assert fitted.forests_["entry"].get_params()["class_weight"] == "balanced_subsample"
    assert fitted.meta_features_ == [*COMPONENT_COLUMNS, *REGIME_COLS]
    assert fitted.meta_coef_.index.tolist() == fitted.meta_features_
    assert fitted.feature_names_in_.tolist() == X.columns.tolist()
    assert fitted.n_features_in_ == 6
    assert fitted.oof_predictions_.columns.tolist() == [*COMPONENT_COLUMNS, "fold"]
    assert fitted.oof_predictions_.index.equals(X.index)
    assert fitted.classes_.tolist() == [0, 1]
    # each forest its own seed
    assert len(set(fitted.random_states_.values())) == 4
    # calibration (default sigmoid) and regime mode (default global)
    assert fitted.calibrator_.method == "sigmoid"
    assert fitted.calibration_.index.equals(X.index)
    assert fitted.meta_coef_folds_.shape == (3, 7)
    assert 0 < fitted.brier_calibrated_ < 0.25 and 0 < fitted.brier_uncalibrated_ < 0.25
    assert (fitted.regime_mode_, fitted.regime_meta_, fitted.regime_models_) == ("global", {}, [])


def test_meta_features_without_regime_columns(synthetic, tiny):
    X, targets, events = synthetic
    model = tiny().fit(X[["x0", "x1"]], targets, events["t1"])
    assert model.meta_features_ == list(COMPONENT_COLUMNS)
    assert model.predict(X[["x0", "x1"]]).shape == (len(X), 4)


# ------------------------------------------------------------------------ predict

def test_predict_schema_and_signal_rule(fitted, synthetic):
    X, _, _ = synthetic
    out = fitted.predict(X)
    assert out.columns.tolist() == ["signal", "confidence", "size", "p_long"]
    assert out.index.equals(X.index)
    assert out["signal"].dtype == np.int64 and set(out["signal"]) == {-1, 0, 1}
    assert out["confidence"].between(0.5, 1).all() and out["size"].between(0, 1).all()
    assert (out.loc[out["signal"] == 0, "size"] == 0).all()

    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out["p_long"], proba[:, 1])
    comps = fitted.predict_components(X)
    assert comps.columns.tolist() == list(COMPONENT_COLUMNS) and comps.index.equals(X.index)
    expected = apply_signal_rule(proba[:, 1], comps["p_exit"], comps["size"],
                                 confidence_threshold=0.6, index=X.index)
    pd.testing.assert_frame_equal(out, expected)


def test_predict_ignores_column_order_and_extra_columns(fitted, synthetic):
    X, _, _ = synthetic
    shuffled = X[X.columns[::-1]].assign(unused=1.0)
    pd.testing.assert_frame_equal(fitted.predict(shuffled), fitted.predict(X))


def test_prediction_of_a_row_does_not_depend_on_later_rows(fitted, synthetic):
    X, _, _ = synthetic
    full = fitted.predict(X)
    future_changed = X.copy()
    future_changed.iloc[100:] = future_changed.iloc[100:] * -3.0
    pd.testing.assert_frame_equal(fitted.predict(X.iloc[:100]), full.iloc[:100])
    pd.testing.assert_frame_equal(fitted.predict(future_changed).iloc[:100], full.iloc[:100])


def test_predict_on_no_rows(fitted, synthetic):
    X, _, _ = synthetic
    out = fitted.predict(X.iloc[:0])
    assert out.shape == (0, 4) and out["signal"].dtype == np.int64
    assert fitted.predict_proba(X.iloc[:0]).shape == (0, 2)
    assert fitted.predict_components(X.iloc[:0]).shape == (0, 4)


def test_learns_the_synthetic_signal(fitted, synthetic):
    X, targets, _ = synthetic
    oof_acc = ((fitted.oof_predictions_["p_entry"] >= 0.5) == targets["entry"]).mean()
    meta_acc = ((fitted.predict_proba(X)[:, 1] >= 0.5) == targets["entry"]).mean()
    assert oof_acc > 0.7 and meta_acc > 0.75
    # the regime probabilities carry signal too: P(bull) pushes p_long up, P(bear) down
    assert fitted.meta_coef_["p_entry"] > 0


def test_same_seed_same_predictions_other_seed_differs(synthetic, tiny):
    X, targets, events = synthetic
    a = tiny(random_state=11).fit(X, targets, events["t1"])
    b = tiny(random_state=11).fit(X, targets, events["t1"])
    c = tiny(random_state=12).fit(X, targets, events["t1"])
    pd.testing.assert_frame_equal(a.predict(X), b.predict(X))
    pd.testing.assert_frame_equal(a.oof_predictions_, b.oof_predictions_)
    pd.testing.assert_frame_equal(a.calibration_, b.calibration_)
    assert a.brier_calibrated_ == b.brier_calibrated_
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


# ------------------------------------------------------------------------ leakage

def test_oof_folds_are_disjoint_from_and_purged_around_their_training_rows(fitted, synthetic):
    X, _, events = synthetic
    t0 = X.index.to_numpy()
    t1 = events["t1"].to_numpy()
    fold = fitted.oof_predictions_["fold"].to_numpy()
    mask = fitted.oof_train_mask_
    assert mask.columns.tolist() == ["fold_0", "fold_1", "fold_2"] and mask.index.equals(X.index)
    assert (fold >= 0).all()  # k-fold: every row is predicted exactly once
    for k in range(3):
        train_idx = np.flatnonzero(mask[f"fold_{k}"])
        test_idx = np.flatnonzero(fold == k)
        assert train_idx.size > 300 and np.intersect1d(train_idx, test_idx).size == 0
        lo = t0[test_idx].min() - PURGE
        hi = t1[test_idx].max() + EMBARGO
        overlaps = (t1[train_idx] >= lo) & (t0[train_idx] <= hi)
        assert not overlaps.any()


def test_each_oof_prediction_comes_from_a_forest_fitted_on_its_fold_train_rows(fitted, synthetic):
    """Leak by construction: refit fold k's forests on the rows ``oof_train_mask_`` records for
    fold k, and only those — their predictions on fold k match ``oof_predictions_`` exactly."""
    X, targets, _ = synthetic
    values = X.to_numpy()
    fold = fitted.oof_predictions_["fold"].to_numpy()
    for k in range(fitted.meta_folds):
        train_idx = np.flatnonzero(fitted.oof_train_mask_[f"fold_{k}"])
        test_idx = np.flatnonzero(fold == k)
        for name, col in zip(MODEL_NAMES, COMPONENT_COLUMNS, strict=True):
            forest = build_forest(getattr(fitted, name), fitted.random_states_[name])
            forest.fit(values[train_idx], targets[name].to_numpy()[train_idx])
            if forest.__class__.__name__.endswith("Classifier"):
                pred = forest.predict_proba(values[test_idx])[:, 1]
            else:
                pred = forest.predict(values[test_idx])
            if name == "position":
                pred = np.clip(pred, 0, 1)
            np.testing.assert_array_equal(fitted.oof_predictions_[col].to_numpy()[test_idx], pred)


def test_meta_learner_is_fitted_on_the_oof_predictions(fitted, synthetic):
    X, targets, _ = synthetic
    meta_X = pd.concat([fitted.oof_predictions_[list(COMPONENT_COLUMNS)], X[REGIME_COLS]], axis=1)
    refit = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(meta_X.to_numpy(),
                                                                            targets["entry"])
    np.testing.assert_allclose(refit[-1].coef_[0], fitted.meta_coef_.to_numpy(), rtol=1e-6)


def test_meta_learner_does_not_trust_memorising_forests_on_noise():
    """On pure-noise labels the full-depth entry forest is ~perfect in sample; the meta weight of
    ``p_entry`` stays near zero because it only ever sees out-of-fold outputs. A meta-learner fed
    in-sample outputs (the leak this design prevents) puts a large weight on it."""
    rng = np.random.default_rng(42)
    n = 400
    t0 = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    X = pd.DataFrame(rng.normal(size=(n, 4)), index=t0, columns=list("abcd"))
    targets = pd.DataFrame({"entry": rng.integers(0, 2, n), "position": rng.uniform(size=n),
                            "exit": rng.integers(0, 2, n), "profit": rng.normal(0, 0.01, n)},
                           index=t0)
    t1 = pd.Series(t0 + pd.Timedelta("2h"), index=t0)
    deep_clf = ForestSpec(kind="classifier", n_estimators=20)
    deep_reg = ForestSpec(kind="regressor", n_estimators=20)
    model = RegimeForestEnsemble(deep_clf, deep_reg, deep_clf, deep_reg, random_state=0)
    model.fit(X, targets, t1)
    in_sample = model.predict_components(X)
    assert ((in_sample["p_entry"] >= 0.5) == targets["entry"]).mean() > 0.95
    assert abs(((model.oof_predictions_["p_entry"] >= 0.5) == targets["entry"]).mean() - 0.5) < 0.1
    leaky = make_pipeline(StandardScaler(), LogisticRegression()).fit(in_sample, targets["entry"])
    assert leaky[-1].coef_[0][0] > 2.0
    assert abs(model.meta_coef_["p_entry"]) < 0.5


# ------------------------------------------------------------------------- errors

def test_nan_in_X_names_the_columns(synthetic, tiny):
    X, targets, events = synthetic
    bad = X.copy()
    bad.iloc[3, 1] = np.nan
    bad.iloc[5, 4] = np.inf
    with pytest.raises(ValueError, match=r"\['x1', 'regime_prob_bear'\] \(2 cells, first in row 3, "
                                         r"index 2024-01-01 09:00:00\+00:00\)"):
        tiny().fit(bad, targets, events["t1"])


def test_nan_in_a_target_names_the_row(synthetic, tiny):
    X, targets, events = synthetic
    bad = targets.copy()
    bad.iloc[7, bad.columns.get_loc("profit")] = np.nan
    with pytest.raises(ValueError, match=r"`targets\['profit'\]` has 1 NaN or infinite values, "
                                         r"first in row 7, index 2024-01-01 21:00:00\+00:00"):
        tiny().fit(X, bad, events["t1"])


@pytest.mark.parametrize("name", ["entry", "exit"])
def test_single_class_target(synthetic, name, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match=rf"`targets\['{name}'\]` has a single class 1"):
        tiny().fit(X, targets.assign(**{name: 1}), events["t1"])


def test_too_few_rows(synthetic, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match="at least 10 per meta fold, i.e. 30"):
        tiny().fit(X.iloc[:29], targets.iloc[:29], events["t1"].iloc[:29])


def test_misaligned_inputs(synthetic, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match="`targets.index` differs"):
        tiny().fit(X, targets.iloc[::-1], events["t1"])
    with pytest.raises(ValueError, match="`t1.index` differs"):
        tiny().fit(X, targets, events["t1"].iloc[1:])
    with pytest.raises(ValueError, match="lacks columns \\['profit'\\]"):
        tiny().fit(X, targets.drop(columns="profit"), events["t1"])
    with pytest.raises(ValueError, match="must be sorted"):
        tiny().fit(X.iloc[::-1], targets.iloc[::-1], events["t1"].iloc[::-1])
    with pytest.raises(TypeError, match="DataFrame"):
        tiny().fit(X.to_numpy(), targets, events["t1"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"meta_folds": 1}, "`meta_folds=1`"),
        ({"meta_C": 0.0}, "`meta_C=0.0`"),
        ({"confidence_threshold": 0.4}, "`confidence_threshold=0.4`"),
        ({"n_jobs": 0}, "`n_jobs=0`"),
        ({"entry": REG}, "`entry` must be a ForestSpec of kind 'classifier'"),
        ({"calibration": "platt"}, r"`calibration` must be one of \['isotonic', 'sigmoid', "
                                   r"'none'\], got `calibration='platt'`"),
    ],
)
def test_bad_parameters_fail_in_fit(synthetic, params, message, tiny):
    X, targets, events = synthetic
    model = tiny(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=message):
        model.fit(X, targets, events["t1"])


def test_predict_before_fit_and_missing_columns(fitted, synthetic, tiny):
    X, _, _ = synthetic
    with pytest.raises(NotFittedError):
        tiny().predict(X)
    with pytest.raises(ValueError, match=r"lacks feature columns seen in fit: \['x2'\]"):
        fitted.predict(X.drop(columns="x2"))
    with pytest.raises(ValueError, match=r"\['x0'\]"):
        fitted.predict_proba(X.assign(x0=np.nan))


@pytest.mark.parametrize("imbalance", ["class_weight", "smote"])
def test_a_single_class_in_one_folds_training_rows_is_a_logged_constant(
        tiny, make_synthetic, caplog, imbalance):
    """40 events whose first 30 are all class 0 for ``exit``: fold 3 (the last 10 events) trains
    its forests on class 0 only. Not an error (both classes occur overall): that fold's exit
    forest predicts the constant probability 0.0, and the fallback is logged naming the fold."""
    if imbalance == "smote":
        pytest.importorskip("imblearn")
    X, targets, events = make_synthetic(n=40)
    targets = targets.assign(exit=np.r_[np.zeros(30, dtype=int), np.ones(10, dtype=int)])
    model = tiny(meta_folds=4, purge=timedelta(0), embargo=timedelta(0), imbalance=imbalance)
    with caplog.at_level("WARNING", logger="ml_core.ensemble"):
        model.fit(X, targets, events["t1"])
    oof = model.oof_predictions_
    n_train = int(model.oof_train_mask_["fold_3"].sum())
    assert (f"meta fold 3: targets['exit'] has a single class 0 among the fold's {n_train} "
            "training events; the fold's exit forest predicts the constant probability 0.0 for "
            "its 10 events") in caplog.text
    assert "meta fold 0: targets['exit']" not in caplog.text
    np.testing.assert_array_equal(oof.loc[oof["fold"] == 3, "p_exit"], 0.0)
    assert oof["p_exit"].between(0, 1).all() and (oof.loc[oof["fold"] < 3, "p_exit"] > 0).any()


# -------------------------------------------------------------------- real sample

def test_on_the_bundled_sample(real_events, tiny):
    X, targets, events = real_events
    model = tiny(meta_folds=3, purge=timedelta(hours=8), embargo=timedelta(hours=4))
    model.fit(X, targets, events["t1"])
    out = model.predict(X)
    assert out.index.equals(X.index)
    assert out["size"].between(0, 1).all() and out["confidence"].between(0.5, 1).all()
    # the OOF entry forest has no look-ahead edge on real prices: near a coin flip
    oof_acc = ((model.oof_predictions_["p_entry"] >= 0.5) == targets["entry"]).mean()
    assert 0.35 < oof_acc < 0.65


# ---------------------------------------------------------------- feature selection

# a 10-tree ranking forest: fast; with the fixed seeds the selection tests below are exact
SELECT = SelectionConfig(min_features=2, n_estimators=10)


def _redundant(X):
    """``X`` plus a near-copy of ``x0`` (r > 0.999) and a constant column."""
    rng = np.random.default_rng(1)
    return X.assign(x0_copy=2 * X["x0"] + rng.normal(scale=1e-3, size=len(X)), const=1.0)


def test_from_config_uses_the_selection_only_when_enabled():
    ens, val = EnsembleConfig(), ValidationConfig()
    assert RegimeForestEnsemble.from_config(ens, val, 7).selection is None
    on = RegimeForestEnsemble.from_config(ens, val, 7, selection=SELECT)
    assert on.selection is SELECT
    off = SELECT.model_copy(update={"enabled": False})
    assert RegimeForestEnsemble.from_config(ens, val, 7, selection=off).selection is None


def test_without_selection_every_column_feeds_the_forests(fitted, synthetic):
    X, _, _ = synthetic
    assert fitted.selector_ is None
    assert fitted.forest_features_ == X.columns.tolist()


def test_selection_drops_the_copy_and_the_constant_before_the_forests(synthetic, tiny):
    X, targets, events = synthetic
    X = _redundant(X)
    model = tiny(selection=SELECT).fit(X, targets, events["t1"])
    dropped = model.selector_.dropped_
    assert dropped.set_index("feature").loc["const", "reason"] == "constant"
    pair = dropped.query("reason == 'correlated'")
    assert len(pair) == 1 and {pair["feature"].iloc[0], pair["partner"].iloc[0]} == {
        "x0", "x0_copy"}
    assert model.forest_features_ == model.selector_.selected_
    assert all(f.n_features_in_ == len(model.forest_features_) for f in model.forests_.values())
    assert model.feature_names_in_.tolist() == X.columns.tolist()  # predict needs every column
    out = model.predict(X)
    assert out.shape == (len(X), 4)
    pd.testing.assert_frame_equal(model.predict(X[X.columns[::-1]]), out)


def test_regime_columns_reach_the_meta_learner_even_when_not_selected(synthetic, tiny):
    X, targets, events = synthetic
    # threshold near 1: only the `min_features=1` most important feature stays (x0)
    keep_one = SELECT.model_copy(update={"importance_threshold": 0.99, "min_features": 1})
    model = tiny(selection=keep_one).fit(X, targets, events["t1"])
    assert model.forest_features_ == ["x0"]
    assert model.meta_features_ == [*COMPONENT_COLUMNS, *REGIME_COLS]
    assert (model.meta_coef_[REGIME_COLS] != 0).all()
    with pytest.raises(ValueError, match=r"lacks feature columns seen in fit: \['regime_prob_b"):
        model.predict(X.drop(columns="regime_prob_bear"))


def test_selection_sees_only_the_training_rows_of_its_fit(synthetic, tiny):
    """A CV split fits a clone on its training rows; the selection must be the one a selector
    fitted on those rows alone makes. Here ``late`` is constant on the first 300 rows and varies
    after: fitted on them, it is dropped as constant, whatever the later (test) rows hold."""
    from ml_core.selection import FeatureSelector

    X, targets, events = synthetic
    late = np.where(np.arange(len(X)) < 300, 0.0, np.random.default_rng(2).normal(size=len(X)))
    X = _redundant(X).assign(late=late)
    head = slice(0, 300)
    model = clone(tiny(selection=SELECT)).fit(X.iloc[head], targets.iloc[head],
                                              events["t1"].iloc[head])
    alone = FeatureSelector(**model.selector_.get_params()).fit(
        X.iloc[head], targets["entry"].iloc[head])
    assert model.selector_.selected_ == alone.selected_
    pd.testing.assert_frame_equal(model.selector_.dropped_, alone.dropped_)
    pd.testing.assert_series_equal(model.selector_.importances_, alone.importances_)
    assert "late" in set(model.selector_.dropped_.query("reason == 'constant'")["feature"])
    full = tiny(selection=SELECT).fit(X, targets, events["t1"])
    assert "late" not in set(full.selector_.dropped_.query("reason == 'constant'")["feature"])


def test_selection_is_seeded_and_leaves_the_forest_seeds_unchanged(synthetic, tiny, fitted):
    X, targets, events = synthetic
    X = _redundant(X)
    a = tiny(selection=SELECT).fit(X, targets, events["t1"])
    b = tiny(selection=SELECT).fit(X, targets, events["t1"])
    assert a.random_states_ == fitted.random_states_  # the selector's seed is drawn last
    assert a.selector_.random_state == b.selector_.random_state
    assert a.selector_.random_state not in a.random_states_.values()
    pd.testing.assert_series_equal(a.selector_.importances_, b.selector_.importances_)
    pd.testing.assert_frame_equal(a.predict(X), b.predict(X))


def test_bad_selection_parameter(synthetic, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match=r"`selection` must be a SelectionConfig or None, "
                                         r"got `selection=0.9`"):
        tiny(selection=0.9).fit(X, targets, events["t1"])


def _save(model, columns, directory):
    """Save ``model`` inside a pipeline with a quickly fitted HMM; return the directory."""
    from ml_core.config import Config
    from ml_core.data import load_sample_bars
    from ml_core.pipeline import RegimeForestPipeline, save_pipeline
    from ml_core.regime import RegimeHMM

    config = Config.model_validate({"profile": "unit", "regime": {"n_restarts": 1, "n_iter": 20}})
    regime = RegimeHMM.from_config(config.regime, config.data.timeframe, 0).fit(
        load_sample_bars().iloc[:3000])
    pipeline = RegimeForestPipeline(config=config, regime=regime, ensemble=model,
                                    feature_columns=list(columns))
    return save_pipeline(pipeline, directory)


def test_round_trip_with_a_selector_without_pickle(synthetic, tiny, tmp_path):
    from ml_core.pipeline import load_pipeline

    X, targets, events = synthetic
    X = _redundant(X)
    model = tiny(selection=SELECT).fit(X, targets, events["t1"])
    directory = _save(model, X.columns, tmp_path / "model")
    assert not list(directory.rglob("*.pkl")) and not list(directory.rglob("selector_*.skops"))
    loaded = load_pipeline(directory, engine="sklearn").ensemble
    assert loaded.selection == SELECT and loaded.forest_features_ == model.forest_features_
    sel, twin = model.selector_, loaded.selector_
    assert twin.get_params() == sel.get_params() and twin.selected_ == sel.selected_
    np.testing.assert_array_equal(twin.feature_names_in_, sel.feature_names_in_)
    pd.testing.assert_frame_equal(twin.dropped_, sel.dropped_)
    pd.testing.assert_series_equal(twin.importances_, sel.importances_)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    pd.testing.assert_frame_equal(twin.transform(X), sel.transform(X))

    # only allow-listed classes are rebuilt from a manifest
    import json

    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["ensemble"]["attributes"]["selector_"]["class"] = "os:system"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="refusing to load estimator class 'os:system'"):
        load_pipeline(directory, engine="sklearn")


@pytest.mark.parametrize(
    "params",
    [{"calibration": "isotonic", "regime_mode": "models", "min_regime_events": 10},
     {"calibration": "sigmoid", "regime_mode": "thresholds", "regime_thresholds": {"bear": 0.7}},
     {"calibration": "none"}],
)
def test_round_trip_of_calibration_and_regime_attributes(synthetic, tiny, tmp_path, params):
    from ml_core.pipeline import load_pipeline

    X, targets, events = synthetic
    model = tiny(**params).fit(X, targets, events["t1"])
    directory = _save(model, X.columns, tmp_path / "model")
    assert not list(directory.rglob("*.pkl"))
    loaded = load_pipeline(directory, engine="sklearn").ensemble
    assert loaded.get_params()["calibration"] == params["calibration"]
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X), check_exact=True)
    pd.testing.assert_frame_equal(loaded.calibration_, model.calibration_, check_freq=False)
    pd.testing.assert_frame_equal(loaded.meta_coef_folds_, model.meta_coef_folds_)
    assert (loaded.brier_uncalibrated_, loaded.brier_calibrated_) == (
        model.brier_uncalibrated_, model.brier_calibrated_)
    assert loaded.regime_mode_ == model.regime_mode_
    assert loaded.regime_models_ == model.regime_models_ == list(loaded.regime_meta_)
    if model.calibrator_ is None:
        assert loaded.calibrator_ is None
    else:
        assert type(loaded.calibrator_) is type(model.calibrator_)
        assert vars(loaded.calibrator_).keys() == vars(model.calibrator_).keys()
    compiled = load_pipeline(directory).ensemble  # the default engine: onnxruntime
    assert compiled.engine == "onnx" and compiled.regime_models_ == model.regime_models_
    pd.testing.assert_frame_equal(compiled.predict(X), model.predict(X), rtol=0, atol=1e-12)


def test_a_model_saved_before_calibration_existed_loads_uncalibrated(synthetic, tiny, tmp_path):
    import json

    from ml_core.pipeline import load_pipeline

    X, targets, events = synthetic
    model = tiny(calibration="none").fit(X, targets, events["t1"])
    directory = _save(model, X.columns, tmp_path / "model")
    manifest = json.loads((directory / "manifest.json").read_text())
    for name in ("calibration", "imbalance", "regime_mode", "regime_thresholds",
                 "min_regime_events"):
        del manifest["ensemble"]["params"][name]
    for name in ("calibrator_", "calibration_", "meta_coef_folds_", "brier_uncalibrated_",
                 "brier_calibrated_", "regime_mode_", "regime_meta_", "regime_models_"):
        del manifest["ensemble"]["attributes"][name]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    loaded = load_pipeline(directory, engine="sklearn").ensemble
    assert loaded.calibration == "none"
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X), check_exact=True)


def test_a_model_saved_before_selection_existed_still_loads(fitted, synthetic, tmp_path):
    import json

    from ml_core.pipeline import load_pipeline

    X, _, _ = synthetic
    directory = _save(fitted, X.columns, tmp_path / "model")
    manifest = json.loads((directory / "manifest.json").read_text())
    for name in ("selector_", "forest_features_"):
        del manifest["ensemble"]["attributes"][name]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    loaded = load_pipeline(directory, engine="sklearn").ensemble
    assert loaded.selector_ is None and loaded.forest_features_ == X.columns.tolist()
    pd.testing.assert_frame_equal(loaded.predict(X), fitted.predict(X))


def test_from_config_carries_the_size_caps_and_the_smoother():
    from ml_core.config import LabelConfig

    config = EnsembleConfig(kelly_fraction=0.25, cvar_budget=0.01, smoothing="hysteresis",
                            hysteresis_band=0.1)
    model = RegimeForestEnsemble.from_config(config, ValidationConfig(), 0,
                                             labels=LabelConfig(take_profit=3.0, stop_loss=1.5))
    assert (model.payoff_ratio, model.kelly_fraction, model.cvar_budget) == (2.0, 0.25, 0.01)
    assert (model.smoothing, model.hysteresis_band) == ("hysteresis", 0.1)


def test_sizes_respect_the_kelly_and_cvar_caps(synthetic, tiny):
    from ml_core.ensemble._sizing import size_caps

    X, targets, events = synthetic
    capped = tiny(kelly_fraction=0.5, cvar_budget=0.005).fit(X, targets, events["t1"])
    out = capped.predict(X)
    caps = size_caps(out["p_long"].to_numpy(), payoff_ratio=1.0, kelly_fraction=0.5,
                     tail_loss=capped.tail_loss_, cvar_budget=0.005)
    assert capped.tail_loss_ > 0
    assert (out["size"].to_numpy() <= caps + 1e-15).all()
    free = tiny().fit(X, targets, events["t1"]).predict(X)
    assert out["size"].sum() < free["size"].sum()  # the caps bind somewhere
    pd.testing.assert_series_equal(out["signal"], free["signal"])  # caps size, never side


def test_a_stream_of_one_row_calls_equals_one_call_with_smoothing(synthetic, tiny):
    X, targets, events = synthetic
    model = tiny(smoothing="hysteresis", hysteresis_band=0.1).fit(X, targets, events["t1"])
    whole = model.predict(X.iloc[:120])
    state, rows = None, []
    for i in range(120):
        row, state = model.predict_from(X.iloc[i:i + 1], state)
        rows.append(row)
    # one-row and many-row BLAS products may differ in the last bit; the signals may not
    pd.testing.assert_frame_equal(pd.concat(rows), whole, check_exact=False, rtol=1e-12)
    pd.testing.assert_series_equal(pd.concat(rows)["signal"], whole["signal"])
    raw = tiny().fit(X, targets, events["t1"]).predict(X.iloc[:120])
    assert (whole["signal"] != raw["signal"]).any()  # hysteresis held some positions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"smoothing": "kalman"}, "`smoothing='kalman'`"),
     ({"kelly_fraction": 1.5}, "`kelly_fraction=1.5`"),
     ({"cvar_budget": 0.0}, "`cvar_budget=0.0`"),
     ({"payoff_ratio": -1.0}, "`payoff_ratio=-1.0`")],
)
def test_bad_signal_parameters_are_named(kwargs, message, synthetic, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs).fit(X, targets, events["t1"])
