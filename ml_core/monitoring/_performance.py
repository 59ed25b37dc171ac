"""Live performance of the champion's resolved paper trades against its validated figures, and the
performance rule of the automatic rollback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RECENT_TRADES", "LivePerformance", "hit_rate_upper_bound", "live_performance",
           "recent_trades"]

RECENT_TRADES: int = 200
"""Trades the daily check judges: the champion's last 200 resolved trades (:func:`recent_trades`).

Measured in ``benchmarks/monitor.py`` (validated hit rate 0.55, ~5 trades a day, daily checks,
180 days, 1,000 seeds, the profile's defaults: 95% Clopper-Pearson bound, a 5-point drop, 30
trades at least): 5.0% of stationary runs roll back at least once; after the hit rate falls to
0.40 every run rolls back, a median 30 days later (90th percentile 42). The last 100 trades react
faster (median 17.5 days) but roll back 16% of healthy champions; 300 trades: 3.7% and 38.5
days; the trades of the profile's 7-day window (~35) would roll back 61%.
"""


def recent_trades(trade_returns: pd.Series, as_of: Any,
                  n_trades: int = RECENT_TRADES) -> pd.Series:
    """The window rule: the last ``n_trades`` trades resolved at or before ``as_of``.

    A fixed number of trades, not a span of time: the bound's width, and so the false-alarm rate
    of each check, then does not depend on how often the model trades (a quiet week holds 10
    trades, a busy one 100), and a slow trader is judged on as much evidence as a fast one, only
    later. Pass only the champion's own trades: after a promotion or rollback the count starts
    again and ``min_trades`` holds the rule back until enough have resolved.

    Parameters
    ----------
    trade_returns : pandas.Series of float
        Net return per resolved trade, indexed by resolution time.
    as_of : timestamp
        The check's time; later resolutions are ignored (point in time).
    n_trades : int, default :data:`RECENT_TRADES`

    Returns
    -------
    pandas.Series
        At most ``n_trades`` returns, in resolution order.
    """
    if not (isinstance(n_trades, (int, np.integer)) and n_trades >= 1):
        raise ValueError(f"`n_trades` must be a positive integer, got `n_trades={n_trades!r}`")
    returns = pd.Series(trade_returns, dtype=np.float64).sort_index(kind="stable")
    return returns[returns.index <= as_of].iloc[-n_trades:]


def hit_rate_upper_bound(hits: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a binomial success rate.

    The exact bound ``Beta(confidence; hits + 1, n - hits)`` (1 when every trade hit): for any
    true rate ``p`` and any ``n``, ``P(bound < p) <= 1 - confidence``. Chosen over Wilson because
    the bound decides a rollback: Clopper-Pearson never under-covers, so one check's false-alarm
    rate is at most ``1 - confidence`` at every sample size, where Wilson's exceeds it for some
    (a true rate of exactly 0.50 against a 95% bound: one check of 50 trades fires 6.0% of the
    time with Wilson, 3.3% with Clopper-Pearson; of 200 trades 5.2% and 3.8%).

    Examples
    --------
    >>> round(hit_rate_upper_bound(10, 40, 0.95), 4)
    0.3871
    """
    from scipy.stats import beta

    if not 0 <= hits <= n:
        raise ValueError(f"`hits` must be in [0, n], got `hits={hits}`, `n={n}`")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got `confidence={confidence}`")
    if hits == n:
        return 1.0
    return float(beta.ppf(confidence, hits + 1, n - hits))


@dataclass(frozen=True)
class LivePerformance:
    """Result of :func:`live_performance`."""

    n_trades: int
    """Resolved trades with a non-zero return (a zero return is neither hit nor miss, as in
    :func:`ml_core.metrics.hit_rate`, so the validated figure is comparable)."""
    hit_rate: float
    """Share of those that gained (NaN without any)."""
    hit_rate_upper: float
    """One-sided upper bound of the hit rate at ``confidence`` (:func:`hit_rate_upper_bound`)."""
    sharpe: float
    """Per-trade Sharpe ratio, mean / standard deviation (ddof 1) of all resolved returns, not
    annualised (NaN under 2 trades)."""
    validated_hit_rate: float
    validated_sharpe: float
    threshold: float
    """``validated_hit_rate - accuracy_drop_max``."""
    degraded: bool
    """``n_trades >= min_trades`` and ``hit_rate_upper < threshold``."""
    reason: str

    def metrics(self) -> dict[str, float]:
        """``live_hit_rate``, ``live_hit_rate_upper``, ``live_sharpe``, ``live_n_trades``,
        ``live_threshold``, ``live_degraded`` (0/1)."""
        return {"live_hit_rate": self.hit_rate, "live_hit_rate_upper": self.hit_rate_upper,
                "live_sharpe": self.sharpe, "live_n_trades": float(self.n_trades),
                "live_threshold": self.threshold, "live_degraded": float(self.degraded)}


def live_performance(trade_returns: Any, validated_hit_rate: float, *, accuracy_drop_max: float,
                     confidence: float, min_trades: int,
                     validated_sharpe: float | None = None) -> LivePerformance:
    """Whether the live hit rate is, beyond noise, more than ``accuracy_drop_max`` below the
    validated one.

    Degraded when at least ``min_trades`` trades resolved and even the optimistic end of the
    hit rate, its one-sided upper bound at ``confidence``, lies below ``validated_hit_rate -
    accuracy_drop_max`` (an absolute drop: 0.05 is 5 percentage points). Comparing the bound,
    not the point estimate, keeps a short unlucky run from rolling back a good model. The
    per-trade Sharpe is reported next to its validated value; it does not decide.

    Parameters
    ----------
    trade_returns : array-like of float
        Net returns of the resolved trades judged (:func:`recent_trades`); NaN ignored.
    validated_hit_rate : float
        Hit rate the champion was validated with, in [0, 1].
    accuracy_drop_max : float
        Allowed absolute drop (``monitor.accuracy_drop_max``).
    confidence : float
        Confidence of the upper bound (``monitor.confidence``).
    min_trades : int
        Fewest non-zero trades before the rule may fire (``monitor.min_resolved_trades``).
    validated_sharpe : float, optional
        Validated per-trade Sharpe, reported only.

    Returns
    -------
    LivePerformance
    """
    if not 0 <= validated_hit_rate <= 1:
        raise ValueError(f"`validated_hit_rate` must be in [0, 1], got "
                         f"`validated_hit_rate={validated_hit_rate}`")
    if not 0 < accuracy_drop_max < 1:
        raise ValueError(f"`accuracy_drop_max` must be in (0, 1), got "
                         f"`accuracy_drop_max={accuracy_drop_max}`")
    if not (isinstance(min_trades, (int, np.integer)) and min_trades >= 1):
        raise ValueError(f"`min_trades` must be a positive integer, got "
                         f"`min_trades={min_trades!r}`")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got `confidence={confidence}`")
    r = np.asarray(trade_returns, dtype=np.float64).ravel()
    r = r[~np.isnan(r)]
    bets = r[r != 0]
    n, hits = int(bets.size), int((bets > 0).sum())
    rate = hits / n if n else float("nan")
    upper = hit_rate_upper_bound(hits, n, confidence) if n else float("nan")
    sharpe = float("nan")
    if r.size >= 2:
        from ml_core.metrics import sharpe_ratio

        sharpe = sharpe_ratio(r, 1.0)
    threshold = validated_hit_rate - accuracy_drop_max
    degraded = bool(n >= min_trades and upper < threshold)
    vs = float("nan") if validated_sharpe is None else float(validated_sharpe)
    if n < min_trades:
        reason = (f"live performance: {n} resolved trades, fewer than the {min_trades} needed; "
                  f"hit rate {rate:.3f} not judged")
    else:
        reason = (f"live performance: hit rate {rate:.3f} over {n} trades, upper "
                  f"{confidence:.0%} bound {upper:.3f} {'below' if degraded else 'not below'} "
                  f"{threshold:.3f} (validated {validated_hit_rate:.3f} - {accuracy_drop_max:g}); "
                  f"Sharpe per trade {sharpe:.3f} (validated {vs:.3f})")
    return LivePerformance(n, rate, upper, sharpe, float(validated_hit_rate), vs, threshold,
                           degraded, reason)
