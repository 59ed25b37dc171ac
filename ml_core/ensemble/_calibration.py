"""Calibration of the meta probability: a one-feature calibrator and the Brier score.

The ensemble fits the calibrator on *cross-fitted* meta probabilities (each row predicted by a
meta-learner fitted without that row's meta fold; see ``RegimeForestEnsemble``). A calibrator fitted
on the meta-learner's in-sample predictions would learn how the meta-learner behaves on rows it has
seen, not on new ones.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

__all__ = ["CALIBRATION_METHODS", "ProbabilityCalibrator", "brier_score",
           "fit_calibration"]

CALIBRATION_METHODS: tuple[str, ...] = ("isotonic", "sigmoid")
"""Methods of :class:`ProbabilityCalibrator` (the ensemble adds ``"none"``: no calibrator)."""

_EPS = 1e-6
"""``sigmoid`` clips probabilities to ``[_EPS, 1 - _EPS]`` before the logit (finite at 0 and 1)."""

_PLATT_C = 1e4
"""Inverse L2 strength of the Platt regression: nearly unpenalised, yet finite, so that perfectly
separated probabilities still converge to a (steep) sigmoid."""


def brier_score(y: Any, p: Any) -> float:
    """Mean squared error of probabilities ``p`` against 0/1 outcomes ``y`` (lower is better).

    ``0.25`` is the score of always answering 0.5; the base rate ``q`` answered every time scores
    ``q (1 - q)``.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or y.size == 0:
        raise ValueError(f"`y` and `p` must be non-empty 1-d arrays of one length, got shapes "
                         f"{y.shape} and {p.shape}")
    return float(np.mean((p - y) ** 2))


def _scores(estimator: BaseEstimator, X: Any, *, reset: bool) -> np.ndarray:
    """``X`` of shape (n,) or (n, 1) as a float64 vector (``n_features_in_`` and feature names
    are checked against the fit for a 2-d ``X``, as scikit-learn does)."""
    values = check_array(X, ensure_2d=False, dtype=np.float64, input_name="X")
    if values.ndim == 2:
        values = validate_data(estimator, X, reset=reset, dtype=np.float64)
        if values.shape[1] != 1:
            raise ValueError(f"`X` must be one column of probabilities, of shape (n,) or (n, 1), "
                             f"got shape {values.shape}")
        return values[:, 0]
    if reset:
        estimator.n_features_in_ = 1
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    return values


class ProbabilityCalibrator(ClassifierMixin, BaseEstimator):
    """Map a binary model's probability of the positive class to a calibrated probability.

    ``method="isotonic"``: the non-decreasing function of least squared error (pool adjacent
    violators, :class:`~sklearn.isotonic.IsotonicRegression`), interpolated linearly between its
    knots and held constant outside them; it corrects any monotone distortion but needs a few
    hundred rows not to overfit, and it accepts any real score. ``method="sigmoid"`` (Platt
    scaling): a logistic regression on ``logit(p)`` (``p`` clipped to ``[1e-6, 1 - 1e-6]``),
    ``P = 1 / (1 + exp(-(a * logit(p) + b)))``; two parameters, so robust on small samples, but
    it only corrects a distortion that is linear in the logit; ``X`` must hold probabilities.

    The input is one score per row: ``X`` of shape (n,) or (n, 1). Being a one-feature estimator,
    it fails scikit-learn's common checks that build a multi-column ``X`` themselves (see its
    tests for the list and the reasons).

    Parameters
    ----------
    method : {"isotonic", "sigmoid"}, default "isotonic"

    Attributes
    ----------
    classes_ : numpy.ndarray of shape (2,)
        The two labels of ``y``, sorted; the second is the positive class.
    n_features_in_ : int
        Always 1.
    x_thresholds_, y_thresholds_ : numpy.ndarray
        ``isotonic`` only: knots of the fitted function (input, calibrated probability).
    slope_, intercept_ : float
        ``sigmoid`` only: ``a`` and ``b`` above.

    Examples
    --------
    Pool adjacent violators turns the outcomes ``0, 0, 1, 0, 1, 1`` into ``0, 0, .5, .5, 1, 1``:

    >>> cal = ProbabilityCalibrator().fit([0.1, 0.2, 0.3, 0.6, 0.7, 0.9], [0, 0, 1, 0, 1, 1])
    >>> cal.y_thresholds_.tolist()
    [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    >>> cal.predict_proba([0.25, 0.8])[:, 1].tolist()
    [0.25, 1.0]
    """

    def __init__(self, method: Literal["isotonic", "sigmoid"] = "isotonic") -> None:
        self.method = method

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True  # X of shape (n,) is the natural input
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> Self:
        """Fit on scores ``X`` (shape (n,) or (n, 1); probabilities for ``sigmoid``) and binary
        labels ``y``.

        Raises
        ------
        ValueError
            Unknown ``method``; ``X`` not one column, or (``sigmoid``) not in [0, 1]; ``y`` missing,
            continuous, not of the length of ``X``, or not of exactly two classes.
        """
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"`method` must be one of {list(CALIBRATION_METHODS)}, "
                             f"got `method={self.method!r}`")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size > 2:
            raise ValueError(f"Only binary classification is supported. `y` must hold two "
                             f"classes, got {self.classes_.size}: {self.classes_.tolist()[:5]}")
        if self.classes_.size < 2:
            raise ValueError(f"`y` must hold two classes, got only one class "
                             f"{self.classes_.tolist()}")
        p = self._input(X, reset=True)
        check_consistent_length(p, y)
        positive = (y == self.classes_[1]).astype(np.float64)
        for name in ("x_thresholds_", "y_thresholds_", "slope_", "intercept_"):
            self.__dict__.pop(name, None)  # a refit with another method leaves no stale state
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, positive)
            self.x_thresholds_ = iso.X_thresholds_
            self.y_thresholds_ = iso.y_thresholds_
        else:
            platt = LogisticRegression(C=_PLATT_C).fit(_logit(p).reshape(-1, 1),
                                                      positive.astype(np.int64))
            self.slope_ = float(platt.coef_[0, 0])
            self.intercept_ = float(platt.intercept_[0])
        return self

    def _input(self, X: Any, *, reset: bool) -> np.ndarray:
        p = _scores(self, X, reset=reset)
        if self.method == "sigmoid" and p.size and not ((p >= 0.0) & (p <= 1.0)).all():
            raise ValueError(f"`X` must hold probabilities in [0, 1] with `method='sigmoid'`, "
                             f"got values in [{p.min():.4g}, {p.max():.4g}]")
        return p

    def calibrate(self, X: Any) -> np.ndarray:
        """Calibrated probability of the positive class ``classes_[1]``, shape (n,)."""
        check_is_fitted(self, "classes_")
        p = self._input(X, reset=False)
        if self.method == "isotonic":
            # np.interp holds the end values outside the knots: out_of_bounds="clip"
            return np.interp(p, self.x_thresholds_, self.y_thresholds_)
        return expit(self.slope_ * _logit(p) + self.intercept_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[1 - q, q]`` per row with ``q = calibrate(X)``, shape (n, 2), columns ``classes_``."""
        q = self.calibrate(X)
        return np.column_stack([1.0 - q, q])

    def predict(self, X: Any) -> np.ndarray:
        """``classes_[1]`` where the calibrated probability is >= 0.5, else ``classes_[0]``."""
        positive = self.calibrate(X) >= 0.5
        return self.classes_[positive.astype(np.int64)]


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _EPS, 1.0 - _EPS))


def fit_calibration(
    p: np.ndarray, y: np.ndarray, folds: np.ndarray, method: str
) -> tuple[ProbabilityCalibrator | None, np.ndarray]:
    """The calibrator of ``method`` fitted on all of ``(p, y)``, and honest calibrated values.

    Parameters
    ----------
    p : numpy.ndarray of shape (n,)
        Cross-fitted meta probabilities.
    y : numpy.ndarray of shape (n,)
        0/1 outcomes.
    folds : numpy.ndarray of shape (n,)
        Meta fold of each row.
    method : {"isotonic", "sigmoid", "none"}

    Returns
    -------
    calibrator : ProbabilityCalibrator or None
        Fitted on every row; None for ``"none"``.
    p_calibrated : numpy.ndarray of shape (n,)
        Each fold's ``p`` through a calibrator fitted on the *other* folds' rows (``p`` itself for
        ``"none"``): the final calibrator's own outputs on its training rows would make its
        Brier score look better than it is (isotonic regression minimises exactly that score on
        its training rows). A fold whose other folds hold one class gets their constant rate.
    """
    if method == "none":
        return None, p
    calibrator = ProbabilityCalibrator(method).fit(p, y)
    p_calibrated = np.full(p.size, np.nan)
    for k in np.unique(folds):
        test = folds == k
        train = ~test
        if np.unique(y[train]).size < 2:
            p_calibrated[test] = float(y[train].mean())
            continue
        p_calibrated[test] = ProbabilityCalibrator(method).fit(p[train], y[train]).calibrate(
            p[test])
    return calibrator, p_calibrated
