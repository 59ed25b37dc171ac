"""evaluate_holdout: exact metrics on a hand-made holdout, importances on the holdout rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.inspection import permutation_importance

from ml_core.evaluation import trade_returns
from ml_core.evaluation._cpcv import REGIME_METRICS
from ml_core.evaluation._holdout import (
    HOLDOUT_METRICS,
    HoldoutReport,
    evaluate_holdout,
    reliability_table,
)
from ml_core.metrics import sharpe_ratio
from ml_core.pipeline import TrainingSet

EPY = 100.0  # events per year: sqrt(EPY) = 10
COST = 10.0  # bps: a full-size trade pays 0.002 in and out
RET = [0.02, -0.01, 0.01, -0.02, 0.03, -0.03]  # mean 0
BULL, BEAR = [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]
# Half-hourly closes over the events' span (00:00 to the last label end, 05:30): +10%, -10%,
# +10%, then flat -- bar returns .1, -.1, .1 and eight zeros.
CLOSE = pd.Series([100.0, 110.0, 99.0] + [108.9] * 9,
                  index=pd.date_range("2024-03-01", periods=12, freq="30min", tz="UTC"))
HELD = np.array([0.1, -0.1, 0.1] + [0.0] * 8)


class _FakeEnsemble:
    """Fixed forest outputs and signals; small real forests only for the importances."""

    def __init__(self, X: pd.DataFrame, components: pd.DataFrame, signal: pd.DataFrame,
                 targets: pd.DataFrame, features: list[str]) -> None:
        self.components, self.signal = components, signal
        self.forest_features_ = features
        values = X[features].to_numpy()
        self.forests_ = {
            name: (RandomForestClassifier if name in ("entry", "exit") else RandomForestRegressor)(
                n_estimators=3, max_depth=2, random_state=0).fit(values, targets[name])
            for name in ("entry", "position", "exit", "profit")}

    def predict_components(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.components.loc[X.index]

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.signal.loc[X.index]


def _case(regimes: bool = True) -> tuple[_FakeEnsemble, TrainingSet]:
    """Six hourly events: rows 0-2 in the bull regime, 3-5 in the bear regime (none sideways).

    entry forest predicts [1, 1, 0, 0, 1, 0] for targets [1, 0, 1, 0, 1, 0]; the exit forest
    [0, 1, 1, 1, 0, 1] for [0, 1, 0, 1, 0, 1]; the signal is BUY, BUY, HOLD, SELL, BUY, SELL
    at sizes 1, .5, 0, .5, 1, .5, so the trade returns are .018, -.006, 0, .009, .028, .014.
    """
    idx = pd.date_range("2024-03-01", periods=6, freq="h", tz="UTC", name="t0")
    X = pd.DataFrame({"x0": [0.5, -1.0, 0.2, -0.3, 1.5, -2.0],
                      "x1": [1.0, 0.0, -1.0, 2.0, 0.5, -0.5]}, index=idx)
    if regimes:
        probs = np.array([BULL] * 3 + [BEAR] * 3)
        for k, label in enumerate(("bull", "bear", "sideways")):
            X[f"regime_prob_{label}"] = probs[:, k]
    targets = pd.DataFrame({"entry": [1, 0, 1, 0, 1, 0],
                            "position": [0.5, 0.2, 0.4, 0.1, 0.9, 0.3],
                            "exit": [0, 1, 0, 1, 0, 1], "profit": RET}, index=idx)
    events = pd.DataFrame({"t1": idx + pd.Timedelta("30min"), "ret": RET}, index=idx)
    components = pd.DataFrame({
        "p_entry": [0.8, 0.6, 0.3, 0.2, 0.9, 0.4],
        "size": [0.5, 0.3, 0.4, 0.1, 0.7, 0.3],  # residuals 0, .1, 0, 0, -.2, 0
        "p_exit": [0.1, 0.7, 0.6, 0.8, 0.2, 0.9],
        "profit": [0.04, 0.0, 0.02, -0.01, 0.03, -0.03],  # residuals .02, .01, .01, .01, 0, 0
    }, index=idx)
    p_long = [0.8, 0.7, 0.55, 0.2, 0.9, 0.3]
    signal = pd.DataFrame({"signal": [1, 1, 0, -1, 1, -1],
                           "confidence": np.maximum(p_long, 1 - np.asarray(p_long)),
                           "size": [1.0, 0.5, 0.0, 0.5, 1.0, 0.5], "p_long": p_long}, index=idx)
    model = _FakeEnsemble(X, components, signal, targets, ["x0", "x1"])
    return model, TrainingSet(X, targets, events, 0)


@pytest.fixture(scope="module")
def report() -> HoldoutReport:
    model, holdout = _case()
    return evaluate_holdout(model, holdout, cost_bps=COST, events_per_year=EPY, n_repeats=3,
                            random_state=0, close=CLOSE)


# ------------------------------------------------------------ hand-made case
def test_trade_returns_and_the_metrics_table(report):
    np.testing.assert_allclose(report.returns, [0.018, -0.006, 0.0, 0.009, 0.028, 0.014])
    m = report.metrics
    assert m.index.tolist() == list(HOLDOUT_METRICS)
    expected = {
        ("entry", "accuracy"): 4 / 6, ("entry", "precision"): 2 / 3, ("entry", "recall"): 2 / 3,
        ("entry", "roc_auc"): 7 / 9, ("entry", "brier"): 1.10 / 6,
        ("position", "r2"): 1 - 0.05 / 0.40, ("position", "rmse"): np.sqrt(0.05 / 6),
        ("exit", "accuracy"): 5 / 6, ("exit", "precision"): 3 / 4, ("exit", "recall"): 1.0,
        ("exit", "roc_auc"): 1.0, ("exit", "brier"): 0.55 / 6,
        ("profit", "r2"): 1 - 7 / 28, ("profit", "rmse"): np.sqrt(7e-4 / 6),
        # traded rows 0, 1, 3, 4, 5: row 1 bought a fall
        ("ensemble", "accuracy"): 4 / 5, ("ensemble", "n_trades"): 5,
        ("ensemble", "roc_auc"): 8 / 9, ("ensemble", "brier"): 0.8725 / 6,
        # mean .0105, sum of squared deviations 7.595e-4, one loss of .006
        ("ensemble", "sharpe"): 0.0105 / np.sqrt(7.595e-4 / 5) * 10,
        ("ensemble", "sortino"): 0.0105 / (0.006 / np.sqrt(6)) * 10,
        ("ensemble", "max_drawdown"): 0.006, ("ensemble", "hit_rate"): 4 / 5,
        # holding the asset from 00:00 to 05:30, annualised at 17,520 half-hour bars a year
        ("buy_and_hold", "sharpe"): HELD.mean() / HELD.std(ddof=1) * np.sqrt(17520),
        ("buy_and_hold", "sortino"): HELD.mean() / np.sqrt(0.01 / 11) * np.sqrt(17520),
        ("buy_and_hold", "max_drawdown"): 0.1, ("buy_and_hold", "hit_rate"): 2 / 3,
        ("buy_and_hold", "n_trades"): 1,
        # long on every event: mean 0, the last event falls 3% from the peak
        ("long_every_event", "sharpe"): 0.0, ("long_every_event", "sortino"): 0.0,
        ("long_every_event", "max_drawdown"): 0.03, ("long_every_event", "hit_rate"): 0.5,
        ("long_every_event", "n_trades"): 6,
    }
    for (model, column), value in expected.items():
        assert m.loc[model, column] == pytest.approx(value, abs=1e-12), (model, column)
    # cells that do not apply are empty, those that do are filled
    for model, columns in HOLDOUT_METRICS.items():
        assert m.loc[model].notna().to_dict() == {c: c in columns for c in m.columns}
    assert report.brier == m.loc["ensemble", "brier"]
    assert report.n_events == 6 and report.start == report.returns.index[0]
    assert report.buy_and_hold_return == pytest.approx(0.089, abs=1e-12)
    assert report.n_trades == 5


def test_a_holdout_without_trades_has_no_ensemble_statistics():
    model, holdout = _case()
    model.signal = model.signal.assign(signal=0, size=0.0)
    report = evaluate_holdout(model, holdout, cost_bps=COST, events_per_year=EPY, n_repeats=2,
                              random_state=0)
    ensemble = report.metrics.loc["ensemble"]
    assert report.n_trades == 0 and ensemble["n_trades"] == 0
    assert ensemble[["accuracy", "sharpe", "sortino", "max_drawdown", "hit_rate"]].isna().all()
    assert ensemble["roc_auc"] == pytest.approx(8 / 9)  # the probabilities are still scored
    # without close prices there is no buy-and-hold of the asset; the event rule remains
    assert report.metrics.loc["buy_and_hold"].isna().all()
    assert report.metrics.loc["long_every_event", "max_drawdown"] == pytest.approx(0.03)
    assert np.isnan(report.buy_and_hold_return)
    assert report.per_regime[["sharpe", "max_drawdown", "hit_rate"]].isna().all().all()


def test_per_regime_splits_the_rows_by_dominant_regime(report):
    table = report.per_regime
    assert table.index.tolist() == ["bull", "bear"]  # no sideways row: no event in it
    assert table.index.name == "regime" and table.columns.tolist() == list(REGIME_METRICS)
    bull, bear = table.loc["bull"], table.loc["bear"]
    assert bull.to_dict() == pytest.approx({
        "n_events": 3, "n_trades": 2, "entry_accuracy": 1 / 3, "entry_precision": 1 / 2,
        "entry_recall": 1 / 2, "roc_auc": 0.5, "brier": 0.7325 / 3, "ensemble_accuracy": 0.5,
        "sharpe": 0.004 / np.sqrt(1.56e-4) * 10, "sortino": 0.004 / (0.006 / np.sqrt(3)) * 10,
        "max_drawdown": 0.006, "hit_rate": 0.5}, abs=1e-12)
    assert bear.to_dict() == pytest.approx({
        "n_events": 3, "n_trades": 3, "entry_accuracy": 1.0, "entry_precision": 1.0,
        "entry_recall": 1.0, "roc_auc": 1.0, "brier": 0.14 / 3, "ensemble_accuracy": 1.0,
        "sharpe": 0.017 / np.sqrt(9.7e-5) * 10, "sortino": 0.0, "max_drawdown": 0.0,
        "hit_rate": 1.0}, abs=1e-12)
    assert report.per_regime_reason == ""


def test_a_regime_of_one_event_has_no_ratio_and_ties_go_to_the_first_label():
    model, holdout = _case()
    X = holdout.X.copy()
    X.iloc[0, 2:] = [0.4, 0.4, 0.2]  # bull and bear tie: bull
    X.iloc[5, 2:] = [0.1, 0.2, 0.7]  # the only sideways event
    report = evaluate_holdout(model, TrainingSet(X, holdout.targets, holdout.events, 0),
                              cost_bps=COST, events_per_year=EPY, random_state=0)
    assert report.per_regime.index.tolist() == ["bull", "bear", "sideways"]
    assert report.per_regime["n_events"].tolist() == [3, 2, 1]
    sideways = report.per_regime.loc["sideways"]
    assert np.isnan(sideways["sharpe"]) and np.isnan(sideways["sortino"])
    assert np.isnan(sideways["roc_auc"])  # one class
    assert sideways["hit_rate"] == 1.0 and sideways["max_drawdown"] == 0.0


def test_without_regime_columns_per_regime_is_empty_with_a_reason():
    model, holdout = _case(regimes=False)
    report = evaluate_holdout(model, holdout, cost_bps=COST, events_per_year=EPY)
    assert report.per_regime.empty and report.per_regime.columns.tolist() == list(REGIME_METRICS)
    assert "regime_prob_bull" in report.per_regime_reason
    assert not any(k.startswith(("holdout_bull", "holdout_bear")) for k in report.summary())


def test_confusion_matrices_have_labelled_axes(report):
    entry, exit_, ensemble = (report.confusion[k] for k in ("entry", "exit", "ensemble"))
    assert (entry.index.name, entry.columns.name) == ("predicted", "true")
    assert entry.to_numpy().tolist() == [[2, 1], [1, 2]]
    assert exit_.to_numpy().tolist() == [[2, 0], [1, 3]]
    assert (ensemble.index.name, ensemble.columns.name) == ("signal", "realised")
    assert ensemble.index.tolist() == ["BUY", "SELL", "HOLD"]
    assert ensemble.columns.tolist() == ["up", "down"]
    assert ensemble.to_numpy().tolist() == [[2, 1], [0, 2], [1, 0]]


def test_reliability_bins_include_their_lower_edge(report):
    table = report.reliability
    assert table.index.tolist() == list(range(10))
    np.testing.assert_allclose(table["lower"], np.arange(10) / 10)
    # p_long .2, .3, .55, .7, .8, .9 (0.3 and 0.7 exactly on an edge)
    assert table["count"].tolist() == [0, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    filled = table[table["count"] > 0]
    assert filled["mean_predicted"].tolist() == [0.2, 0.3, 0.55, 0.7, 0.8, 0.9]
    assert filled["observed_frequency"].tolist() == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert table.loc[0, ["mean_predicted", "observed_frequency"]].isna().all()


def test_reliability_puts_zero_in_the_first_bin_and_one_in_the_last():
    table = reliability_table([0.0, 0.1, 0.99, 1.0], [0, 1, 1, 1])
    assert table["count"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table.loc[9, "mean_predicted"] == pytest.approx(0.995)


def test_importances_cover_the_forest_features_only(report):
    model, holdout = _case()
    table = report.importances
    assert table.index.tolist() == ["x0", "x1"]  # not the regime columns the forests never read
    assert table.columns.tolist() == ["impurity_entry", "impurity_position", "impurity_exit",
                                      "impurity_profit", "permutation_mean", "permutation_std"]
    for name, forest in model.forests_.items():
        np.testing.assert_array_equal(table[f"impurity_{name}"], forest.feature_importances_)
    direct = permutation_importance(model.forests_["entry"], holdout.X[["x0", "x1"]].to_numpy(),
                                    holdout.targets["entry"], scoring="roc_auc", n_repeats=3,
                                    random_state=0)
    np.testing.assert_array_equal(table["permutation_mean"], direct.importances_mean)
    np.testing.assert_array_equal(table["permutation_std"], direct.importances_std)
    assert report.importance_reason == ""


def test_a_one_class_holdout_has_no_auc_and_no_permutation_importance():
    model, holdout = _case()
    targets = holdout.targets.assign(entry=1)
    report = evaluate_holdout(model, TrainingSet(holdout.X, targets, holdout.events, 0),
                              cost_bps=COST, events_per_year=EPY)
    assert np.isnan(report.metrics.loc["ensemble", "roc_auc"])
    assert report.importances[["permutation_mean", "permutation_std"]].isna().all().all()
    assert "single class 1" in report.importance_reason


def test_summary_has_a_fixed_set_of_holdout_keys(report):
    summary = report.summary()
    expected = ({f"holdout_{m}_{c}" for m, cols in HOLDOUT_METRICS.items() for c in cols}
                | {f"holdout_{r}_{c}" for r in ("bull", "bear") for c in REGIME_METRICS}
                | {f"holdout_smoothing_{m}_{c}" for m in ("none", "ewma", "hysteresis")
                   for c in ("turnover", "sharpe")}
                | {"holdout_buy_and_hold_return", "holdout_n_events"})
    assert set(summary) == expected
    assert all(isinstance(v, float) for v in summary.values())
    assert summary["holdout_entry_precision"] == pytest.approx(2 / 3)
    assert summary["holdout_ensemble_hit_rate"] == pytest.approx(0.8)
    assert summary["holdout_long_every_event_max_drawdown"] == pytest.approx(0.03)
    assert summary["holdout_buy_and_hold_max_drawdown"] == pytest.approx(0.1)
    assert summary["holdout_buy_and_hold_return"] == pytest.approx(0.089)
    assert summary["holdout_bear_n_trades"] == 3.0 and summary["holdout_n_events"] == 6.0


# ------------------------------------------------------------------- errors
def _shifted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(frame.index + pd.Timedelta("1min"))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda h: TrainingSet(h.X.iloc[:1], h.targets.iloc[:1], h.events.iloc[:1], 0),
         ValueError, r"at least 2 events .* got `len\(holdout.X\)=1`"),
        (lambda h: TrainingSet(h.X, _shifted(h.targets), h.events, 0), ValueError,
         "`holdout.targets` must be aligned with `holdout.X`"),
        (lambda h: TrainingSet(h.X, h.targets, h.events.iloc[::-1], 0), ValueError,
         "`holdout.events` must be aligned with `holdout.X`"),
        (lambda h: TrainingSet(h.X, h.targets.drop(columns="exit"), h.events, 0), ValueError,
         r"`holdout.targets` lacks columns \['exit'\]"),
        (lambda h: TrainingSet(h.X, h.targets, h.events.drop(columns="ret"), 0), ValueError,
         r"`holdout.events` lacks columns \['ret'\]"),
        (lambda h: h.X, TypeError, "`holdout` must be a TrainingSet"),
    ],
)
def test_holdout_errors_name_the_parameter(change, error, message):
    model, holdout = _case()
    with pytest.raises(error, match=message):
        evaluate_holdout(model, change(holdout), cost_bps=COST, events_per_year=EPY)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cost_bps": -1.0}, "`cost_bps=-1.0`"),
    ({"events_per_year": 0.0}, "`events_per_year=0.0`"),
    ({"n_repeats": 0}, "`n_repeats=0`"),
])
def test_parameter_errors(kwargs, message):
    model, holdout = _case()
    with pytest.raises(ValueError, match=message):
        evaluate_holdout(model, holdout, **{"cost_bps": COST, "events_per_year": EPY, **kwargs})


def test_an_unfitted_model_is_refused():
    _, holdout = _case()
    with pytest.raises(ValueError, match="`model` must be a fitted ensemble"):
        evaluate_holdout(object(), holdout, cost_bps=COST, events_per_year=EPY)


# --------------------------------------------------------- a fitted ensemble
def _later(n: int, seed: int, make_synthetic) -> TrainingSet:  # noqa: ANN001
    """Fresh synthetic events (same law as the training ones) starting 120 days later."""
    X, targets, events = make_synthetic(n=n, seed=seed)
    shift = pd.Timedelta(days=120)
    frames = [frame.set_axis(frame.index + shift) for frame in (X, targets, events)]
    frames[2]["t1"] = frames[2]["t1"] + shift
    return TrainingSet(*frames, 0)


@pytest.fixture(scope="module")
def ensemble(synthetic, tiny):
    X, targets, events = synthetic
    return tiny().fit(X, targets, events["t1"])


def test_a_holdout_that_overlaps_the_training_rows_is_refused(ensemble, synthetic):
    X, targets, events = synthetic
    overlap = TrainingSet(X.iloc[-50:], targets.iloc[-50:], events.iloc[-50:], 0)
    with pytest.raises(ValueError, match="`holdout` shares 50 events with the rows `model` was"):
        evaluate_holdout(ensemble, overlap, cost_bps=COST, events_per_year=EPY)


def test_a_fitted_ensemble_is_scored_on_its_own_predictions(ensemble, make_synthetic):
    holdout = _later(300, 7, make_synthetic)
    report = evaluate_holdout(ensemble, holdout, cost_bps=5.0, events_per_year=2920,
                              random_state=0)
    expected = trade_returns(ensemble.predict(holdout.X), holdout.events, cost_bps=5.0)
    pd.testing.assert_series_equal(report.returns, expected)
    assert report.metrics.loc["ensemble", "sharpe"] == pytest.approx(
        sharpe_ratio(expected, 2920))
    assert report.per_regime["n_events"].sum() == 300
    assert int(report.confusion["ensemble"].to_numpy().sum()) == 300
    assert report.reliability["count"].sum() == 300
    # the synthetic signal carries over to unseen events
    assert report.metrics.loc["ensemble", "roc_auc"] > 0.8


def test_permutation_importance_is_measured_on_the_holdout_rows(ensemble, make_synthetic):
    """x0 drives the training targets (largest impurity importance). On a holdout where x0
    still drives them, shuffling it costs a lot of ROC AUC; on one where x0 is pure noise,
    about nothing -- an importance on the training rows would be large in both."""
    holdout = _later(300, 7, make_synthetic)
    signal = evaluate_holdout(ensemble, holdout, cost_bps=5.0, events_per_year=2920,
                              random_state=0).importances
    noise_X = holdout.X.assign(x0=np.random.default_rng(42).normal(size=len(holdout.X)))
    noise = evaluate_holdout(ensemble, TrainingSet(noise_X, holdout.targets, holdout.events, 0),
                             cost_bps=5.0, events_per_year=2920, random_state=0).importances
    assert signal["impurity_entry"].idxmax() == "x0"
    assert signal.loc["x0", "permutation_mean"] > 0.25
    assert abs(noise.loc["x0", "permutation_mean"]) < 0.05
    # the impurity importances come from training and do not change with the holdout
    pd.testing.assert_series_equal(noise["impurity_entry"], signal["impurity_entry"])


def test_smoothing_effect_compares_methods_on_the_same_fitted_model(synthetic, tiny):
    from ml_core.ensemble import turnover
    from ml_core.evaluation import smoothing_effect

    X, targets, events = synthetic
    train, test = slice(0, 400), slice(400, None)
    model = tiny(hysteresis_band=0.1).fit(X.iloc[train], targets.iloc[train],
                                         events["t1"].iloc[train])
    effect = smoothing_effect(model, X.iloc[test], events.iloc[test], cost_bps=5.0,
                              events_per_year=2920)
    assert effect.index.tolist() == ["none", "ewma", "hysteresis"]
    assert model.smoothing == "none"  # the fitted model is untouched
    assert effect.loc["none", "turnover"] == turnover(model.predict(X.iloc[test]))
    assert effect.loc["none", "turnover_vs_none"] == 1.0
    assert effect.loc["hysteresis", "turnover"] < effect.loc["none", "turnover"]
    assert effect.loc["ewma", "sharpe_vs_none"] == pytest.approx(
        effect.loc["ewma", "sharpe"] - effect.loc["none", "sharpe"])
