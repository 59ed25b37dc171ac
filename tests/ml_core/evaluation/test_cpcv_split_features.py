"""evaluate_cpcv's ``split_features``: each split's recomputed columns, and only they, reach that
split's fit and prediction."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import evaluate_cpcv
from ml_core.validation import CombinatorialPurgedCV

CV = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, purge=timedelta(hours=3),
                           embargo=timedelta(hours=3))
EVENTS_PER_YEAR = 365 * 8


class _Spy:
    """An ensemble that records the feature frames it is fitted on and predicts."""

    def __init__(self, inner):
        self.inner, self.fitted_on, self.predicted_on = inner, None, []

    def fit(self, X, targets, t1):
        self.fitted_on = X
        self.inner.fit(X, targets, t1)
        return self

    def predict_components(self, X):
        self.predicted_on.append(X)
        return self.inner.predict_components(X)

    def predict(self, X):
        self.predicted_on.append(X)
        return self.inner.predict(X)


def _run(synthetic, tiny, split_features):
    X, targets, events = synthetic
    models = []

    def make():
        models.append(_Spy(tiny(meta_folds=2)))
        return models[-1]

    report = evaluate_cpcv(make, X, targets, events, CV, cost_bps=5.0,
                           events_per_year=EVENTS_PER_YEAR, split_features=split_features)
    return report, models


def test_each_split_fits_and_predicts_on_its_own_columns(synthetic, tiny):
    X, _, events = synthetic
    before = X.copy()
    calls = []

    def shifted(train_idx):  # a column that depends on the split: the training events' count
        calls.append(train_idx)
        return X[["x0"]] + train_idx.size

    report, models = _run(synthetic, tiny, shifted)
    splits = list(CV.split(X, t1=events["t1"]))
    assert len(calls) == len(models) == len(splits) == 6
    for call, model, (train_idx, test_idx) in zip(calls, models, splits, strict=True):
        np.testing.assert_array_equal(call, train_idx)
        expected = X.iloc[train_idx].assign(x0=X["x0"].iloc[train_idx] + train_idx.size)
        pd.testing.assert_frame_equal(model.fitted_on, expected)
        for seen in model.predicted_on:
            pd.testing.assert_frame_equal(
                seen, X.iloc[test_idx].assign(x0=X["x0"].iloc[test_idx] + train_idx.size))
    pd.testing.assert_frame_equal(X, before)  # the caller's frame is untouched
    assert (report.splits["n_train"] == [c.size for c in calls]).all()


def test_without_split_features_every_split_reads_x(synthetic, tiny):
    X, _, events = synthetic
    _, models = _run(synthetic, tiny, None)
    for model, (train_idx, _) in zip(models, CV.split(X, t1=events["t1"]), strict=True):
        pd.testing.assert_frame_equal(model.fitted_on, X.iloc[train_idx])


@pytest.mark.parametrize(("returned", "message"), [
    (lambda X: X[["x0"]].rename(columns={"x0": "nope"}),
     r"split 0: `split_features` must return columns of `X` on `X.index`, got 600 rows and "
     r"unknown columns \['nope'\]"),
    (lambda X: X[["x0"]].iloc[1:], r"split 0: .* got 599 rows and unknown columns \[\]"),
    (lambda X: X[["x0", "x1"]].assign(x1=np.inf),
     r"split 0: `split_features` returned NaN or inf in \['x1'\]"),
])
def test_bad_split_columns_are_named(synthetic, tiny, returned, message):
    X, _, _ = synthetic
    with pytest.raises(ValueError, match=message):
        _run(synthetic, tiny, lambda train_idx: returned(X))


def test_a_failing_split_is_named(synthetic, tiny):
    def degenerate(train_idx):
        raise ValueError("all 5 HMM restarts are degenerate")

    with pytest.raises(ValueError, match=r"split 0: `split_features` failed on its 299 training "
                                         r"events: all 5 HMM restarts are degenerate"):
        _run(synthetic, tiny, degenerate)
