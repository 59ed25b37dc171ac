"""Training tasks: the profile's feature selection is fitted in every fit, CPCV splits too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prefect import flow

from ml_core.config import Config, RegimeConfig
from ml_core.pipeline import TrainingSet
from ml_core.selection import FeatureSelector
from ml_core.validation import CombinatorialPurgedCV
from tasks.training import build_ensemble, cross_validate, train_ensemble

SMALL = {"kind": "classifier", "n_estimators": 5, "max_depth": 3}


def _config(validation: dict | None = None, **selection: object) -> Config:
    return Config.model_validate({
        "profile": "unit", "seed": 5,
        "features": {"selection": {"min_features": 2, "n_estimators": 10, **selection}},
        "ensemble": {"entry": SMALL, "exit": SMALL, "meta_folds": 2,
                     "position": {**SMALL, "kind": "regressor"},
                     "profit": {**SMALL, "kind": "regressor"}},
        "validation": {"n_groups": 3, "n_test_groups": 1, "purge": "3h", "embargo": "3h",
                       "cpcv_refit_regime": False,  # these events come without bars
                       **(validation or {})},
    })


def _dataset(n: int = 240) -> TrainingSet:
    """Events every 3 h with a signal in ``x0``, a near-copy of it, a constant and noise."""
    rng = np.random.default_rng(0)
    t0 = pd.date_range("2024-01-01", periods=n, freq="3h", tz="UTC", name="t0")
    x0 = rng.normal(size=n)
    X = pd.DataFrame({"x0": x0, "x0_copy": x0 + 1e-3 * rng.normal(size=n), "const": 1.0,
                      "noise": rng.normal(size=n), "regime_prob_bull": rng.uniform(size=n)},
                     index=t0)
    ret = 0.01 * (x0 + rng.normal(size=n))
    targets = pd.DataFrame({"entry": (ret > 0).astype(int),
                            "position": np.clip(0.5 + ret * 20, 0, 1),
                            "exit": (ret < 0).astype(int), "profit": ret}, index=t0)
    events = pd.DataFrame({"t1": t0 + pd.Timedelta(hours=2), "ret": ret}, index=t0)
    return TrainingSet(X, targets, events, 0)


def test_build_ensemble_uses_the_profile_selection_when_enabled() -> None:
    config = _config()
    model = build_ensemble(config.ensemble, config)
    assert model.selection == config.features.selection and model.random_state == 5
    assert model.meta_folds == 2 and model.purge == pd.Timedelta(hours=3)
    off = _config(enabled=False)
    assert build_ensemble(off.ensemble, off).selection is None


@flow
def _train_and_cv(dataset: TrainingSet, config: Config):  # noqa: ANN202
    pipeline = train_ensemble(dataset, None, config.ensemble, config, {})
    return pipeline, cross_validate(dataset, config.ensemble, config)


@pytest.mark.usefixtures("prefect_harness")
def test_every_fit_selects_on_its_own_training_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The final fit selects on every event; each CPCV split on exactly its training events."""
    seen: list[pd.Index] = []
    fit = FeatureSelector.fit

    def spy(self, X, y):  # noqa: ANN001, ANN202
        seen.append(X.index)
        return fit(self, X, y)

    monkeypatch.setattr(FeatureSelector, "fit", spy)
    dataset, config = _dataset(), _config()
    pipeline, report = _train_and_cv(dataset, config)

    ensemble = pipeline.ensemble
    assert ensemble.selector_ is not None and "const" not in ensemble.forest_features_
    assert len({"x0", "x0_copy"} & set(ensemble.forest_features_)) == 1
    assert pipeline.feature_columns == dataset.X.columns.tolist()
    v = config.validation
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo)
    splits = list(cv.split(dataset.X, t1=dataset.t1))
    assert len(seen) == 1 + len(splits) and len(report.splits) == len(splits)
    assert seen[0].equals(dataset.X.index)
    for rows, (train_idx, test_idx) in zip(seen[1:], splits, strict=True):
        assert rows.equals(dataset.X.index[train_idx])
        assert not rows.isin(dataset.X.index[test_idx]).any()


@flow
def _validate(dataset: TrainingSet, config: Config, tuned: dict):  # noqa: ANN202
    from tasks.training import assess_overfitting, walk_forward

    report = cross_validate(dataset, config.ensemble, config)
    return report, walk_forward(dataset, config.ensemble, config), assess_overfitting(
        tuned, report, config)


def _tuned(n_trials: int, columns: int) -> dict:
    from ml_core.tuning import TuningResult

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(0, 0.01, size=(64, columns)))
    return {"entry": TuningResult({}, 0.5, n_trials, 0, columns, 0, pd.DataFrame(), "s", frame,
                                  pd.DataFrame())}


@pytest.mark.usefixtures("prefect_harness")
def test_walk_forward_and_overfitting_follow_the_profile() -> None:
    config = _config({"walk_forward_windows": 3, "min_events_per_group": 40,
                      "pbo_partitions": 8})
    dataset = _dataset()
    cv_report, wf, overfitting = _validate(dataset, config, _tuned(n_trials=9, columns=4))
    assert len(wf.windows) == 3 and (wf.windows["n_test"] == 60).all()  # 240 - 60 initial
    assert overfitting.n_trials == 9 and set(overfitting.pbo) == {"entry"}
    assert overfitting.pbo["entry"].n_combinations == 70  # C(8, 4)
    assert overfitting.paths.index.tolist() == list(cv_report.path_returns)


@pytest.mark.usefixtures("prefect_harness")
def test_zero_windows_skip_walk_forward_and_no_tuning_counts_one_trial() -> None:
    config = _config({"walk_forward_windows": 0})
    _, wf, overfitting = _validate(_dataset(), config, {})
    assert wf is None
    assert overfitting.n_trials == 1 and overfitting.pbo == {}
    np.testing.assert_allclose(overfitting.paths["dsr"], overfitting.paths["psr"])


@pytest.mark.usefixtures("prefect_harness")
def test_too_few_events_per_window_names_the_setting() -> None:
    config = _config({"walk_forward_windows": 20})  # 240 events: 10 per window
    with pytest.raises(ValueError, match="`min_window_size=20`"):
        _validate(_dataset(), config, {})


def _bars(dataset: TrainingSet) -> pd.DataFrame:
    """30-minute bars of a simulated 3-regime market, from 2 days before the first event (the
    HMM's warm-up) to past the last label."""
    from ml_core.regime._simulate import SEPARATED, simulate

    bars, _ = simulate(SEPARATED, 24 * 34, seed=0)  # 34 days of 1h regime bars
    bars.index = bars.index - bars.index[0] + dataset.X.index[0] - pd.Timedelta(days=2)
    assert bars.index[-1] > dataset.t1.max()
    return bars


@flow
def _cv(dataset: TrainingSet, config: Config, bars: pd.DataFrame | None):  # noqa: ANN202
    return cross_validate(dataset, config.ensemble, config, bars)


@pytest.mark.usefixtures("prefect_harness")
def test_refit_regime_gives_each_split_its_own_hmm_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_core.regime import refit_regime_features

    seen: list[pd.DataFrame] = []
    fit = FeatureSelector.fit

    def spy(self, X, y):  # noqa: ANN001, ANN202
        seen.append(X)
        return fit(self, X, y)

    monkeypatch.setattr(FeatureSelector, "fit", spy)
    dataset = _dataset()
    config = _config({"cpcv_refit_regime": True}).model_copy(update={"regime": RegimeConfig(
        timeframe="1h", covariance_type="diag", n_restarts=1)})
    bars = _bars(dataset)
    report = _cv(dataset, config, bars)
    v = config.validation
    splits = list(CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge,
                                        v.embargo).split(dataset.X, t1=dataset.t1))
    assert len(seen) == len(splits) == len(report.splits) == 3
    for X, (train_idx, _) in zip(seen, splits, strict=True):
        _, own = refit_regime_features(bars, dataset.t1, train_idx, config.regime,
                                       config.data.timeframe, config.seed)
        pd.testing.assert_series_equal(X["regime_prob_bull"],
                                       own["regime_prob_bull"].iloc[train_idx])
        pd.testing.assert_frame_equal(X.drop(columns="regime_prob_bull"),
                                      dataset.X.iloc[train_idx].drop(columns="regime_prob_bull"))


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_split_refit_keeps_the_development_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_core.regime

    seen: list[pd.DataFrame] = []
    fit = FeatureSelector.fit
    monkeypatch.setattr(FeatureSelector, "fit", lambda self, X, y: (seen.append(X),
                                                                   fit(self, X, y))[1])
    monkeypatch.setattr(ml_core.regime, "refit_regime_features",
                        lambda *a, **k: (_ for _ in ()).throw(ValueError("degenerate")))
    dataset = _dataset()
    report = _cv(dataset, _config({"cpcv_refit_regime": True}), _bars(dataset))
    assert len(seen) == len(report.splits) == 3
    for X in seen:
        pd.testing.assert_frame_equal(X, dataset.X.loc[X.index])


@pytest.mark.usefixtures("prefect_harness")
def test_refit_regime_needs_the_bars() -> None:
    with pytest.raises(ValueError, match=r"pass the development `bars`, got `bars=None`"):
        _cv(_dataset(), _config({"cpcv_refit_regime": True}), None)
