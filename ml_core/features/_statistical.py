"""Statistical features of the return series: momentum, long memory, standardised moves."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import FeatureConfig
from ml_core.features import _indicators as ta
from ml_core.features._context import BarContext
from ml_core.features._fracdiff import frac_diff_ffd
from ml_core.features._spec import bars_in, feature, timeframe_label

_MOMENTUM_SPANS = (timedelta(hours=1), timedelta(hours=4), timedelta(days=1))


def _register_momentum(span: timedelta) -> None:
    """``momentum_<span>``: the simple return over the last ``span`` of *time*.

    Defined only on bars whose length divides ``span`` (2 bars at 30m, 60 at 1m for ``1h``), so
    the name means the same thing whatever the base timeframe.
    """
    label = timeframe_label(span)

    def available(config: FeatureConfig, timeframe: timedelta) -> bool:
        return span >= timeframe and span % timeframe == timedelta(0)

    @feature(f"momentum_{label}", family="statistical", available=available,
             lookback=lambda config, timeframe: bars_in(span, timeframe) + 1,
             description=f"simple return of the close over the last {label}")
    def momentum(ctx: BarContext) -> np.ndarray:
        return ctx.close / ta.lag(ctx.close, bars_in(span, ctx.timeframe)) - 1.0


for _span in _MOMENTUM_SPANS:
    _register_momentum(_span)


@feature("fractional_diff_price", family="statistical",
         lookback=lambda config, timeframe: config.frac_diff_window,
         description="log close fractionally differenced with order frac_diff_d over a fixed "
                     "window of frac_diff_window bars (AFML 5.5)")
def fractional_diff_price(ctx: BarContext) -> np.ndarray:
    return frac_diff_ffd(ctx.log_close, ctx.config.frac_diff_d, ctx.config.frac_diff_window)


@feature("return_zscore", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window + 1,
         description="last log return standardised by the mean and std of the last "
                     "volatility_window returns")
def return_zscore(ctx: BarContext) -> np.ndarray:
    n = ctx.config.volatility_window
    mean = ta.sma(ctx.log_return, n)
    return ta.safe_ratio(ctx.log_return - mean, ta.rolling_std(ctx.log_return, n), fill=0.0)


@feature("autocorr_1", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window + 2,
         description="lag-1 autocorrelation of log returns over the last volatility_window bars")
def autocorr_1(ctx: BarContext) -> np.ndarray:
    n = ctx.config.volatility_window
    returns = pd.Series(ctx.log_return)
    corr = returns.rolling(n, min_periods=n).corr(pd.Series(ta.lag(ctx.log_return, 1)))
    out = np.clip(corr.to_numpy(), -1.0, 1.0)
    # Zero variance in the window (flat prices): no linear dependence to report.
    out[np.isnan(out) | np.isinf(corr.to_numpy())] = 0.0
    out[: min(n + 1, len(out))] = np.nan
    return out
