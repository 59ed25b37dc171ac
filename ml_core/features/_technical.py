"""Technical-analysis features: oscillators, trend and band positions, all scale-free.

Prices enter only as ratios (a band position, a distance over the close), so the same model
reads BTC at 4,000 or 60,000 alike. Definitions follow TA-Lib (see ``_indicators.py``); where
TA-Lib returns prices (MACD, ATR) the value is divided by the close. Recipes are written against
:class:`~ml_core.features._ops.Ops` and so run in batch and streaming mode alike.
"""

from __future__ import annotations

from datetime import timedelta

from ml_core.features import _indicators as ta
from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import bars_at_least, feature

_VWAP_SPAN = timedelta(days=1)


def _macd(ctx: Ops) -> tuple[Value, Value, Value]:
    return ctx.cached("macd_12_26_9", lambda: ta.macd(ctx.close, 12, 26, 9, ops=ctx))


@feature("rsi_14", family="technical", lookback=15, higher_timeframes=True,
         description="Wilder RSI(14) in [0, 100] (TA-Lib; 0 when price did not move)")
def rsi_14(ctx: Ops) -> Value:
    return ta.rsi(ctx.close, 14, ops=ctx)


@feature("macd_hist", family="technical", lookback=34, higher_timeframes=True,
         description="MACD(12, 26, 9) histogram (MACD line - signal line) divided by the close")
def macd_hist(ctx: Ops) -> Value:
    return ctx.div(_macd(ctx)[2], ctx.close)


@feature("macd_signal_cross", family="technical", lookback=35,
         description="+1 on the bar the MACD line crosses above its signal, -1 below, else 0")
def macd_signal_cross(ctx: Ops) -> Value:
    hist = _macd(ctx)[2]
    prev = ctx.lag(hist, 1)
    cross = ctx.where((hist > 0) & (prev <= 0), 1.0,
                      ctx.where((hist < 0) & (prev >= 0), -1.0, 0.0))
    return ctx.where(ctx.isnan(hist) | ctx.isnan(prev), NAN, cross)


@feature("bb_percent_b", family="technical", lookback=20, higher_timeframes=True,
         description="Bollinger %B(20, 2): 0 at the lower band, 1 at the upper (0.5 if flat)")
def bb_percent_b(ctx: Ops) -> Value:
    lower, _, upper = ta.bbands(ctx.close, 20, 2.0, ops=ctx)
    return ctx.safe_ratio(ctx.close - lower, upper - lower, 0.5)


@feature("bb_squeeze", family="technical", lookback=21,
         description="Bollinger(20, 2) width / Keltner(20, 1.5 ATR) width; < 1 is a TTM squeeze")
def bb_squeeze(ctx: Ops) -> Value:
    bb_width = 2.0 * 2.0 * ctx.rolling_std(ctx.close, 20, 0)
    kc_width = 2.0 * 1.5 * ta.atr(ctx.high, ctx.low, ctx.close, 20, ops=ctx)
    return ctx.safe_ratio(bb_width, kc_width, 1.0)


@feature("stoch_k_14", family="technical", lookback=14,
         description="fast stochastic %K(14) in [0, 100]: close within the 14-bar range")
def stoch_k_14(ctx: Ops) -> Value:
    return ta.stoch_k(ctx.high, ctx.low, ctx.close, 14, ops=ctx)


@feature("williams_r_14", family="technical", lookback=14,
         description="Williams %R(14) in [-100, 0]: distance below the 14-bar high")
def williams_r_14(ctx: Ops) -> Value:
    return ta.williams_r(ctx.high, ctx.low, ctx.close, 14, ops=ctx)


@feature("cci_20", family="technical", lookback=20,
         description="commodity channel index(20) of the typical price (TA-Lib CCI)")
def cci_20(ctx: Ops) -> Value:
    return ta.cci(ctx.high, ctx.low, ctx.close, 20, ops=ctx)


@feature("adx_14", family="technical", lookback=28, higher_timeframes=True,
         description="Wilder ADX(14) in [0, 100]: trend strength, either direction (TA-Lib)")
def adx_14(ctx: Ops) -> Value:
    return ta.adx(ctx.high, ctx.low, ctx.close, 14, ops=ctx)


@feature("ichimoku_cloud_position", family="technical", lookback=78,
         description="(close - nearest cloud edge) / close above or below the Ichimoku(9, 26, 52) "
                     "cloud, 0 inside")
def ichimoku_cloud_position(ctx: Ops) -> Value:
    top, bottom = ta.ichimoku_cloud(ctx.high, ctx.low, 9, 26, 52, ops=ctx)
    above = ctx.div(ctx.close - top, ctx.close)
    below = ctx.div(ctx.close - bottom, ctx.close)
    out = ctx.where(above > 0, above, ctx.where(below < 0, below, 0.0))
    return ctx.where(ctx.isnan(top), NAN, out)


@feature("ema_cross_12_26", family="technical", lookback=26, higher_timeframes=True,
         description="(EMA(12) - EMA(26)) / EMA(26) of the close; its sign is the trend")
def ema_cross_12_26(ctx: Ops) -> Value:
    slow = ctx.ema(ctx.close, 26)
    return ctx.div(ctx.ema(ctx.close, 12) - slow, slow)


@feature("vwap_distance", family="technical",
         lookback=lambda config, timeframe: bars_at_least(_VWAP_SPAN, timeframe),
         description="close / rolling 24-hour VWAP of the typical price - 1")
def vwap_distance(ctx: Ops) -> Value:
    n = bars_at_least(_VWAP_SPAN, ctx.timeframe)
    typical = (ctx.high + ctx.low + ctx.close) / 3.0
    traded = ctx.rolling_sum(ctx.where(ctx.volume > 0, 1.0, 0.0), n) > 0
    vwap = ctx.div(ctx.rolling_sum(typical * ctx.volume, n), ctx.rolling_sum(ctx.volume, n))
    # No volume in the whole window: fall back to the plain mean typical price.
    vwap = ctx.where(traded, vwap, ctx.sma(typical, n))
    return ctx.div(ctx.close, vwap) - 1.0
