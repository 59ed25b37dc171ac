"""Calibrated confidence: cross-fitted meta-learners, fold coefficients, the calibrator, and a
leak test by construction (spies on every forest, meta-learner and calibrator fit of ``fit``)."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import ml_core.ensemble._ensemble as ens_module
from ml_core.ensemble import COMPONENT_COLUMNS, MODEL_NAMES, RegimeForestEnsemble, apply_signal_rule
from ml_core.ensemble._calibration import ProbabilityCalibrator, brier_score
from ml_core.ensemble._ensemble import CALIBRATION_COLUMNS

REGIME_COLS = ["regime_prob_bull", "regime_prob_bear", "regime_prob_sideways"]


@pytest.fixture(scope="module")
def uncalibrated(synthetic, tiny):
    X, targets, events = synthetic
    return tiny(calibration="none").fit(X, targets, events["t1"])


@pytest.fixture(scope="module")
def fitted(synthetic, tiny):
    """Isotonic calibration (the shared ``fitted`` fixture uses the default, sigmoid)."""
    X, targets, events = synthetic
    return tiny(calibration="isotonic").fit(X, targets, events["t1"])


@pytest.fixture(scope="module")
def sigmoid(synthetic, tiny):
    X, targets, events = synthetic
    return tiny(calibration="sigmoid").fit(X, targets, events["t1"])


def _oof_meta_matrix(model, X):
    """The meta features of every out-of-fold row, laid out as ``fit`` lays them out (a C-ordered
    array: another memory order may change the last bit of a BLAS product)."""
    return np.ascontiguousarray(np.column_stack(
        [model.oof_predictions_[list(COMPONENT_COLUMNS)].to_numpy(), X[REGIME_COLS].to_numpy()]))


def _meta(C=1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, l1_ratio=0.0))


# ------------------------------------------------------------------- calibration="none"

def test_calibration_none_serves_the_uncalibrated_stack_bit_for_bit(uncalibrated, synthetic):
    """The behaviour before calibration existed, rebuilt by hand: a meta-learner fitted on the
    out-of-fold outputs, applied to the final forests' outputs, through the scalar signal rule."""
    X, targets, _ = synthetic
    assert uncalibrated.calibrator_ is None
    meta = _meta().fit(_oof_meta_matrix(uncalibrated, X), targets["entry"].to_numpy())
    comps = uncalibrated.predict_components(X)
    proba = meta.predict_proba(
        np.ascontiguousarray(np.column_stack([comps.to_numpy(), X[REGIME_COLS].to_numpy()])))
    np.testing.assert_array_equal(uncalibrated.predict_proba(X), proba)
    expected = apply_signal_rule(proba[:, 1], comps["p_exit"], comps["size"],
                                 confidence_threshold=0.6, index=X.index)
    pd.testing.assert_frame_equal(uncalibrated.predict(X), expected, check_exact=True)
    cal = uncalibrated.calibration_
    np.testing.assert_array_equal(cal["p_calibrated"], cal["p_meta"])
    assert uncalibrated.brier_calibrated_ == uncalibrated.brier_uncalibrated_


def test_calibration_only_changes_the_top_of_the_stack(fitted, uncalibrated, synthetic):
    X, _, _ = synthetic
    pd.testing.assert_frame_equal(fitted.oof_predictions_, uncalibrated.oof_predictions_)
    pd.testing.assert_series_equal(fitted.meta_coef_, uncalibrated.meta_coef_)
    pd.testing.assert_frame_equal(fitted.meta_coef_folds_, uncalibrated.meta_coef_folds_)
    pd.testing.assert_series_equal(fitted.calibration_["p_meta"],
                                   uncalibrated.calibration_["p_meta"])
    raw = uncalibrated.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(fitted.predict_proba(X),
                                  fitted.calibrator_.predict_proba(raw))
    pd.testing.assert_frame_equal(fitted.predict_components(X), uncalibrated.predict_components(X))


# ------------------------------------------------------------------------ cross-fitting

def test_cross_fitted_meta_probabilities_and_fold_coefficients_by_hand(fitted, synthetic):
    X, targets, _ = synthetic
    M = _oof_meta_matrix(fitted, X)
    y = targets["entry"].to_numpy()
    fold = fitted.oof_predictions_["fold"].to_numpy()
    cal = fitted.calibration_
    assert cal.columns.tolist() == list(CALIBRATION_COLUMNS) and cal.index.equals(X.index)
    np.testing.assert_array_equal(cal["fold"], fold)
    np.testing.assert_array_equal(cal["entry"], y)
    folds = fitted.meta_coef_folds_
    assert folds.index.tolist() == [0, 1, 2] and folds.index.name == "fold"
    assert folds.columns.tolist() == fitted.meta_features_
    for k in range(3):
        meta = _meta().fit(M[fold != k], y[fold != k])
        np.testing.assert_allclose(cal["p_meta"].to_numpy()[fold == k],
                                   meta.predict_proba(M[fold == k])[:, 1], rtol=1e-12)
        np.testing.assert_allclose(folds.loc[k].to_numpy(), meta[-1].coef_[0], rtol=1e-12)
        # the honest calibrated probability: a calibrator fitted on the other folds
        other = ProbabilityCalibrator().fit(cal["p_meta"][fold != k], y[fold != k])
        np.testing.assert_array_equal(cal["p_calibrated"].to_numpy()[fold == k],
                                      other.calibrate(cal["p_meta"][fold == k]))
    final = ProbabilityCalibrator().fit(cal["p_meta"], y)
    np.testing.assert_array_equal(fitted.calibrator_.x_thresholds_, final.x_thresholds_)
    np.testing.assert_array_equal(fitted.calibrator_.y_thresholds_, final.y_thresholds_)
    assert fitted.brier_uncalibrated_ == brier_score(y, cal["p_meta"])
    assert fitted.brier_calibrated_ == brier_score(y, cal["p_calibrated"])


def test_fold_coefficients_are_stable_on_a_learnable_signal(fitted):
    folds = fitted.meta_coef_folds_
    assert (folds["p_entry"] > 0).all()  # every cross-fit meta-learner trusts the entry forest
    spread = folds.std()
    assert (spread < 1.0).all()
    # the global meta-learner sits within the folds' range on the dominant weight
    low, high = folds["p_entry"].min() - 0.2, folds["p_entry"].max() + 0.2
    assert low < fitted.meta_coef_["p_entry"] < high


def test_calibrating_an_already_calibrated_meta_learner_costs_little(fitted, sigmoid):
    """At ``meta_C=1`` the logistic meta-learner is close to calibrated (0.129 against 0.25 for a
    coin flip); a calibrator fitted on ~400 rows adds a little variance (measured out of fold:
    isotonic 0.134, sigmoid 0.133)."""
    for model in (fitted, sigmoid):
        assert model.brier_uncalibrated_ < 0.2 and model.brier_calibrated_ < 0.2
        assert model.brier_calibrated_ < model.brier_uncalibrated_ + 0.01


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_repairs_an_under_confident_meta_learner(synthetic, tiny, method):
    """A heavily penalised meta-learner (``meta_C=0.003``) shrinks its probabilities towards the
    base rate; the calibrator stretches them back: out-of-fold Brier 0.158 -> about 0.134."""
    X, targets, events = synthetic
    model = tiny(meta_C=0.003, calibration=method).fit(X, targets, events["t1"])
    assert model.brier_calibrated_ < model.brier_uncalibrated_ - 0.015
    cal = model.calibration_
    assert cal["p_calibrated"].std() > 1.5 * cal["p_meta"].std()
    p = model.predict_proba(X)[:, 1]
    raw = model.meta_.predict_proba(np.column_stack(
        [model.predict_components(X).to_numpy(), X[REGIME_COLS].to_numpy()]))[:, 1]
    assert np.abs(p - 0.5).mean() > 1.5 * np.abs(raw - 0.5).mean()  # served: more decisive


def test_sigmoid_calibration(sigmoid, synthetic):
    X, targets, _ = synthetic
    assert sigmoid.calibrator_.method == "sigmoid" and np.isfinite(sigmoid.calibrator_.slope_)
    cal = sigmoid.calibration_
    refit = ProbabilityCalibrator("sigmoid").fit(cal["p_meta"], targets["entry"])
    assert (sigmoid.calibrator_.slope_, sigmoid.calibrator_.intercept_) == (
        refit.slope_, refit.intercept_)
    p = sigmoid.predict(X)["p_long"].to_numpy()
    assert ((p > 0) & (p < 1)).all()  # a sigmoid never answers exactly 0 or 1


def test_calibration_is_reproducible_with_the_seed(fitted, synthetic, tiny):
    X, targets, events = synthetic
    twin = tiny(calibration="isotonic").fit(X, targets, events["t1"])
    pd.testing.assert_frame_equal(twin.calibration_, fitted.calibration_, check_exact=True)
    pd.testing.assert_frame_equal(twin.meta_coef_folds_, fitted.meta_coef_folds_, check_exact=True)
    assert (twin.brier_uncalibrated_, twin.brier_calibrated_) == (
        fitted.brier_uncalibrated_, fitted.brier_calibrated_)
    pd.testing.assert_frame_equal(twin.predict(X), fitted.predict(X), check_exact=True)


def test_a_fold_whose_other_folds_hold_one_entry_class_falls_back_to_a_constant(
        tiny, make_synthetic, caplog):
    """Take-profit hits only in the first fold: the meta-learner cross-fitted for fold 0 sees only
    class 0, so fold 0's cross-fitted probability is the constant 0.0 (logged), and its row of
    ``meta_coef_folds_`` is NaN."""
    X, targets, events = make_synthetic(n=40)
    entry = np.r_[np.ones(5), np.zeros(5), np.zeros(30)].astype(int)
    entry[[1, 3]] = 0
    model = tiny(meta_folds=4, purge=timedelta(0), embargo=timedelta(0))
    with caplog.at_level("WARNING", logger="ml_core.ensemble"):
        model.fit(X, targets.assign(entry=entry), events["t1"])
    assert "meta fold 0: the other folds' 30 out-of-fold events hold a single class" in caplog.text
    cal = model.calibration_
    np.testing.assert_array_equal(cal.loc[cal["fold"] == 0, "p_meta"], 0.0)
    assert model.meta_coef_folds_.loc[0].isna().all()
    assert model.meta_coef_folds_.drop(index=0).notna().all().all()


# ------------------------------------------------------------------ leak test by construction

class _Spies:
    """Every forest fit (its rows), every out-of-fold forest output, every meta-learner fit and
    prediction, and every calibrator fit of one ``fit``, mapped back to event rows."""

    def __init__(self, X: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
        self.row_of_x = {row.tobytes(): i for i, row in enumerate(X.to_numpy())}
        self.row_of_regime = {row.tobytes(): i for i, row in enumerate(X[REGIME_COLS].to_numpy())}
        self.forest_rows: dict[int, set[int]] = {}
        self.forests: list[object] = []  # alive, so that no two forests share an id()
        self.outputs: dict[tuple[int, str], list[tuple[float, bool]]] = {}
        self.meta_fits: list[tuple[list[int], np.ndarray]] = []
        self.meta_preds: list[tuple[list[int], np.ndarray, bool]] = []
        self.calibrator_fits: list[tuple[np.ndarray, np.ndarray]] = []
        spies = self

        real_fit_forest = RegimeForestEnsemble._fit_forest

        def fit_forest(model, name, values, y, smote=None):
            forest = real_fit_forest(model, name, values, y, smote)
            spies.forest_rows[id(forest)] = {spies.row_of_x[v.tobytes()] for v in values}
            spies.forests.append(forest)
            return forest

        real_component = ens_module._component

        def component(name, forest, values):
            out = real_component(name, forest, values)
            for v, o in zip(values, out, strict=True):
                i = spies.row_of_x[v.tobytes()]
                spies.outputs.setdefault((i, name), []).append(
                    (float(o), i not in spies.forest_rows[id(forest)]))
            return out

        class SpyMeta(Pipeline):
            def fit(self, X, y=None, **params):
                self.spy_rows = spies.rows_of_meta(X)
                spies.meta_fits.append((self.spy_rows, np.array(X)))
                return super().fit(X, y, **params)

            def predict_proba(self, X, **params):
                out = super().predict_proba(X, **params)
                rows = spies.rows_of_meta(X)
                spies.meta_preds.append(
                    (rows, out[:, 1].copy(), not set(rows) & set(self.spy_rows)))
                return out

        real_calibrator_fit = ProbabilityCalibrator.fit

        def calibrator_fit(cal, X, y):
            spies.calibrator_fits.append((np.asarray(X, dtype=float).copy(), np.asarray(y).copy()))
            return real_calibrator_fit(cal, X, y)

        monkeypatch.setattr(RegimeForestEnsemble, "_fit_forest", fit_forest)
        monkeypatch.setattr(ens_module, "_component", component)
        monkeypatch.setattr(ens_module, "_meta_learner", lambda C: SpyMeta(
            [("scale", StandardScaler()), ("logistic", LogisticRegression(C=C, l1_ratio=0.0))]))
        monkeypatch.setattr(ProbabilityCalibrator, "fit", calibrator_fit)

    def rows_of_meta(self, M: np.ndarray) -> list[int]:
        return [self.row_of_regime[m.tobytes()] for m in np.asarray(M)[:, -3:]]

    def calibrator_violations(self, inputs: np.ndarray, labels: np.ndarray,
                              y: np.ndarray) -> list[str]:
        """Calibrator inputs that are not an honest meta prediction of a row with that label."""
        honest: dict[float, set[int]] = {}
        leaky: dict[float, set[int]] = {}
        for rows, p, ok in self.meta_preds:
            for i, v in zip(rows, p, strict=True):
                (honest if ok else leaky).setdefault(float(v), set()).add(i)
        bad = []
        for v, label in zip(inputs, labels, strict=True):
            rows = {i for i in honest.get(float(v), set()) if y[i] == label}
            if not rows or float(v) in leaky:
                bad.append(f"p={v} (label {label})")
        return bad


@pytest.mark.parametrize("regime_mode", ["global", "models"])
def test_meta_learners_and_calibrator_never_see_an_in_sample_prediction(
        synthetic, tiny, monkeypatch, regime_mode):
    X, targets, events = synthetic
    y = targets["entry"].to_numpy()
    spies = _Spies(X, monkeypatch)
    model = tiny(regime_mode=regime_mode, min_regime_events=10).fit(X, targets, events["t1"])
    fold = model.oof_predictions_["fold"].to_numpy()
    mask = model.oof_train_mask_.to_numpy()

    # (a) forests: each out-of-fold output comes from a forest fitted on its fold's recorded
    # training rows (oof_train_mask_), which exclude the row
    for (i, name), produced in spies.outputs.items():
        assert len(produced) == 1 and produced[0][1], (i, name)
        assert not mask[i, fold[i]]
    oof_forests = [rows for rows in spies.forest_rows.values() if len(rows) < len(X)]
    assert len(oof_forests) == 3 * len(MODEL_NAMES)
    assert {frozenset(r) for r in oof_forests} == {
        frozenset(np.flatnonzero(mask[:, k])) for k in range(3)}

    # (b) meta-learners: fitted on out-of-fold outputs only, each the value a forest that never
    # saw the row produced
    n_regime_models = len(model.regime_models_)
    assert len(spies.meta_fits) == (1 + 3) * (1 + n_regime_models)
    for rows, M in spies.meta_fits:
        for i, m in zip(rows, M, strict=True):
            for j, name in enumerate(MODEL_NAMES):
                assert m[j] == spies.outputs[(i, name)][0][0]
    # cross-fit: every meta prediction made during fit is of rows outside its model's fit
    assert spies.meta_preds and all(ok for _, _, ok in spies.meta_preds)
    for rows, _, _ in spies.meta_preds:
        assert len(set(fold[rows])) == 1  # one fold at a time

    # (c) calibrator: the final one and one per fold, all on honest meta predictions
    assert len(spies.calibrator_fits) == 1 + 3
    for inputs, labels in spies.calibrator_fits:
        assert spies.calibrator_violations(inputs, labels, y) == []
    np.testing.assert_array_equal(spies.calibrator_fits[0][0], model.calibration_["p_meta"])

    # negative control: the leak this design prevents is caught — in-sample predictions of the
    # final meta-learner, offered as calibrator inputs
    in_sample = model.meta_.predict_proba(_oof_meta_matrix(model, X))[:, 1]
    assert len(spies.calibrator_violations(in_sample, y, y)) > len(y) // 2
