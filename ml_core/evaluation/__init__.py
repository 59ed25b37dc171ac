"""Out-of-sample evaluation of the ensemble: CPCV splits, backtest paths and trade returns.

:func:`evaluate_cpcv` fits a fresh ensemble per combinatorial purged split, scores the forests and
the signal on the test events, and recombines the test groups into backtest paths
(:class:`CVReport`); :func:`trade_returns` is the per-event return convention (costs on entry and
exit); :func:`buy_and_hold_metrics` is what holding the asset over the same span gave.
"""

from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics
from ml_core.evaluation._cpcv import dominant_regime, evaluate_cpcv
from ml_core.evaluation._holdout import HoldoutReport, evaluate_holdout, reliability_table
from ml_core.evaluation._overfitting import OverfittingReport, assess_overfitting
from ml_core.evaluation._report import CVReport
from ml_core.evaluation._returns import trade_returns
from ml_core.evaluation._smoothing_effect import smoothing_effect
from ml_core.evaluation._walk_forward import WalkForwardReport, evaluate_walk_forward

__all__ = [
    "CVReport",
    "HoldoutReport",
    "OverfittingReport",
    "WalkForwardReport",
    "assess_overfitting",
    "buy_and_hold_metrics",
    "dominant_regime",
    "evaluate_cpcv",
    "evaluate_holdout",
    "evaluate_walk_forward",
    "reliability_table",
    "smoothing_effect",
    "trade_returns",
]
