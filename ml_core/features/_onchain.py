"""On-chain *proxies*: MVRV-, NVT-, SOPR-, exchange-flow- and holder-like series computed from
exchange price and volume.

These are **not on-chain data**: no blockchain is read. Each ``onchain_*_proxy`` imitates the
idea of one on-chain metric with exchange bars only, as its description says: traded volume
stands in for coins moved, the volume-weighted average close for the price at which they last
moved (the "realised price"), bars that closed below their open for coins sent to exchanges to
be sold. They are family ``"onchain_proxy"`` so reports never mistake them for the real thing.

Horizons are spans of *time* (1, 7 and 30 days), converted to bars of the timeframe with
:func:`~ml_core.features._spec.bars_at_least`, so a name means the same on 30-minute and
1-minute bars. Week- and month-long memories are exponential averages (``alpha = 2 / (N + 1)``
over the ``N`` bars of the span: the mean age of an ``N``-bar simple average), seeded with the
mean of the first day of values: O(1) per bar when streaming even where 30 days are 43,200
bars, and every proxy is defined after one day of bars (like any EMA, the value depends on the
start of the series with a weight decaying as ``exp(-2 t / N)``). Day-long quantities are exact
rolling sums over the last day. All values are scale-free (ratios of prices, ratios of volume
sums) and causal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import bars_at_least, feature
from ml_core.features._volume import traded

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)

#: A bar is whale-sized when its volume exceeds this multiple of the 7-day average bar volume.
WHALE_MULTIPLE = 3.0
#: Bound of the NVT proxy's log ratio (reached only after long stretches without trades).
NVT_LIMIT = 10.0


def _day_bars(ctx: Ops) -> int:
    return bars_at_least(DAY, ctx.timeframe)


def _one_day(config: FeatureConfig, timeframe: timedelta) -> int:
    return bars_at_least(DAY, timeframe)


def _one_day_and_a_bar(config: FeatureConfig, timeframe: timedelta) -> int:
    return bars_at_least(DAY, timeframe) + 1


# --------------------------------------------------------------------- shared intermediates
_INPUTS: dict[str, Callable[[Ops], Value]] = {
    "close": lambda ctx: ctx.close,
    "volume": lambda ctx: ctx.volume,
    "dollar_volume": lambda ctx: ctx.close * ctx.volume,
    "down_volume": lambda ctx: ctx.where(ctx.close < ctx.open, ctx.volume, 0.0),
    "up_volume": lambda ctx: ctx.where(ctx.close > ctx.open, ctx.volume, 0.0),
    "location_volume": lambda ctx: _close_location(ctx) * ctx.volume,
}


def _close_location(ctx: Ops) -> Value:
    """Close location value ``((c - l) - (h - c)) / (h - l)`` in [-1, 1], 0 on a zero range."""
    return ctx.safe_ratio((ctx.close - ctx.low) - (ctx.high - ctx.close), ctx.high - ctx.low, 0.0)


def _ema(ctx: Ops, name: str, span: timedelta) -> Value:
    """Exponential average of the input ``name`` (see ``_INPUTS``) over ``span`` of time.

    ``alpha = 2 / (N + 1)`` with ``N`` the bars in ``span``; seeded at bar ``day - 1`` with the
    mean of the first day of values (``day`` = bars in one day).
    """

    def make() -> Value:
        day = _day_bars(ctx)
        n = bars_at_least(span, ctx.timeframe)
        return ctx.smooth(_INPUTS[name](ctx), 2.0 / (n + 1), day, day)

    return ctx.cached(("onchain_ema", name, span), make)


def _day_sum(ctx: Ops, name: str) -> Value:
    """Sum of the input ``name`` over the last day of bars."""
    return ctx.cached(("onchain_day_sum", name),
                      lambda: ctx.rolling_sum(_INPUTS[name](ctx), _day_bars(ctx)))


def _day_average_from_first(ctx: Ops, x: Value) -> Value:
    """Exponential average over one day (``alpha = 2 / (day + 1)``) started at the first
    non-NaN value of ``x`` (for inputs that are themselves defined only after a seed)."""
    return ctx.smooth(x, 2.0 / (_day_bars(ctx) + 1), 1, 1)


def _log_ratio(ctx: Ops, num: Value, den: Value) -> Value:
    """``log(num / den)``; 0 where ``den`` is 0 (nothing traded since the series began)."""
    return ctx.log(ctx.safe_ratio(num, den, 1.0))


def _realised(ctx: Ops, span: timedelta) -> tuple[Value, Value]:
    """``(sum close * volume, sum volume)`` as exponential averages over ``span``: their ratio is
    the realised-price proxy, the volume-weighted average close."""
    return _ema(ctx, "dollar_volume", span), _ema(ctx, "volume", span)


# ----------------------------------------------------------------------------- valuation
@feature("onchain_mvrv_proxy", family="onchain_proxy", lookback=_one_day,
         description="MVRV proxy from exchange price and volume, not on-chain data: "
                     "log(close / realised price), realised price = volume-weighted EMA of the "
                     "close over 30 days; 0 at the cost basis")
def onchain_mvrv_proxy(ctx: Ops) -> Value:
    dollars, volume = _realised(ctx, MONTH)
    return _log_ratio(ctx, ctx.close * volume, dollars)


@feature("onchain_realized_cap_momentum_proxy", family="onchain_proxy", lookback=_one_day,
         description="realised-cap momentum proxy from exchange price and volume, not on-chain "
                     "data: log(7-day / 30-day volume-weighted EMA of the close); > 0 when "
                     "recent buyers paid more")
def onchain_realized_cap_momentum_proxy(ctx: Ops) -> Value:
    week_dollars, week_volume = _realised(ctx, WEEK)
    month_dollars, month_volume = _realised(ctx, MONTH)
    return _log_ratio(ctx, week_dollars * month_volume, week_volume * month_dollars)


@feature("onchain_sopr_proxy", family="onchain_proxy", lookback=_one_day,
         description="SOPR proxy from exchange price and volume, not on-chain data: log(1-day "
                     "VWAP of the close / 7-day volume-weighted EMA of the close), 0 without "
                     "trades in the day; > 0 when coins moved today at a profit")
def onchain_sopr_proxy(ctx: Ops) -> Value:
    day_dollars, day_volume = _day_sum(ctx, "dollar_volume"), _day_sum(ctx, "volume")
    week_dollars, week_volume = _realised(ctx, WEEK)
    sopr = _log_ratio(ctx, day_dollars * week_volume, day_volume * week_dollars)
    out = ctx.where(traded(ctx, _day_bars(ctx)), sopr, 0.0)
    return ctx.where(ctx.isnan(day_volume) | ctx.isnan(week_volume), NAN, out)


@feature("onchain_nvt_proxy", family="onchain_proxy", lookback=_one_day,
         description="NVT proxy from exchange price and volume, not on-chain data: log(close / "
                     "its 30-day EMA) - log(7-day / 30-day EMA of dollar volume), in [-10, 10]; "
                     "> 0 when price outruns turnover")
def onchain_nvt_proxy(ctx: Ops) -> Value:
    price = ctx.log(ctx.div(ctx.close, _ema(ctx, "close", MONTH)))
    turnover = ctx.safe_ratio(_ema(ctx, "dollar_volume", WEEK), _ema(ctx, "dollar_volume", MONTH),
                              1.0)
    return ctx.clip(price - ctx.log(turnover), -NVT_LIMIT, NVT_LIMIT)


@feature("onchain_puell_multiple_proxy", family="onchain_proxy", lookback=_one_day,
         description="Puell-multiple proxy from exchange price and volume, not on-chain data: "
                     "1-day / 30-day EMA of dollar volume (close * volume), >= 0, 1 = usual")
def onchain_puell_multiple_proxy(ctx: Ops) -> Value:
    return ctx.safe_ratio(_ema(ctx, "dollar_volume", DAY), _ema(ctx, "dollar_volume", MONTH), 1.0)


# -------------------------------------------------------------------------- exchange flows
@feature("onchain_exchange_inflow_proxy", family="onchain_proxy", lookback=_one_day,
         description="exchange-inflow proxy from exchange price and volume, not on-chain data: "
                     "1-day / 30-day EMA of the volume of bars closing below their open, >= 0")
def onchain_exchange_inflow_proxy(ctx: Ops) -> Value:
    return ctx.safe_ratio(_ema(ctx, "down_volume", DAY), _ema(ctx, "down_volume", MONTH), 1.0)


@feature("onchain_exchange_outflow_proxy", family="onchain_proxy", lookback=_one_day,
         description="exchange-outflow proxy from exchange price and volume, not on-chain data: "
                     "1-day / 30-day EMA of the volume of bars closing above their open, >= 0")
def onchain_exchange_outflow_proxy(ctx: Ops) -> Value:
    return ctx.safe_ratio(_ema(ctx, "up_volume", DAY), _ema(ctx, "up_volume", MONTH), 1.0)


@feature("onchain_exchange_netflow_proxy", family="onchain_proxy", lookback=_one_day,
         description="exchange-netflow proxy from exchange price and volume, not on-chain data: "
                     "(down-bar - up-bar volume) / volume over the last day, in [-1, 1]; > 0 "
                     "is net selling")
def onchain_exchange_netflow_proxy(ctx: Ops) -> Value:
    day = _day_bars(ctx)
    signed = ctx.rolling_sum(ctx.sign(ctx.open - ctx.close) * ctx.volume, day)
    volume = _day_sum(ctx, "volume")
    out = ctx.where(traded(ctx, day), ctx.clip(ctx.div(signed, volume), -1.0, 1.0), 0.0)
    return ctx.where(ctx.isnan(volume), NAN, out)


@feature("onchain_accumulation_proxy", family="onchain_proxy", lookback=_one_day,
         description="accumulation proxy from exchange price and volume, not on-chain data: "
                     "7-day EMA of close-location * volume / of volume, in [-1, 1]; > 0 when "
                     "volume closes near the highs")
def onchain_accumulation_proxy(ctx: Ops) -> Value:
    return ctx.clip(ctx.safe_ratio(_ema(ctx, "location_volume", WEEK), _ema(ctx, "volume", WEEK),
                                   0.0), -1.0, 1.0)


# ------------------------------------------------------------------------------- holders
@feature("onchain_whale_activity_proxy", family="onchain_proxy", lookback=_one_day,
         description="whale-activity proxy from exchange price and volume, not on-chain data: "
                     "share of volume (1-day EMA) in bars with volume > 3x its 7-day EMA, "
                     "in [0, 1]")
def onchain_whale_activity_proxy(ctx: Ops) -> Value:
    typical = _ema(ctx, "volume", WEEK)
    warming = ctx.isnan(typical)
    whale = ctx.where(ctx.volume > WHALE_MULTIPLE * typical, ctx.volume, 0.0)
    whale_volume = _day_average_from_first(ctx, ctx.where(warming, NAN, whale))
    volume = _day_average_from_first(ctx, ctx.where(warming, NAN, ctx.volume))
    return ctx.clip(ctx.safe_ratio(whale_volume, volume, 0.0), 0.0, 1.0)


@feature("onchain_active_addresses_proxy", family="onchain_proxy", lookback=_one_day,
         description="active-addresses proxy from exchange price and volume, not on-chain data: "
                     "share of bars (1-day EMA) whose volume exceeds its 1-day EMA, in [0, 1]; "
                     "low when a few bars carry the volume")
def onchain_active_addresses_proxy(ctx: Ops) -> Value:
    typical = _ema(ctx, "volume", DAY)
    active = ctx.where(ctx.volume > typical, 1.0, 0.0)
    return _day_average_from_first(ctx, ctx.where(ctx.isnan(typical), NAN, active))


@feature("onchain_dormancy_proxy", family="onchain_proxy", lookback=_one_day_and_a_bar,
         description="dormancy proxy from exchange price and volume, not on-chain data: "
                     "volume-weighted mean age of the 30-day EMA volume / its steady value; "
                     "1 = steady, > 1 coins idle, < 1 old coins moving")
def onchain_dormancy_proxy(ctx: Ops) -> Value:
    # With M_t = EMA_alpha(volume), the age-weighted average G_t = alpha sum_s (1 - alpha)^(t-s)
    # (t - s) volume_s follows G_t = (1 - alpha) (G_{t-1} + M_{t-1}), an EMA of c M_{t-1} with
    # c = (1 - alpha) / alpha; mean age G / M is c for constant volume. G starts at c M.
    alpha = 2.0 / (bars_at_least(MONTH, ctx.timeframe) + 1)
    steady_age = (1.0 - alpha) / alpha
    volume = _ema(ctx, "volume", MONTH)
    aged = ctx.smooth(steady_age * ctx.lag(volume, 1), alpha, 1, 1)
    return ctx.safe_ratio(aged, steady_age * volume, 1.0)
