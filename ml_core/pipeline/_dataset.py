"""Join features and triple-barrier labels into the rows the forests train on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml_core.config import LabelConfig


@dataclass(frozen=True)
class TrainingSet:
    """Events with complete features and labels.

    Attributes
    ----------
    X : pandas.DataFrame
        Features at each event start ``t0`` (index), no NaN.
    targets : pandas.DataFrame
        Columns ``entry, position, exit, profit`` (see :func:`ml_core.labeling.make_targets`).
    events : pandas.DataFrame
        ``t1, ret, barrier, vol, holding_bars`` for the same rows.
    n_dropped_warmup : int
        Events dropped because a feature was still warming up (NaN) at ``t0``.
    """

    X: pd.DataFrame
    targets: pd.DataFrame
    events: pd.DataFrame
    n_dropped_warmup: int

    @property
    def t1(self) -> pd.Series:
        return self.events["t1"]

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(first event start, last label end)``: the bars a fit on these rows reads labels
        from (features at ``t0`` read only bars up to ``t0``)."""
        return self.X.index[0], pd.Timestamp(self.t1.max())


def assemble_training_set(
    features: pd.DataFrame, events: pd.DataFrame, config: LabelConfig
) -> TrainingSet:
    """Align features with events; drop (and count) events whose features are still warming up.

    Features at ``t0`` use bars up to and including ``t0``; labels start after ``t0``'s close.
    """
    from ml_core.labeling import make_targets

    X = features.reindex(events.index)
    complete = X.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise ValueError(
            f"no event has a complete feature row: {len(events)} events, all inside the feature "
            f"warm-up; supply more bars"
        )
    events = events.loc[complete]
    targets = make_targets(events, config)
    return TrainingSet(X.loc[complete], targets, events, int((~complete).sum()))
