"""What each tuning trial would have earned out of sample: the rows of the PBO trial matrix.

A forest alone is not a strategy, so every model gets one fixed, simple trade rule that reads its
prediction the way the ensemble does (:data:`TRADE_RULES`). Applied to a complete trial's purged
out-of-fold predictions it gives one return per tuning event; the columns of all complete trials
form the matrix that the probability of backtest overfitting is computed on, and their Sharpe
ratios give the variance the deflated Sharpe ratio needs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np

__all__ = ["TRADE_RULES", "decode_returns", "encode_returns", "rule_returns"]


def _long_if_entry(p: np.ndarray) -> np.ndarray:
    return (p >= 0.5).astype(float)


def _long_unless_exit(p: np.ndarray) -> np.ndarray:
    return (p < 0.5).astype(float)


def _size(pred: np.ndarray) -> np.ndarray:
    return np.clip(pred, 0.0, 1.0)


def _profit_sign(pred: np.ndarray) -> np.ndarray:
    return np.sign(pred)


TRADE_RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "entry": _long_if_entry,  # P(take-profit first) >= 0.5: go long
    "exit": _long_unless_exit,  # P(the long should be closed) < 0.5: stay long
    "position": _size,  # predicted size in [0, 1], long
    "profit": _profit_sign,  # long if the predicted return is positive, short if negative
}
"""Position in ``[-1, 1]`` per event from a model's prediction (class-1 probability or value)."""


def rule_returns(rule: str, prediction: np.ndarray, ret: np.ndarray, cost_bps: float) -> np.ndarray:
    """Per-event returns of trading ``rule`` on ``prediction``, net of costs.

    Same convention as :func:`ml_core.evaluation.trade_returns`: position ``w`` from ``t0`` to
    ``t1`` earns ``w * ret`` and pays ``cost_bps`` on ``|w|`` to enter and again to leave.

    Parameters
    ----------
    rule : str
        A key of :data:`TRADE_RULES` (the model's name).
    prediction : numpy.ndarray of float, shape (n_events,)
        Class-1 probability (classifiers) or predicted value (regressors).
    ret : numpy.ndarray of float, shape (n_events,)
        Realised long return of each event.
    cost_bps : float
        Cost per unit traded, in basis points.

    Examples
    --------
    >>> rule_returns("profit", np.array([0.01, -0.02, 0.0]), np.array([0.03, 0.01, 0.05]), 10)
    array([ 0.028, -0.012,  0.   ])
    """
    if rule not in TRADE_RULES:
        raise ValueError(f"`rule` must be one of {sorted(TRADE_RULES)}, got `rule={rule!r}`")
    if not cost_bps >= 0:
        raise ValueError(f"`cost_bps` must be non-negative, got `cost_bps={cost_bps}`")
    position = TRADE_RULES[rule](np.asarray(prediction, dtype=float))
    return position * np.asarray(ret, dtype=float) - cost_bps / 1e4 * 2.0 * np.abs(position)


def encode_returns(returns: np.ndarray) -> str:
    """Compact text form (base64 of float32) to keep a trial's returns as an Optuna user attribute,
    so a resumed or distributed study still has every finished trial's column."""
    return base64.b64encode(np.asarray(returns, dtype="<f4").tobytes()).decode("ascii")


def decode_returns(text: str) -> np.ndarray:
    """Inverse of :func:`encode_returns` (as float64)."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
