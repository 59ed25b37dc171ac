"""Technical-analysis features: oscillators, trend and band positions, all scale-free.

Prices enter only as ratios (a band position, a distance over the close), so the same model
reads BTC at 4,000 or 60,000 alike; volumes only as ratios of volume sums. Definitions follow
TA-Lib (see ``_indicators.py``); where TA-Lib returns prices (MACD, ATR, the Ichimoku lines) the
value is divided by the close. Recipes are written against :class:`~ml_core.features._ops.Ops`
and so run in batch and streaming mode alike; intermediates several recipes share (RSI(14), the
DMI, the Ichimoku lines, moving averages of the close) are computed once per bar through
:meth:`Ops.cached`.
"""

from __future__ import annotations

from datetime import timedelta

from ml_core.features import _indicators as ta
from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import bars_at_least, feature

_VWAP_SPAN = timedelta(days=1)
_SMA_DISTANCE_WINDOWS = (10, 20, 50)
_ROC_WINDOWS = (1, 6, 12, 24)
_HIGHER_TIMEFRAME_ROC = 12
# Volume profile: typical prices of the last 48 bars in 12 bins.
_PROFILE_BARS = 48
_PROFILE_BINS = 12


# ---------------------------------------------------------------- shared intermediates
def _macd(ctx: Ops) -> tuple[Value, Value, Value]:
    return ctx.cached("macd_12_26_9", lambda: ta.macd(ctx.close, 12, 26, 9, ops=ctx))


def _rsi(ctx: Ops, n: int) -> Value:
    return ctx.cached(("rsi", n), lambda: ta.rsi(ctx.close, n, ops=ctx))


def _ema(ctx: Ops, n: int) -> Value:
    """TA-Lib EMA(n) of the close (seeded at ``n - 1``; MACD's fast EMA is seeded later)."""
    return ctx.cached(("ema_close", n), lambda: ctx.ema(ctx.close, n))


def _sma(ctx: Ops, n: int) -> Value:
    return ctx.cached(("sma_close", n), lambda: ctx.sma(ctx.close, n))


def _atr(ctx: Ops, n: int) -> Value:
    return ctx.cached(("atr", n), lambda: ta.atr(ctx.high, ctx.low, ctx.close, n, ops=ctx))


def _bollinger_width(ctx: Ops) -> Value:
    """Upper - lower Bollinger(20, 2) band: 4 population std of the last 20 closes (TA-Lib
    BBANDS; from the std, not by subtracting the bands, which would cancel to rounding noise)."""
    return ctx.cached("bollinger_width_20_2", lambda: 4.0 * ctx.rolling_std(ctx.close, 20, 0))


def _dmi(ctx: Ops) -> tuple[Value, Value, Value]:
    return ctx.cached("dmi_14", lambda: ta.dmi(ctx.high, ctx.low, ctx.close, 14, ops=ctx))


def _stoch_k(ctx: Ops) -> Value:
    return ctx.cached(("stoch_k", 14),
                      lambda: ta.stoch_k(ctx.high, ctx.low, ctx.close, 14, ops=ctx))


def _ichimoku(ctx: Ops) -> tuple[Value, Value, Value, Value]:
    return ctx.cached("ichimoku_9_26_52",
                      lambda: ta.ichimoku(ctx.high, ctx.low, 9, 26, 52, ops=ctx))


def _aroon(ctx: Ops) -> tuple[Value, Value]:
    return ctx.cached(("aroon", 14), lambda: ta.aroon(ctx.high, ctx.low, 14, ops=ctx))


def _candle_range(ctx: Ops) -> Value:
    return ctx.high - ctx.low


# ---------------------------------------------------------------- momentum oscillators
@feature("rsi_7", family="technical", lookback=8,
         description="Wilder RSI(7) in [0, 100] (TA-Lib; 0 when price did not move)")
def rsi_7(ctx: Ops) -> Value:
    return _rsi(ctx, 7)


@feature("rsi_14", family="technical", lookback=15, higher_timeframes=True,
         description="Wilder RSI(14) in [0, 100] (TA-Lib; 0 when price did not move)")
def rsi_14(ctx: Ops) -> Value:
    return _rsi(ctx, 14)


@feature("rsi_21", family="technical", lookback=22,
         description="Wilder RSI(21) in [0, 100] (TA-Lib; 0 when price did not move)")
def rsi_21(ctx: Ops) -> Value:
    return _rsi(ctx, 21)


@feature("stochrsi_14", family="technical", lookback=28,
         description="stochastic RSI %K(14, 14) in [0, 100]: RSI(14) within its 14-bar range "
                     "(TA-Lib STOCHRSI fastk; 0 when flat)")
def stochrsi_14(ctx: Ops) -> Value:
    return ta.stoch_rsi_k(_rsi(ctx, 14), 14, ops=ctx)


@feature("macd_line", family="technical", lookback=34,
         description="MACD(12, 26, 9) line (EMA(12) - EMA(26), TA-Lib seeding) divided by the "
                     "close")
def macd_line(ctx: Ops) -> Value:
    return ctx.div(_macd(ctx)[0], ctx.close)


@feature("macd_signal", family="technical", lookback=34,
         description="MACD(12, 26, 9) signal line (EMA(9) of the MACD line) divided by the close")
def macd_signal(ctx: Ops) -> Value:
    return ctx.div(_macd(ctx)[1], ctx.close)


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


@feature("ppo_12_26", family="technical", lookback=26,
         description="percentage price oscillator: 100 * (SMA(12) - SMA(26)) / SMA(26) of the "
                     "close (TA-Lib PPO default)")
def ppo_12_26(ctx: Ops) -> Value:
    return ta.ppo(ctx.close, 12, 26, ops=ctx)


@feature("trix_15", family="technical", lookback=44,
         description="TRIX(15): one-bar percent change of the triple EMA(15) of the close "
                     "(TA-Lib)")
def trix_15(ctx: Ops) -> Value:
    return ta.trix(ctx.close, 15, ops=ctx)


def _register_roc(n: int) -> None:
    @feature(f"roc_{n}", family="technical", lookback=n + 1,
             higher_timeframes=n == _HIGHER_TIMEFRAME_ROC,
             description=f"rate of change over {n} bar{'s' if n > 1 else ''}, in percent: "
                         f"100 * (close / close {n} bar{'s' if n > 1 else ''} ago - 1) "
                         "(TA-Lib ROC)")
    def rate_of_change(ctx: Ops) -> Value:
        return ta.roc(ctx.close, n, ops=ctx)


for _n in _ROC_WINDOWS:
    _register_roc(_n)


@feature("stoch_k_14", family="technical", lookback=14,
         description="fast stochastic %K(14) in [0, 100]: close within the 14-bar range")
def stoch_k_14(ctx: Ops) -> Value:
    return _stoch_k(ctx)


@feature("stoch_d_14", family="technical", lookback=18,
         description="slow stochastic %D(14, 3, 3) in [0, 100]: SMA(3) of SMA(3) of %K(14) "
                     "(TA-Lib STOCH slowd)")
def stoch_d_14(ctx: Ops) -> Value:
    # ta.stoch(..., 14, 3, 3)[1], reusing the shared fast %K.
    return ctx.sma(ctx.sma(_stoch_k(ctx), 3), 3)


@feature("williams_r_14", family="technical", lookback=14,
         description="Williams %R(14) in [-100, 0]: distance below the 14-bar high")
def williams_r_14(ctx: Ops) -> Value:
    return ta.williams_r(ctx.high, ctx.low, ctx.close, 14, ops=ctx)


@feature("cci_20", family="technical", lookback=20,
         description="commodity channel index(20) of the typical price (TA-Lib CCI)")
def cci_20(ctx: Ops) -> Value:
    return ta.cci(ctx.high, ctx.low, ctx.close, 20, ops=ctx)


@feature("ultosc_7_14_28", family="technical", lookback=29,
         description="Williams' ultimate oscillator(7, 14, 28) in [0, 100]: weighted buying "
                     "pressure over true range (TA-Lib ULTOSC)")
def ultosc_7_14_28(ctx: Ops) -> Value:
    return ta.ultosc(ctx.high, ctx.low, ctx.close, 7, 14, 28, ops=ctx)


# ---------------------------------------------------------------- trend direction and strength
@feature("adx_14", family="technical", lookback=28, higher_timeframes=True,
         description="Wilder ADX(14) in [0, 100]: trend strength, either direction (TA-Lib)")
def adx_14(ctx: Ops) -> Value:
    return _dmi(ctx)[2]


@feature("plus_di_14", family="technical", lookback=15,
         description="Wilder +DI(14) in [0, 100]: smoothed up-move share of the true range "
                     "(TA-Lib PLUS_DI)")
def plus_di_14(ctx: Ops) -> Value:
    return _dmi(ctx)[0]


@feature("minus_di_14", family="technical", lookback=15,
         description="Wilder -DI(14) in [0, 100]: smoothed down-move share of the true range "
                     "(TA-Lib MINUS_DI)")
def minus_di_14(ctx: Ops) -> Value:
    return _dmi(ctx)[1]


@feature("di_spread_14", family="technical", lookback=15, higher_timeframes=True,
         description="+DI(14) - -DI(14) in [-100, 100]: trend direction, positive when up-moves "
                     "dominate")
def di_spread_14(ctx: Ops) -> Value:
    plus_di, minus_di, _ = _dmi(ctx)
    return plus_di - minus_di


@feature("aroon_up_14", family="technical", lookback=15,
         description="Aroon up(14) in [0, 100]: 100 on a new 15-bar high, falling 100/14 per "
                     "bar since (TA-Lib)")
def aroon_up_14(ctx: Ops) -> Value:
    return _aroon(ctx)[1]


@feature("aroon_down_14", family="technical", lookback=15,
         description="Aroon down(14) in [0, 100]: 100 on a new 15-bar low, falling 100/14 per "
                     "bar since (TA-Lib)")
def aroon_down_14(ctx: Ops) -> Value:
    return _aroon(ctx)[0]


@feature("aroon_osc_14", family="technical", lookback=15,
         description="Aroon oscillator(14) = up - down in [-100, 100] (TA-Lib AROONOSC)")
def aroon_osc_14(ctx: Ops) -> Value:
    down, up = _aroon(ctx)
    return up - down


@feature("ema_cross_5_20", family="technical", lookback=20,
         description="(EMA(5) - EMA(20)) / EMA(20) of the close; its sign is the short trend")
def ema_cross_5_20(ctx: Ops) -> Value:
    slow = _ema(ctx, 20)
    return ctx.div(_ema(ctx, 5) - slow, slow)


@feature("ema_cross_12_26", family="technical", lookback=26, higher_timeframes=True,
         description="(EMA(12) - EMA(26)) / EMA(26) of the close; its sign is the trend")
def ema_cross_12_26(ctx: Ops) -> Value:
    slow = _ema(ctx, 26)
    return ctx.div(_ema(ctx, 12) - slow, slow)


@feature("sma_cross_20_50", family="technical", lookback=50,
         description="(SMA(20) - SMA(50)) / SMA(50) of the close; > 0 while the short average "
                     "is above")
def sma_cross_20_50(ctx: Ops) -> Value:
    slow = _sma(ctx, 50)
    return ctx.div(_sma(ctx, 20) - slow, slow)


def _register_sma_distance(n: int) -> None:
    @feature(f"sma_distance_{n}", family="technical", lookback=n,
             description=f"close / SMA({n}) of the close - 1")
    def sma_distance(ctx: Ops) -> Value:
        return ctx.div(ctx.close, _sma(ctx, n)) - 1.0


for _n in _SMA_DISTANCE_WINDOWS:
    _register_sma_distance(_n)


@feature("elder_bull_power_13", family="technical", lookback=13,
         description="Elder bull power: (high - EMA(13) of the close) / close")
def elder_bull_power_13(ctx: Ops) -> Value:
    return ctx.div(ctx.high - _ema(ctx, 13), ctx.close)


@feature("elder_bear_power_13", family="technical", lookback=13,
         description="Elder bear power: (low - EMA(13) of the close) / close")
def elder_bear_power_13(ctx: Ops) -> Value:
    return ctx.div(ctx.low - _ema(ctx, 13), ctx.close)


# ---------------------------------------------------------------- Ichimoku
@feature("ichimoku_tenkan_distance", family="technical", lookback=9,
         description="close / Ichimoku tenkan-sen (9-bar high-low midpoint) - 1")
def ichimoku_tenkan_distance(ctx: Ops) -> Value:
    return ctx.div(ctx.close, _ichimoku(ctx)[0]) - 1.0


@feature("ichimoku_kijun_distance", family="technical", lookback=26,
         description="close / Ichimoku kijun-sen (26-bar high-low midpoint) - 1")
def ichimoku_kijun_distance(ctx: Ops) -> Value:
    return ctx.div(ctx.close, _ichimoku(ctx)[1]) - 1.0


@feature("ichimoku_cloud_position", family="technical", lookback=78,
         description="(close - nearest cloud edge) / close above or below the Ichimoku(9, 26, 52) "
                     "cloud, 0 inside")
def ichimoku_cloud_position(ctx: Ops) -> Value:
    _, _, span_a, span_b = _ichimoku(ctx)
    top, bottom = ctx.maximum(span_a, span_b), ctx.minimum(span_a, span_b)
    above = ctx.div(ctx.close - top, ctx.close)
    below = ctx.div(ctx.close - bottom, ctx.close)
    out = ctx.where(above > 0, above, ctx.where(below < 0, below, 0.0))
    return ctx.where(ctx.isnan(top), NAN, out)


@feature("ichimoku_cloud_thickness", family="technical", lookback=78,
         description="(senkou span A - senkou span B) / close of the cloud under the bar: its "
                     "thickness, positive for a bullish cloud")
def ichimoku_cloud_thickness(ctx: Ops) -> Value:
    _, _, span_a, span_b = _ichimoku(ctx)
    return ctx.div(span_a - span_b, ctx.close)


# ---------------------------------------------------------------- bands and channels
@feature("bb_percent_b", family="technical", lookback=20, higher_timeframes=True,
         description="Bollinger %B(20, 2): 0 at the lower band, 1 at the upper (0.5 if flat)")
def bb_percent_b(ctx: Ops) -> Value:
    width = _bollinger_width(ctx)
    return ctx.safe_ratio(ctx.close - (_sma(ctx, 20) - 0.5 * width), width, 0.5)


@feature("bb_width_20", family="technical", lookback=20, higher_timeframes=True,
         description="Bollinger(20, 2) band width / middle band = 4 * std / SMA of the close")
def bb_width_20(ctx: Ops) -> Value:
    return ctx.div(_bollinger_width(ctx), _sma(ctx, 20))


@feature("bb_squeeze", family="technical", lookback=21,
         description="Bollinger(20, 2) width / Keltner(20, 1.5 ATR) width; < 1 is a TTM squeeze")
def bb_squeeze(ctx: Ops) -> Value:
    return ctx.safe_ratio(_bollinger_width(ctx), 2.0 * 1.5 * _atr(ctx, 20), 1.0)


@feature("keltner_position_20", family="technical", lookback=21,
         description="(close - SMA(20)) / (2 ATR(20)): -1 at the lower Keltner band, +1 at the "
                     "upper (0 if flat)")
def keltner_position_20(ctx: Ops) -> Value:
    # An SMA middle line (not the usual EMA) equals the close exactly once prices are flat, so
    # the position is exactly 0 while the ATR decays towards 0; an EMA would leave a rounding
    # residue divided by a vanishing ATR.
    return ctx.safe_ratio(ctx.close - _sma(ctx, 20), 2.0 * _atr(ctx, 20), 0.0)


@feature("donchian_width_20", family="technical", lookback=20,
         description="(20-bar highest high - lowest low) / close: the Donchian channel width")
def donchian_width_20(ctx: Ops) -> Value:
    return ctx.div(ctx.rolling_max(ctx.high, 20) - ctx.rolling_min(ctx.low, 20), ctx.close)


@feature("donchian_position_50", family="technical", lookback=50,
         description="close within the 50-bar Donchian channel: 0 at the lowest low, 1 at the "
                     "highest high (0.5 if flat)")
def donchian_position_50(ctx: Ops) -> Value:
    highest, lowest = ctx.rolling_max(ctx.high, 50), ctx.rolling_min(ctx.low, 50)
    return ctx.safe_ratio(ctx.close - lowest, highest - lowest, 0.5)


# ---------------------------------------------------------------- volatility of the bar
@feature("true_range_pct", family="technical", lookback=2,
         description="true range of the bar (gaps included) / close")
def true_range_pct(ctx: Ops) -> Value:
    return ctx.div(ta.true_range(ctx.high, ctx.low, ctx.close, ops=ctx), ctx.close)


@feature("natr_7", family="technical", lookback=8,
         description="Wilder ATR(7) as a percentage of the close (TA-Lib NATR)")
def natr_7(ctx: Ops) -> Value:
    return ta.natr(ctx.high, ctx.low, ctx.close, 7, ops=ctx)


# ---------------------------------------------------------------- candle shape
@feature("candle_body", family="technical", lookback=1,
         description="(close - open) / (high - low) in [-1, 1]: signed body share of the range "
                     "(TA-Lib BOP; 0 on a zero range)")
def candle_body(ctx: Ops) -> Value:
    return ta.bop(ctx.open, ctx.high, ctx.low, ctx.close, ops=ctx)


@feature("candle_upper_wick", family="technical", lookback=1,
         description="(high - max(open, close)) / (high - low) in [0, 1]: upper shadow share "
                     "(0 on a zero range)")
def candle_upper_wick(ctx: Ops) -> Value:
    wick = ctx.high - ctx.maximum(ctx.open, ctx.close)
    return ctx.clip(ctx.safe_ratio(wick, _candle_range(ctx), 0.0), 0.0, 1.0)


@feature("candle_lower_wick", family="technical", lookback=1,
         description="(min(open, close) - low) / (high - low) in [0, 1]: lower shadow share "
                     "(0 on a zero range)")
def candle_lower_wick(ctx: Ops) -> Value:
    wick = ctx.minimum(ctx.open, ctx.close) - ctx.low
    return ctx.clip(ctx.safe_ratio(wick, _candle_range(ctx), 0.0), 0.0, 1.0)


# ---------------------------------------------------------------- price and volume
@feature("mfi_14", family="technical", lookback=15, higher_timeframes=True,
         description="money flow index(14) in [0, 100]: volume-weighted RSI of the typical price "
                     "(TA-Lib MFI; 0 when no money flowed)")
def mfi_14(ctx: Ops) -> Value:
    return ta.mfi(ctx.high, ctx.low, ctx.close, ctx.volume, 14, ops=ctx)


@feature("cmf_20", family="technical", lookback=20,
         description="Chaikin money flow(20) in [-1, 1]: volume-weighted close location in the "
                     "bar range (0 when nothing traded)")
def cmf_20(ctx: Ops) -> Value:
    return ta.chaikin_money_flow(ctx.high, ctx.low, ctx.close, ctx.volume, 20, ops=ctx)


@feature("force_index_13", family="technical", lookback=14,
         description="Elder force index(13) per unit volume: volume-weighted mean one-bar return "
                     "of the last 13 bars (0 when nothing traded)")
def force_index_13(ctx: Ops) -> Value:
    return ta.force_index(ctx.close, ctx.volume, 13, ops=ctx)


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


@feature("volume_profile_poc", family="technical", lookback=_PROFILE_BARS,
         description=f"close / point of control - 1: distance from the most-traded price level of "
                     f"the last {_PROFILE_BARS} bars' volume profile ({_PROFILE_BINS} bins)")
def volume_profile_poc(ctx: Ops) -> Value:
    poc = ta.volume_profile_poc(ctx.high, ctx.low, ctx.close, ctx.volume, _PROFILE_BARS,
                                _PROFILE_BINS, ops=ctx)
    return ctx.div(ctx.close, poc) - 1.0
