"""Causal features of bars: technical, statistical, volume and risk features on the base bars,
the same on higher timeframes (joined only once their bar has closed), and cross-timeframe
consensus.

:func:`compute_features` builds the matrix; :data:`FEATURES` / :func:`feature_specs` describe its
columns; :func:`feature_names` lists them without data. Regime probabilities are added by
:mod:`ml_core.regime`, not here. To add a feature, register one more function with
``ml_core.features._spec.feature`` in a catalogue module (``_technical.py``, ...).
"""

from ml_core.features._adf import AdfResult, FracDiffOrder, adf_test, min_frac_diff_order
from ml_core.features._compute import compute_features
from ml_core.features._fracdiff import frac_diff_ffd, frac_diff_weights
from ml_core.features._join import join_higher_timeframe
from ml_core.features._stream import FeatureStream
from ml_core.features._registry import FEATURES, feature_names, feature_specs
from ml_core.features._spec import FAMILIES, FeatureSpec, timeframe_label

__all__ = [
    "AdfResult",
    "FracDiffOrder",
    "adf_test",
    "min_frac_diff_order",
    "FAMILIES",
    "FEATURES",
    "FeatureSpec",
    "FeatureStream",
    "compute_features",
    "feature_names",
    "feature_specs",
    "frac_diff_ffd",
    "frac_diff_weights",
    "join_higher_timeframe",
    "timeframe_label",
]
