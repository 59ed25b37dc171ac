"""What signal smoothing buys and costs: turnover against Sharpe on the same events."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ml_core.evaluation._returns import trade_returns
from ml_core.metrics import max_drawdown, sharpe_ratio

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble

__all__ = ["smoothing_effect"]


def smoothing_effect(
    model: RegimeForestEnsemble,
    X: pd.DataFrame,
    events: pd.DataFrame,
    *,
    cost_bps: float,
    events_per_year: float,
    methods: Sequence[str] = ("none", "ewma", "hysteresis"),
) -> pd.DataFrame:
    """Trade the same fitted model's predictions on ``X`` with each smoothing method.

    Only the smoother changes (a shallow copy of ``model`` with ``smoothing`` set; the forests,
    meta-learner and calibrator are shared and nothing is refitted), so the differences are the
    smoothing's alone: how much it cuts turnover (:func:`~ml_core.ensemble.turnover`, the sum of
    position changes between consecutive events) and what that costs or gains in Sharpe.

    Parameters
    ----------
    model : RegimeForestEnsemble
        Fitted; its ``hysteresis_band`` and ``ewma_span`` are used.
    X : pandas.DataFrame
        Events in time order (e.g. the final holdout), never the model's training rows.
    events : pandas.DataFrame
        With ``ret`` on ``X.index``.
    cost_bps, events_per_year : float
        As in :func:`~ml_core.evaluation.trade_returns` and :func:`~ml_core.metrics.sharpe_ratio`.
    methods : sequence of str
        Smoothing methods to compare.

    Returns
    -------
    pandas.DataFrame
        Index ``smoothing``; columns ``turnover``, ``n_trades``, ``sharpe``, ``max_drawdown``
        (both NaN for a method that never trades), ``turnover_vs_none`` (ratio to the
        unsmoothed turnover; NaN without a ``none`` row or with zero unsmoothed turnover) and
        ``sharpe_vs_none`` (difference).
    """
    from ml_core.ensemble import turnover

    if len(X) < 2:
        raise ValueError(f"`X` must hold at least 2 events to compare smoothing, got {len(X)}")
    rows = {}
    for method in methods:
        variant = copy.copy(model)
        variant.smoothing = method
        signal = variant.predict(X)
        returns = trade_returns(signal, events, cost_bps).to_numpy()
        n_trades = int((signal["signal"] != 0).sum())
        rows[method] = {  # without a trade there is no Sharpe or drawdown to score
            "turnover": turnover(signal),
            "n_trades": n_trades,
            "sharpe": sharpe_ratio(returns, events_per_year) if n_trades else float("nan"),
            "max_drawdown": max_drawdown(returns) if n_trades else float("nan"),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("smoothing")
    if "none" in frame.index and frame.loc["none", "turnover"] > 0:
        frame["turnover_vs_none"] = frame["turnover"] / frame.loc["none", "turnover"]
    else:
        frame["turnover_vs_none"] = float("nan")
    frame["sharpe_vs_none"] = (frame["sharpe"] - frame.loc["none", "sharpe"]
                               if "none" in frame.index else float("nan"))
    return frame
