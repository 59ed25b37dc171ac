"""live_performance, its Clopper-Pearson bound, the window rule, and the measured rollback rule."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, binom

from ml_core.config import MonitorConfig
from ml_core.monitoring import (
    RECENT_TRADES,
    hit_rate_upper_bound,
    live_performance,
    recent_trades,
)

CFG = MonitorConfig()
RULE = dict(accuracy_drop_max=CFG.accuracy_drop_max, confidence=CFG.confidence,
            min_trades=CFG.min_resolved_trades)


def _returns(hits: int, misses: int) -> np.ndarray:
    return np.array([0.02] * hits + [-0.01] * misses)


def test_upper_bound_is_the_beta_quantile():
    assert hit_rate_upper_bound(10, 40, 0.95) == beta.ppf(0.95, 11, 30)
    assert hit_rate_upper_bound(10, 40, 0.95) == pytest.approx(0.3871, abs=1e-4)
    assert hit_rate_upper_bound(5, 5, 0.95) == 1.0
    # the bound's defining property: P(hits <= 10 | n=40, p=bound) = 1 - confidence
    assert binom.cdf(10, 40, hit_rate_upper_bound(10, 40, 0.95)) == pytest.approx(0.05, rel=1e-9)


def test_a_clear_drop_is_degraded_and_named():
    perf = live_performance(_returns(40, 60), 0.55, validated_sharpe=0.1, **RULE)
    assert perf.n_trades == 100 and perf.hit_rate == 0.4
    assert perf.hit_rate_upper == beta.ppf(0.95, 41, 60)  # 0.4870
    assert perf.threshold == pytest.approx(0.50) and perf.degraded
    r = _returns(40, 60)
    assert perf.sharpe == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert perf.reason == (
        "live performance: hit rate 0.400 over 100 trades, upper 95% bound 0.487 below 0.500 "
        "(validated 0.550 - 0.05); Sharpe per trade 0.135 (validated 0.100)")


def test_a_drop_within_noise_is_not_degraded():
    # 45% over 60 trades: below the threshold as a point estimate, not at the bound (0.56)
    perf = live_performance(_returns(27, 33), 0.55, **RULE)
    assert perf.hit_rate == 0.45 and perf.hit_rate_upper > 0.5 and not perf.degraded


def test_too_few_trades_are_not_judged():
    perf = live_performance(_returns(0, 29), 0.55, **RULE)
    assert perf.hit_rate == 0.0 and perf.hit_rate_upper < 0.1 and not perf.degraded
    assert perf.reason == ("live performance: 29 resolved trades, fewer than the 30 needed; hit "
                           "rate 0.000 not judged")
    assert live_performance(_returns(0, 30), 0.55, **RULE).degraded


def test_zero_returns_are_not_bets_and_nan_is_ignored():
    perf = live_performance(np.r_[_returns(3, 1), 0.0, np.nan], 0.55, **RULE)
    assert perf.n_trades == 4 and perf.hit_rate == 0.75
    empty = live_performance([], 0.55, **RULE)
    assert empty.n_trades == 0 and np.isnan(empty.hit_rate) and not empty.degraded
    assert set(empty.metrics()) == {"live_hit_rate", "live_hit_rate_upper", "live_sharpe",
                                    "live_n_trades", "live_threshold", "live_degraded"}


def test_recent_trades_keeps_the_last_n_resolved_by_as_of():
    idx = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    ledger = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], index=idx)[::-1]  # unsorted on purpose
    got = recent_trades(ledger, idx[4], n_trades=3)
    assert got.tolist() == [3.0, 4.0, 5.0] and got.index.tolist() == list(idx[2:5])
    assert recent_trades(ledger, idx[0] - pd.Timedelta("1D")).empty
    assert RECENT_TRADES == MonitorConfig().recent_trades == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(validated_hit_rate=1.5), "`validated_hit_rate` must be in \\[0, 1\\], got "
                                       "`validated_hit_rate=1.5`"),
        (dict(accuracy_drop_max=0.0), "`accuracy_drop_max` must be in \\(0, 1\\)"),
        (dict(confidence=1.0), "`confidence` must be in \\(0, 1\\), got `confidence=1.0`"),
        (dict(min_trades=0), "`min_trades` must be a positive integer, got `min_trades=0`"),
    ],
)
def test_errors_name_the_parameter(kwargs, message):
    args = dict(RULE, validated_hit_rate=0.55) | kwargs
    with pytest.raises(ValueError, match=message):
        live_performance([0.01], **args)


# -------------------------------------------------------------- the rollback rule, simulated
DAYS, BREAK_DAY, RATE = 180, 60, 5.0


def _alarms(seed: int, p_after: float) -> np.ndarray:
    """Daily decisions of live_performance on the last RECENT_TRADES trades of one simulated
    champion: ~5 trades a day, hit rate 0.55, ``p_after`` from day 60."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(DAYS), rng.poisson(RATE, DAYS))
    win = rng.random(day.size) < np.where(day < BREAK_DAY, 0.55, p_after)
    returns = pd.Series(np.where(win, 0.01, -0.01),
                        index=pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(day, "D"))
    checks = pd.Timestamp("2024-01-01 23:59", tz="UTC") + pd.to_timedelta(np.arange(DAYS), "D")
    # recent_trades on every check is slow; the decision depends on (trades, hits) only
    end = np.searchsorted(day, np.arange(DAYS), side="right")
    start = np.maximum(end - RECENT_TRADES, 0)
    wins = np.r_[0, np.cumsum(win)]
    assert recent_trades(returns, checks[99]).size == end[99] - start[99]
    return np.array([_decide(int(e - s), int(wins[e] - wins[s])) for s, e in zip(start, end)])


_MEMO: dict[tuple[int, int], bool] = {}


def _decide(n: int, hits: int) -> bool:
    if (n, hits) not in _MEMO:
        _MEMO[n, hits] = live_performance(_returns(hits, n - hits), 0.55, **RULE).degraded
    return _MEMO[n, hits]


def test_stationary_champion_rarely_rolls_back():
    # benchmarks/monitor.py: 5.0% over 1,000 seeds; 200 seeds here
    false_alarms = np.mean([_alarms(seed, 0.55).any() for seed in range(200)])
    assert false_alarms < 0.08


def test_broken_champion_rolls_back_within_weeks():
    # benchmarks/monitor.py: all of 1,000 detected, median 30 days, p90 42, max 109
    delays = []
    for seed in range(200):
        after = np.flatnonzero(_alarms(10**6 + seed, 0.40)[BREAK_DAY:])
        delays.append(after[0] + 1 if after.size else np.inf)
    assert np.isfinite(delays).all()
    assert 20 <= np.median(delays) <= 40 and np.percentile(delays, 90) <= 50
