"""Trading-activity features from exchange volume, the bundled data's proxy for on-chain flow."""

from __future__ import annotations

import numpy as np

from ml_core.features import _indicators as ta
from ml_core.features._context import BarContext
from ml_core.features._spec import feature

_WINDOW = 20


def _traded(volume: np.ndarray) -> np.ndarray:
    # Counting bars with volume is exact, unlike a rolling volume sum that may keep a rounding
    # residue after a burst of volume leaves the window.
    return ta.rolling_sum((volume > 0).astype(np.float64), _WINDOW) > 0


@feature("volume_sma_ratio", family="onchain_proxy", lookback=_WINDOW,
         description="volume / its 20-bar simple average (1 when nothing traded in the window)")
def volume_sma_ratio(ctx: BarContext) -> np.ndarray:
    average = ta.sma(ctx.volume, _WINDOW)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(_traded(ctx.volume), ctx.volume / average, 1.0)
    out[np.isnan(average)] = np.nan
    return out


@feature("obv_slope", family="onchain_proxy", lookback=_WINDOW + 1,
         description="change of on-balance volume over 20 bars / volume traded in them, in [-1, 1]")
def obv_slope(ctx: BarContext) -> np.ndarray:
    # OBV_t - OBV_{t-20} = sum of signed volumes of the last 20 bars (TA-Lib OBV sign rule):
    # independent of where the series starts, unlike OBV itself.
    change = np.diff(ctx.close, prepend=np.nan)
    signed = np.sign(change) * ctx.volume
    volume_sum = ta.rolling_sum(np.where(np.isnan(change), np.nan, ctx.volume), _WINDOW)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = ta.rolling_sum(signed, _WINDOW) / volume_sum
    out = np.where(_traded(ctx.volume), np.clip(slope, -1.0, 1.0), 0.0)
    out[np.isnan(volume_sum)] = np.nan
    return out
