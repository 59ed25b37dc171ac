"""Statistical features of the return series: momentum, moments, volatility estimators, memory,
dependence, complexity and standardised moves.

Windows are ``config.volatility_window`` bars (48 half-hours on the demo profile, 60 minutes in
production) unless a name says otherwise, so the same recipe scales with the bar length. Most
recipes work from rolling sums of powers of log returns (``sum r``, ``sum r^2``, ...), which cost
O(1) per bar when streaming and are accurate here because returns are small and their mean is
much smaller than their spread; central moments are formed from those sums. A window whose
variance is below ``1e-10`` of its mean square (constant returns, flat prices) has no shape,
dependence or memory to report and gets the neutral value each description names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

import numpy as np

from ml_core.config import FeatureConfig
from ml_core.features._fracdiff import frac_diff_weights
from ml_core.features._hurst import hurst_rs
from ml_core.features._ops import NAN, Ops, Value
from ml_core.features._risk import realized_volatility
from ml_core.features._spec import bars_in, feature, timeframe_label

_MOMENTUM_SPANS = (timedelta(hours=1), timedelta(hours=4), timedelta(days=1))
# Below this fraction of its mean square, a window's variance counts as zero (rounding only).
_DEGENERATE = 1e-10
# Horizon of `variance_ratio_4`, in bars.
_VARIANCE_RATIO_HORIZON = 4
# RiskMetrics daily decay (J.P. Morgan 1996): EWMA variance weight 1 - 0.94 on the newest return.
_RISKMETRICS_ALPHA = 0.06
# Hurst window: twice the volatility window, kept within [_HURST_MIN, _HURST_MAX] bars.
_HURST_MIN, _HURST_MAX = 64, 200


def _window(config: FeatureConfig) -> int:
    return config.volatility_window


def _returns_lookback(extra: int = 0) -> Callable[[FeatureConfig, timedelta], int]:
    """Lookback of a recipe over the last ``volatility_window`` returns (plus ``extra`` bars)."""
    return lambda config, timeframe: config.volatility_window + 1 + extra


# ------------------------------------------------------------------------ shared intermediates
def _power_sum(ctx: Ops, power: int, n: int) -> Value:
    """``sum r^power`` over the last ``n`` log returns (shared)."""

    def make() -> Value:
        r = ctx.log_return
        x = r if power == 1 else r * r if power == 2 else r * r * r if power == 3 else (r * r) ** 2
        return ctx.rolling_sum(x, n)

    return ctx.cached(("return_power_sum", power, n), make)


def _abs_return_sum(ctx: Ops, n: int) -> Value:
    return ctx.cached(("abs_return_sum", n), lambda: ctx.rolling_sum(ctx.abs(ctx.log_return), n))


def _variance(ctx: Ops, s1: Value, s2: Value, n: int) -> tuple[Value, Value]:
    """Population variance from ``sum x`` and ``sum x^2`` over ``n`` values, and whether it is
    informative (above rounding, see the module docstring; False while NaN)."""
    mean = s1 / n
    var = s2 / n - mean * mean
    return var, var > _DEGENERATE * (s2 / n)


def _informative(ctx: Ops, n: int) -> Value:
    """Whether the last ``n`` log returns vary (see :func:`_variance`)."""
    return _variance(ctx, _power_sum(ctx, 1, n), _power_sum(ctx, 2, n), n)[1]


def _unless(ctx: Ops, informative: Value, value: Value, fill: float, warm: Value) -> Value:
    """``value`` where ``informative``, else ``fill``; NaN where ``warm`` (an input that is NaN
    exactly until the recipe's lookback) is NaN."""
    return ctx.where(ctx.isnan(warm), NAN, ctx.where(informative, value, fill))


def _correlation(ctx: Ops, sx: Value, sxx: Value, sy: Value, syy: Value, sxy: Value,
                 n: int) -> Value:
    """Pearson correlation of ``n`` pairs from their sums; 0 when either side is constant."""
    var_x, ok_x = _variance(ctx, sx, sxx, n)
    var_y, ok_y = _variance(ctx, sy, syy, n)
    cov = sxy / n - (sx / n) * (sy / n)
    corr = ctx.clip(ctx.div(cov, ctx.sqrt(ctx.maximum(var_x * var_y, 0.0))), -1.0, 1.0)
    return _unless(ctx, ok_x & ok_y, corr, 0.0, sxy + sy)


def _lagged_correlation(ctx: Ops, x: Value, sx: Value, sxx: Value, k: int, n: int) -> Value:
    """Correlation of ``x_t`` with ``x_{t-k}`` over the last ``n`` bars, given the rolling sums
    ``sx``, ``sxx`` of ``x`` and ``x^2`` (those of ``x_{t-k}`` are the same sums ``k`` bars ago)."""
    sxy = ctx.rolling_sum(x * ctx.lag(x, k), n)
    return _correlation(ctx, sx, sxx, ctx.lag(sx, k), ctx.lag(sxx, k), sxy, n)


def _log_ratio(ctx: Ops, a: Value, b: Value) -> Value:
    return ctx.log(ctx.div(a, b))


def _x_log_x(ctx: Ops, p: Value) -> Value:
    """``p log p`` with ``0 log 0 = 0``."""
    return p * ctx.log(ctx.maximum(p, 1e-300))


# ----------------------------------------------------------------------------------- momentum
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
    d, window = ctx.config.frac_diff_d, ctx.config.frac_diff_window
    return ctx.rolling_apply(ctx.log_close, window, _frac_diff_dot(d, window))


@lru_cache(maxsize=16)
def _frac_diff_dot(d: float, window: int) -> Callable[[np.ndarray], np.ndarray]:
    """``windows @ w`` with the FFD weights, oldest first (built once per order and window)."""
    weights = frac_diff_weights(d, window)[::-1].copy()
    return lambda windows: windows @ weights


# -------------------------------------------------------------------------- moments, z-scores
@feature("return_zscore", family="statistical", lookback=_returns_lookback(),
         description="last log return standardised by the mean and std of the last "
                     "volatility_window returns (0 on flat prices)")
def return_zscore(ctx: Ops) -> Value:
    n = _window(ctx.config)
    mean = ctx.sma(ctx.log_return, n)
    zscore = ctx.safe_ratio(ctx.log_return - mean, realized_volatility(ctx, n), 0.0)
    return _unless(ctx, _informative(ctx, n), zscore, 0.0, zscore)


@feature("return_tstat", family="statistical", lookback=_returns_lookback(),
         description="t-statistic of the mean log return over the last volatility_window bars, "
                     "mean / std * sqrt(n) (0 on flat prices)")
def return_tstat(ctx: Ops) -> Value:
    n = _window(ctx.config)
    s1, s2 = _power_sum(ctx, 1, n), _power_sum(ctx, 2, n)
    var, ok = _variance(ctx, s1, s2, n)
    # Sample std (ddof = 1) from the population variance.
    tstat = ctx.div(s1 / n, ctx.sqrt(ctx.maximum(var, 0.0) * (n / (n - 1.0)) / n))
    return _unless(ctx, ok, tstat, 0.0, var)


def _central_moments(ctx: Ops, n: int) -> tuple[Value, Value, Value, Value]:
    """``m2, m3, m4`` (population central moments) of the last ``n`` log returns, and whether
    the window is informative."""
    s1, s2, s3, s4 = (_power_sum(ctx, p, n) for p in (1, 2, 3, 4))
    a = s1 / n
    m2, ok = _variance(ctx, s1, s2, n)
    m3 = s3 / n - 3.0 * a * (s2 / n) + 2.0 * a * a * a
    m4 = s4 / n - 4.0 * a * (s3 / n) + 6.0 * a * a * (s2 / n) - 3.0 * (a * a) * (a * a)
    return m2, m3, m4, ok


@feature("return_skew", family="statistical", lookback=_returns_lookback(),
         description="adjusted Fisher-Pearson skewness G1 of the last volatility_window log "
                     "returns (as pandas' rolling skew; 0 on flat prices)")
def return_skew(ctx: Ops) -> Value:
    n = _window(ctx.config)
    m2, m3, _, ok = _central_moments(ctx, n)
    g1 = ctx.div(m3, m2 * ctx.sqrt(ctx.maximum(m2, 0.0)))
    return _unless(ctx, ok, math.sqrt(n * (n - 1.0)) / (n - 2.0) * g1, 0.0, m2)


@feature("return_kurtosis", family="statistical", lookback=_returns_lookback(),
         description="bias-corrected excess kurtosis G2 of the last volatility_window log returns "
                     "(as pandas' rolling kurt; 0 for normal returns and on flat prices)")
def return_kurtosis(ctx: Ops) -> Value:
    n = _window(ctx.config)
    m2, _, m4, ok = _central_moments(ctx, n)
    g2 = ((n * n - 1.0) * ctx.div(m4, m2 * m2) - 3.0 * (n - 1.0) ** 2) / ((n - 2.0) * (n - 3.0))
    return _unless(ctx, ok, g2, 0.0, m2)


@feature("price_zscore", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window,
         description="close minus its volatility_window-bar mean, in rolling standard deviations "
                     "of the close (0 on flat prices)")
def price_zscore(ctx: Ops) -> Value:
    n = _window(ctx.config)
    return ctx.safe_ratio(ctx.close - ctx.sma(ctx.close, n), ctx.rolling_std(ctx.close, n), 0.0)


@feature("volume_zscore", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window,
         description="volume minus its volatility_window-bar mean, in rolling standard "
                     "deviations of the volume (0 when volume is constant)")
def volume_zscore(ctx: Ops) -> Value:
    n = _window(ctx.config)
    return ctx.safe_ratio(ctx.volume - ctx.sma(ctx.volume, n), ctx.rolling_std(ctx.volume, n),
                          0.0)


# ----------------------------------------------------------------------- range volatilities
# Per-bar standard deviations of log returns estimated from each bar's open, high, low and close,
# averaged (as variances) over the last volatility_window bars. Unlike close-to-close volatility
# they use the path inside the bar: 5-8 times more efficient for a driftless diffusion.
def _log_high_low(ctx: Ops) -> Value:
    return ctx.cached("log_high_low", lambda: _log_ratio(ctx, ctx.high, ctx.low))


def _log_close_open(ctx: Ops) -> Value:
    return ctx.cached("log_close_open", lambda: _log_ratio(ctx, ctx.close, ctx.open))


def _rogers_satchell_term(ctx: Ops) -> Value:
    def make() -> Value:
        high_close, high_open = _log_ratio(ctx, ctx.high, ctx.close), _log_ratio(ctx, ctx.high,
                                                                                 ctx.open)
        low_close, low_open = _log_ratio(ctx, ctx.low, ctx.close), _log_ratio(ctx, ctx.low,
                                                                              ctx.open)
        return high_close * high_open + low_close * low_open

    return ctx.cached("rogers_satchell_term", make)


def _root(ctx: Ops, variance: Value) -> Value:
    return ctx.sqrt(ctx.maximum(variance, 0.0))


@feature("parkinson_vol", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window,
         description="Parkinson (1980) high-low volatility over volatility_window bars, "
                     "sqrt(mean(log(H/L)^2) / (4 ln 2)), per bar")
def parkinson_vol(ctx: Ops) -> Value:
    hl = _log_high_low(ctx)
    return _root(ctx, ctx.sma(hl * hl, _window(ctx.config)) / (4.0 * math.log(2.0)))


@feature("garman_klass_vol", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window,
         description="Garman-Klass (1980) OHLC volatility over volatility_window bars, "
                     "sqrt(mean(log(H/L)^2 / 2 - (2 ln 2 - 1) log(C/O)^2)), per bar")
def garman_klass_vol(ctx: Ops) -> Value:
    hl, co = _log_high_low(ctx), _log_close_open(ctx)
    term = 0.5 * hl * hl - (2.0 * math.log(2.0) - 1.0) * co * co
    return _root(ctx, ctx.sma(term, _window(ctx.config)))


@feature("rogers_satchell_vol", family="statistical",
         lookback=lambda config, timeframe: config.volatility_window,
         description="Rogers-Satchell (1991) drift-free OHLC volatility over volatility_window "
                     "bars, sqrt(mean(log(H/C) log(H/O) + log(L/C) log(L/O))), per bar")
def rogers_satchell_vol(ctx: Ops) -> Value:
    return _root(ctx, ctx.sma(_rogers_satchell_term(ctx), _window(ctx.config)))


@feature("yang_zhang_vol", family="statistical", lookback=_returns_lookback(),
         description="Yang-Zhang (2000) volatility over volatility_window bars: open-gap and "
                     "open-to-close variances plus Rogers-Satchell, per bar")
def yang_zhang_vol(ctx: Ops) -> Value:
    n = _window(ctx.config)
    k = 0.34 / (1.34 + (n + 1.0) / (n - 1.0))
    gap = ctx.rolling_std(_log_ratio(ctx, ctx.open, ctx.lag(ctx.close, 1)), n)
    body = ctx.rolling_std(_log_close_open(ctx), n)
    rogers_satchell = ctx.sma(_rogers_satchell_term(ctx), n)
    return _root(ctx, gap * gap + k * body * body + (1.0 - k) * rogers_satchell)


# ------------------------------------------------------------------- volatility clustering
@feature("abs_return_autocorr", family="statistical", lookback=_returns_lookback(1),
         description="lag-1 autocorrelation of absolute log returns over the last "
                     "volatility_window bars: > 0 when volatility clusters (0 on flat prices)")
def abs_return_autocorr(ctx: Ops) -> Value:
    n = _window(ctx.config)
    x = ctx.abs(ctx.log_return)
    return _lagged_correlation(ctx, x, _abs_return_sum(ctx, n), _power_sum(ctx, 2, n), 1, n)


@feature("ewma_vol_ratio", family="statistical", lookback=_returns_lookback(),
         description="RiskMetrics EWMA volatility (lambda 0.94, GARCH(1,1) without mean "
                     "reversion) / realized vol over volatility_window; > 1 after fresh shocks "
                     "(1 on flat prices)")
def ewma_vol_ratio(ctx: Ops) -> Value:
    n = _window(ctx.config)
    r = ctx.log_return
    ewma = ctx.smooth(r * r, _RISKMETRICS_ALPHA, n)
    ratio = ctx.safe_ratio(ctx.sqrt(ewma), realized_volatility(ctx, n), 1.0)
    return _unless(ctx, _informative(ctx, n), ratio, 1.0, ratio)


# ------------------------------------------------------------------------ serial dependence
def _register_autocorrelation(k: int) -> None:
    @feature(f"autocorr_{k}", family="statistical", lookback=_returns_lookback(k),
             description=f"lag-{k} autocorrelation of log returns over the last "
                         "volatility_window bars (0 on flat prices)")
    def autocorrelation(ctx: Ops) -> Value:
        n = _window(ctx.config)
        return _lagged_correlation(ctx, ctx.log_return, _power_sum(ctx, 1, n),
                                   _power_sum(ctx, 2, n), k, n)


for _k in (1, 2, 5):
    _register_autocorrelation(_k)


@feature(f"variance_ratio_{_VARIANCE_RATIO_HORIZON}", family="statistical",
         lookback=_returns_lookback(_VARIANCE_RATIO_HORIZON - 1),
         description=f"Lo-MacKinlay variance ratio: variance of {_VARIANCE_RATIO_HORIZON}-bar log "
                     f"returns / {_VARIANCE_RATIO_HORIZON} x that of 1-bar ones over "
                     "volatility_window bars; < 1 mean-reverting, > 1 trending (1 on flat prices)")
def variance_ratio(ctx: Ops) -> Value:
    n, q = _window(ctx.config), _VARIANCE_RATIO_HORIZON
    s1, s2 = _power_sum(ctx, 1, n), _power_sum(ctx, 2, n)
    var_1, ok = _variance(ctx, s1, s2, n)
    r_q = _log_ratio(ctx, ctx.close, ctx.lag(ctx.close, q))
    drift = q * (s1 / n)  # the 1-bar mean, over q bars
    var_q = (ctx.rolling_sum(r_q * r_q, n) / n - 2.0 * drift * (ctx.rolling_sum(r_q, n) / n)
             + drift * drift)
    return _unless(ctx, ok, ctx.div(ctx.maximum(var_q, 0.0), q * var_1), 1.0, var_q + var_1)


@lru_cache(maxsize=None)
def _hurst_estimator(window: int) -> Callable[[np.ndarray], np.ndarray]:
    return hurst_rs(window)


def _hurst_window(config: FeatureConfig) -> int:
    return min(max(2 * config.volatility_window, _HURST_MIN), _HURST_MAX)


@feature("hurst_exponent", family="statistical",
         lookback=lambda config, timeframe: _hurst_window(config) + 1,
         description="rescaled-range Hurst exponent of the last 2 x volatility_window log "
                     "returns (64-200 bars) against the Anis-Lloyd expectation: ~0.5 random "
                     "walk, > 0.5 trending, < 0.5 mean-reverting")
def hurst_exponent(ctx: Ops) -> Value:
    window = _hurst_window(ctx.config)
    return ctx.rolling_apply(ctx.log_return, window, _hurst_estimator(window))


# ------------------------------------------------------------------------ direction, paths
def _up(ctx: Ops) -> Value:
    """1 on a bar that closed higher, 0 otherwise, NaN on the first bar."""
    s = ctx.sign(ctx.log_return)
    return (s + ctx.abs(s)) * 0.5


@feature("up_bar_ratio", family="statistical", lookback=_returns_lookback(),
         description="fraction of the last volatility_window bars that closed higher, in [0, 1]")
def up_bar_ratio(ctx: Ops) -> Value:
    n = _window(ctx.config)
    return ctx.rolling_sum(_up(ctx), n) / n


# Ordinal pattern of (x_{t-2}, x_{t-1}, x_t), ties ordered by time (the earlier value is the
# smaller), coded 4 [x_{t-2} <= x_{t-1}] + 2 [x_{t-1} <= x_t] + [x_{t-2} <= x_t]: the six
# consistent codes are the 3! orderings.
_PATTERN_CODES = (7, 5, 4, 3, 2, 0)


@feature("permutation_entropy", family="statistical", lookback=_returns_lookback(1),
         description="Bandt-Pompe permutation entropy of the ordinal patterns of 3 closes "
                     "ending in the last volatility_window bars / ln 6, in [0, 1]: 0 monotone, "
                     "0.97 random walk")
def permutation_entropy(ctx: Ops) -> Value:
    n = _window(ctx.config)
    c0, c1, c2 = ctx.lag(ctx.close, 2), ctx.lag(ctx.close, 1), ctx.close
    code = (ctx.where(c0 <= c1, 4.0, 0.0) + ctx.where(c1 <= c2, 2.0, 0.0)
            + ctx.where(c0 <= c2, 1.0, 0.0))
    code = ctx.where(ctx.isnan(c0), NAN, code)
    entropy = 0.0
    for value in _PATTERN_CODES:
        # `+ code * 0` keeps the warm-up NaN; counts of 0/1 are exact in both modes.
        p = ctx.rolling_sum(ctx.where(code == value, 1.0, 0.0) + code * 0.0, n) / n
        entropy = entropy - _x_log_x(ctx, p)
    return entropy / math.log(6.0)


def _max_drawdown(windows: np.ndarray) -> np.ndarray:
    return 1.0 - (windows / np.maximum.accumulate(windows, axis=1)).min(axis=1)


@feature("max_drawdown", family="statistical", lookback=_returns_lookback(),
         description="largest peak-to-trough fall of the close within the last volatility_window "
                     "bars, as a fraction of the peak, in [0, 1)")
def max_drawdown(ctx: Ops) -> Value:
    return ctx.rolling_apply(ctx.close, _window(ctx.config) + 1, _max_drawdown)
