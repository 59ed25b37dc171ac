from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import (
    WalkForwardReport,
    buy_and_hold_metrics,
    evaluate_walk_forward,
    trade_returns,
)
from ml_core.metrics import hit_rate, max_drawdown, sharpe_ratio, sortino_ratio
from ml_core.validation import WalkForwardCV

PURGE = timedelta(hours=3)
EVENTS_PER_YEAR = 365 * 8  # one synthetic event every 3 h
WINDOW_COLUMNS = [
    "test_start", "test_end", "n_train", "n_test", "n_trades", "sharpe", "sortino",
    "max_drawdown", "hit_rate", "total_return", "buy_and_hold_sharpe", "long_every_event_sharpe",
]
SUMMARY_KEYS = [
    "wf_sharpe_consistency", "wf_drawdown_control", "wf_sharpe_median", "wf_sharpe_mean",
    "wf_max_drawdown_median", "wf_buy_and_hold_sharpe_median",
    "wf_long_every_event_sharpe_median", "wf_n_windows", "wf_n_windows_traded",
]
# Hourly closes over the synthetic events' span (600 events every 3 h, labels up to 9 h long).
CLOSE = pd.Series(100.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.01, 1900))),
                  index=pd.date_range("2024-01-01", periods=1900, freq="h", tz="UTC"))


@pytest.fixture(scope="module")
def cv():
    # 600 events: initial block of 120, then 4 windows of 120 (expanding training span)
    return WalkForwardCV(n_windows=4, purge=PURGE)


@pytest.fixture(scope="module")
def run(synthetic, tiny, cv):
    """One walk-forward run; records the models it builds and the progress calls."""
    X, targets, events = synthetic
    models, calls = [], []

    def make():
        models.append(tiny(meta_folds=2))
        return models[-1]

    report = evaluate_walk_forward(make, X, targets, events, cv, cost_bps=5.0,
                                   events_per_year=EVENTS_PER_YEAR,
                                   progress=lambda i, n: calls.append((i, n)), close=CLOSE)
    return report, models, calls


def _never():
    raise AssertionError("no ensemble may be built when the inputs are rejected")


def test_windows_follow_the_splitter_in_count_and_order(run, synthetic, cv):
    report, models, calls = run
    X, _, events = synthetic
    assert isinstance(report, WalkForwardReport)
    assert report.windows.columns.tolist() == WINDOW_COLUMNS
    assert report.windows.index.tolist() == [0, 1, 2, 3]
    assert report.windows.index.name == "window"
    assert len(models) == 4 and calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(report.window_returns) == [0, 1, 2, 3]
    for k, (_, test_idx) in enumerate(cv.split(X, t1=events["t1"])):
        row = report.windows.loc[k]
        assert row["test_start"] == X.index[test_idx[0]]
        assert row["test_end"] == X.index[test_idx[-1]]
        assert row["n_test"] == test_idx.size == 120
        assert report.window_returns[k].index.equals(X.index[test_idx])
    assert report.windows["test_start"].tolist() == [X.index[i] for i in (120, 240, 360, 480)]
    assert report.windows["test_end"].iloc[-1] == X.index[-1]
    assert report.sharpe_threshold == 1.0 and report.drawdown_limit == 0.15


def test_each_window_trains_only_on_its_purged_past(run, synthetic, cv):
    report, models, _ = run
    X, _, events = synthetic
    for model, (train_idx, test_idx), n_train in zip(
        models, cv.split(X, t1=events["t1"]), report.windows["n_train"], strict=True
    ):
        seen = model.oof_predictions_.index
        assert seen.equals(X.index[train_idx]) and n_train == train_idx.size
        # purged: no training label reaches the window's first event start minus the purge
        assert events["t1"].loc[seen].max() < X.index[test_idx[0]] - PURGE
    # expanding: 120, 240, 360, 480 candidates, a couple of events purged before each window
    n_train = report.windows["n_train"].to_numpy()
    assert (n_train < [120, 240, 360, 480]).all() and (n_train > [110, 230, 350, 470]).all()


def test_window_returns_are_trade_returns_of_that_windows_model(run, synthetic, cv):
    report, models, _ = run
    X, _, events = synthetic
    for k, (_, test_idx) in enumerate(cv.split(X, t1=events["t1"])):
        signal = models[k].predict(X.iloc[test_idx])
        expected = trade_returns(signal, events, cost_bps=5.0)
        pd.testing.assert_series_equal(report.window_returns[k], expected, check_freq=False)
        assert report.windows.loc[k, "n_trades"] == (signal["signal"] != 0).sum()


def test_window_metrics(run, synthetic, cv):
    report, _, _ = run
    _, _, events = synthetic
    for k, returns in report.window_returns.items():
        row = report.windows.loc[k]
        r = returns.to_numpy()
        assert row["sharpe"] == pytest.approx(sharpe_ratio(r, EVENTS_PER_YEAR), rel=1e-12)
        assert row["sortino"] == pytest.approx(sortino_ratio(r, EVENTS_PER_YEAR), rel=1e-12)
        assert row["max_drawdown"] == pytest.approx(max_drawdown(r), rel=1e-12)
        assert row["hit_rate"] == pytest.approx(hit_rate(r), rel=1e-12)
        assert row["total_return"] == pytest.approx(np.prod(1 + r) - 1, rel=1e-12)
        every = events["ret"].loc[returns.index].to_numpy()  # long, full size, no costs
        assert row["long_every_event_sharpe"] == pytest.approx(
            sharpe_ratio(every, EVENTS_PER_YEAR), rel=1e-12)
        held = buy_and_hold_metrics(CLOSE, returns.index[0],
                                    events["t1"].loc[returns.index].max())
        assert row["buy_and_hold_sharpe"] == held["sharpe"]
    # the synthetic signal is learnable: every window trades profitably, the market does not
    assert (report.windows["sharpe"] > 0).all() and (report.windows["total_return"] > 0).all()
    assert (report.windows["sharpe"] > report.windows["long_every_event_sharpe"]).all()


def test_summary_of_the_run(run):
    report, _, _ = run
    windows = report.windows
    summary = report.summary()
    assert list(summary) == SUMMARY_KEYS
    assert all(isinstance(v, float) for v in summary.values())
    assert summary["wf_n_windows"] == 4.0 and summary["wf_n_windows_traded"] == 4.0
    assert summary["wf_sharpe_consistency"] == (windows["sharpe"] > 1.0).mean()
    assert summary["wf_drawdown_control"] == (windows["max_drawdown"] < 0.15).mean()
    assert summary["wf_sharpe_median"] == pytest.approx(windows["sharpe"].median())
    assert summary["wf_buy_and_hold_sharpe_median"] == pytest.approx(
        windows["buy_and_hold_sharpe"].median())


def test_same_seed_same_report(run, synthetic, tiny, cv):
    report, _, _ = run
    X, targets, events = synthetic
    again = evaluate_walk_forward(lambda: tiny(meta_folds=2), X, targets, events, cv,
                                  cost_bps=5.0, events_per_year=EVENTS_PER_YEAR, close=CLOSE)
    pd.testing.assert_frame_equal(again.windows, report.windows)
    assert again.summary() == report.summary()


def _hand_made(**thresholds):
    windows = pd.DataFrame({
        "n_trades": [3, 5, 2, 4],
        "sharpe": [2.0, 1.0, 0.5, 3.0],
        "max_drawdown": [0.10, 0.15, 0.20, 0.05],
        "buy_and_hold_sharpe": [0.4, -0.2, 1.0, 0.0],
        "long_every_event_sharpe": [1.4, 0.8, 2.0, 1.0],
    }).rename_axis("window")
    return WalkForwardReport(windows, {k: pd.Series([0.0, 0.0]) for k in range(4)}, **thresholds)


def test_summary_on_hand_made_windows():
    summary = _hand_made().summary()
    assert summary == {
        "wf_sharpe_consistency": 0.5,  # 2.0 and 3.0; 1.0 is not above 1.0
        "wf_drawdown_control": 0.5,  # 0.10 and 0.05; 0.15 is not below 0.15
        "wf_sharpe_median": 1.5,
        "wf_sharpe_mean": 1.625,
        "wf_max_drawdown_median": 0.125,
        "wf_buy_and_hold_sharpe_median": 0.2,
        "wf_long_every_event_sharpe_median": 1.2,
        "wf_n_windows": 4.0,
        "wf_n_windows_traded": 4.0,
    }


def test_windows_without_trades_count_in_neither_share():
    report = _hand_made()
    report.windows.loc[[1, 3], ["n_trades", "sharpe", "max_drawdown"]] = [0, np.nan, np.nan]
    summary = report.summary()
    assert summary["wf_n_windows_traded"] == 2.0 and summary["wf_n_windows"] == 4.0
    assert summary["wf_sharpe_consistency"] == 0.5  # 2.0 of 2.0 and 0.5
    assert summary["wf_drawdown_control"] == 0.5  # 0.10 of 0.10 and 0.20
    assert summary["wf_sharpe_median"] == 1.25
    assert summary["wf_max_drawdown_median"] == pytest.approx(0.15, rel=1e-12)


def test_no_window_traded_is_undefined_not_perfect():
    report = _hand_made()
    report.windows[["sharpe", "max_drawdown"]] = np.nan
    report.windows["n_trades"] = 0
    summary = report.summary()
    for key in ("wf_sharpe_consistency", "wf_drawdown_control", "wf_sharpe_median",
                "wf_sharpe_mean", "wf_max_drawdown_median"):
        assert np.isnan(summary[key]), key
    assert summary["wf_n_windows_traded"] == 0.0 and summary["wf_buy_and_hold_sharpe_median"] == 0.2


@pytest.mark.parametrize(
    ("thresholds", "consistency", "control"),
    [
        ({"sharpe_threshold": 0.5, "drawdown_limit": 0.2}, 0.75, 0.75),
        ({"sharpe_threshold": -1.0, "drawdown_limit": 1.0}, 1.0, 1.0),
        ({"sharpe_threshold": 3.0, "drawdown_limit": 0.05}, 0.0, 0.0),
    ],
)
def test_summary_shares_move_with_the_thresholds(thresholds, consistency, control):
    summary = _hand_made(**thresholds).summary()
    assert summary["wf_sharpe_consistency"] == consistency
    assert summary["wf_drawdown_control"] == control


BAD_THRESHOLDS = [
    ({"sharpe_threshold": float("nan")}, "`sharpe_threshold=nan`"),
    ({"sharpe_threshold": float("inf")}, "`sharpe_threshold=inf`"),
    ({"drawdown_limit": 0.0}, r"`drawdown_limit=0.0`"),
    ({"drawdown_limit": 1.5}, r"`drawdown_limit=1.5`"),
    ({"drawdown_limit": -0.1}, r"`drawdown_limit=-0.1`"),
    ({"drawdown_limit": float("nan")}, "`drawdown_limit=nan`"),
]


@pytest.mark.parametrize(("thresholds", "message"), BAD_THRESHOLDS)
def test_bad_thresholds_rejected_by_the_report(thresholds, message):
    with pytest.raises(ValueError, match=message):
        _hand_made(**thresholds)
    report = _hand_made()
    for name, value in thresholds.items():
        setattr(report, name, value)
    with pytest.raises(ValueError, match=message):
        report.summary()


@pytest.mark.parametrize(("thresholds", "message"), BAD_THRESHOLDS[::2])
def test_bad_thresholds_rejected_before_fitting(synthetic, cv, thresholds, message):
    with pytest.raises(ValueError, match=message):
        evaluate_walk_forward(_never, *synthetic, cv, cost_bps=5.0,
                              events_per_year=EVENTS_PER_YEAR, **thresholds)


def test_summary_needs_a_window():
    empty = pd.DataFrame(columns=["n_trades", "sharpe", "max_drawdown", "buy_and_hold_sharpe",
                                  "long_every_event_sharpe"])
    with pytest.raises(ValueError, match="`windows` is empty"):
        WalkForwardReport(empty, {}).summary()


def test_window_too_short_for_a_sharpe_is_rejected_before_fitting(synthetic):
    # 10 events after an initial block of 590, in 6 windows: sizes 2, 2, 2, 2, 1, 1
    cv = WalkForwardCV(n_windows=6, initial_train_size=590)
    with pytest.raises(ValueError, match=r"window 4 holds 1 event.*`n_windows=6`"):
        evaluate_walk_forward(_never, *synthetic, cv, cost_bps=5.0,
                              events_per_year=EVENTS_PER_YEAR)


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda X, t, e: (X, t.iloc[::-1], e), {}, "`targets.index` differs"),
        (lambda X, t, e: (X, t, e.drop(columns="ret")), {}, r"lacks columns \['ret'\]"),
        (lambda X, t, e: (X, t, e), {"cost_bps": -1.0}, "`cost_bps=-1.0`"),
        (lambda X, t, e: (X, t, e), {"events_per_year": 0.0}, "`events_per_year=0.0`"),
    ],
)
def test_input_errors(synthetic, cv, change, kwargs, message):
    X, targets, events = change(*synthetic)
    params = {"cost_bps": 5.0, "events_per_year": EVENTS_PER_YEAR, **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate_walk_forward(_never, X, targets, events, cv, **params)


def test_sliding_windows_on_the_bundled_sample(real_events, tiny):
    X, targets, events = real_events
    cv = WalkForwardCV(n_windows=3, mode="sliding", purge=timedelta(hours=8))
    years = (X.index[-1] - X.index[0]) / pd.Timedelta(days=365)
    from ml_core.data import load_sample_bars

    close = load_sample_bars()["close"].iloc[:6000]  # the bars real_events was labelled on
    report = evaluate_walk_forward(lambda: tiny(meta_folds=2), X, targets, events, cv,
                                   cost_bps=5.0, events_per_year=len(X) / years, close=close)
    windows = report.windows
    width = len(X) // 4
    assert len(windows) == 3 and windows["n_test"].sum() == len(X) - width
    assert (windows["n_train"] <= width).all()  # sliding: never more than the initial block
    assert pd.concat(report.window_returns.values()).index.equals(X.index[width:])
    assert np.isfinite(windows["buy_and_hold_sharpe"]).all()
    summary = report.summary()
    traded = int((windows["n_trades"] > 0).sum())
    assert summary["wf_n_windows_traded"] == traded
    assert np.isfinite(summary["wf_sharpe_median"]) == (traded > 0)
    assert not summary["wf_max_drawdown_median"] >= 1  # below 1, or NaN without trades
