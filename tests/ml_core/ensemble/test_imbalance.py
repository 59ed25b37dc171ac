"""Class imbalance: class weights by default, SMOTE inside every classifier fit on request."""

import logging
import sys

import numpy as np
import pandas as pd
import pytest

from ml_core.ensemble import RegimeForestEnsemble

imblearn = pytest.importorskip("imblearn")
from imblearn.over_sampling import SMOTE  # noqa: E402 - after the importorskip


@pytest.fixture(scope="module")
def smoted(synthetic, tiny):
    X, targets, events = synthetic
    return tiny(imbalance="smote").fit(X, targets, events["t1"])


def test_oversample_adds_minority_rows_on_segments_between_minority_rows():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(11, 2))
    y = np.r_[np.zeros(8, dtype=int), np.ones(3, dtype=int)]
    X_res, y_res = RegimeForestEnsemble._oversample("entry", values, y, SMOTE, seed=0)
    assert np.bincount(y_res).tolist() == [8, 8]
    np.testing.assert_array_equal(X_res[:11], values)  # the real rows first, unchanged
    minority = values[8:]
    for s in X_res[11:]:  # each synthetic row: a + t (b - a) for two minority rows, t in [0, 1]
        assert any(
            np.allclose(s, a + t * (b - a))
            for a in minority for b in minority if not np.array_equal(a, b)
            for t in [np.dot(s - a, b - a) / np.dot(b - a, b - a)] if -1e-12 <= t <= 1 + 1e-12
        )
    again = RegimeForestEnsemble._oversample("entry", values, y, SMOTE, seed=0)
    np.testing.assert_array_equal(again[0], X_res)


def test_oversample_skips_a_single_minority_row(caplog):
    values = np.arange(10.0).reshape(5, 2)
    y = np.array([0, 0, 0, 0, 1])
    with caplog.at_level(logging.WARNING, logger="ml_core.ensemble"):
        X_res, y_res = RegimeForestEnsemble._oversample("exit", values, y, SMOTE, seed=0)
    assert X_res is values and y_res is y
    assert "SMOTE skipped for the exit forest: its minority class has 1 of 5 training rows" \
        in caplog.text


def test_smote_forests_use_no_class_weight(smoted, fitted, synthetic):
    X, _, _ = synthetic
    for name in ("entry", "exit"):
        assert smoted.forests_[name].get_params()["class_weight"] is None
        assert fitted.forests_[name].get_params()["class_weight"] == "balanced_subsample"
    # regressors untouched: identical to the class-weight ensemble's
    pd.testing.assert_frame_equal(smoted.oof_predictions_[["size", "profit"]],
                                  fitted.oof_predictions_[["size", "profit"]])
    assert not np.allclose(smoted.oof_predictions_["p_entry"], fitted.oof_predictions_["p_entry"])
    out = smoted.predict(X)
    assert out["size"].between(0, 1).all() and set(out["signal"]) <= {-1, 0, 1}


def test_smote_is_seeded(smoted, synthetic, tiny):
    X, targets, events = synthetic
    twin = tiny(imbalance="smote").fit(X, targets, events["t1"])
    pd.testing.assert_frame_equal(twin.predict(X), smoted.predict(X), check_exact=True)
    pd.testing.assert_frame_equal(twin.calibration_, smoted.calibration_, check_exact=True)


def test_smote_sees_only_the_training_rows_of_each_classifier_fit(synthetic, tiny, monkeypatch):
    """Every SMOTE call gets exactly one fit's training rows: a fold's (``oof_train_mask_``) for
    the out-of-fold forests, every row for the final ones; never a row the forest then predicts
    out of fold. Here ``entry`` is made imbalanced (about 1 in 4)."""
    X, targets, events = synthetic
    targets = targets.assign(entry=(targets["profit"] > targets["profit"].quantile(0.75))
                             .astype(int))
    row_of = {v.tobytes(): i for i, v in enumerate(X.to_numpy())}
    calls: list[tuple[frozenset[int], int, np.ndarray]] = []
    real = SMOTE.fit_resample

    def spy(sampler, values, y):
        calls.append((frozenset(row_of[v.tobytes()] for v in values), sampler.random_state,
                      np.bincount(y)))
        return real(sampler, values, y)

    monkeypatch.setattr(SMOTE, "fit_resample", spy)
    model = tiny(imbalance="smote").fit(X, targets, events["t1"])
    mask = model.oof_train_mask_
    folds = [frozenset(np.flatnonzero(mask[f"fold_{k}"])) for k in range(3)]
    everything = frozenset(range(len(X)))
    assert len(calls) == 2 * (3 + 1)  # entry and exit, three folds and the final fit
    assert [rows for rows, _, _ in calls] == [folds[0]] * 2 + [folds[1]] * 2 + [folds[2]] * 2 \
        + [everything] * 2
    seeds = model.random_states_
    assert [seed for _, seed, _ in calls] == [seeds["entry"], seeds["exit"]] * 4
    entry_counts = calls[-2][2]
    assert entry_counts[1] < entry_counts[0] / 2  # the imbalance SMOTE corrected


def test_smote_without_imbalanced_learn_says_how_to_install(synthetic, tiny, monkeypatch):
    X, targets, events = synthetic
    monkeypatch.setitem(sys.modules, "imblearn", None)
    monkeypatch.setitem(sys.modules, "imblearn.over_sampling", None)
    with pytest.raises(ImportError, match="pip install imbalanced-learn"):
        tiny(imbalance="smote").fit(X, targets, events["t1"])


def test_bad_imbalance(synthetic, tiny):
    X, targets, events = synthetic
    with pytest.raises(ValueError, match=r"`imbalance` must be one of \['class_weight', "
                                         r"'smote'\], got `imbalance='adasyn'`"):
        tiny(imbalance="adasyn").fit(X, targets, events["t1"])
