"""The trading-signal ensemble: entry, position, exit and profit forests under a meta-learner.

:class:`RegimeForestEnsemble` stacks four random forests (built by :func:`build_forest`) under a
logistic-regression meta-learner fitted on purged out-of-fold forest outputs, calibrates its
probability on cross-fitted predictions (:class:`ProbabilityCalibrator`), and turns it into a
BUY/SELL/HOLD signal with a confidence and a size (:func:`apply_signal_rule`), capped by Kelly and
CVaR (:class:`SizingPolicy`) and optionally smoothed (:class:`SignalSmoother`). :func:`export_onnx` compiles a fitted ensemble to
ONNX graphs, which :class:`CompiledEnsemble` serves with onnxruntime through the same signal code.
"""

from ml_core.ensemble._calibration import ProbabilityCalibrator, brier_score
from ml_core.ensemble._ensemble import COMPONENT_COLUMNS, REGIME_PREFIX, RegimeForestEnsemble
from ml_core.ensemble._forest import build_forest
from ml_core.ensemble._onnx import CompiledEnsemble, EngineParity, compare_engines, export_onnx
from ml_core.ensemble._signal import (
    MODEL_NAMES,
    SIGNAL_BUY,
    SIGNAL_HOLD,
    SIGNAL_SELL,
    apply_signal_rule,
)
from ml_core.ensemble._sizing import (
    SizingPolicy,
    cvar_size_cap,
    expected_shortfall,
    kelly_fraction_cap,
    size_caps,
)
from ml_core.ensemble._smoothing import SMOOTHING_METHODS, SignalSmoother, SmootherState, turnover

__all__ = [
    "COMPONENT_COLUMNS",
    "MODEL_NAMES",
    "REGIME_PREFIX",
    "SIGNAL_BUY",
    "SIGNAL_HOLD",
    "SIGNAL_SELL",
    "SMOOTHING_METHODS",
    "CompiledEnsemble",
    "EngineParity",
    "ProbabilityCalibrator",
    "RegimeForestEnsemble",
    "SignalSmoother",
    "SizingPolicy",
    "SmootherState",
    "apply_signal_rule",
    "brier_score",
    "build_forest",
    "compare_engines",
    "cvar_size_cap",
    "expected_shortfall",
    "export_onnx",
    "kelly_fraction_cap",
    "size_caps",
    "turnover",
]
