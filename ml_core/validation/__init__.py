"""Leakage-free cross-validation for overlapping, time-ordered events.

:class:`PurgedKFold` and :class:`CombinatorialPurgedCV` purge every training event whose
``[t0, t1]`` label span overlaps a test block (widened backwards by ``purge``) and embargo the span
after it (López de Prado, *Advances in Financial Machine Learning*, ch. 7 and 12).
:class:`WalkForwardCV` tests consecutive windows, each trained only on (purged) earlier events.
The overfitting statistics judge a selected strategy: the probability of backtest overfitting (CSCV)
and the probabilistic and deflated Sharpe ratios.
"""

from ml_core.validation._combinatorial import CombinatorialPurgedCV
from ml_core.validation._kfold import PurgedKFold
from ml_core.validation._overfitting import (
    PBOResult,
    SharpeSignificance,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_significance,
)
from ml_core.validation._purging import purged_train_mask
from ml_core.validation._walk_forward import WalkForwardCV

__all__ = [
    "CombinatorialPurgedCV",
    "PBOResult",
    "PurgedKFold",
    "SharpeSignificance",
    "WalkForwardCV",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "purged_train_mask",
    "sharpe_significance",
]
