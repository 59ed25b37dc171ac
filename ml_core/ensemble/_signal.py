"""The signal rule: meta probability, exit forest and position forest → signal, confidence, size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["MODEL_NAMES", "SIGNAL_BUY", "SIGNAL_HOLD", "SIGNAL_SELL", "apply_signal_rule"]

MODEL_NAMES: tuple[str, ...] = ("entry", "position", "exit", "profit")
"""The four forests, in the order of their targets (see ``ml_core.labeling.make_targets``)."""

SIGNAL_BUY: int = 1
SIGNAL_SELL: int = -1
SIGNAL_HOLD: int = 0


def apply_signal_rule(
    p_long: ArrayLike,
    p_exit: ArrayLike,
    size: ArrayLike,
    *,
    confidence_threshold: float,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Turn model outputs into a trading signal — the contract of the ensemble's ``predict``.

    With ``p = p_long`` the meta-learner's probability that a long entered now hits take-profit
    first:

    - ``confidence = max(p, 1 - p)``, in ``[0.5, 1]``;
    - **BUY** (+1) if ``p >= confidence_threshold``;
    - **SELL** (-1) if ``1 - p >= confidence_threshold`` *and* the exit forest says an open long
      should close (``p_exit >= 0.5``);
    - **HOLD** (0) otherwise. BUY wins when both hold (only possible at threshold 0.5, p = 0.5).
    - ``size = clip(size, 0, 1) * (confidence - 0.5) / 0.5`` on BUY and SELL, 0 on HOLD: the
      position forest's target size, scaled down as the meta-learner approaches a coin flip.

    Parameters
    ----------
    p_long, p_exit, size : array-like of float, shape (n,)
        Meta probability of take-profit first, exit-forest probability of "close", position-forest
        size prediction.
    confidence_threshold : float
        In ``[0.5, 1]``.
    index : pandas.Index, optional
        Index of the result (default ``RangeIndex``).

    Returns
    -------
    pandas.DataFrame of shape (n, 4)
        Columns ``signal`` (int64), ``confidence``, ``size`` (float in ``[0, 1]``), ``p_long``.

    Examples
    --------
    >>> apply_signal_rule([0.7, 0.2, 0.2, 0.5], [0.0, 0.9, 0.1, 0.9], [1.0, 0.5, 1.0, 1.0],
    ...                   confidence_threshold=0.6)["signal"].tolist()
    [1, -1, 0, 0]
    """
    if not 0.5 <= confidence_threshold <= 1.0:
        raise ValueError(
            "`confidence_threshold` must be in [0.5, 1], "
            f"got `confidence_threshold={confidence_threshold}`"
        )
    p = np.asarray(p_long, dtype=float)
    p_exit = np.asarray(p_exit, dtype=float)
    base = np.clip(np.asarray(size, dtype=float), 0.0, 1.0)
    if not p.shape == p_exit.shape == base.shape or p.ndim != 1:
        raise ValueError(
            "`p_long`, `p_exit` and `size` must be 1-d of the same length, got shapes "
            f"{p.shape}, {p_exit.shape}, {base.shape}"
        )
    confidence = np.maximum(p, 1.0 - p)
    buy = p >= confidence_threshold
    sell = ~buy & (1.0 - p >= confidence_threshold) & (p_exit >= 0.5)
    signal = np.where(buy, SIGNAL_BUY, np.where(sell, SIGNAL_SELL, SIGNAL_HOLD)).astype(np.int64)
    scaled = np.clip(base * (confidence - 0.5) / 0.5, 0.0, 1.0)
    return pd.DataFrame(
        {
            "signal": signal,
            "confidence": confidence,
            "size": np.where(signal != SIGNAL_HOLD, scaled, 0.0),
            "p_long": p,
        },
        index=index,
    )
