from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import CVReport, buy_and_hold_metrics, evaluate_cpcv, trade_returns
from ml_core.validation import CombinatorialPurgedCV

PURGE = EMBARGO = timedelta(hours=3)
EVENTS_PER_YEAR = 365 * 8  # one synthetic event every 3 h
SPLIT_COLUMNS = [
    "entry_accuracy", "entry_precision", "entry_recall", "position_r2", "position_rmse",
    "exit_accuracy", "exit_precision", "exit_recall", "profit_r2", "profit_rmse",
    "ensemble_accuracy", "sharpe", "max_drawdown", "n_trades", "n_train", "n_test",
]
# Hourly closes over the synthetic events' span (600 events every 3 h, labels up to 9 h long).
CLOSE = pd.Series(100.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.01, 1900))),
                  index=pd.date_range("2024-01-01", periods=1900, freq="h", tz="UTC"))


@pytest.fixture(scope="module")
def cv():
    return CombinatorialPurgedCV(n_groups=4, n_test_groups=2, purge=PURGE, embargo=EMBARGO)


@pytest.fixture(scope="module")
def run(synthetic, tiny, cv):
    """One CPCV run; records the models it builds and the progress calls."""
    X, targets, events = synthetic
    models, calls = [], []

    def make():
        models.append(tiny(meta_folds=2))
        return models[-1]

    report = evaluate_cpcv(make, X, targets, events, cv, cost_bps=5.0,
                           events_per_year=EVENTS_PER_YEAR,
                           progress=lambda i, n: calls.append((i, n)), close=CLOSE)
    return report, models, calls


def test_counts_of_splits_paths_and_events(run, synthetic, cv):
    report, models, calls = run
    X, _, _ = synthetic
    assert isinstance(report, CVReport)
    assert len(report.splits) == 6 and len(models) == 6
    assert report.splits.columns.tolist() == SPLIT_COLUMNS
    assert report.paths.columns.tolist() == ["sharpe", "sortino", "max_drawdown", "hit_rate",
                                             "n_trades", "n_events"]
    assert len(report.paths) == 3 == len(report.path_returns)
    assert calls == [(i, 6) for i in range(1, 7)]
    assert (report.splits["n_test"] == 300).all()
    # every event in every path exactly once, in time order
    for returns in report.path_returns.values():
        assert returns.index.equals(X.index)
    counts = pd.concat(report.path_returns.values()).index.value_counts()
    assert (counts == cv.n_paths).all() and len(counts) == len(X)
    assert (report.paths["n_events"] == len(X)).all()


def test_each_split_trains_only_on_its_purged_training_events(run, synthetic, cv):
    report, models, _ = run
    X, _, events = synthetic
    for model, (train_idx, test_idx), n_train in zip(
        models, cv.split(X, t1=events["t1"]), report.splits["n_train"], strict=True
    ):
        seen = model.oof_predictions_.index
        assert seen.equals(X.index[train_idx]) and n_train == train_idx.size
        assert seen.intersection(X.index[test_idx]).empty


def test_path_returns_are_the_splits_out_of_sample_returns(run, synthetic, cv):
    """Path p on group g holds the returns of the split whose path_ids say so; checked by
    predicting with the model the run fitted for that split."""
    report, models, _ = run
    X, _, events = synthetic
    groups = cv.group_indices(len(X))
    for s, combo in enumerate(cv.test_groups()):
        for j, g in enumerate(combo):
            rows = X.iloc[groups[g]]
            expected = trade_returns(models[s].predict(rows), events, cost_bps=5.0)
            got = report.path_returns[int(cv.path_ids()[s, j])].loc[rows.index]
            pd.testing.assert_series_equal(got, expected, check_freq=False)


def test_metrics_and_summary(run):
    report, _, _ = run
    from ml_core.metrics import sharpe_ratio

    for p, returns in report.path_returns.items():
        expected = sharpe_ratio(returns, EVENTS_PER_YEAR)
        assert report.paths.loc[p, "sharpe"] == pytest.approx(expected)
        assert report.paths.loc[p, "n_trades"] == (returns != 0).sum()  # no trade returns exactly 0
    summary = report.summary()
    assert summary["cv_n_splits"] == 6 and summary["cv_n_paths"] == 3
    assert summary["cv_entry_precision"] == pytest.approx(report.splits["entry_precision"].mean())
    assert summary["cv_split_sharpe"] == pytest.approx(report.splits["sharpe"].mean())
    assert summary["cv_sharpe_median"] == pytest.approx(report.paths["sharpe"].median())
    assert summary["cv_sharpe_mean"] == pytest.approx(report.paths["sharpe"].mean())
    assert summary["cv_sharpe_std"] == pytest.approx(report.paths["sharpe"].std(ddof=1))
    assert summary["cv_max_drawdown_median"] == pytest.approx(report.paths["max_drawdown"].median())
    assert all(isinstance(v, float) for v in summary.values())
    # the synthetic signal is learnable out of sample
    assert summary["cv_ensemble_accuracy"] > 0.75 and summary["cv_entry_accuracy"] > 0.7
    assert summary["cv_sharpe_median"] > 0


def test_same_seed_same_report(run, synthetic, tiny, cv):
    report, _, _ = run
    X, targets, events = synthetic
    again = evaluate_cpcv(lambda: tiny(meta_folds=2), X, targets, events, cv, cost_bps=5.0,
                          events_per_year=EVENTS_PER_YEAR, close=CLOSE)
    pd.testing.assert_frame_equal(again.splits, report.splits)
    pd.testing.assert_frame_equal(again.paths, report.paths)
    assert again.summary() == report.summary()


def test_summary_without_trades_is_undefined_not_perfect():
    splits = pd.DataFrame({"ensemble_accuracy": [np.nan, np.nan], "sharpe": [np.nan, np.nan],
                           "max_drawdown": [np.nan, np.nan], "n_trades": [0, 0]})
    paths = pd.DataFrame({"sharpe": [np.nan], "sortino": [np.nan], "max_drawdown": [np.nan],
                          "hit_rate": [np.nan], "n_trades": [0], "n_events": [10]})
    summary = CVReport(splits, paths, {0: pd.Series(np.zeros(10))}).summary()
    for key in ("cv_ensemble_accuracy", "cv_split_sharpe", "cv_sharpe_median", "cv_sharpe_mean",
                "cv_sharpe_std", "cv_max_drawdown_median", "cv_hit_rate_median"):
        assert np.isnan(summary[key]), key
    assert summary["cv_n_paths_traded"] == 0.0 and summary["cv_n_paths"] == 1.0


def test_summary_is_over_the_paths_that_traded():
    paths = pd.DataFrame({"sharpe": [np.nan, 1.0, 3.0], "sortino": [np.nan, 2.0, 4.0],
                          "max_drawdown": [np.nan, 0.1, 0.3], "hit_rate": [np.nan, 0.5, 0.7],
                          "n_trades": [0, 4, 6], "n_events": [10, 10, 10]})
    summary = CVReport(pd.DataFrame({"n_trades": [5]}), paths, {}).summary()
    assert summary["cv_sharpe_median"] == 2.0 and summary["cv_sharpe_mean"] == 2.0
    assert summary["cv_sharpe_std"] == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert summary["cv_max_drawdown_median"] == pytest.approx(0.2)
    assert summary["cv_n_paths_traded"] == 2.0 and summary["cv_n_paths"] == 3.0
    assert summary["cv_n_trades_median"] == 4.0  # every path counts, the silent one too


def test_summary_with_one_traded_path_has_no_spread():
    paths = pd.DataFrame({"sharpe": [1.5], "sortino": [2.0], "max_drawdown": [0.1],
                          "hit_rate": [0.6], "n_trades": [3], "n_events": [10]})
    summary = CVReport(pd.DataFrame({"n_trades": [3]}), paths, {}).summary()
    assert summary["cv_sharpe_std"] == 0.0 and summary["cv_sharpe_median"] == 1.5


def test_a_split_and_path_without_trades_have_no_statistics():
    from ml_core.evaluation._cpcv import _path_metrics

    metrics = _path_metrics(pd.Series(np.zeros(5)), 0, events_per_year=100.0)
    assert metrics["n_trades"] == 0 and metrics["n_events"] == 5
    assert all(np.isnan(metrics[k]) for k in ("sharpe", "sortino", "max_drawdown", "hit_rate"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, t, e: (X, t.iloc[::-1], e), "`targets.index` differs"),
        (lambda X, t, e: (X, t, e.drop(columns="ret")), r"lacks columns \['ret'\]"),
        (lambda X, t, e: (X, t, e.iloc[1:]), "`events.index` differs"),
    ],
)
def test_input_errors(synthetic, tiny, cv, change, message):
    X, targets, events = change(*synthetic)
    with pytest.raises(ValueError, match=message):
        evaluate_cpcv(tiny, X, targets, events, cv, cost_bps=5.0, events_per_year=1.0)


@pytest.mark.parametrize(("cost", "epy", "message"),
                         [(-1.0, 1.0, "`cost_bps=-1.0`"), (0.0, 0.0, "`events_per_year=0.0`")])
def test_parameter_errors(synthetic, tiny, cv, cost, epy, message):
    with pytest.raises(ValueError, match=message):
        evaluate_cpcv(tiny, *synthetic, cv, cost_bps=cost, events_per_year=epy)


def test_on_the_bundled_sample(real_events, tiny):
    X, targets, events = real_events
    cv = CombinatorialPurgedCV(n_groups=3, n_test_groups=1, purge=timedelta(hours=8),
                               embargo=timedelta(hours=4))
    years = (X.index[-1] - X.index[0]) / pd.Timedelta(days=365)
    report = evaluate_cpcv(lambda: tiny(meta_folds=2), X, targets, events, cv, cost_bps=5.0,
                           events_per_year=len(X) / years)
    assert len(report.splits) == 3 and len(report.paths) == 1
    assert report.path_returns[0].index.equals(X.index)
    summary = report.summary()
    traded = int((report.paths["n_trades"] > 0).sum())
    assert summary["cv_n_paths_traded"] == traded
    assert np.isfinite(summary["cv_sharpe_median"]) == (traded > 0)
    assert not summary["cv_max_drawdown_median"] >= 1  # below 1, or NaN without trades
    # no look-ahead edge on real prices: the entry forest is near a coin flip out of sample
    assert 0.35 < summary["cv_entry_accuracy"] < 0.65


def test_baselines_are_scored_on_the_same_paths(run, synthetic, cv):
    from ml_core.metrics import max_drawdown, sharpe_ratio

    report, _, _ = run
    X, _, events = synthetic
    assert list(report.baselines.index.get_level_values("baseline").unique()) == [
        "buy_and_hold", "long_every_event"]
    assert len(report.baselines) == 2 * cv.n_paths
    # Long every event at full size, no costs: the labelling's drift on these bets, whatever path.
    every = report.baselines.loc["long_every_event"]
    expected = sharpe_ratio(events["ret"].to_numpy(), EVENTS_PER_YEAR)
    np.testing.assert_allclose(every["sharpe"], expected, rtol=1e-12)
    np.testing.assert_allclose(every["max_drawdown"], max_drawdown(events["ret"].to_numpy()),
                               rtol=1e-12)
    # Holding the asset from the first event start (00:00) to the last label end: every path.
    held = report.baselines.loc["buy_and_hold"]
    span = buy_and_hold_metrics(CLOSE, X.index[0], events["t1"].max())
    assert span["n_bars"] == (events["t1"].max() - X.index[0]) / pd.Timedelta(hours=1)
    np.testing.assert_allclose(held["sharpe"], span["sharpe"], rtol=1e-12)
    assert (held["n_trades"] == 1).all() and (held["n_events"] == len(X)).all()
    summary = report.summary()
    assert summary["cv_baseline_long_every_event_sharpe_median"] == pytest.approx(expected,
                                                                                  rel=1e-12)
    assert summary["cv_baseline_buy_and_hold_sharpe_median"] == pytest.approx(span["sharpe"],
                                                                              rel=1e-12)


def test_close_prices_must_cover_the_events(synthetic, tiny, cv):
    with pytest.raises(ValueError, match="`close` must cover the span"):
        evaluate_cpcv(tiny, *synthetic, cv, cost_bps=5.0, events_per_year=1.0,
                      close=CLOSE.iloc[5:])


def test_momentum_baseline_trades_the_sign_of_its_feature_with_costs(synthetic, tiny, cv):
    from ml_core.metrics import sharpe_ratio

    X, targets, events = synthetic
    report = evaluate_cpcv(lambda: tiny(meta_folds=2), X, targets, events, cv, cost_bps=5.0,
                           events_per_year=EVENTS_PER_YEAR, momentum_column="x0")
    side = np.sign(X["x0"].to_numpy())
    returns = side * events["ret"].to_numpy() - 5.0 / 1e4 * 2.0 * (side != 0)
    momentum = report.baselines.loc["momentum"]
    np.testing.assert_allclose(momentum["sharpe"], sharpe_ratio(returns, EVENTS_PER_YEAR),
                               rtol=1e-12)
    # x0 drives the synthetic returns, so its sign beats going long on every event
    assert momentum["sharpe"].iloc[0] > report.baselines.loc["long_every_event",
                                                             "sharpe"].iloc[0]


# ------------------------------------------------------------------ per regime
def test_per_regime_is_the_median_over_paths_of_each_regimes_events(run, synthetic):
    from ml_core.evaluation._cpcv import REGIME_METRICS, dominant_regime
    from ml_core.metrics import hit_rate, max_drawdown, sharpe_ratio

    report, _, _ = run
    X, targets, _ = synthetic
    regime, reason = dominant_regime(X)
    table = report.per_regime
    assert reason == "" and table.index.name == "regime"
    assert table.index.tolist() == ["bull", "bear", "sideways"]
    assert table.columns.tolist() == list(REGIME_METRICS)
    summary = report.summary()
    for label in ("bull", "bear", "sideways"):
        mask = (regime == label).to_numpy()
        paths = [returns[mask] for returns in report.path_returns.values()]
        assert table.loc[label, "n_events"] == mask.sum()
        for column, metric in (("sharpe", lambda r: sharpe_ratio(r, EVENTS_PER_YEAR)),
                               ("max_drawdown", max_drawdown), ("hit_rate", hit_rate),
                               ("n_trades", lambda r: (r != 0).sum())):
            expected = np.median([metric(r) for r in paths])
            assert table.loc[label, column] == pytest.approx(expected, rel=1e-12), (label, column)
        for column in REGIME_METRICS:
            assert summary[f"cv_{label}_{column}"] == pytest.approx(
                float(table.loc[label, column]), nan_ok=True)
    assert table["n_events"].sum() == len(X)
    # the regime probabilities carry part of the synthetic signal, learnable in every regime
    assert (table["roc_auc"] > 0.7).all()
    # the keys that existed before are unchanged
    assert {"cv_entry_precision", "cv_split_sharpe", "cv_sharpe_median", "cv_n_paths"} <= set(
        summary)


def _scored_path(signal, p_long, ret, index):  # noqa: ANN001, ANN202
    ret = np.asarray(ret, dtype=float)
    side = np.asarray(signal)
    return pd.DataFrame({"p_entry": p_long, "p_long": p_long, "signal": side,
                         "trade_return": side * ret, "entry": (ret > 0).astype(int),
                         "ret": ret}, index=index)


def test_per_regime_table_by_hand():
    """Two paths over five events (bull, bull, bull, bear, bear; no sideways): the table holds
    the median over the paths of each regime's metrics."""
    from ml_core.evaluation._cpcv import REGIME_METRICS, _per_regime_over_paths

    idx = pd.date_range("2024-01-01", periods=5, freq="h", name="t0")
    regime = pd.Series(["bull", "bull", "bull", "bear", "bear"], index=idx)
    ret = [0.01, -0.02, 0.03, -0.01, 0.02]
    paths = {
        0: _scored_path([1, 1, 1, -1, 0], [0.9, 0.8, 0.7, 0.2, 0.5], ret, idx),  # bull 2 of 3
        1: _scored_path([1, -1, 0, -1, 1], [0.9, 0.2, 0.5, 0.2, 0.8], ret, idx),  # bull 2 of 2
    }
    table = _per_regime_over_paths(paths, regime, events_per_year=1.0)
    assert table.index.tolist() == ["bull", "bear"]
    assert table.loc["bull", "ensemble_accuracy"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert table.loc["bull", "n_trades"] == 2.5 and table.loc["bear", "n_trades"] == 1.5
    assert table.loc["bull", "hit_rate"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert table.loc["bear", "ensemble_accuracy"] == 1.0
    assert table.loc["bear", "n_events"] == 2
    # bull path 0: returns .01, -.02, .03: equity 1.01 then a 2% fall
    assert table.loc["bull", "max_drawdown"] == pytest.approx((0.02 + 0.0) / 2)
    empty = _per_regime_over_paths(paths, None, events_per_year=1.0)
    assert empty.empty and empty.columns.tolist() == list(REGIME_METRICS)


def test_dominant_regime_takes_the_largest_probability_first_label_on_ties():
    from ml_core.evaluation._cpcv import dominant_regime

    X = pd.DataFrame({"regime_prob_bull": [0.5, 0.2, 0.1, 0.4],
                      "regime_prob_bear": [0.3, 0.7, 0.1, 0.4],
                      "regime_prob_sideways": [0.2, 0.1, 0.8, 0.2]})
    regime, reason = dominant_regime(X)
    assert regime.tolist() == ["bull", "bear", "sideways", "bull"] and reason == ""
    regime, reason = dominant_regime(X.drop(columns="regime_prob_sideways"))
    assert regime is None and "['regime_prob_sideways']" in reason


def test_without_regime_columns_the_report_has_no_regime_keys():
    splits = pd.DataFrame({"sharpe": [0.0, 0.0], "max_drawdown": [0.0, 0.0]})
    paths = pd.DataFrame({"sharpe": [0.0], "sortino": [0.0], "max_drawdown": [0.0],
                          "hit_rate": [0.0], "n_trades": [0], "n_events": [10]})
    report = CVReport(splits, paths, {0: pd.Series(np.zeros(10))})
    assert report.per_regime.empty
    assert not [k for k in report.summary() if k.startswith(("cv_bull", "cv_bear", "cv_side"))]
