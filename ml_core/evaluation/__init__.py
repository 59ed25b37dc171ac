"""Out-of-sample evaluation of the ensemble: CPCV splits, backtest paths and trade returns.

:func:`evaluate_cpcv` fits a fresh ensemble per combinatorial purged split, scores the forests and
the signal on the test events, and recombines the test groups into backtest paths
(:class:`CVReport`); :func:`trade_returns` is the per-event return convention (costs on entry and
exit); :func:`buy_and_hold_metrics` is what holding the asset over the same span gave;
:func:`backfill_schedule`, :func:`champion_chain` and :func:`replay_returns` replay the whole MLOps
loop (retrain, promotion rule, the champion trading until the next retrain) for a backfill.
"""

from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics
from ml_core.evaluation._cpcv import SplitOutcome, dominant_regime, evaluate_cpcv, fit_split
from ml_core.evaluation._jobs import MapJobs, SplitJob
from ml_core.evaluation._holdout import HoldoutReport, evaluate_holdout, reliability_table
from ml_core.evaluation._loop import (
    LOOP_COLUMNS,
    ChainStep,
    EmptyRangeError,
    LoopReplay,
    backfill_schedule,
    champion_chain,
    decision_bars,
    exposure,
    loop_table,
    replay_periods,
    replay_returns,
    schedule_in_span,
)
from ml_core.evaluation._overfitting import OverfittingReport, assess_overfitting
from ml_core.evaluation._report import CVReport
from ml_core.evaluation._returns import trade_returns
from ml_core.evaluation._smoothing_effect import smoothing_effect
from ml_core.evaluation._walk_forward import WalkForwardReport, evaluate_walk_forward, fit_window

__all__ = [
    "LOOP_COLUMNS",
    "CVReport",
    "ChainStep",
    "EmptyRangeError",
    "HoldoutReport",
    "LoopReplay",
    "MapJobs",
    "OverfittingReport",
    "SplitJob",
    "SplitOutcome",
    "WalkForwardReport",
    "assess_overfitting",
    "backfill_schedule",
    "buy_and_hold_metrics",
    "champion_chain",
    "decision_bars",
    "dominant_regime",
    "evaluate_cpcv",
    "evaluate_holdout",
    "fit_split",
    "fit_window",
    "evaluate_walk_forward",
    "exposure",
    "loop_table",
    "reliability_table",
    "replay_periods",
    "replay_returns",
    "schedule_in_span",
    "smoothing_effect",
    "trade_returns",
]
