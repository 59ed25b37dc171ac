"""Performance metrics: the one place the project computes Sharpe, drawdown, accuracy and friends.

Pure functions of arrays. Return-based metrics take simple (not log) per-bar returns and a number
of bars per year; crypto trades around the clock, so a year is 365 days of bars
(:func:`periods_per_year`). Where a ratio is undefined (zero dispersion, zero drawdown) it is
reported as ``0.0`` -- "no evidence of skill" -- rather than ``inf``/``nan``, so that medians,
comparisons and logged metrics stay finite.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

__all__ = [
    "calmar_ratio",
    "classification_metrics",
    "hit_rate",
    "max_drawdown",
    "periods_per_year",
    "regression_metrics",
    "sharpe_ratio",
    "sortino_ratio",
    "strategy_returns",
]

_YEAR = timedelta(days=365)
_TINY = 1e-12  # dispersion at or below this is treated as zero (constant returns)


def _vector(values: Any, name: str, *, min_size: int = 1) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"`{name}` must hold at least {min_size} values, got {arr.size}")
    if not np.isfinite(arr).all():
        first = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"`{name}` must be finite, got {arr[first]} at position {first}")
    return arr


def _check_periods(periods: float) -> float:
    if not periods > 0:
        raise ValueError(f"`periods_per_year` must be positive, got `periods_per_year={periods}`")
    return float(periods)


def periods_per_year(timeframe: timedelta) -> float:
    """Bars per 365-day year for bars of length ``timeframe`` (30 min -> 17,520).

    Crypto markets trade 24/7, so there is no 252-trading-day convention.
    """
    if timeframe <= timedelta(0):
        raise ValueError(f"`timeframe` must be a positive duration, got `timeframe={timeframe}`")
    return _YEAR / timeframe


def strategy_returns(
    position: Any, asset_returns: Any, cost_bps: float = 0.0
) -> np.ndarray:
    """Per-bar returns of holding ``position`` net of turnover costs.

    ``r_t = position_t * asset_return_t - cost_bps / 1e4 * |position_t - position_{t-1}|`` with
    ``position_{-1} = 0`` (entering the first position pays its cost).

    Alignment is the caller's choice and decides causality: ``asset_returns[t]`` must be the return
    earned WHILE ``position[t]`` is held. For a position decided at the close of bar ``t``, pass the
    next bar's return, ``close[t+1] / close[t] - 1`` (i.e. ``close.pct_change().shift(-1)``, the
    last bar dropped). Passing bar ``t``'s own return would credit the position with a move that
    happened before it was taken: look-ahead.

    Parameters
    ----------
    position : array-like of float, shape (n_bars,)
        Exposure held (e.g. -1 short, 0 flat, 1 long, or a fraction).
    asset_returns : array-like of float, shape (n_bars,)
        Simple returns aligned with ``position`` as above.
    cost_bps : float, default 0
        Cost per unit of turnover, in basis points (fees plus slippage).

    Returns
    -------
    numpy.ndarray of float, shape (n_bars,)
    """
    pos = _vector(position, "position")
    ret = _vector(asset_returns, "asset_returns")
    if pos.shape != ret.shape:
        raise ValueError(
            "`position` and `asset_returns` must have the same length, "
            f"got {pos.size} and {ret.size}"
        )
    if not cost_bps >= 0:
        raise ValueError(f"`cost_bps` must be non-negative, got `cost_bps={cost_bps}`")
    turnover = np.abs(np.diff(pos, prepend=0.0))
    return pos * ret - cost_bps / 1e4 * turnover


def sharpe_ratio(returns: Any, periods_per_year: float) -> float:
    """Annualised Sharpe ratio ``mean / std * sqrt(periods_per_year)`` (zero risk-free rate).

    ``std`` uses ``ddof=1``; needs at least 2 returns. Returns ``0.0`` when the standard deviation
    is zero (constant returns, e.g. always flat), where the ratio is undefined.
    """
    r = _vector(returns, "returns", min_size=2)
    ppy = _check_periods(periods_per_year)
    std = r.std(ddof=1)
    if std <= _TINY:
        return 0.0
    return float(r.mean() / std * np.sqrt(ppy))


def sortino_ratio(returns: Any, periods_per_year: float) -> float:
    """Annualised Sortino ratio ``mean / downside_deviation * sqrt(periods_per_year)``.

    ``downside_deviation = sqrt(mean(min(r, 0) ** 2))`` over ALL periods (target return 0; Sortino
    & Price 1994). Returns ``0.0`` when there is no negative return (undefined ratio).
    """
    r = _vector(returns, "returns", min_size=2)
    ppy = _check_periods(periods_per_year)
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    if downside <= _TINY:
        return 0.0
    return float(r.mean() / downside * np.sqrt(ppy))


def _equity(returns: Any) -> np.ndarray:
    r = _vector(returns, "returns")
    if (r < -1).any():
        first = int(np.flatnonzero(r < -1)[0])
        raise ValueError(
            f"`returns` below -1 (a loss of more than everything) cannot compound, "
            f"got {r[first]} at position {first}"
        )
    return np.cumprod(np.concatenate([[1.0], 1.0 + r]))


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough fall of the compounded equity curve, as a positive fraction.

    Equity starts at 1 before the first return, so an immediate loss counts as a drawdown.
    ``[0.1, -0.5]`` -> equity 1, 1.1, 0.55 -> ``0.5``.
    """
    equity = _equity(returns)
    peak = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peak))


def calmar_ratio(returns: Any, periods_per_year: float) -> float:
    """Compound annual growth rate divided by :func:`max_drawdown`.

    ``CAGR = equity_final ** (periods_per_year / n) - 1``. Returns ``0.0`` when there is no
    drawdown (undefined ratio).
    """
    ppy = _check_periods(periods_per_year)
    equity = _equity(returns)
    mdd = max_drawdown(returns)
    if mdd <= _TINY:
        return 0.0
    n = equity.size - 1
    cagr = equity[-1] ** (ppy / n) - 1.0
    return float(cagr / mdd)


def hit_rate(returns: Any) -> float:
    """Share of the non-zero returns that are positive; ``0.0`` if every return is zero.

    Flat bars (zero return) are not bets, so they count neither as hits nor misses.
    """
    r = _vector(returns, "returns")
    active = r[r != 0]
    if active.size == 0:
        return 0.0
    return float(np.mean(active > 0))


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (``zero_division=0``).

    Binary labels (a subset of ``{0, 1}``) are scored for the positive class 1; any other label set
    (e.g. ``{-1, 0, 1}`` sides) is macro-averaged over the classes.

    Returns
    -------
    dict
        ``{"accuracy", "precision", "recall", "f1"}`` as floats.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.shape != yp.shape or yt.ndim != 1 or yt.size == 0:
        raise ValueError(
            f"`y_true` and `y_pred` must be non-empty 1-d arrays of one length, got shapes "
            f"{yt.shape} and {yp.shape}"
        )
    binary = set(np.unique(np.concatenate([yt, yp])).tolist()) <= {0, 1}
    precision, recall, f1, _ = precision_recall_fscore_support(
        yt, yp, average="binary" if binary else "macro", pos_label=1, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(yt, yp)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Coefficient of determination, root mean squared error and mean absolute error.

    Returns
    -------
    dict
        ``{"r2", "rmse", "mae"}`` as floats.
    """
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    yt = _vector(y_true, "y_true")
    yp = _vector(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same length, got {yt.size} and {yp.size}"
        )
    return {
        "r2": float(r2_score(yt, yp)),
        "rmse": float(root_mean_squared_error(yt, yp)),
        "mae": float(mean_absolute_error(yt, yp)),
    }
