"""Statistical features of the return series: momentum, long memory, standardised moves."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from ml_core.config import FeatureConfig
from ml_core.features._fracdiff import frac_diff_weights
from ml_core.features._ops import Ops, Value
from ml_core.features._risk import realized_volatility
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
    def momentum(ctx: Ops) -> Value:
        return ctx.div(ctx.close, ctx.lag(ctx.close, bars_in(span, ctx.timeframe))) - 1.0


for _span in _MOMENTUM_SPANS:
    _register_momentum(_span)


@feature("fractional_diff_price", family="statistical",
         lookback=lambda config, timeframe: config.frac_diff_window,
         description="log close fractionally differenced with order frac_diff_d over a fixed "
                     "window of frac_diff_window bars (AFML 5.5)")
def fractional_diff_price(ctx: Ops) -> Value:
    weights = frac_diff_weights(ctx.config.frac_diff_d, ctx.config.frac_diff_window)[::-1].copy()
    return ctx.rolling_apply(ctx.log_close, ctx.config.frac_diff_window,
                             lambda windows: windows @ weights)


@feature("return_zscore", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window + 1,
         description="last log return standardised by the mean and std of the last "
                     "volatility_window returns")
def return_zscore(ctx: Ops) -> Value:
    n = ctx.config.volatility_window
    mean = ctx.sma(ctx.log_return, n)
    return ctx.safe_ratio(ctx.log_return - mean, realized_volatility(ctx, n), 0.0)


def _lag1_autocorrelation(windows: np.ndarray) -> np.ndarray:
    x, y = windows[:, 1:], windows[:, :-1]
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (xc * yc).sum(axis=1) / den
    # Zero variance in the window (flat prices): no linear dependence to report.
    return np.where(den > 0, np.clip(corr, -1.0, 1.0), 0.0)


@feature("autocorr_1", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window + 2,
         description="lag-1 autocorrelation of log returns over the last volatility_window bars")
def autocorr_1(ctx: Ops) -> Value:
    return ctx.rolling_apply(ctx.log_return, ctx.config.volatility_window + 1,
                             _lag1_autocorrelation)
