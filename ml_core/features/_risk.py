"""Risk and volatility features: range and return volatility, and the volatility regime."""

from __future__ import annotations

import numpy as np

from ml_core.features import _indicators as ta
from ml_core.features._context import BarContext
from ml_core.features._spec import feature

# Long volatility window of `volatility_regime`, in multiples of `volatility_window`.
VOLATILITY_REGIME_MULTIPLE = 10


@feature("atr_14_pct", family="risk", lookback=15, higher_timeframes=True,
         description="Wilder ATR(14) as a percentage of the close (TA-Lib NATR)")
def atr_14_pct(ctx: BarContext) -> np.ndarray:
    return ta.natr(ctx.high, ctx.low, ctx.close, 14)


def _realized_vol(ctx: BarContext, n: int) -> np.ndarray:
    return ctx.cached(("realized_vol", n), lambda: ta.rolling_std(ctx.log_return, n))


@feature("realized_vol", family="risk",
         lookback=lambda config, timeframe: config.volatility_window + 1,
         description="std of log returns over the last volatility_window bars (per bar)")
def realized_vol(ctx: BarContext) -> np.ndarray:
    return _realized_vol(ctx, ctx.config.volatility_window)


@feature("volatility_regime", family="regime",
         lookback=lambda config, timeframe:
             VOLATILITY_REGIME_MULTIPLE * config.volatility_window + 1,
         description="realized vol over volatility_window / over 10x volatility_window; "
                     "> 1 is a high-volatility regime")
def volatility_regime(ctx: BarContext) -> np.ndarray:
    n = ctx.config.volatility_window
    return ta.safe_ratio(_realized_vol(ctx, n), _realized_vol(ctx, VOLATILITY_REGIME_MULTIPLE * n),
                         fill=1.0)
