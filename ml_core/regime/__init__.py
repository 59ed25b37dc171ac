"""Market regimes (Bull / Bear / Sideways) from a Gaussian HMM on regime-scale bars.

Features use the forward filter ``P(state_t | bars <= t)`` only, never hmmlearn's smoothing
``predict``/``predict_proba`` (look-ahead). State order is fixed by volatility and mean return
(:func:`label_order`), so ``REGIME_LABELS`` indexes every learned array the same way in every
fit. :class:`RegimeStream` updates the same features one base bar at a time;
:func:`regime_feature_specs` describes them. :func:`fit_regime_model` and the functions next to
it are the task-level API (current regime, probabilities, persistence, label stability);
:func:`refit_regime_features` refits the model on a CV split's training events only.
"""

from ml_core.regime._api import (
    PersistenceReport,
    RegimeSnapshot,
    analyze_regime_persistence,
    detection_lag,
    fit_regime_model,
    get_regime_probabilities,
    label_agreement,
    predict_current_regime,
    weekly_label_stability,
)
from ml_core.regime._columns import TRANSFORM_COLUMNS
from ml_core.regime._filter import forward_backward, forward_filter, gaussian_log_emission
from ml_core.regime._hmm import RegimeHMM
from ml_core.regime._labels import REGIME_LABELS, label_order
from ml_core.regime._observations import OBSERVATION_NAMES, regime_observations
from ml_core.regime._persistence import regime_persistence
from ml_core.regime._refit import refit_regime_features, training_segments
from ml_core.regime._specs import regime_feature_specs
from ml_core.regime._stream import RegimeStream

__all__ = [
    "OBSERVATION_NAMES",
    "REGIME_LABELS",
    "TRANSFORM_COLUMNS",
    "PersistenceReport",
    "RegimeHMM",
    "RegimeSnapshot",
    "RegimeStream",
    "analyze_regime_persistence",
    "detection_lag",
    "fit_regime_model",
    "forward_backward",
    "forward_filter",
    "gaussian_log_emission",
    "get_regime_probabilities",
    "label_agreement",
    "label_order",
    "predict_current_regime",
    "refit_regime_features",
    "regime_feature_specs",
    "regime_observations",
    "regime_persistence",
    "training_segments",
    "weekly_label_stability",
]
