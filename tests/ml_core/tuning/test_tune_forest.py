"""tune_forest: Hyperband prunes, results reproduce, studies resume, bad input is named."""

from datetime import timedelta

import numpy as np
import optuna
import pandas as pd
import pytest

from ml_core._search_space import FOREST_PARAMS
from ml_core.config import ForestSpec, TuningConfig
from ml_core.tuning import TuningResult, tune_forest

pytestmark = pytest.mark.slow  # Hyperband studies: ~45 s for the module

H = timedelta(hours=1)
SPEC = ForestSpec(kind="classifier", n_estimators=27)
TUNING = TuningConfig(n_trials=9, tree_step=3, reduction_factor=3, cv_folds=3)


def _data(n=400, kind="classifier"):
    rng = np.random.default_rng(42)
    idx = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC", name="t0")
    X = pd.DataFrame(rng.normal(size=(n, 5)), index=idx, columns=[f"f{i}" for i in range(5)])
    signal = X["f0"] + 0.5 * X["f1"] + rng.normal(scale=0.8, size=n)
    y = (signal > 0).astype(int) if kind == "classifier" else signal
    t1 = pd.Series(idx + pd.Timedelta("2h"), index=idx)
    return X, y, t1


def _tune(spec=SPEC, tuning=TUNING, data=None, **kwargs):
    X, y, t1 = data if data is not None else _data(kind=spec.kind)
    args = {"purge": H, "embargo": H, "seed": 42, "study_name": "entry", **kwargs}
    return tune_forest(spec, X, y, t1, tuning=tuning, **args)


@pytest.fixture(scope="module")
def result() -> TuningResult:
    return _tune()


def test_hyperband_prunes_and_counts_trees(result):
    assert (result.n_trials, result.study_name) == (9, "entry")
    assert result.n_pruned >= 1
    assert result.n_pruned + result.n_complete == 9
    trees = result.trials["user_attrs_trees_fitted"]
    assert result.trees_fitted == trees.sum()
    complete = result.trials["state"] == "COMPLETE"
    # a complete trial grows 27 trees in each of 3 folds; pruning saves compute
    assert (trees[complete] == 81).all()
    assert result.trees_fitted < 9 * 81
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}


def test_learns_the_signal_and_first_tries_the_spec(result):
    assert result.best_value > 0.8  # ROC AUC on a learnable signal (chance is 0.5)
    first = result.trials.iloc[0]
    assert first["params_max_features"] == "sqrt" and first["params_min_samples_leaf"] == 1
    assert result.best_value >= result.trials.loc[0, "value"]


def test_best_params_apply_to_the_spec(result):
    assert set(result.best_params) == set(FOREST_PARAMS)  # all 11; trees are the resource
    tuned = ForestSpec.model_validate({**SPEC.model_dump(), **result.best_params})
    assert tuned.n_estimators == SPEC.n_estimators
    assert tuned.max_features == result.best_params["max_features"]


def test_same_seed_reproduces(result):
    again = _tune()
    assert again.best_params == result.best_params
    assert again.best_value == result.best_value
    pd.testing.assert_series_equal(again.trials["value"], result.trials["value"])


def test_resumes_from_sqlite_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = _tune(tuning=TUNING.model_copy(update={"n_trials": 4}), storage=url)
    assert first.n_trials == 4
    second = _tune(tuning=TUNING.model_copy(update={"n_trials": 7}), storage=url)
    assert second.n_trials == 7
    pd.testing.assert_frame_equal(second.trials.iloc[:4], first.trials)
    # the target is already met: nothing new is run
    third = _tune(tuning=TUNING.model_copy(update={"n_trials": 7}), storage=url)
    assert third.n_trials == 7 and third.trees_fitted == second.trees_fitted
    stored = optuna.load_study(study_name="entry", storage=url)
    assert len(stored.trials) == 7


def test_regressor_scores_r2():
    got = _tune(
        spec=ForestSpec(kind="regressor", n_estimators=9),
        tuning=TUNING.model_copy(update={"n_trials": 3}),
        study_name="profit",
    )
    assert 0.3 < got.best_value < 1.0  # R² of a noisy linear signal


def test_max_rows_uses_the_most_recent_rows():
    X, y, t1 = _data()
    y = y.astype(float)
    y.iloc[:200] = np.nan  # would be rejected if the older rows were used
    got = _tune(tuning=TUNING.model_copy(update={"n_trials": 2, "max_rows": 200}),
                data=(X, y, t1))
    assert got.n_trials == 2


def test_optuna_verbosity_is_restored():
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        _tune(tuning=TUNING.model_copy(update={"n_trials": 1}))
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)


def test_real_sample_direction_target():
    from ml_core.data import load_sample_bars

    close = load_sample_bars()["close"].iloc[-800:]
    r = np.log(close).diff()
    X = pd.concat({f"ret_{k}": r.rolling(k).sum() for k in (1, 4, 16)}, axis=1).iloc[16:-4]
    y = (close.shift(-4) > close).astype(int).loc[X.index]  # next 2h direction, label ends t+4
    t1 = pd.Series(X.index + pd.Timedelta("2h"), index=X.index)
    got = _tune(tuning=TUNING.model_copy(update={"n_trials": 3, "max_rows": 500}),
                data=(X, y, t1), embargo=2 * H)
    assert got.n_trials == 3
    assert 0.3 < got.best_value < 0.7  # next-bar direction is close to a coin flip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": (lambda X, y, t1: (X, y * 0, t1))(*_data())}, "single class"),
        ({"spec": ForestSpec(kind="regressor", n_estimators=9),
          "data": (lambda X, y, t1: (X, y * 0.0, t1))(*_data())}, "constant"),
        ({"spec": ForestSpec(kind="classifier", n_estimators=2)}, "`tuning.tree_step=3`"),
        ({"data": (lambda X, y, t1: (X, y.iloc[1:], t1))(*_data())}, "`y` must be a pandas Series"),
        ({"embargo": timedelta(days=30)}, "`embargo=30 days"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _tune(**kwargs)


def test_progress_is_reported_after_every_trial() -> None:
    rng = np.random.default_rng(42)
    n = 240
    index = pd.date_range("2021-01-01", periods=n, freq="30min", tz="UTC")
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}, index=index)
    y = pd.Series((X["a"] + 0.3 * rng.normal(size=n) > 0).astype(int), index=index)
    t1 = pd.Series(index + pd.Timedelta("1h"), index=index)
    seen: list[tuple[int, int]] = []
    tune_forest(ForestSpec(kind="classifier", n_estimators=6), X, y, t1,
                tuning=TuningConfig(n_trials=4, tree_step=3, cv_folds=2), purge=timedelta(0),
                embargo=timedelta(0), seed=1, study_name="p",
                progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_without_pruning_every_trial_grows_every_tree(result):
    unpruned = _tune(pruner=optuna.pruners.NopPruner())
    assert unpruned.n_pruned == 0 and unpruned.n_complete == 9
    assert unpruned.trees_fitted == 9 * 81 > result.trees_fitted
