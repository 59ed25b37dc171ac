"""Volume features of the technical family: on-balance-volume slope and volume / SMA ratio.

Both read exchange volume only as ratios of volume sums, so they are scale-free. The on-chain
*proxies* built from volume live in :mod:`ml_core.features._onchain`.
"""

from __future__ import annotations

from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import feature

_WINDOW = 20


def traded(ctx: Ops, n: int) -> Value:
    """True where some volume traded in the last ``n`` bars (NaN-free; False while warming up).

    Counting bars with volume is exact, unlike a rolling volume sum that may keep a rounding
    residue after a burst of volume leaves the window: guard ratios of volume sums with it.
    """
    return ctx.cached(("traded", n), lambda: ctx.rolling_sum(
        ctx.where(ctx.volume > 0, 1.0, 0.0), n) > 0)


@feature("volume_sma_ratio", family="technical", lookback=_WINDOW,
         description="volume / its 20-bar simple average (1 when nothing traded in the window)")
def volume_sma_ratio(ctx: Ops) -> Value:
    average = ctx.sma(ctx.volume, _WINDOW)
    out = ctx.where(traded(ctx, _WINDOW), ctx.div(ctx.volume, average), 1.0)
    return ctx.where(ctx.isnan(average), NAN, out)


@feature("obv_slope", family="technical", lookback=_WINDOW + 1,
         description="change of on-balance volume over 20 bars / volume traded in them, in [-1, 1]")
def obv_slope(ctx: Ops) -> Value:
    # OBV_t - OBV_{t-20} = sum of signed volumes of the last 20 bars (TA-Lib OBV sign rule):
    # independent of where the series starts, unlike OBV itself.
    change = ctx.diff(ctx.close)
    signed = ctx.sign(change) * ctx.volume
    volume_sum = ctx.rolling_sum(ctx.where(ctx.isnan(change), NAN, ctx.volume), _WINDOW)
    slope = ctx.div(ctx.rolling_sum(signed, _WINDOW), volume_sum)
    out = ctx.where(traded(ctx, _WINDOW), ctx.clip(slope, -1.0, 1.0), 0.0)
    return ctx.where(ctx.isnan(volume_sum), NAN, out)
