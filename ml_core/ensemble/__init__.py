"""The trading-signal ensemble: entry, position, exit and profit forests under a meta-learner.

:class:`RegimeForestEnsemble` stacks four random forests (built by :func:`build_forest`) under a
logistic-regression meta-learner fitted on purged out-of-fold forest outputs, and turns the
meta probability into a BUY/SELL/HOLD signal with a confidence and a size
(:func:`apply_signal_rule`).
"""

from ml_core.ensemble._ensemble import COMPONENT_COLUMNS, REGIME_PREFIX, RegimeForestEnsemble
from ml_core.ensemble._forest import build_forest
from ml_core.ensemble._signal import (
    MODEL_NAMES,
    SIGNAL_BUY,
    SIGNAL_HOLD,
    SIGNAL_SELL,
    apply_signal_rule,
)

__all__ = [
    "COMPONENT_COLUMNS",
    "MODEL_NAMES",
    "REGIME_PREFIX",
    "SIGNAL_BUY",
    "SIGNAL_HOLD",
    "SIGNAL_SELL",
    "RegimeForestEnsemble",
    "apply_signal_rule",
    "build_forest",
]
