"""Risk and volatility features: range and return volatility, and the volatility regime."""

from __future__ import annotations

from ml_core.features import _indicators as ta
from ml_core.features._ops import Ops, Value
from ml_core.features._spec import feature

# Long volatility window of `volatility_regime`, in multiples of `volatility_window`.
VOLATILITY_REGIME_MULTIPLE = 10


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


@feature("volatility_regime", family="regime",
         lookback=lambda config, timeframe:
             VOLATILITY_REGIME_MULTIPLE * config.volatility_window + 1,
         description="realized vol over volatility_window / over 10x volatility_window; "
                     "> 1 is a high-volatility regime")
def volatility_regime(ctx: Ops) -> Value:
    n = ctx.config.volatility_window
    return ctx.safe_ratio(realized_volatility(ctx, n),
                          realized_volatility(ctx, VOLATILITY_REGIME_MULTIPLE * n), 1.0)
