"""Risk caps on the position size: a fraction of the Kelly bet and an expected-shortfall budget.

The signal rule sizes a trade by the position forest and the meta-learner's confidence; these
caps bound that size from above (``apply_signal_rule(..., max_size=caps)``):

- **Kelly**: never bet more than ``kelly_fraction`` of the growth-optimal stake of a binary bet
  that wins ``payoff_ratio`` per unit risked (the triple barrier's ``take_profit / stop_loss``)
  with the meta-learner's probability of the side taken;
- **CVaR**: never take a size whose expected shortfall (the mean loss of the worst ``alpha``
  share of trades, measured at full size on past trades) exceeds ``cvar_budget`` of equity.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
from numpy.typing import ArrayLike

from ml_core.ensemble._signal import SIGNAL_BUY, SIGNAL_HOLD, SIGNAL_SELL

if TYPE_CHECKING:
    from ml_core.config import EnsembleConfig, LabelConfig

__all__ = [
    "SizingPolicy",
    "cvar_size_cap",
    "expected_shortfall",
    "kelly_fraction_cap",
    "size_caps",
]

_ROUNDING = 1e-9  # alpha * n within this of an integer counts as that integer (0.1 * 30 = 3)


def _probabilities(p_long: ArrayLike) -> np.ndarray:
    p = np.asarray(p_long, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"`p_long` must be 1-d, got shape {p.shape}")
    bad = ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`p_long` must be in [0, 1], got `p_long[{first}]={p[first]}`")
    return p


def _sides(side: int | ArrayLike, n: int, name: str) -> np.ndarray:
    arr = np.asarray(side)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise ValueError(f"`{name}` must be one value or one per row ({n} rows), got shape "
                         f"{arr.shape}")
    # three comparisons, not np.isin: the live path sizes one row per bar (isin costs ~30 us)
    bad = (arr != SIGNAL_BUY) & (arr != SIGNAL_SELL) & (arr != SIGNAL_HOLD)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`{name}` must be -1, 0 or 1, got `{name}[{first}]={arr[first]}`")
    return arr.astype(np.int64)


def _positive(value: float, name: str) -> float:
    if not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"`{name}` must be a positive finite number, got `{name}={value}`")
    return float(value)


def _fraction(value: float, name: str) -> float:
    if not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
        raise ValueError(f"`{name}` must be in (0, 1], got `{name}={value}`")
    return float(value)


def kelly_fraction_cap(
    p_long: ArrayLike,
    payoff_ratio: float,
    fraction: float,
    *,
    side: int | ArrayLike = SIGNAL_BUY,
) -> np.ndarray:
    """Fractional Kelly stake of each row's bet: ``fraction * clip(p - (1 - p) / b, 0, 1)``.

    A bet that wins ``b = payoff_ratio`` per unit risked with probability ``p`` and otherwise
    loses the unit grows capital fastest at the stake ``f* = p - (1 - p) / b`` (Kelly 1956).
    ``f* <= 0`` means no edge (cap 0). Full Kelly is very sensitive to an overestimated ``p``, so
    only ``fraction`` of it is taken (0.5: half Kelly).

    The probability of *winning* depends on the side: ``p = p_long`` for a BUY, ``1 - p_long``
    for a SELL (the short wins when the long would not reach take-profit first). A HOLD row
    (side 0) bets nothing: cap 0.

    Parameters
    ----------
    p_long : array-like of float, shape (n,)
        Meta probability that a long hits take-profit first, in ``[0, 1]``.
    payoff_ratio : float
        Win per unit risked, positive; for the triple barrier ``take_profit / stop_loss``.
    fraction : float
        In ``(0, 1]``: the share of the Kelly stake taken.
    side : int or array-like of int, shape (n,), default BUY
        ``+1`` BUY, ``-1`` SELL, ``0`` HOLD; one for all rows or one per row.

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        The caps, in ``[0, fraction]``.

    Examples
    --------
    >>> kelly_fraction_cap([0.6, 0.6, 0.4, 0.5], 1.0, 0.5, side=[1, -1, -1, 1]).round(6).tolist()
    [0.1, 0.0, 0.1, 0.0]
    """
    p = _probabilities(p_long)
    payoff = _positive(payoff_ratio, "payoff_ratio")
    frac = _fraction(fraction, "fraction")
    sides = _sides(side, p.size, "side")
    p_win = np.where(sides == SIGNAL_SELL, 1.0 - p, p)
    kelly = np.clip(p_win - (1.0 - p_win) / payoff, 0.0, 1.0)
    return np.where(sides == SIGNAL_HOLD, 0.0, frac * kelly)


def cvar_size_cap(tail_loss: float | None, budget: float | None) -> float:
    """The largest size in ``[0, 1]`` whose expected shortfall stays within ``budget``.

    A trade of size ``s`` returns ``s`` times a full-size trade's return, so its expected
    shortfall is ``s * tail_loss``; the cap is ``min(1, budget / tail_loss)``.

    Parameters
    ----------
    tail_loss : float or None
        Expected shortfall of a full-size trade's return as a non-negative loss (see
        :func:`expected_shortfall`). 0 or None (no measured tail) gives 1.0.
    budget : float or None
        Largest expected shortfall allowed per trade, a positive fraction of equity; None: no
        budget, 1.0.

    Returns
    -------
    float
        The cap, in ``(0, 1]``.

    Examples
    --------
    >>> cvar_size_cap(0.08, 0.02), cvar_size_cap(0.01, 0.02), cvar_size_cap(None, 0.02)
    (0.25, 1.0, 1.0)
    """
    if budget is not None:
        _positive(budget, "budget")
    if tail_loss is not None and (not isinstance(tail_loss, numbers.Real)
                                  or not 0.0 <= tail_loss < math.inf):
        raise ValueError(
            f"`tail_loss` must be a non-negative finite number or None, got `tail_loss={tail_loss}`"
        )
    if budget is None or tail_loss is None or tail_loss == 0:
        return 1.0
    return float(min(1.0, budget / tail_loss))


def expected_shortfall(returns: ArrayLike, alpha: float) -> float:
    """Expected shortfall (CVaR) of per-trade returns at level ``alpha``, as a positive loss.

    With ``n`` returns, ``k = ceil(alpha * n)`` (at least 1; an ``alpha * n`` within 1e-9 of an
    integer counts as that integer, so ``0.1 * 30`` gives 3, not 4): the loss is minus the mean of
    the ``k`` smallest returns, or 0 if that mean is not negative (the worst trades still gain).
    Taking whole trades (no interpolated fraction of the k-th) keeps the figure a plain average of
    realised trades.

    Parameters
    ----------
    returns : array-like of float, shape (n,)
        Finite per-trade returns of full-size trades (n >= 1), e.g. out-of-fold trade returns.
    alpha : float
        Tail share, in ``(0, 1)``.

    Returns
    -------
    float
        Non-negative.

    Examples
    --------
    >>> expected_shortfall([0.03, -0.02, 0.01, -0.05, 0.02], alpha=0.4)  # mean(-0.05, -0.02)
    0.035
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"`returns` must be 1-d with at least one value, got shape {r.shape}")
    if not np.isfinite(r).all():
        first = int(np.flatnonzero(~np.isfinite(r))[0])
        raise ValueError(f"`returns` must be finite, got `returns[{first}]={r[first]}`")
    if not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got `alpha={alpha}`")
    k = max(1, math.ceil(alpha * r.size - _ROUNDING))
    tail = np.sort(r)[:k].mean()
    return float(max(0.0, -tail))


def size_caps(
    p_long: ArrayLike,
    signal: ArrayLike | None = None,
    *,
    payoff_ratio: float,
    kelly_fraction: float,
    tail_loss: float | None,
    cvar_budget: float | None,
) -> np.ndarray:
    """Per-row ``max_size`` for :func:`apply_signal_rule`: min(Kelly cap, CVaR cap).

    The Kelly cap is that of the side taken (:func:`kelly_fraction_cap`), the CVaR cap is one
    number for every row (:func:`cvar_size_cap`).

    Parameters
    ----------
    p_long : array-like of float, shape (n,)
        Meta probability (after any smoothing: the one the rule reads), in ``[0, 1]``.
    signal : array-like of int, shape (n,), optional
        Side of each row (+1 / -1 / 0); HOLD rows get 0. None: the side the rule takes whenever it
        trades, BUY where ``p_long >= 0.5`` and SELL below (so ``p_win = max(p, 1 - p)``); use it
        to compute the caps *before* the rule, and for positions that hysteresis keeps through a
        HOLD row of the rule (see :class:`~ml_core.ensemble._smoothing.SignalSmoother`).
    payoff_ratio : float
        ``take_profit / stop_loss`` of the triple barrier.
    kelly_fraction : float
        In ``(0, 1]``; 0.5 is half Kelly.
    tail_loss : float or None
        Expected shortfall of a full-size trade (:func:`expected_shortfall`); None: no CVaR cap.
    cvar_budget : float or None
        Expected shortfall allowed per trade; None: no CVaR cap.

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        In ``[0, 1]``.

    Examples
    --------
    >>> size_caps([0.8, 0.3, 0.55], payoff_ratio=1.0, kelly_fraction=0.5, tail_loss=0.1,
    ...           cvar_budget=0.02).round(6).tolist()
    [0.2, 0.2, 0.05]
    """
    p = _probabilities(p_long)
    side = (np.where(p >= 0.5, SIGNAL_BUY, SIGNAL_SELL) if signal is None
            else _sides(signal, p.size, "signal"))
    kelly = kelly_fraction_cap(p, payoff_ratio, kelly_fraction, side=side)
    return np.minimum(kelly, cvar_size_cap(tail_loss, cvar_budget))


@dataclass(frozen=True)
class SizingPolicy:
    """The parameters of :func:`size_caps`, fixed once (at fit) and applied to every prediction.

    Parameters
    ----------
    payoff_ratio : float, default 1.0
        ``take_profit / stop_loss`` of the triple barrier.
    kelly_fraction : float, default 0.5
        In ``(0, 1]``.
    tail_loss : float or None, default None
        Expected shortfall of a full-size trade, measured on training trades only (e.g.
        out-of-fold); None: no CVaR cap.
    cvar_budget : float or None, default None
        Expected shortfall allowed per trade; None: no CVaR cap.
    """

    payoff_ratio: float = 1.0
    kelly_fraction: float = 0.5
    tail_loss: float | None = None
    cvar_budget: float | None = None

    def __post_init__(self) -> None:
        _positive(self.payoff_ratio, "payoff_ratio")
        _fraction(self.kelly_fraction, "kelly_fraction")
        cvar_size_cap(self.tail_loss, self.cvar_budget)  # validates both

    @classmethod
    def from_config(
        cls, ensemble: EnsembleConfig, labels: LabelConfig, tail_loss: float | None
    ) -> Self:
        """Kelly fraction and CVaR budget from ``ensemble``, payoff ratio from the barriers."""
        return cls(
            payoff_ratio=labels.take_profit / labels.stop_loss,
            kelly_fraction=1.0 if ensemble.kelly_fraction is None else ensemble.kelly_fraction,
            tail_loss=tail_loss,
            cvar_budget=ensemble.cvar_budget,
        )

    def caps(self, p_long: ArrayLike, signal: ArrayLike | None = None) -> np.ndarray:
        """:func:`size_caps` with these parameters."""
        return size_caps(
            p_long,
            signal,
            payoff_ratio=self.payoff_ratio,
            kelly_fraction=self.kelly_fraction,
            tail_loss=self.tail_loss,
            cvar_budget=self.cvar_budget,
        )
