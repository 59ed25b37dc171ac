"""The signal rule: meta probability, exit forest and position forest → signal, confidence, size."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["MODEL_NAMES", "SIGNAL_BUY", "SIGNAL_HOLD", "SIGNAL_SELL", "apply_signal_rule",
           "signal_arrays"]

MODEL_NAMES: tuple[str, ...] = ("entry", "position", "exit", "profit")
"""The four forests, in the order of their targets (see ``ml_core.labeling.make_targets``)."""

SIGNAL_BUY: int = 1
SIGNAL_SELL: int = -1
SIGNAL_HOLD: int = 0


def per_row(value: Any, name: str, n: int, low: float, high: float) -> np.ndarray:
    """``value`` as a float array of shape ``(n,)``: one number broadcast, or one per row.

    Every entry must lie in ``[low, high]`` (NaN never does). The error names the parameter and,
    for a per-row value, the first bad row, e.g. "`max_size` must be in [0, 1], got
    `max_size[3]=1.2`".
    """
    if isinstance(value, numbers.Real):  # the scalar message quotes the value as given
        if not low <= value <= high:
            raise ValueError(f"`{name}` must be in [{low:g}, {high:g}], got `{name}={value}`")
        return np.full(n, float(value))
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return per_row(float(arr), name, n, low, high)
    if arr.shape != (n,):
        raise ValueError(
            f"`{name}` must be one value or one per row ({n} rows), got shape {arr.shape}"
        )
    bad = ~((arr >= low) & (arr <= high))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must be in [{low:g}, {high:g}], got `{name}[{first}]={arr[first]}`"
        )
    return arr


def apply_signal_rule(
    p_long: ArrayLike,
    p_exit: ArrayLike,
    size: ArrayLike,
    *,
    confidence_threshold: float | ArrayLike,
    index: pd.Index | None = None,
    max_size: float | ArrayLike = 1.0,
) -> pd.DataFrame:
    """Turn model outputs into a trading signal — the contract of the ensemble's ``predict``.

    With ``p = p_long`` the meta-learner's probability that a long entered now hits take-profit
    first, and ``t`` the row's confidence threshold:

    - ``confidence = max(p, 1 - p)``, in ``[0.5, 1]``;
    - **BUY** (+1) if ``p >= t``;
    - **SELL** (-1) if ``1 - p >= t`` *and* the exit forest says an open long should close
      (``p_exit >= 0.5``);
    - **HOLD** (0) otherwise. BUY wins when both hold (only possible at ``t = 0.5``, p = 0.5).
    - ``size = min(clip(size, 0, 1) * (confidence - 0.5) / 0.5, max_size)`` on BUY and SELL, 0 on
      HOLD: the position forest's target size, scaled down as the meta-learner approaches a coin
      flip, then capped by the risk limit of the row (e.g. Kelly and CVaR caps, see
      :func:`~ml_core.ensemble._sizing.size_caps`).

    The signal never depends on ``max_size``, so caps that depend on the side taken can be
    computed before the rule (a traded row's side is BUY iff ``p >= 0.5``).

    Parameters
    ----------
    p_long, p_exit, size : array-like of float, shape (n,)
        Meta probability of take-profit first, exit-forest probability of "close", position-forest
        size prediction.
    confidence_threshold : float or array-like of float, shape (n,)
        In ``[0.5, 1]``: one threshold for every row, or one per row (e.g. the threshold of each
        row's regime).
    index : pandas.Index, optional
        Index of the result (default ``RangeIndex``).
    max_size : float or array-like of float, shape (n,), default 1.0
        In ``[0, 1]``: the largest size a row may take, one for all rows or one per row.

    Returns
    -------
    pandas.DataFrame of shape (n, 4)
        Columns ``signal`` (int64), ``confidence``, ``size`` (float in ``[0, 1]``), ``p_long``.

    Raises
    ------
    ValueError
        Inputs of different lengths or not 1-d; a threshold outside ``[0.5, 1]`` or a cap outside
        ``[0, 1]`` (the message names the parameter and the first bad row); a per-row threshold
        or cap of the wrong length.

    Examples
    --------
    >>> apply_signal_rule([0.7, 0.2, 0.2, 0.5], [0.0, 0.9, 0.1, 0.9], [1.0, 0.5, 1.0, 1.0],
    ...                   confidence_threshold=0.6)["signal"].tolist()
    [1, -1, 0, 0]
    >>> apply_signal_rule([0.7, 0.7], [0.0, 0.0], [1.0, 1.0], confidence_threshold=[0.6, 0.75],
    ...                   max_size=0.25)["size"].round(6).tolist()
    [0.25, 0.0]
    """
    signal, confidence, sized, p = signal_arrays(
        p_long, p_exit, size, confidence_threshold=confidence_threshold, max_size=max_size)
    return pd.DataFrame(
        {"signal": signal, "confidence": confidence, "size": sized, "p_long": p}, index=index)


def signal_arrays(
    p_long: ArrayLike,
    p_exit: ArrayLike,
    size: ArrayLike,
    *,
    confidence_threshold: float | ArrayLike,
    max_size: float | ArrayLike = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`apply_signal_rule`'s four columns as arrays: ``(signal, confidence, size,
    p_long)``, without building a frame (a one-row frame costs pandas ~0.3 ms, the rule ~10 us).

    Same parameters, checks and errors as :func:`apply_signal_rule`.
    """
    p = np.asarray(p_long, dtype=float)
    p_exit = np.asarray(p_exit, dtype=float)
    base = np.clip(np.asarray(size, dtype=float), 0.0, 1.0)
    if not p.shape == p_exit.shape == base.shape or p.ndim != 1:
        raise ValueError(
            "`p_long`, `p_exit` and `size` must be 1-d of the same length, got shapes "
            f"{p.shape}, {p_exit.shape}, {base.shape}"
        )
    threshold = per_row(confidence_threshold, "confidence_threshold", p.size, 0.5, 1.0)
    cap = per_row(max_size, "max_size", p.size, 0.0, 1.0)
    confidence = np.maximum(p, 1.0 - p)
    buy = p >= threshold
    sell = ~buy & (1.0 - p >= threshold) & (p_exit >= 0.5)
    signal = np.where(buy, SIGNAL_BUY, np.where(sell, SIGNAL_SELL, SIGNAL_HOLD)).astype(np.int64)
    scaled = np.minimum(np.clip(base * (confidence - 0.5) / 0.5, 0.0, 1.0), cap)
    return signal, confidence, np.where(signal != SIGNAL_HOLD, scaled, 0.0), p
