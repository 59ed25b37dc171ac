"""Hyper-parameter tuning of the ensemble's forests with Optuna.

One study per model: TPE sampling with a fixed seed, Hyperband pruning where the resource is the
number of trees grown by warm start, scored by purged temporal cross-validation.
"""

from ml_core.tuning._pareto import pareto_front
from ml_core.tuning._pipeline import apply_pipeline_params, pipeline_params, tune_pipeline
from ml_core.tuning._space import suggest_forest_params
from ml_core.tuning._trial_returns import TRADE_RULES, rule_returns
from ml_core.tuning._tune import TuningResult, tune_forest

__all__ = [
    "TRADE_RULES",
    "TuningResult",
    "apply_pipeline_params",
    "pareto_front",
    "pipeline_params",
    "rule_returns",
    "suggest_forest_params",
    "tune_forest",
    "tune_pipeline",
]
