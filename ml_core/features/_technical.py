"""Technical-analysis features: oscillators, trend and band positions, all scale-free.

Prices enter only as ratios (a band position, a distance over the close), so the same model
reads BTC at 4,000 or 60,000 alike. Definitions follow TA-Lib (see ``_indicators.py``); where
TA-Lib returns prices (MACD, ATR) the value is divided by the close.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from ml_core.features import _indicators as ta
from ml_core.features._context import BarContext
from ml_core.features._spec import bars_at_least, feature

_VWAP_SPAN = timedelta(days=1)


def _macd(ctx: BarContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ctx.cached("macd_12_26_9", lambda: ta.macd(ctx.close, 12, 26, 9))


@feature("rsi_14", family="technical", lookback=15, higher_timeframes=True,
         description="Wilder RSI(14) in [0, 100] (TA-Lib; 0 when price did not move)")
def rsi_14(ctx: BarContext) -> np.ndarray:
    return ta.rsi(ctx.close, 14)


@feature("macd_hist", family="technical", lookback=34, higher_timeframes=True,
         description="MACD(12, 26, 9) histogram (MACD line - signal line) divided by the close")
def macd_hist(ctx: BarContext) -> np.ndarray:
    return _macd(ctx)[2] / ctx.close


@feature("macd_signal_cross", family="technical", lookback=35,
         description="+1 on the bar the MACD line crosses above its signal, -1 below, else 0")
def macd_signal_cross(ctx: BarContext) -> np.ndarray:
    hist = _macd(ctx)[2]
    prev = ta.lag(hist, 1)
    out = np.where((hist > 0) & (prev <= 0), 1.0, np.where((hist < 0) & (prev >= 0), -1.0, 0.0))
    out[np.isnan(hist) | np.isnan(prev)] = np.nan
    return out


@feature("bb_percent_b", family="technical", lookback=20, higher_timeframes=True,
         description="Bollinger %B(20, 2): 0 at the lower band, 1 at the upper (0.5 if flat)")
def bb_percent_b(ctx: BarContext) -> np.ndarray:
    lower, _, upper = ta.bbands(ctx.close, 20, 2.0)
    return ta.safe_ratio(ctx.close - lower, upper - lower, fill=0.5)


@feature("bb_squeeze", family="technical", lookback=21,
         description="Bollinger(20, 2) width / Keltner(20, 1.5 ATR) width; < 1 is a TTM squeeze")
def bb_squeeze(ctx: BarContext) -> np.ndarray:
    bb_width = 2.0 * 2.0 * ta.rolling_std(ctx.close, 20, ddof=0)
    kc_width = 2.0 * 1.5 * ta.atr(ctx.high, ctx.low, ctx.close, 20)
    return ta.safe_ratio(bb_width, kc_width, fill=1.0)


@feature("stoch_k_14", family="technical", lookback=14,
         description="fast stochastic %K(14) in [0, 100]: close within the 14-bar range")
def stoch_k_14(ctx: BarContext) -> np.ndarray:
    return ta.stoch_k(ctx.high, ctx.low, ctx.close, 14)


@feature("williams_r_14", family="technical", lookback=14,
         description="Williams %R(14) in [-100, 0]: distance below the 14-bar high")
def williams_r_14(ctx: BarContext) -> np.ndarray:
    return ta.williams_r(ctx.high, ctx.low, ctx.close, 14)


@feature("cci_20", family="technical", lookback=20,
         description="commodity channel index(20) of the typical price (TA-Lib CCI)")
def cci_20(ctx: BarContext) -> np.ndarray:
    return ta.cci(ctx.high, ctx.low, ctx.close, 20)


@feature("adx_14", family="technical", lookback=28, higher_timeframes=True,
         description="Wilder ADX(14) in [0, 100]: trend strength, either direction (TA-Lib)")
def adx_14(ctx: BarContext) -> np.ndarray:
    return ta.adx(ctx.high, ctx.low, ctx.close, 14)


@feature("ichimoku_cloud_position", family="technical", lookback=78,
         description="(close - nearest cloud edge) / close above or below the Ichimoku(9, 26, 52) "
                     "cloud, 0 inside")
def ichimoku_cloud_position(ctx: BarContext) -> np.ndarray:
    top, bottom = ta.ichimoku_cloud(ctx.high, ctx.low, 9, 26, 52)
    above = (ctx.close - top) / ctx.close
    below = (ctx.close - bottom) / ctx.close
    out = np.where(above > 0, above, np.where(below < 0, below, 0.0))
    out[np.isnan(top)] = np.nan
    return out


@feature("ema_cross_12_26", family="technical", lookback=26, higher_timeframes=True,
         description="(EMA(12) - EMA(26)) / EMA(26) of the close; its sign is the trend")
def ema_cross_12_26(ctx: BarContext) -> np.ndarray:
    slow = ta.ema(ctx.close, 26)
    return (ta.ema(ctx.close, 12) - slow) / slow


@feature("vwap_distance", family="technical",
         lookback=lambda config, timeframe: bars_at_least(_VWAP_SPAN, timeframe),
         description="close / rolling 24-hour VWAP of the typical price - 1")
def vwap_distance(ctx: BarContext) -> np.ndarray:
    n = bars_at_least(_VWAP_SPAN, ctx.timeframe)
    typical = (ctx.high + ctx.low + ctx.close) / 3.0
    traded = ta.rolling_sum((ctx.volume > 0).astype(np.float64), n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = ta.rolling_sum(typical * ctx.volume, n) / ta.rolling_sum(ctx.volume, n)
    # No volume in the whole window: fall back to the plain mean typical price.
    vwap = np.where(traded, vwap, ta.sma(typical, n))
    return ctx.close / vwap - 1.0
