"""The four supervised targets derived from triple-barrier events: the models' contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_core.config import LabelConfig

TARGET_NAMES: tuple[str, str, str, str] = ("entry", "position", "exit", "profit")
_NEEDED = ("ret", "barrier", "vol")


def make_targets(events: pd.DataFrame, config: LabelConfig) -> pd.DataFrame:
    """Targets of the entry, position, exit and profit models, one row per event.

    All four describe a long position entered at the close of ``t0`` and held until ``t1``
    (:func:`ml_core.labeling.triple_barrier_events`):

    * ``entry`` (int, 0/1): 1 if the take-profit barrier was touched first (``barrier == +1``),
      i.e. opening a long at ``t0`` would have paid off; else 0.
    * ``position`` (float in [0, 1]): size target ``clip(ret / (take_profit * vol), 0, 1)``:
      the realised return as a fraction of the take-profit distance; 0 for any ``ret <= 0``,
      1 when the close at ``t1`` is at or beyond the take-profit barrier, proportional in
      between (e.g. a gain at the vertical barrier, or a take-profit bar closing back under it).
    * ``exit`` (int, 0/1): 1 if a long open at ``t0`` should be closed: the stop-loss was touched
      first (``barrier == -1``) or the vertical barrier came with ``ret <= 0``; else 0.
    * ``profit`` (float): the realised barrier return ``ret = close[t1] / close[t0] - 1``.

    Parameters
    ----------
    events : pandas.DataFrame
        Output of :func:`ml_core.labeling.triple_barrier_events` (``ret``, ``barrier``, ``vol``
        are used).
    config : LabelConfig
        The same configuration the events were built with (``take_profit`` is used).

    Returns
    -------
    pandas.DataFrame
        Index ``events.index``; columns :data:`TARGET_NAMES`.
    """
    missing = [c for c in _NEEDED if c not in events.columns]
    if missing:
        raise ValueError(f"`events` lacks columns {missing}; it has {list(events.columns)}")
    ret = events["ret"].to_numpy(dtype="float64")
    barrier = events["barrier"].to_numpy()
    vol = events["vol"].to_numpy(dtype="float64")
    if not (np.isfinite(vol) & (vol > 0)).all():
        raise ValueError("`events.vol` must be positive and finite on every row")
    if not np.isin(barrier, (-1, 0, 1)).all():
        raise ValueError(f"`events.barrier` must be -1, 0 or +1, got {np.unique(barrier).tolist()}")
    out = pd.DataFrame(
        {
            "entry": (barrier == 1).astype(np.int64),
            "position": np.clip(ret / (config.take_profit * vol), 0.0, 1.0),
            "exit": ((barrier == -1) | ((barrier == 0) & (ret <= 0))).astype(np.int64),
            "profit": ret,
        },
        index=events.index,
    )
    return out
