"""Regime adaptation: dominant regime, per-regime thresholds and meta-learners, fallbacks."""

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml_core.ensemble import COMPONENT_COLUMNS, apply_signal_rule
from ml_core.ensemble._regimes import (
    REGIME_COLUMNS,
    dominant_regime,
    fit_regime_models,
    has_regime_columns,
    regime_proba,
    row_thresholds,
)
from ml_core.regime import TRANSFORM_COLUMNS

REGIME_COLS = list(REGIME_COLUMNS)


def _meta():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, l1_ratio=0.0))


def _oof_meta_matrix(model, X):
    return np.ascontiguousarray(np.column_stack(
        [model.oof_predictions_[list(COMPONENT_COLUMNS)].to_numpy(), X[REGIME_COLS].to_numpy()]))


# --------------------------------------------------------------------------- helpers

def test_regime_columns_are_the_hmm_transform_columns():
    assert REGIME_COLS == ["regime_prob_bull", "regime_prob_bear", "regime_prob_sideways"]
    assert set(REGIME_COLS) <= set(TRANSFORM_COLUMNS)
    assert has_regime_columns([*REGIME_COLS, "x0"])
    assert not has_regime_columns(["regime_prob_bull", "regime_prob_bear", "x0"])


def test_dominant_regime_is_the_argmax_ties_to_the_first_label():
    X = pd.DataFrame({"regime_prob_sideways": [0.1, 0.6, 0.2, 1 / 3],  # order does not matter
                      "regime_prob_bull": [0.7, 0.1, 0.4, 1 / 3],
                      "regime_prob_bear": [0.2, 0.3, 0.4, 1 / 3], "x": 0.0})
    assert dominant_regime(X).tolist() == ["bull", "sideways", "bull", "bull"]
    with pytest.raises(ValueError, match=r"lacks the regime columns \['regime_prob_bear'\]"):
        dominant_regime(X.drop(columns="regime_prob_bear"))


def test_row_thresholds():
    regimes = np.array(["bull", "bear", "sideways", "bear"], dtype=object)
    np.testing.assert_array_equal(row_thresholds(regimes, {"bear": 0.7, "sideways": 0.55}, 0.6),
                                  [0.6, 0.7, 0.55, 0.7])
    np.testing.assert_array_equal(row_thresholds(regimes, {}, 0.65), [0.65] * 4)


def test_fit_regime_models_falls_back_on_few_rows_or_one_class(caplog):
    rng = np.random.default_rng(0)
    M = rng.normal(size=(60, 2))
    regimes = np.array(["bull"] * 30 + ["bear"] * 20 + ["sideways"] * 10, dtype=object)
    y = np.r_[rng.integers(0, 2, 30), np.ones(20, dtype=int), rng.integers(0, 2, 10)]
    with caplog.at_level(logging.WARNING, logger="ml_core.ensemble"):
        models = fit_regime_models(M, y, regimes, _meta, min_events=15, context="test: ")
    assert list(models) == ["bull"]
    assert "test: regime 'bear' has a single class [1] of targets['entry'] among its 20" \
        in caplog.text
    assert "test: regime 'sideways' has 10 out-of-fold events (< min_regime_events=15)" \
        in caplog.text
    ref = _meta().fit(M[:30], y[:30])
    np.testing.assert_array_equal(models["bull"][-1].coef_, ref[-1].coef_)
    # serving: bull rows by the bull model, the others by the global one
    glob = _meta().fit(M, np.r_[y[:59], 0])
    proba = regime_proba(glob, models, M, regimes)
    np.testing.assert_array_equal(proba[:30], ref.predict_proba(M[:30]))
    np.testing.assert_array_equal(proba[30:], glob.predict_proba(M[30:]))
    np.testing.assert_array_equal(regime_proba(glob, models, M, None), glob.predict_proba(M))


# ------------------------------------------------------------------ regime_mode="thresholds"

THRESHOLDS = {"bull": 0.55, "bear": 0.8}


@pytest.fixture(scope="module")
def by_threshold(synthetic, tiny):
    X, targets, events = synthetic
    return tiny(regime_mode="thresholds", regime_thresholds=THRESHOLDS).fit(
        X, targets, events["t1"])


def test_thresholds_mode_uses_each_rows_regime_threshold(by_threshold, fitted, synthetic):
    X, _, _ = synthetic
    assert by_threshold.regime_mode_ == "thresholds" and by_threshold.regime_models_ == []
    # the model is the global one; only the rule's threshold changes
    np.testing.assert_array_equal(by_threshold.predict_proba(X), fitted.predict_proba(X))
    dominant = X[REGIME_COLS].to_numpy().argmax(axis=1)
    expected_t = np.array([0.55, 0.8, 0.6])[dominant]  # sideways: confidence_threshold
    np.testing.assert_array_equal(by_threshold.confidence_thresholds(X), expected_t)
    comps = by_threshold.predict_components(X)
    p = by_threshold.predict_proba(X)[:, 1]
    expected = apply_signal_rule(p, comps["p_exit"], comps["size"],
                                 confidence_threshold=expected_t, index=X.index)
    out = by_threshold.predict(X)
    pd.testing.assert_frame_equal(out, expected)
    glob = fitted.predict(X)
    bull, bear = dominant == 0, dominant == 1
    # a lower bull threshold trades more, a higher bear threshold less
    assert (out["signal"][bull] != 0).sum() > (glob["signal"][bull] != 0).sum()
    assert (out["signal"][bear] != 0).sum() < (glob["signal"][bear] != 0).sum()
    pd.testing.assert_frame_equal(out[dominant == 2], glob[dominant == 2])


def test_global_mode_threshold_is_the_scalar(fitted, synthetic):
    X, _, _ = synthetic
    np.testing.assert_array_equal(fitted.confidence_thresholds(X), np.full(len(X), 0.6))


# ---------------------------------------------------------------------- regime_mode="models"

@pytest.fixture(scope="module")
def by_model(synthetic, tiny):
    X, targets, events = synthetic
    return tiny(regime_mode="models", min_regime_events=10, calibration="none").fit(
        X, targets, events["t1"])


def test_models_mode_fits_one_meta_learner_per_regime(by_model, synthetic):
    X, targets, _ = synthetic
    assert by_model.regime_mode_ == "models"
    assert by_model.regime_models_ == ["bull", "bear", "sideways"]
    assert list(by_model.regime_meta_) == by_model.regime_models_
    M = _oof_meta_matrix(by_model, X)
    y = targets["entry"].to_numpy()
    regimes = dominant_regime(X)
    comps = by_model.predict_components(X).to_numpy()
    M_serve = np.column_stack([comps, X[REGIME_COLS].to_numpy()])
    proba = by_model.predict_proba(X)
    for label in ("bull", "bear", "sideways"):
        rows = regimes == label
        ref = _meta().fit(M[rows], y[rows])
        np.testing.assert_allclose(by_model.regime_meta_[label][-1].coef_, ref[-1].coef_,
                                   rtol=1e-10)
        np.testing.assert_allclose(proba[rows],
                                   by_model.regime_meta_[label].predict_proba(M_serve[rows]),
                                   rtol=1e-12)
    # the global meta-learner is still fitted on every out-of-fold row
    np.testing.assert_allclose(by_model.meta_[-1].coef_, _meta().fit(M, y)[-1].coef_, rtol=1e-10)


def test_models_mode_cross_fits_the_regime_models_too(by_model, synthetic):
    X, targets, _ = synthetic
    M = _oof_meta_matrix(by_model, X)
    y = targets["entry"].to_numpy()
    regimes = dominant_regime(X)
    fold = by_model.oof_predictions_["fold"].to_numpy()
    p_meta = by_model.calibration_["p_meta"].to_numpy()
    for k in range(3):
        for label in ("bull", "bear"):
            train = (fold != k) & (regimes == label)
            test = (fold == k) & (regimes == label)
            ref = _meta().fit(M[train], y[train])
            np.testing.assert_allclose(p_meta[test], ref.predict_proba(M[test])[:, 1], rtol=1e-10)


def test_models_mode_falls_back_per_regime_and_logs(synthetic, tiny, caplog):
    """Sideways dominates only 30 events here (< min_regime_events=40), and bear's events all hit
    take-profit (one class): both use the global meta-learner; bull gets its own."""
    X, targets, events = synthetic
    X = X.copy()
    probs = X[REGIME_COLS].to_numpy().copy()
    side = probs[:, 2].argsort()[::-1][:30]  # keep the 30 most sideways rows sideways
    rest = np.setdiff1d(np.arange(len(X)), side)
    probs[rest, 2] = 0.0
    X[REGIME_COLS] = probs
    bear = dominant_regime(X) == "bear"
    targets = targets.assign(entry=np.where(bear, 1, targets["entry"]))
    with caplog.at_level(logging.WARNING, logger="ml_core.ensemble"):
        model = tiny(regime_mode="models", min_regime_events=40).fit(X, targets, events["t1"])
    assert model.regime_models_ == ["bull"] and list(model.regime_meta_) == ["bull"]
    assert "regime 'sideways' has 30 out-of-fold events (< min_regime_events=40)" in caplog.text
    assert f"regime 'bear' has a single class [1] of targets['entry'] among its {bear.sum()}" \
        in caplog.text
    uncal = model.calibrator_.predict_proba  # serving = calibrator(meta of the row's regime)
    comps = model.predict_components(X).to_numpy()
    M_serve = np.column_stack([comps, X[REGIME_COLS].to_numpy()])
    not_bull = dominant_regime(X) != "bull"
    np.testing.assert_allclose(model.predict_proba(X)[not_bull],
                               uncal(model.meta_.predict_proba(M_serve[not_bull])[:, 1]),
                               rtol=1e-12)


@pytest.mark.parametrize("mode", ["thresholds", "models"])
def test_without_regime_columns_both_modes_fall_back_to_global(synthetic, tiny, caplog, mode):
    X, targets, events = synthetic
    X = X[["x0", "x1", "regime_prob_bull"]]
    with caplog.at_level(logging.WARNING, logger="ml_core.ensemble"):
        model = tiny(regime_mode=mode, regime_thresholds={"bull": 0.9}).fit(
            X, targets, events["t1"])
    assert f"regime_mode='{mode}' needs the columns" in caplog.text
    assert "lacks ['regime_prob_bear', 'regime_prob_sideways']: falling back to " \
           "regime_mode='global'" in caplog.text
    assert model.regime_mode_ == "global" and model.regime_models_ == []
    glob = tiny().fit(X, targets, events["t1"])
    pd.testing.assert_frame_equal(model.predict(X), glob.predict(X))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"regime_mode": "per_regime"}, r"`regime_mode` must be one of \['global', 'thresholds', "
                                        r"'models'\], got `regime_mode='per_regime'`"),
        ({"regime_thresholds": {"crab": 0.6}}, r"got `regime_thresholds\['crab'\]`"),
        ({"regime_thresholds": {"bull": 0.4}}, r"got `regime_thresholds\['bull'\]=0.4`"),
        ({"regime_thresholds": [0.6]}, r"`regime_thresholds` must be a dict"),
        ({"min_regime_events": 0}, r"`min_regime_events=0`"),
    ],
)
def test_bad_regime_parameters(synthetic, tiny, params, message):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match=message):
        tiny(**params).fit(X, targets, events["t1"])
