"""ml_core.metrics: exact values on hand-computed cases, conventions, and the real sample."""

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.metrics import (
    calmar_ratio,
    classification_metrics,
    hit_rate,
    max_drawdown,
    periods_per_year,
    regression_metrics,
    sharpe_ratio,
    sortino_ratio,
    strategy_returns,
)


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [(timedelta(minutes=30), 17_520.0), (timedelta(hours=1), 8_760.0),
     (timedelta(hours=4), 2_190.0), (timedelta(days=1), 365.0)],
)
def test_periods_per_year_uses_a_365_day_year(timeframe, expected):
    assert periods_per_year(timeframe) == expected


def test_strategy_returns_charge_turnover_from_a_flat_start():
    got = strategy_returns([1, 1, 0, -1], [0.01, 0.02, -0.03, 0.04], cost_bps=10)
    # turnover 1, 0, 1, 1 at 10 bp
    np.testing.assert_allclose(got, [0.009, 0.02, -0.001, -0.041], atol=1e-15)
    np.testing.assert_allclose(
        strategy_returns(pd.Series([0.5, -0.5]), [0.02, 0.02]), [0.01, -0.01], atol=1e-15
    )


def test_sharpe_and_sortino_exact():
    r = [0.01, -0.01, 0.02, 0.0]
    # mean 0.005, sample variance 5e-4 / 3 -> 0.005 / sqrt(5e-4/3) * sqrt(4) = sqrt(0.6)
    assert sharpe_ratio(r, 4) == pytest.approx(math.sqrt(0.6), rel=1e-12)
    # downside deviation sqrt(mean([0, 1e-4, 0, 0])) = 0.005 -> 0.005 / 0.005 * 2
    assert sortino_ratio(r, 4) == pytest.approx(2.0, rel=1e-12)


def test_undefined_ratios_are_zero():
    assert sharpe_ratio([0.01, 0.01, 0.01], 365) == 0.0
    assert sharpe_ratio(np.zeros(10), 365) == 0.0
    assert sortino_ratio([0.01, 0.02], 365) == 0.0
    assert calmar_ratio([0.01, 0.02], 365) == 0.0
    assert hit_rate([0.0, 0.0]) == 0.0


@pytest.mark.parametrize(
    ("returns", "expected"),
    [([0.1, -0.5, 0.2], 0.5), ([-0.2, 0.5, -0.5], 0.5), ([0.1, 0.1], 0.0), ([-0.25], 0.25),
     ([0.5, -0.2, -0.25, 0.9], 0.4)],
)
def test_max_drawdown_of_compounded_equity(returns, expected):
    assert max_drawdown(returns) == pytest.approx(expected, abs=1e-15)


def test_calmar_ratio_exact():
    # equity 1, 1.1, 0.55, 1.1: CAGR over 3 periods at 3 per year = 0.1; drawdown 0.5
    assert calmar_ratio([0.1, -0.5, 1.0], 3) == pytest.approx(0.2, rel=1e-12)


def test_hit_rate_ignores_flat_bars():
    assert hit_rate([0.01, 0.0, -0.02, 0.03, 0.0]) == pytest.approx(2 / 3)


def test_classification_metrics_binary_exact():
    got = classification_metrics([1, 0, 1, 1, 0], [1, 1, 0, 1, 0])  # TP 2, FP 1, FN 1, TN 1
    assert got == pytest.approx({"accuracy": 0.6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    none_predicted = classification_metrics([1, 0, 1], [0, 0, 0])
    assert none_predicted == pytest.approx(
        {"accuracy": 1 / 3, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    )


def test_classification_metrics_sides_are_macro_averaged():
    # per class (-1, 0, 1): precision 1, 0, 1/2; recall 1, 0, 1/2; f1 1, 0, 1/2
    got = classification_metrics([-1, 0, 1, 1], [-1, 1, 1, 0])
    assert got == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5})


def test_regression_metrics_exact():
    got = regression_metrics([1, 2, 3, 4], [1, 2, 3, 6])  # residuals 0, 0, 0, 2; SS_tot 5
    assert got == pytest.approx({"r2": 0.2, "rmse": 1.0, "mae": 0.5})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: periods_per_year(timedelta(0)), "`timeframe=0:00:00`"),
        (lambda: strategy_returns([1, 0], [0.1]), "same length"),
        (lambda: strategy_returns([1, 0], [0.1, 0.1], cost_bps=-1), "`cost_bps=-1`"),
        (lambda: strategy_returns([1, np.nan], [0.1, 0.1]), "`position` must be finite"),
        (lambda: sharpe_ratio([0.1], 365), "at least 2"),
        (lambda: sharpe_ratio([0.1, 0.2], 0), "`periods_per_year=0`"),
        (lambda: max_drawdown([0.1, -1.5]), "below -1"),
        (lambda: max_drawdown([]), "at least 1"),
        (lambda: classification_metrics([1, 0], [1]), "shapes"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_buy_and_hold_on_the_real_sample_matches_prices():
    from ml_core.data import load_sample_bars

    close = load_sample_bars()["close"]
    next_return = close.pct_change().shift(-1).iloc[:-1]  # held from close t to close t+1
    r = strategy_returns(np.ones(len(next_return)), next_return)
    assert np.prod(1 + r) == pytest.approx(close.iloc[-1] / close.iloc[0], rel=1e-9)
    expected_mdd = float((1 - close / close.cummax()).max())
    assert max_drawdown(r) == pytest.approx(expected_mdd, rel=1e-9)
    # one entry cost of 5 bp on a constant long position
    with_cost = strategy_returns(np.ones(len(next_return)), next_return, cost_bps=5)
    assert np.sum(r - with_cost) == pytest.approx(5e-4, rel=1e-12)
    ppy = periods_per_year(timedelta(minutes=30))
    assert sharpe_ratio(r, ppy) == pytest.approx(
        r.mean() / r.std(ddof=1) * math.sqrt(17_520), rel=1e-12
    )
