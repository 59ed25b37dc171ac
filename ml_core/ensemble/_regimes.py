"""Regime adaptation of the ensemble: dominant regime, per-regime thresholds and meta-learners.

The dominant regime of an event is the argmax of its filtered HMM probabilities
``regime_prob_bull``, ``regime_prob_bear``, ``regime_prob_sideways`` (ties go to the first, in
:data:`~ml_core.regime.REGIME_LABELS` order). Being filtered (bars up to ``t0`` only), they are
known when the event starts, so choosing a threshold or a meta-learner by them leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml_core.regime import REGIME_LABELS

__all__ = [
    "REGIME_COLUMNS",
    "REGIME_MODES",
    "REGIME_PREFIX",
    "dominant_regime",
    "fit_regime_models",
    "has_regime_columns",
    "regime_proba",
    "row_thresholds",
]

_log = logging.getLogger("ml_core.ensemble")

REGIME_PREFIX = "regime_prob_"
"""Feature columns with this prefix (filtered HMM probabilities) also feed the meta-learner."""

REGIME_COLUMNS: tuple[str, ...] = tuple(f"{REGIME_PREFIX}{label}" for label in REGIME_LABELS)
"""The columns the dominant regime is read from, in :data:`REGIME_LABELS` order."""

REGIME_MODES: tuple[str, ...] = ("global", "thresholds", "models")
"""``global``: one threshold and one meta-learner; ``thresholds``: a confidence threshold per
dominant regime; ``models``: a meta-learner per dominant regime."""


def has_regime_columns(columns: Iterable[Any]) -> bool:
    """Whether every one of :data:`REGIME_COLUMNS` is among ``columns``."""
    present = {str(c) for c in columns}
    return all(c in present for c in REGIME_COLUMNS)


def dominant_regime(X: pd.DataFrame) -> np.ndarray:
    """Label (``"bull"``, ``"bear"`` or ``"sideways"``) of each row's most probable regime.

    Parameters
    ----------
    X : pandas.DataFrame
        Holds the :data:`REGIME_COLUMNS` (other columns are ignored).

    Returns
    -------
    numpy.ndarray of object, shape (n,)

    Examples
    --------
    >>> X = pd.DataFrame({"regime_prob_bull": [0.7, 0.1, 0.4], "regime_prob_bear": [0.2, 0.3, 0.4],
    ...                   "regime_prob_sideways": [0.1, 0.6, 0.2]})
    >>> dominant_regime(X).tolist()
    ['bull', 'sideways', 'bull']
    """
    missing = [c for c in REGIME_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"`X` lacks the regime columns {missing} needed for the dominant regime")
    probs = X[list(REGIME_COLUMNS)].to_numpy(dtype=np.float64)
    return np.asarray(REGIME_LABELS, dtype=object)[probs.argmax(axis=1)]


def row_thresholds(
    regimes: np.ndarray, thresholds: Mapping[str, float], default: float
) -> np.ndarray:
    """Confidence threshold of each row: ``thresholds[regime]``, or ``default`` for a regime
    without one.

    Examples
    --------
    >>> row_thresholds(np.array(["bull", "bear", "sideways"]), {"bear": 0.7}, 0.6).tolist()
    [0.6, 0.7, 0.6]
    """
    out = np.full(len(regimes), float(default))
    for label, threshold in thresholds.items():
        out[regimes == label] = float(threshold)
    return out


def fit_regime_models(
    M: np.ndarray,
    y: np.ndarray,
    regimes: np.ndarray,
    make_model: Callable[[], Any],
    *,
    labels: Sequence[str] = REGIME_LABELS,
    min_events: int = 1,
    context: str = "",
    level: int = logging.WARNING,
) -> dict[str, Any]:
    """One meta-learner per regime of ``labels`` that has enough rows of both classes.

    A regime with fewer than ``min_events`` rows, or a single class among them, gets no model: its
    rows are served by the global meta-learner, and the fallback is logged (at ``level``) on the
    ``ml_core.ensemble`` logger.

    Parameters
    ----------
    M : numpy.ndarray of shape (n, n_meta_features)
        Meta features of the rows (out-of-fold forest outputs and regime probabilities).
    y : numpy.ndarray of shape (n,)
        0/1 entry target.
    regimes : numpy.ndarray of shape (n,)
        Dominant regime of each row.
    make_model : callable
        Returns an unfitted meta-learner (``fit(M, y)``, ``predict_proba``).
    labels : sequence of str, default all three regimes
        Regimes to fit a model for.
    min_events : int, default 1
    context : str
        Prefix of the log messages (e.g. ``"meta fold 2: "``).
    level : int, default logging.WARNING

    Returns
    -------
    dict[str, meta-learner]
        By regime, in ``labels`` order; only the regimes that got a model.
    """
    models: dict[str, Any] = {}
    for label in labels:
        rows = regimes == label
        n = int(rows.sum())
        classes = np.unique(y[rows])
        if n < min_events:
            _log.log(level, "%sregime %r has %d out-of-fold events (< min_regime_events=%d): its "
                     "rows use the global meta-learner", context, label, n, min_events)
        elif classes.size < 2:
            _log.log(level, "%sregime %r has a single class %s of targets['entry'] among its %d "
                     "out-of-fold events: its rows use the global meta-learner", context, label,
                     classes.tolist(), n)
        else:
            models[label] = make_model().fit(M[rows], y[rows])
    return models


def regime_proba(
    global_model: Any, models: Mapping[str, Any], M: np.ndarray, regimes: np.ndarray | None
) -> np.ndarray:
    """``predict_proba`` of each row's meta-learner: its regime's model if it has one, else the
    global one. Shape (n, 2)."""
    proba = global_model.predict_proba(M)
    if regimes is None or not models:
        return proba
    for label, model in models.items():
        rows = regimes == label
        if rows.any():
            proba[rows] = model.predict_proba(M[rows])
    return proba
