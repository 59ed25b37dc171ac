"""Input checks of the ensemble's ``fit`` and ``predict``: clear errors before any fitting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_core.ensemble._signal import MODEL_NAMES

__all__: list[str] = []

CLASSIFIER_TARGETS = ("entry", "exit")
CALIBRATIONS: tuple[str, ...] = ("isotonic", "sigmoid", "none")
"""Values of the ensemble's ``calibration``."""
IMBALANCE_METHODS: tuple[str, ...] = ("class_weight", "smote")
"""Values of the ensemble's ``imbalance``."""
MIN_ROWS_PER_FOLD = 10
"""Fewest events per meta fold that ``fit`` accepts (``n_events >= 10 * meta_folds``)."""


def check_features(X: Any, columns: np.ndarray | None = None) -> np.ndarray:
    """Validate a feature frame and return it as a float64 array, columns in ``columns`` order.

    Raises ``TypeError`` for anything but a DataFrame of numeric columns, ``ValueError`` naming the
    missing columns (predict time) and the columns holding NaN or infinite values.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a pandas DataFrame of features, got {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError("`X` must have at least one feature column, got 0 columns")
    if columns is not None:
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ValueError(f"`X` lacks feature columns seen in fit: {missing}")
        X = X[list(columns)]
    non_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c].dtype)]
    if non_numeric:
        raise TypeError(f"`X` columns must be numeric, got non-numeric columns {non_numeric}")
    values = X.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        cols = [str(c) for c in X.columns[bad.any(axis=0)]]
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(
            f"`X` has NaN or infinite values in columns {cols} ({int(bad.sum())} cells, first in "
            f"row {first}, index {X.index[first]}); drop or fill the warm-up rows of the "
            "features before fitting or predicting"
        )
    return values


def check_event_index(X: pd.DataFrame) -> None:
    """Rows are events indexed by a sorted, unique ``DatetimeIndex`` of start times ``t0``."""
    if not isinstance(X.index, pd.DatetimeIndex):
        raise TypeError(
            f"`X` must be indexed by event start time (DatetimeIndex), got {type(X.index).__name__}"
        )
    if not X.index.is_monotonic_increasing:
        raise ValueError("`X.index` must be sorted in time (monotonic increasing)")
    if not X.index.is_unique:
        dup = X.index[X.index.duplicated()][0]
        raise ValueError(f"`X.index` must be unique, got duplicate event start {dup}")


def check_targets(targets: Any, index: pd.Index) -> dict[str, np.ndarray]:
    """Validate the four targets on ``index``; return them as arrays by model name."""
    if not isinstance(targets, pd.DataFrame):
        raise TypeError(f"`targets` must be a pandas DataFrame, got {type(targets).__name__}")
    missing = [name for name in MODEL_NAMES if name not in targets.columns]
    if missing:
        raise ValueError(f"`targets` lacks columns {missing}; expected {list(MODEL_NAMES)}")
    if not targets.index.equals(index):
        raise ValueError(
            "`targets` must be aligned with `X`: `targets.index` differs from `X.index`"
        )
    out: dict[str, np.ndarray] = {}
    for name in MODEL_NAMES:
        values = targets[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values).all():
            first = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(
                f"`targets['{name}']` has {int((~np.isfinite(values)).sum())} NaN or "
                f"infinite values, first in row {first}, index {index[first]}"
            )
        if name in CLASSIFIER_TARGETS:
            classes = np.unique(values)
            if not np.isin(classes, (0.0, 1.0)).all():
                raise ValueError(
                    f"`targets['{name}']` must hold 0/1 labels, got values {classes[:5].tolist()}"
                )
            if classes.size < 2:
                raise ValueError(
                    f"`targets['{name}']` has a single class {int(classes[0])} in all "
                    f"{values.size} rows; the {name} forest and the meta-learner need both 0 and 1"
                )
            out[name] = values.astype(np.int64)
        else:
            out[name] = values
    return out


def check_t1(t1: Any, index: pd.Index) -> pd.Series:
    """Label end times aligned with the events."""
    if not isinstance(t1, pd.Series):
        raise TypeError(f"`t1` must be a pandas Series of label end times, got {type(t1).__name__}")
    if not t1.index.equals(index):
        raise ValueError("`t1` must be aligned with `X`: `t1.index` differs from `X.index`")
    return t1
