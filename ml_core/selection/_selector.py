"""Feature selection fitted on training rows only: correlation, then importance filter."""

from __future__ import annotations

import numbers
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ml_core.config import SelectionConfig

__all__ = ["DROPPED_COLUMNS", "DROP_REASONS", "FeatureSelector"]

DROP_REASONS: tuple[str, ...] = ("constant", "correlated", "low_importance")
"""Values of ``FeatureSelector.dropped_['reason']``, in the order the filters run."""

DROPPED_COLUMNS: tuple[str, ...] = ("feature", "reason", "partner", "value")
"""Columns of ``FeatureSelector.dropped_``."""


def _check_frame(X: Any) -> np.ndarray:
    """A DataFrame of numeric, finite columns with unique string names, as float64."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a pandas DataFrame of features, got {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError("`X` must have at least one feature column, got 0 columns")
    if X.shape[0] < 2:
        raise ValueError(f"`X` must have at least 2 rows to correlate features, got {X.shape[0]}")
    not_str = [c for c in X.columns if not isinstance(c, str)]
    if not_str:
        raise TypeError(f"`X` column names must be strings, got {not_str[:5]}")
    if not X.columns.is_unique:
        raise ValueError(f"`X` column names must be unique, got duplicates "
                         f"{sorted(set(X.columns[X.columns.duplicated()]))}")
    non_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c].dtype)]
    if non_numeric:
        raise TypeError(f"`X` columns must be numeric, got non-numeric columns {non_numeric}")
    values = X.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        raise ValueError(f"`X` has NaN or infinite values in columns {list(X.columns[bad])}")
    return values


def _check_target(y: Any, index: pd.Index) -> np.ndarray:
    if isinstance(y, pd.Series) and not y.index.equals(index):
        raise ValueError("`y` must be aligned with `X`: `y.index` differs from `X.index`")
    values = np.asarray(y)
    if values.ndim != 1 or values.shape[0] != len(index):
        raise ValueError(
            f"`y` must be 1-d with one label per row of `X` ({len(index)}), "
            f"got shape {values.shape}"
        )
    if pd.isna(values).any():
        raise ValueError(f"`y` has {int(pd.isna(values).sum())} missing labels")
    return values


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Drop constant, redundant (highly correlated) and unimportant features.

    Fitted on training rows only (in the ensemble: on each fit's own training set, so every CPCV
    split selects without its test rows). Three filters run in turn:

    1. **constant**: columns with a single value carry no information.
    2. **correlated**: of every pair with ``|Pearson r| > corr_threshold`` one is dropped. A
       ranking forest fitted on all non-constant features orders them by impurity importance
       (ties: column order); walking down that order, a feature is kept unless it correlates
       above the threshold with a feature already kept (its ``partner``: the kept feature of
       highest ``|r|``). So of each pair the more important one stays, and no two kept features
       correlate above the threshold. The ranking forest is skipped when no pair exceeds it.
    3. **low_importance**: the ranking forest is refitted on the survivors; features whose
       normalised importance (summing to 1) is below ``importance_threshold`` are dropped, but
       never below ``min_features`` features: the ``min_features`` most important then stay.

    The ranking forest is a :class:`~sklearn.ensemble.RandomForestClassifier` with
    ``class_weight="balanced_subsample"`` (the target is the often imbalanced entry label),
    ``n_estimators`` trees of depth ``max_depth``, one core. Shallow trees keep it fast and
    temper the bias of impurity importance towards noisy continuous features.

    Parameters
    ----------
    corr_threshold : float, default 0.9
        In ``(0, 1]``; 1.0 drops no correlated feature.
    importance_threshold : float, default 0.01
        In ``[0, 1)``; 0.0 drops no feature for low importance. With ``p`` equally useful
        features each has importance ``1 / p``: keep the threshold well below that.
    min_features : int, default 10
        Fewest features the importance filter leaves (fewer only if fewer survive filters 1-2).
    n_estimators : int, default 50
        Trees of the ranking forest.
    max_depth : int or None, default 8
        Depth of its trees (None: grown until the leaves are pure).
    random_state : int, RandomState or None, default None
        Seeds both ranking forests; same data and seed give the same selection.

    Attributes
    ----------
    selected_ : list[str]
        Kept features, in the column order of ``X``; :meth:`transform` returns these columns.
    dropped_ : pandas.DataFrame of shape (n_dropped, 4)
        One row per dropped feature, in the column order of ``X``: ``feature``, ``reason`` (one
        of :data:`DROP_REASONS`), ``partner`` (the kept feature it correlates with, else ``""``)
        and ``value`` (``|r|`` with the partner, the importance, or 0.0 for a constant).
    importances_ : pandas.Series
        Normalised importance of each feature that passed filters 1-2 (what filter 3 compares
        with ``importance_threshold``), in the column order of ``X``.
    feature_names_in_ : numpy.ndarray of str
    n_features_in_ : int

    References
    ----------
    L. Breiman, "Random forests", *Machine Learning* 45 (2001): impurity importance.
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, ch. 8 (feature
    importance, and why it must be computed on training data only).
    """

    def __init__(
        self,
        corr_threshold: float = 0.9,
        importance_threshold: float = 0.01,
        min_features: int = 10,
        n_estimators: int = 50,
        max_depth: int | None = 8,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.corr_threshold = corr_threshold
        self.importance_threshold = importance_threshold
        self.min_features = min_features
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.random_state = random_state

    @classmethod
    def from_config(cls, config: SelectionConfig, random_state: int | None) -> Self:
        """Build from ``config.features.selection`` (the caller decides on ``config.enabled``)."""
        return cls(
            corr_threshold=config.corr_threshold,
            importance_threshold=config.importance_threshold,
            min_features=config.min_features,
            n_estimators=config.n_estimators,
            random_state=random_state,
        )

    # ------------------------------------------------------------------ fit

    def _check_params(self) -> None:
        def real(name: str) -> float:
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise ValueError(f"`{name}` must be a number, got `{name}={value!r}`")
            return float(value)

        def integer(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                extra = " or None" if allow_none else ""
                raise ValueError(
                    f"`{name}` must be an integer of at least 1{extra}, got `{name}={value!r}`"
                )

        if not 0.0 < real("corr_threshold") <= 1.0:
            raise ValueError(
                f"`corr_threshold` must be in (0, 1], got `corr_threshold={self.corr_threshold}`"
            )
        if not 0.0 <= real("importance_threshold") < 1.0:
            raise ValueError(
                "`importance_threshold` must be in [0, 1), "
                f"got `importance_threshold={self.importance_threshold}`"
            )
        integer("min_features")
        integer("n_estimators")
        integer("max_depth", allow_none=True)

    def _importances(self, values: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
        forest = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            class_weight="balanced_subsample", n_jobs=1, random_state=seed,
        )
        # all zeros when no tree could split (e.g. a single class in y)
        return forest.fit(values, y).feature_importances_

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        """Choose the features on training rows.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            Numeric, finite features with unique string column names; at least 2 rows.
        y : array-like of shape (n_samples,)
            Class labels the ranking forest learns (the binary entry target). A Series must share
            ``X.index``.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            Bad parameters (the message names the parameter and its value), a malformed ``X`` or
            ``y``, or every column of ``X`` constant.
        """
        self._check_params()
        values = _check_frame(X)
        target = _check_target(y, X.index)
        names = list(X.columns)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        rng = check_random_state(self.random_state)
        rank_seed, refit_seed = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))
        dropped: dict[int, tuple[str, str, float]] = {}

        # (1) constant columns: peak-to-peak is exactly 0 (a float std may not be)
        varying = np.flatnonzero(np.ptp(values, axis=0) > 0)
        for i in np.setdiff1d(np.arange(len(names)), varying):
            dropped[int(i)] = ("constant", "", 0.0)
        if varying.size == 0:
            raise ValueError(f"every column of `X` is constant ({len(names)} columns); "
                             "nothing to select from")

        # (2) correlation filter, greedily in order of importance
        kept = self._decorrelate(values[:, varying], target, rank_seed, varying, names, dropped)

        # (3) importance filter on the survivors, never below min_features
        importances = self._importances(values[:, kept], target, refit_seed)
        self.importances_ = pd.Series(importances, index=[names[i] for i in kept],
                                      name="importance")
        n_min = min(self.min_features, kept.size)
        keep = importances >= self.importance_threshold
        if keep.sum() < n_min:
            keep = np.zeros(kept.size, dtype=bool)
            keep[np.argsort(-importances, kind="stable")[:n_min]] = True
        for i, imp in zip(kept[~keep], importances[~keep], strict=True):
            dropped[int(i)] = ("low_importance", "", float(imp))

        self.selected_ = [names[i] for i in kept[keep]]
        rows = [(names[i], *dropped[i]) for i in sorted(dropped)]
        self.dropped_ = pd.DataFrame(rows, columns=list(DROPPED_COLUMNS)).astype(
            {"feature": str, "reason": str, "partner": str, "value": np.float64}
        )
        return self

    def _decorrelate(self, values: np.ndarray, y: np.ndarray, seed: int, columns: np.ndarray,
                     names: list[str], dropped: dict[int, tuple[str, str, float]]) -> np.ndarray:
        """Indices (into ``names``, sorted) of the features that pass the correlation filter."""
        n = values.shape[1]
        if n == 1:
            return columns
        corr = np.abs(np.corrcoef(values, rowvar=False))
        np.fill_diagonal(corr, 0.0)
        if not (corr > self.corr_threshold).any():
            return columns
        order = np.argsort(-self._importances(values, y, seed), kind="stable")
        kept: list[int] = []
        for j in order:
            if kept:
                r = corr[j, kept]
                best = int(np.argmax(r))
                if r[best] > self.corr_threshold:
                    partner = names[columns[kept[best]]]
                    dropped[int(columns[j])] = ("correlated", partner, float(min(r[best], 1.0)))
                    continue
            kept.append(int(j))
        return columns[np.sort(kept)]

    # ------------------------------------------------------------ transform

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The selected columns of ``X``, in fit order (extra columns are ignored).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        TypeError, ValueError
            ``X`` not a DataFrame, or lacking selected columns (named in the message).
        """
        check_is_fitted(self, "selected_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"`X` must be a pandas DataFrame of features, got {type(X).__name__}")
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ValueError(f"`X` lacks columns selected in fit: {missing}")
        return X[self.selected_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The selected feature names (``input_features`` is ignored; names come from fit)."""
        check_is_fitted(self, "selected_")
        return np.asarray(self.selected_, dtype=object)
