"""The tuning window's features are selected as the ensemble will select them; one worker tunes
in this process exactly as before; parameter importances are each parameter's variance share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.config import load_config
from ml_core.pipeline import TrainingSet
from ml_core.selection import FeatureSelector
from tasks.tuning import param_importances, trials_per_worker, tuning_features


def _dataset(n: int = 600) -> TrainingSet:
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC")
    a = rng.normal(size=n)
    X = pd.DataFrame({"a": a, "a_copy": 3 * a, "flat": 1.0,
                      **{f"noise_{i}": rng.normal(size=n) for i in range(12)}}, index=index)
    entry = (a + 0.3 * rng.normal(size=n) > 0).astype(int)
    targets = pd.DataFrame({"entry": entry, "position": a, "exit": entry, "profit": a},
                           index=index)
    return TrainingSet(X=X, targets=targets, events=pd.DataFrame(
        {"t1": index + pd.Timedelta(hours=2)}, index=index), n_dropped_warmup=0)


def test_tuning_reads_the_columns_a_selector_keeps_on_the_recent_window():
    dataset = _dataset()
    config = load_config("configs/demo.yaml", {"tuning": {"max_rows": 400}})
    X = tuning_features(dataset, config)
    expected = FeatureSelector.from_config(config.features.selection, config.seed).fit(
        dataset.X.iloc[-400:], dataset.targets["entry"].iloc[-400:]).selected_
    assert list(X.columns) == expected
    assert "flat" not in X.columns and not {"a", "a_copy"} <= set(X.columns)
    assert len(X) == len(dataset.X)  # tune_forest cuts the window itself


def test_without_selection_every_column_is_tuned():
    dataset = _dataset()
    config = load_config("configs/demo.yaml", {"features": {"selection": {"enabled": False}}})
    assert tuning_features(dataset, config) is dataset.X


# ------------------------------------------------------------------ one or several workers
def _tune_study(**kwargs: object) -> object:
    from datetime import timedelta

    from ml_core.config import ForestSpec, TuningConfig
    from tasks.tuning import tune_study

    dataset = _dataset(300)
    args = {"tuning": TuningConfig(n_trials=3, tree_step=3, cv_folds=2),
            "purge": timedelta(hours=2), "embargo": timedelta(0), "seed": 0,
            "study_name": "s", **kwargs}
    return tune_study(ForestSpec(kind="classifier", n_estimators=6), dataset.X[["a", "noise_0"]],
                      dataset.targets["entry"], dataset.events["t1"], **args)


def test_one_worker_is_tune_forest_in_this_process():
    import os
    import socket
    from datetime import timedelta

    from ml_core.config import ForestSpec, TuningConfig
    from ml_core.tuning import tune_forest

    seen: list[tuple[int, int]] = []
    got = _tune_study(progress=lambda i, n: seen.append((i, n)))
    dataset = _dataset(300)
    expected = tune_forest(
        ForestSpec(kind="classifier", n_estimators=6), dataset.X[["a", "noise_0"]],
        dataset.targets["entry"], dataset.events["t1"],
        tuning=TuningConfig(n_trials=3, tree_step=3, cv_folds=2), purge=timedelta(hours=2),
        embargo=timedelta(0), seed=0, study_name="s")
    pd.testing.assert_frame_equal(got.trials, expected.trials)
    assert got.best_params == expected.best_params
    assert set(got.trials["user_attrs_worker"]) == {f"{socket.gethostname()}:{os.getpid()}"}
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_workers": 0}, "`n_workers` must be at least 1, got `n_workers=0`"),
        ({"n_workers": 2}, r"`n_workers=2` needs a storage URL .* got `storage=None`"),
        ({"n_workers": 2, "storage": object()}, r"got `storage=<object object"),
    ],
)
def test_several_workers_need_a_storage_url_they_can_all_open(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _tune_study(**kwargs)


def test_trials_per_worker_counts_finished_trials_only():
    from types import SimpleNamespace

    trials = pd.DataFrame({"state": ["COMPLETE", "PRUNED", "COMPLETE", "FAIL", "RUNNING"],
                           "user_attrs_worker": ["h:1", "h:2", "h:1", "h:2", "h:3"]})
    assert trials_per_worker(SimpleNamespace(trials=trials)) == {"h:1": 2, "h:2": 1}
    assert trials_per_worker(SimpleNamespace(trials=trials.drop(columns="user_attrs_worker"))) == {}


# ------------------------------------------------------------------ parameter importances
def _trials(values: list[float], states: list[str] | None = None, **params: list) -> pd.DataFrame:
    return pd.DataFrame({"number": range(len(values)),
                         "state": states or ["COMPLETE"] * len(values), "value": values,
                         **{f"params_{k}": v for k, v in params.items()}})


def test_param_importances_are_each_parameters_share_of_the_variance():
    # complete values 1, 1, 3, 3 (mean 2, total sum of squares 4); the pruned trial is ignored
    trials = _trials(
        [1.0, 1.0, 3.0, 3.0, 100.0], ["COMPLETE"] * 4 + ["PRUNED"],
        a=["x", "x", "y", "y", "z"],          # groups fix the value: 1
        b=[1, 2, 3, 4, 9],                    # 2 quantile bins {1, 2}, {3, 4}: 1
        c=[10, 20, 20, 10, 5],                # both groups average 2: 0
        d=["p", "q", "p", "p", "q"],          # p: mean 7/3 (3 trials), q: 1 -> (1/3 + 1) / 4
        e=[np.nan, np.nan, 5.0, 5.0, 1.0],    # None is a group of its own: 1
    )
    got = param_importances(trials)
    assert got.name == "importance" and got.index.name == "param"
    assert got.index.tolist() == ["a", "b", "e", "d", "c"]  # largest first, stable on ties
    np.testing.assert_allclose(got.to_numpy(), [1.0, 1.0, 1.0, 1 / 3, 0.0], atol=1e-12)


def test_param_importances_bin_numbers_by_quantile():
    # 8 trials -> 2 bins, depth 1-4 (values mean 1.5) and 5-8 (mean 3.5), around 2.5:
    # between 8 * 1 = 8, total 4 * 2.25 + 4 * 0.25 = 10
    values = [1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]
    got = param_importances(_trials(values, depth=[1, 2, 3, 4, 5, 6, 7, 8]))
    assert got["depth"] == pytest.approx(0.8, abs=1e-12)


@pytest.mark.parametrize(
    "trials",
    [
        _trials([0.7], a=["x"]),                                            # one complete trial
        _trials([0.7, 0.6], ["COMPLETE", "PRUNED"], a=["x", "y"]),         # one complete trial
        _trials([0.7, 0.7, 0.7], a=["x", "y", "z"]),                       # constant objective
        _trials([], a=[]),                                                  # no trial
    ],
)
def test_param_importances_are_empty_without_spread_to_explain(trials):
    assert param_importances(trials).empty


def test_param_importances_need_two_bins():
    with pytest.raises(ValueError, match="`max_bins` must be at least 2, got `max_bins=1`"):
        param_importances(_trials([1.0, 2.0], a=[1, 2]), max_bins=1)


def test_a_postgresql_storage_names_the_installed_driver():
    import importlib.util

    from ml_core.config import Config
    from tasks.tuning import optuna_storage

    driver = "postgresql" if importlib.util.find_spec("psycopg") else "postgresql+psycopg2"
    config = Config(profile="p", tuning={"storage": "postgresql://u:p%40ss@h:5432/optuna"})
    assert optuna_storage(config) == f"{driver}://u:p%40ss@h:5432/optuna"
    explicit = Config(profile="p", tuning={"storage": "postgresql+asyncpg://h/optuna"})
    assert optuna_storage(explicit) == "postgresql+asyncpg://h/optuna"
