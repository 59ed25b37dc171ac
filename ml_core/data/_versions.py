"""Bar versions: what a bar store's rules are, as pandas functions (the store itself is in tasks/).

A bar store keeps every value a bar has had. Each row of a *versions* frame is one bar as one ingest
wrote it: columns ``timestamp`` (the bar's open time, UTC), ``ingest_id`` (increasing with the time
of the ingest), ``ingested_at`` (UTC) and ``open, high, low, close, volume``. These functions decide
what an incoming file adds (new bars, identical bars, conflicts), what a reader may see at a point
in time, where the gaps are, and a content hash of what was read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ml_core.data._window import utc_timestamp

__all__ = [
    "BAR_VALUES",
    "BarDiff",
    "bars_as_of",
    "bars_digest",
    "compare_bars",
    "find_gaps",
    "latest_versions",
]

BAR_VALUES: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BarDiff:
    """An incoming bar frame compared with the stored bars of the same symbol and timeframe.

    Attributes
    ----------
    new : pandas.DataFrame
        Incoming bars at timestamps the store does not hold (canonical bar frame).
    identical : int
        Incoming bars equal, value for value, to the stored ones.
    conflicts : pandas.DataFrame
        One row per incoming bar whose values differ from the stored ones, indexed by timestamp,
        with columns ``<value>_stored`` and ``<value>_incoming`` for the five values.
    """

    new: pd.DataFrame
    identical: int
    conflicts: pd.DataFrame

    @property
    def revised(self) -> pd.DataFrame:
        """The incoming values of the conflicting bars, as a canonical bar frame."""
        frame = self.conflicts[[f"{c}_incoming" for c in BAR_VALUES]]
        return frame.set_axis(list(BAR_VALUES), axis=1)

    def describe_conflicts(self, limit: int = 3) -> str:
        """The first ``limit`` conflicts as ``TIMESTAMP close stored 101.0, incoming 102.5``."""
        parts = []
        for ts, row in self.conflicts.head(limit).iterrows():
            changed = [f"{c} stored {float(row[f'{c}_stored'])!r}, "
                       f"incoming {float(row[f'{c}_incoming'])!r}"
                       for c in BAR_VALUES if not _same(row[f"{c}_stored"], row[f"{c}_incoming"])]
            parts.append(f"{ts.isoformat()} " + "; ".join(changed))
        more = len(self.conflicts) - limit
        return " | ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _same(a: float, b: float) -> bool:
    return bool(a == b or (np.isnan(a) and np.isnan(b)))


def _check_bars(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ValueError(f"`{name}` must be indexed by UTC timestamps, got index "
                         f"{type(frame.index).__name__}")
    missing = [c for c in BAR_VALUES if c not in frame.columns]
    if missing:
        raise ValueError(f"`{name}` lacks the columns {missing}")
    if frame.index.has_duplicates:
        ts = frame.index[frame.index.duplicated()][0]
        raise ValueError(f"`{name}` holds timestamp {ts.isoformat()} more than once")


def compare_bars(incoming: pd.DataFrame, stored: pd.DataFrame) -> BarDiff:
    """Split ``incoming`` into new bars, bars identical to ``stored`` and conflicting bars.

    Values are compared exactly (float64 as stored; NaN equals NaN): a bar that differs in the last
    digit is a revision, never silently "the same".

    Parameters
    ----------
    incoming : pandas.DataFrame
        Canonical bars (UTC ``DatetimeIndex``, columns ``open .. volume``), unique timestamps.
    stored : pandas.DataFrame
        The store's latest values for (at least) the timestamps of ``incoming``.

    Returns
    -------
    BarDiff
    """
    _check_bars(incoming, "incoming")
    _check_bars(stored, "stored")
    incoming = incoming[list(BAR_VALUES)].astype("float64")
    stored = stored[list(BAR_VALUES)].astype("float64")
    common = incoming.index.intersection(stored.index)
    new = incoming.loc[~incoming.index.isin(common)].sort_index()
    a = incoming.loc[common].sort_index().to_numpy()
    b = stored.loc[common].sort_index().to_numpy()
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    rows = differ.any(axis=1)
    index = common.sort_values()[rows]
    conflicts = pd.DataFrame(
        {f"{c}_{side}": values[rows, i] for i, c in enumerate(BAR_VALUES)
         for side, values in (("stored", b), ("incoming", a))},
        index=index,
    )
    conflicts = conflicts[[f"{c}_{s}" for c in BAR_VALUES for s in ("stored", "incoming")]]
    return BarDiff(new=new, identical=int((~rows).sum()), conflicts=conflicts)


def latest_versions(versions: pd.DataFrame) -> pd.DataFrame:
    """The latest value of every bar: per ``timestamp``, the row with the highest ``ingest_id``.

    Returns
    -------
    pandas.DataFrame
        Canonical bars indexed by ``timestamp`` (sorted), columns ``open .. volume``.
    """
    if versions.empty:
        return _empty_bars()
    latest = (versions.sort_values(["timestamp", "ingest_id"])
              .drop_duplicates("timestamp", keep="last"))
    bars = latest.set_index("timestamp")[list(BAR_VALUES)]
    bars.index = pd.DatetimeIndex(bars.index, name="timestamp")
    return bars


def bars_as_of(versions: pd.DataFrame, timeframe: timedelta, as_of: datetime | pd.Timestamp,
               ingested_by: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """The bars a reader at ``as_of`` may use: closed by then, stored by then, as known then.

    A bar opened at ``ts`` closes at ``ts + timeframe``; it is visible when
    ``ts + timeframe <= as_of`` and one of its versions was ingested at or before ``ingested_by``
    (default ``as_of``). Of those versions the latest ingest wins, so a revision ingested after
    ``ingested_by`` is not seen.

    Parameters
    ----------
    versions : pandas.DataFrame
        Columns ``timestamp, ingest_id, ingested_at, open .. volume`` (UTC times).
    timeframe : timedelta
        Bar length.
    as_of : datetime
        The reader's time (timezone-aware, or naive meaning UTC).
    ingested_by : datetime, optional
        The store's state to read. A backfill replaying the past from bars loaded today passes
        the time it started, so ``as_of`` limits the bars and ``ingested_by`` the knowledge.

    Returns
    -------
    pandas.DataFrame
        Canonical bars, sorted by timestamp.
    """
    as_of = utc_timestamp(as_of, "as_of")
    ingested_by = as_of if ingested_by is None else utc_timestamp(ingested_by, "ingested_by")
    if versions.empty:
        return _empty_bars()
    known = versions["ingested_at"] <= ingested_by
    closed = versions["timestamp"] + pd.Timedelta(timeframe) <= as_of
    return latest_versions(versions.loc[known & closed])


def _empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_VALUES}, index=index)


def find_gaps(index: pd.DatetimeIndex, timeframe: timedelta) -> pd.DataFrame:
    """Runs of missing bars between the first and the last timestamp.

    Returns
    -------
    pandas.DataFrame
        One row per run: ``start`` and ``end`` (open times of the first and last missing bar) and
        ``missing`` (how many bars), in time order.
    """
    step = pd.Timedelta(timeframe)
    if step <= pd.Timedelta(0):
        raise ValueError(f"`timeframe` must be positive, got `timeframe={timeframe}`")
    times = pd.DatetimeIndex(index).sort_values().unique()
    spacing = times[1:] - times[:-1]
    at = np.flatnonzero(spacing > step)
    starts = times[:-1][at] + step
    ends = times[1:][at] - step
    missing = ((spacing[at] // step) - 1).astype("int64")
    return pd.DataFrame({"start": starts, "end": ends, "missing": missing})


def bars_digest(bars: pd.DataFrame) -> str:
    """SHA-256 of the bars' timestamps (int64 ns) and values (float64), little-endian, hex.

    Equal bars give equal digests on any machine, whatever the engine that stored them: a cache
    key and a record of exactly what a run read.
    """
    _check_bars(bars, "bars")
    bars = bars.sort_index()
    digest = hashlib.sha256()
    digest.update(bars.index.as_unit("ns").asi8.astype("<i8").tobytes())
    digest.update(np.ascontiguousarray(bars[list(BAR_VALUES)].to_numpy("<f8")).tobytes())
    return digest.hexdigest()
