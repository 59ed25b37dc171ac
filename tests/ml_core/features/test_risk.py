"""Risk features: Kelly fraction, expected shortfall, ulcer index and drawdown, by hand and by
reference loops, plus warm-up, streaming and scale invariance."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml_core.config import FeatureConfig
from ml_core.features import _risk as risk
from ml_core.features._spec import DEFINITIONS

from ._bars import bars_from_close, random_walk_bars
from ._recipes import batch, lookback, stream

THIRTY_MINUTES = timedelta(minutes=30)
SMALL = FeatureConfig(higher_timeframes=[], volatility_window=32)  # risk window: 64 returns
NEW = ["kelly_optimal_size", "cvar_risk_score", "ulcer_index_14", "drawdown_1d"]
RISK = [d for d in DEFINITIONS.values() if d.compute.__module__ == risk.__name__]


def _close_from_ratios(ratios: list[float]) -> np.ndarray:
    return np.cumprod(np.r_[1.0, ratios])


def test_risk_window_and_tail_size():
    assert risk.risk_window(FeatureConfig()) == 96  # demo: 2 x 48
    assert risk.risk_window(FeatureConfig(volatility_window=60)) == 120  # production
    assert risk.risk_window(FeatureConfig(volatility_window=5)) == 64
    assert risk.risk_window(FeatureConfig(volatility_window=150)) == 200
    assert [risk.tail_size(n) for n in (64, 96, 120, 200)] == [3, 5, 6, 10]
    assert risk.NORMAL_CVAR_RATIO == pytest.approx(2.0627, abs=1e-4)


def test_kelly_of_win_rate_one_half_and_payoff_two_is_one_quarter():
    # Log returns +2 ln 2, -ln 2 alternating: p = 1/2, b = 2, f = 1/2 - 1/2 / 2 = 1/4.
    close = _close_from_ratios([4.0, 0.5] * 32 + [4.0])
    out = batch(risk.kelly_optimal_size, bars_from_close(close), THIRTY_MINUTES, SMALL)
    assert lookback("kelly_optimal_size", THIRTY_MINUTES, SMALL) == 65
    assert np.isnan(out[:64]).all()
    # Bar 64: the window holds 32 wins and 32 losses; bar 65 drops a win and adds a win.
    assert_allclose(out[64:], [0.25, 0.25], rtol=1e-14)


def test_kelly_edge_cases_are_clipped_to_minus_one_and_one():
    rising = bars_from_close(1.01 ** np.arange(70))
    falling = bars_from_close(0.99 ** np.arange(70))
    flat = bars_from_close(np.full(70, 3.0))
    assert_array_equal(batch(risk.kelly_optimal_size, rising, THIRTY_MINUTES, SMALL)[64:], 1.0)
    assert_array_equal(batch(risk.kelly_optimal_size, falling, THIRTY_MINUTES, SMALL)[64:], -1.0)
    assert_array_equal(batch(risk.kelly_optimal_size, flat, THIRTY_MINUTES, SMALL)[64:], 0.0)
    # p = 1/2 but losses 4x the wins: f = 1/2 - 1/2 * 4 = -1.5, clipped.
    lopsided = bars_from_close(_close_from_ratios([2.0, 1 / 16] * 32))
    assert batch(risk.kelly_optimal_size, lopsided, THIRTY_MINUTES, SMALL)[64] == -1.0


def _reference_kelly(r: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(r), np.nan)
    for t in range(n, len(r)):
        w = r[t - n + 1 : t + 1]
        wins, losses = w[w > 0], -w[w < 0]
        if not len(wins):
            out[t] = -1.0 if len(losses) else 0.0
            continue
        p = len(wins) / (len(wins) + len(losses))
        b = wins.mean() / losses.mean() if len(losses) else np.inf
        out[t] = min(max(p - (1 - p) / b, -1.0), 1.0)
    return out


def _reference_cvar(r: np.ndarray, n: int, k: int) -> np.ndarray:
    out = np.full(len(r), np.nan)
    for t in range(n, len(r)):
        w = r[t - n + 1 : t + 1]
        out[t] = -np.sort(w)[:k].mean() / w.std(ddof=1)
    return out


def test_kelly_and_cvar_match_reference_loops():
    bars = random_walk_bars(600, seed=11)
    r = np.log(bars["close"] / bars["close"].shift()).to_numpy()
    assert_allclose(batch(risk.kelly_optimal_size, bars, THIRTY_MINUTES, SMALL),
                    _reference_kelly(r, 64), rtol=1e-12, atol=1e-12)
    assert_allclose(batch(risk.cvar_risk_score, bars, THIRTY_MINUTES, SMALL),
                    _reference_cvar(r, 64, 3), rtol=1e-10)


def test_cvar_by_hand_flat_and_normal():
    # 61 returns of +ln 2 and 3 of -2 ln 2 (the 3 worst = 5% of 64): ES = 2 ln 2.
    close = _close_from_ratios([2.0] * 61 + [0.25] * 3)
    out = batch(risk.cvar_risk_score, bars_from_close(close), THIRTY_MINUTES, SMALL)
    r = np.r_[[math.log(2.0)] * 61, [-2 * math.log(2.0)] * 3]
    assert out[64] == pytest.approx(2 * math.log(2.0) / r.std(ddof=1), rel=1e-12)
    assert np.isnan(out[:64]).all()
    flat = batch(risk.cvar_risk_score, bars_from_close(np.full(80, 5.0)), THIRTY_MINUTES, SMALL)
    assert_array_equal(flat[64:], 0.0)
    # Gaussian returns: expected shortfall / std near phi(1.645) / 0.05 = 2.06.
    normal = random_walk_bars(3_000, seed=5)
    score = batch(risk.cvar_risk_score, normal, THIRTY_MINUTES,
                  FeatureConfig(volatility_window=100))
    assert 1.85 < np.nanmedian(score) < 2.15


def test_ulcer_index_by_hand():
    # 14 bars at 100, then 14 at 90: at bar 26 the window holds one 0% (bar 13) and thirteen
    # -10% drawdowns; at bar 27 the 14-bar high is 90 (0%), bars 14-26 are still -10%.
    close = np.r_[np.full(14, 100.0), np.full(14, 90.0)]
    out = batch(risk.ulcer_index_14, bars_from_close(close), THIRTY_MINUTES)
    assert np.isnan(out[:26]).all()
    assert out[26] == pytest.approx(math.sqrt(13 * 100.0 / 14), rel=1e-12)
    assert out[27] == pytest.approx(math.sqrt(13 * 100.0 / 14), rel=1e-12)
    bars = random_walk_bars(300)
    close = bars["close"]
    dd = 100.0 * (close / close.rolling(14).max() - 1.0)
    expected = np.sqrt((dd**2).rolling(14).mean())
    assert_allclose(batch(risk.ulcer_index_14, bars, THIRTY_MINUTES), expected, rtol=1e-9)


def test_drawdown_1d_by_hand():
    bars = bars_from_close([100.0, 120.0, 90.0, 130.0], freq="12h")
    out = batch(risk.drawdown_1d, bars, timedelta(hours=12))
    assert_array_equal(out, [np.nan, 0.0, -0.25, 0.0])
    assert lookback("drawdown_1d", timedelta(minutes=1)) == 1_440


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(volatility_window=60)],
                         ids=["demo", "production"])
def test_lookbacks_are_exact_and_stream_equals_batch(config):
    bars = random_walk_bars(700, seed=2)
    bars.iloc[300:400, :4] = 77.0  # flat prices: zero returns and a zero std
    bars.iloc[350:450, 4] = 0.0
    for d in RISK:
        n = lookback(d.name, THIRTY_MINUTES, config)
        expected = batch(d.compute, bars, THIRTY_MINUTES, config)
        assert np.isnan(expected[: n - 1]).all() and np.isfinite(expected[n - 1 :]).all(), d.name
        got = stream(d.compute, bars, THIRTY_MINUTES, config)
        assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=d.name)
        error = np.nanmax(np.abs(got - expected) / np.maximum(1.0, np.abs(expected)))
        assert error <= 1e-9, d.name


def test_new_risk_features_are_scale_free_and_registered():
    bars = random_walk_bars(400, seed=9)
    scaled = bars.copy()
    scaled[["open", "high", "low", "close"]] *= 2.0**12
    scaled["volume"] *= 2.0**5
    for name in NEW:
        d = DEFINITIONS[name]
        assert d.family == "risk" and "\n" not in d.description
        assert_allclose(batch(d.compute, scaled, THIRTY_MINUTES),
                        batch(d.compute, bars, THIRTY_MINUTES), rtol=1e-12, atol=0)
    assert DEFINITIONS["volatility_regime"].family == "regime"
    assert {"atr_14_pct", "realized_vol"} <= {d.name for d in RISK}
