"""Safe repairs: restore time order and drop exact duplicate rows, recording every change."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class RepairLog:
    """What :func:`repair_bars` changed, in file row numbers."""

    reordered_rows: int = 0
    dropped_duplicate_rows: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.reordered_rows or self.dropped_duplicate_rows)

    def as_dict(self) -> dict[str, object]:
        return {
            "reordered_rows": self.reordered_rows,
            "dropped_duplicate_rows": len(self.dropped_duplicate_rows),
            "dropped_duplicate_row_numbers": self.dropped_duplicate_rows[:50],
        }


def repair_bars(frame: pd.DataFrame) -> tuple[pd.DataFrame, RepairLog]:
    """Sort by time and drop rows that repeat an earlier row exactly.

    Only repairs that cannot change what the market did are made. Two rows with the same
    timestamp but different prices are *not* repaired: the quality gate refuses them.

    Returns
    -------
    repaired : pandas.DataFrame
        Same columns, RangeIndex, sorted by ``timestamp``.
    log : RepairLog
        Rows moved and file row numbers dropped.
    """
    duplicated = frame.duplicated(keep="first")
    dropped = [int(i) for i in frame.index[duplicated]]
    kept = frame.loc[~duplicated]
    order = kept["timestamp"].argsort(kind="stable").to_numpy()
    moved = int((order != range(len(order))).sum())
    repaired = kept.iloc[order].reset_index(drop=True)
    repaired.attrs.update(frame.attrs)
    return repaired, RepairLog(reordered_rows=moved, dropped_duplicate_rows=dropped)
