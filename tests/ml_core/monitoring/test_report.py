"""assess: the daily monitor run, its rollback decision, metrics and markdown."""

import numpy as np
import pandas as pd
import pytest

from ml_core.config import MonitorConfig
from ml_core.monitoring import MONITOR_METRICS, assess, build_reference

AS_OF = pd.Timestamp("2024-06-30", tz="UTC")


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(42)
    features = pd.DataFrame(rng.normal(size=(3000, 4)), columns=["a", "b", "c", "d"])
    labels = pd.Series(rng.choice(["bull", "bear", "sideways"], size=3000))
    return build_reference(
        features, pd.Series(rng.beta(5, 5, 3000)), pd.Series(rng.choice([1, -1, 0], 3000)),
        labels, labels, pd.Series({"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.0}),
        {"hit_rate": 0.55, "sharpe_per_trade": 0.1, "n_trades": 300.0})


def _ledger(hits: int, misses: int) -> pd.Series:
    returns = np.array([0.01] * hits + [-0.01] * misses)
    np.random.default_rng(0).shuffle(returns)
    idx = AS_OF - pd.to_timedelta(np.arange(len(returns))[::-1] + 1, "h")
    return pd.Series(returns, index=idx)


def _live(shift: float = 0.0) -> pd.DataFrame:
    live = pd.DataFrame(np.random.default_rng(7).normal(size=(336, 4)), columns=list("abcd"))
    live[["a", "b"]] += shift
    return live


def test_nothing_to_check_skips_every_check(reference):
    report = assess(reference, config=MonitorConfig(), as_of=AS_OF)
    assert not report.should_rollback and report.reasons == ()
    assert report.notes == (
        "feature drift: skipped, no live features",
        "prediction drift: skipped, no live predictions",
        "regimes: skipped, no live regime labels",
        "importance: skipped, no live importances",
        "live performance: skipped, no resolved trades",
    )
    metrics = report.metrics()
    assert list(metrics) == list(MONITOR_METRICS) and metrics["rollback"] == 0.0
    assert all(np.isnan(v) for k, v in metrics.items() if k != "rollback")
    assert report.markdown().count("| skipped |") == 5


def test_healthy_window_keeps_the_champion(reference):
    report = assess(reference, live_features=_live(),
                    live_p_long=pd.Series(np.random.default_rng(1).beta(5, 5, 336)),
                    live_signals=pd.Series([1, -1, 0] * 112),
                    live_filtered=pd.Series(["bull", "bear", "sideways"] * 112),
                    live_smoothed=pd.Series(["bull", "bear", "sideways"] * 112),
                    live_importances=pd.Series({"a": 0.25, "b": 0.2, "c": 0.05, "d": 0.01}),
                    trade_returns=_ledger(120, 80), config=MonitorConfig(), as_of=AS_OF)
    assert not report.should_rollback and report.reasons == ()
    m = report.metrics()
    assert m["drift_share"] == 0.0 and m["live_n_trades"] == 200 and m["live_hit_rate"] == 0.6
    assert m["importance_spearman"] == 1.0 and m["regime_agreement"] == 1.0
    assert not any(np.isnan(v) for v in m.values())
    assert "keep the champion" in report.markdown()


def test_degraded_performance_rolls_back(reference):
    report = assess(reference, trade_returns=_ledger(70, 130), config=MonitorConfig(),
                    as_of=AS_OF)
    assert report.should_rollback and report.performance.degraded
    assert report.reasons == (report.performance.reason,)
    assert report.metrics()["rollback"] == 1.0 and report.metrics()["live_hit_rate"] == 0.35
    assert report.markdown().startswith(
        f"### Monitor as of {AS_OF}: **roll back**\n\n- live performance: hit rate 0.350")


def test_window_rule_judges_only_the_last_trades_before_as_of(reference):
    # 300 bad trades long ago, then 200 good ones: the last 200 are judged
    old = _ledger(60, 240)
    old.index = old.index - pd.Timedelta("30D")
    later = _ledger(120, 80)
    future = pd.Series([-0.01] * 50, index=AS_OF + pd.to_timedelta(np.arange(1, 51), "h"))
    report = assess(reference, trade_returns=pd.concat([old, later, future]),
                    config=MonitorConfig(), as_of=AS_OF)
    assert report.performance.n_trades == 200 and report.performance.hit_rate == 0.6
    assert not report.should_rollback
    report = assess(reference, trade_returns=pd.concat([old, later]),
                    config=MonitorConfig(recent_trades=500), as_of=AS_OF)
    assert report.performance.n_trades == 500 and report.should_rollback


def test_feature_drift_rolls_back_unless_rollback_is_off(reference):
    report = assess(reference, live_features=_live(1.5), config=MonitorConfig(), as_of=AS_OF)
    assert report.should_rollback and report.features.drifted
    assert report.reasons == (report.features.reason,)
    assert "| a | " in report.markdown() and "| feature drift | rollback |" in report.markdown()
    off = assess(reference, live_features=_live(1.5), config=MonitorConfig(rollback=False),
                 as_of=AS_OF)
    assert not off.should_rollback and off.metrics()["drift"] == 1.0
    assert off.reasons[-1] == ("automatic rollback is off (monitor.rollback = false): nothing "
                               "moves")


def test_without_a_validated_hit_rate_performance_is_skipped():
    ref = build_reference(pd.DataFrame({"a": [1.0, 2.0]}))
    report = assess(ref, trade_returns=_ledger(0, 100), config=MonitorConfig(), as_of=AS_OF)
    assert report.performance is None and not report.should_rollback
    assert report.notes[-1] == "live performance: skipped, no validated hit rate in the reference"
