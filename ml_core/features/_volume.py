"""Trading-activity features from exchange volume, the bundled data's proxy for on-chain flow."""

from __future__ import annotations

from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._spec import feature

_WINDOW = 20


def _traded(ctx: Ops) -> Value:
    # Counting bars with volume is exact, unlike a rolling volume sum that may keep a rounding
    # residue after a burst of volume leaves the window.
    return ctx.cached(("traded", _WINDOW), lambda: ctx.rolling_sum(
        ctx.where(ctx.volume > 0, 1.0, 0.0), _WINDOW) > 0)


@feature("volume_sma_ratio", family="onchain_proxy", lookback=_WINDOW,
         description="volume / its 20-bar simple average (1 when nothing traded in the window)")
def volume_sma_ratio(ctx: Ops) -> Value:
    average = ctx.sma(ctx.volume, _WINDOW)
    out = ctx.where(_traded(ctx), ctx.div(ctx.volume, average), 1.0)
    return ctx.where(ctx.isnan(average), NAN, out)


@feature("obv_slope", family="onchain_proxy", lookback=_WINDOW + 1,
         description="change of on-balance volume over 20 bars / volume traded in them, in [-1, 1]")
def obv_slope(ctx: Ops) -> Value:
    # OBV_t - OBV_{t-20} = sum of signed volumes of the last 20 bars (TA-Lib OBV sign rule):
    # independent of where the series starts, unlike OBV itself.
    change = ctx.diff(ctx.close)
    signed = ctx.sign(change) * ctx.volume
    volume_sum = ctx.rolling_sum(ctx.where(ctx.isnan(change), NAN, ctx.volume), _WINDOW)
    slope = ctx.div(ctx.rolling_sum(signed, _WINDOW), volume_sum)
    out = ctx.where(_traded(ctx), ctx.clip(slope, -1.0, 1.0), 0.0)
    return ctx.where(ctx.isnan(volume_sum), NAN, out)
