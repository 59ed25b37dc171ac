"""Risk features: range and return volatility, tail risk, drawdowns, the Kelly fraction, and the
volatility regime.

Every value is a per-bar, causal *description* of recent risk, scale-free (log returns and price
ratios only); none is a position instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from ml_core.features import _indicators as ta
from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import bars_at_least, feature

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig

# Long volatility window of `volatility_regime`, in multiples of `volatility_window`.
VOLATILITY_REGIME_MULTIPLE = 10

#: Returns in the Kelly and expected-shortfall windows: this multiple of `volatility_window`,
#: kept within [RISK_WINDOW_MIN, RISK_WINDOW_MAX] (96 on the demo profile, 120 in production).
RISK_WINDOW_MULTIPLE = 2
RISK_WINDOW_MIN, RISK_WINDOW_MAX = 64, 200
#: Tail share averaged by the expected shortfall.
CVAR_LEVEL = 0.05
#: Expected shortfall / standard deviation of normal returns at CVAR_LEVEL: pdf(z) / level with
#: z the (1 - level) quantile (2.06 at 5%).
NORMAL_CVAR_RATIO = NormalDist().pdf(NormalDist().inv_cdf(1.0 - CVAR_LEVEL)) / CVAR_LEVEL
ULCER_WINDOW = 14
#: Window of `drawdown_1d`, in time.
DRAWDOWN_SPAN = timedelta(days=1)


@feature("atr_14_pct", family="risk", lookback=15, higher_timeframes=True,
         description="Wilder ATR(14) as a percentage of the close (TA-Lib NATR)")
def atr_14_pct(ctx: Ops) -> Value:
    return ta.natr(ctx.high, ctx.low, ctx.close, 14, ops=ctx)


def realized_volatility(ctx: Ops, n: int) -> Value:
    """Std of the last ``n`` log returns, shared by every recipe that needs it."""
    return ctx.cached(("realized_vol", n), lambda: ctx.rolling_std(ctx.log_return, n))


@feature("realized_vol", family="risk",
         lookback=lambda config, timeframe: config.volatility_window + 1,
         description="std of log returns over the last volatility_window bars (per bar)")
def realized_vol(ctx: Ops) -> Value:
    return realized_volatility(ctx, ctx.config.volatility_window)


def risk_window(config: FeatureConfig) -> int:
    """Returns in the Kelly and expected-shortfall windows (see ``RISK_WINDOW_MULTIPLE``)."""
    return min(max(RISK_WINDOW_MULTIPLE * config.volatility_window, RISK_WINDOW_MIN),
               RISK_WINDOW_MAX)


def _risk_lookback(config: FeatureConfig, timeframe: timedelta) -> int:
    return risk_window(config) + 1


@feature("kelly_optimal_size", family="risk", lookback=_risk_lookback,
         description="Kelly fraction p - (1 - p) / b from the win rate p and payoff ratio b of "
                     "the last 2 x volatility_window log returns (64 to 200), in [-1, 1]; an "
                     "estimate, not a position")
def kelly_optimal_size(ctx: Ops) -> Value:
    """Kelly's ``f* = p - (1 - p) / b`` estimated on the last :func:`risk_window` log returns
    (zero returns count as neither win nor loss): -1 with losses only, 0 without moves."""
    # With W wins summing to s_w and L losses summing to s_l (in absolute value):
    # p = W / (W + L), b = (s_w / W) / (s_l / L), so f = p - (1 - p) / b = p (1 - s_l / s_w).
    n = risk_window(ctx.config)
    r = ctx.log_return
    none = r * 0.0  # 0, NaN on the first bar: keeps the warm-up
    wins = ctx.rolling_sum(ctx.where(r > 0, 1.0, none), n)
    losses = ctx.rolling_sum(ctx.where(r < 0, 1.0, none), n)
    won = ctx.rolling_sum(ctx.where(r > 0, r, none), n)
    lost = ctx.where(losses > 0, ctx.rolling_sum(ctx.where(r < 0, -r, none), n), 0.0)
    kelly = ctx.div(wins, wins + losses) * (1.0 - ctx.div(lost, won))
    out = ctx.where(wins > 0, ctx.clip(kelly, -1.0, 1.0), ctx.where(losses > 0, -1.0, 0.0))
    return ctx.where(ctx.isnan(wins), NAN, out)


def tail_size(n: int) -> int:
    """Returns averaged by the expected shortfall of ``n`` returns: ``CVAR_LEVEL`` of them."""
    return max(1, round(CVAR_LEVEL * n))


@lru_cache(maxsize=None)
def _expected_shortfall(k: int) -> Callable[[np.ndarray], np.ndarray]:
    """Row-wise minus the mean of the ``k`` lowest values of windows of shape ``(m, n)``."""

    def shortfall(windows: np.ndarray) -> np.ndarray:
        return -np.partition(windows, k - 1, axis=1)[:, :k].mean(axis=1)

    return shortfall


@feature("cvar_risk_score", family="risk", lookback=_risk_lookback,
         description=f"expected shortfall at {CVAR_LEVEL:.0%} (minus the mean of the worst 5%) "
                     "of the last 2 x volatility_window log returns (64 to 200) / their std; "
                     f"{NORMAL_CVAR_RATIO:.2f} for normal returns, 0 if flat")
def cvar_risk_score(ctx: Ops) -> Value:
    """Historical expected shortfall of the last :func:`risk_window` log returns (a positive
    loss) in units of their standard deviation: a tail-shape score, complementary to the
    volatility level that ``realized_vol`` already gives."""
    n = risk_window(ctx.config)
    shortfall = ctx.rolling_apply(ctx.log_return, n, _expected_shortfall(tail_size(n)))
    return ctx.safe_ratio(shortfall, realized_volatility(ctx, n), 0.0)


@feature("ulcer_index_14", family="risk", lookback=2 * ULCER_WINDOW - 1,
         description="Ulcer index(14): root mean square of the percent drawdown of the close "
                     "below its 14-bar high over the last 14 bars, >= 0")
def ulcer_index_14(ctx: Ops) -> Value:
    drawdown = 100.0 * (ctx.div(ctx.close, ctx.rolling_max(ctx.close, ULCER_WINDOW)) - 1.0)
    return ctx.sqrt(ctx.maximum(ctx.sma(drawdown * drawdown, ULCER_WINDOW), 0.0))


@feature("drawdown_1d", family="risk",
         lookback=lambda config, timeframe: bars_at_least(DRAWDOWN_SPAN, timeframe),
         description="close / highest close of the last day - 1, in (-1, 0]")
def drawdown_1d(ctx: Ops) -> Value:
    n = bars_at_least(DRAWDOWN_SPAN, ctx.timeframe)
    return ctx.div(ctx.close, ctx.rolling_max(ctx.close, n)) - 1.0


@feature("volatility_regime", family="regime",
         lookback=lambda config, timeframe:
             VOLATILITY_REGIME_MULTIPLE * config.volatility_window + 1,
         description="realized vol over volatility_window / over 10x volatility_window; "
                     "> 1 is a high-volatility regime")
def volatility_regime(ctx: Ops) -> Value:
    n = ctx.config.volatility_window
    return ctx.safe_ratio(realized_volatility(ctx, n),
                          realized_volatility(ctx, VOLATILITY_REGIME_MULTIPLE * n), 1.0)
