"""The bar store: every ingested bar, every revision, every ingest, on SQLite or PostgreSQL.

One SQLAlchemy Core implementation serves the embedded default (``sqlite:///mlruns/bars.db``, no
server, like MLflow's store) and PostgreSQL at scale (``postgresql://user@host/db``). The rules
(new / identical / conflicting bars, what a reader at ``as_of`` sees, gaps, the content hash) are
pandas functions in :mod:`ml_core.data`; this module only moves rows in and out.

Tables
------
``ingests``
    One row per ingest that changed the store: ``id`` (increasing), ``at_ns`` (UTC, ns since the
    epoch, never before an earlier ingest's), symbol, timeframe, file, sha256 of the file, file rows,
    first and last bar, and how many bars were new, identical and revised.
``bars``
    One row per bar *version*: symbol, timeframe, ``ts_ns`` (open time, UTC ns), ``ingest_id`` and
    the five values. A revision adds a row; nothing is updated or deleted, so the store can say what
    it held at any moment.

Every write of an ingest runs in one transaction, after taking the store's write lock (PostgreSQL:
``LOCK TABLE ingests``; SQLite: the database lock taken by the first insert): a refused ingest
leaves the store exactly as it was, and concurrent ingests cannot both add the same bar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ml_core._durations import format_duration, parse_duration
from ml_core.data import (
    BAR_VALUES,
    bars_as_of,
    bars_digest,
    compare_bars,
    find_gaps,
    infer_timeframe,
    latest_versions,
)

__all__ = [
    "DEFAULT_STORE_URL",
    "STORE_URL_ENV",
    "BarConflictError",
    "BarStore",
    "BarStoreError",
    "IngestReport",
    "StoreState",
]

DEFAULT_STORE_URL = "sqlite:///mlruns/bars.db"
STORE_URL_ENV = "REGIMEFOREST_STORE_URL"
_BATCH = 50_000

_metadata = sa.MetaData()
ingests = sa.Table(
    "ingests", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(16), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("first_ns", sa.BigInteger, nullable=False),
    sa.Column("last_ns", sa.BigInteger, nullable=False),
    sa.Column("n_new", sa.Integer, nullable=False),
    sa.Column("n_identical", sa.Integer, nullable=False),
    sa.Column("n_revised", sa.Integer, nullable=False),
)
bars = sa.Table(
    "bars", _metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("timeframe", sa.String(16), primary_key=True),
    sa.Column("ts_ns", sa.BigInteger, primary_key=True),
    sa.Column("ingest_id", sa.Integer, sa.ForeignKey("ingests.id"), primary_key=True),
    *(sa.Column(name, sa.Double, nullable=True) for name in BAR_VALUES),
    # SQLite: the rows live in the primary key's b-tree, not beside a copy of it (half the size).
    sqlite_with_rowid=False,
)


class BarStoreError(ValueError):
    """An ingest or read the store refuses; the message names the symbol, timeframe and values."""


class BarConflictError(BarStoreError):
    """Incoming bars differ from stored ones; nothing was written."""


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did. ``ingest_id`` is None when it changed nothing (all bars known)."""

    ingest_id: int | None
    symbol: str
    timeframe: str
    source: str
    rows: int
    n_new: int
    n_identical: int
    n_revised: int
    first: pd.Timestamp
    last: pd.Timestamp


@dataclass(frozen=True)
class StoreState:
    """What a read returns, in a few fields a run records and a cache keys on.

    ``sha256`` is :func:`ml_core.data.bars_digest` of the bars read: equal bars, equal digest,
    whichever engine or ingest history produced them. ``last_ingest_id`` is the store's version at
    ``ingested_by`` (0 for an empty store).
    """

    symbol: str
    timeframe: str
    as_of: pd.Timestamp | None
    ingested_by: pd.Timestamp | None
    last_ingest_id: int
    n_bars: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    sha256: str

    @property
    def key(self) -> str:
        """``SYMBOL/TF@sha256`` prefix: a cache key for what was read."""
        return f"{self.symbol}/{self.timeframe}@{self.sha256[:16]}"

    def as_params(self) -> dict[str, str]:
        """Flat ``store.*`` strings to log with a run (MLflow params or tags)."""
        return {f"store.{k}": "" if v is None else str(v) for k, v in asdict(self).items()}


def _ns(value: datetime | pd.Timestamp | str, name: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise BarStoreError(f"`{name}` must be a date-time, got `{name}={value!r}`") from exc
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def _stamp(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(int(ns), unit="ns", tz="UTC")


def _label(timeframe: timedelta | str) -> str:
    try:
        return format_duration(parse_duration(timeframe))
    except ValueError as exc:
        raise BarStoreError(f"`timeframe` must be a bar length such as '30m', got "
                            f"`timeframe={timeframe!r}`") from exc


def open_engine(url: sa.URL, metadata: sa.MetaData) -> sa.Engine:
    """An engine on ``url`` (psycopg2 where psycopg 3 is absent; a SQLite file's folder made)
    with ``metadata``'s tables created; an unreachable database raises SQLAlchemy's error and
    leaves no engine open."""
    parsed = _with_driver(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed)
    try:
        metadata.create_all(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _with_driver(url: sa.URL) -> sa.URL:
    """``postgresql://`` with psycopg2 when psycopg 3 (SQLAlchemy 2.1's default) is absent."""
    if url.drivername == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            return url.set(drivername="postgresql+psycopg2")
    return url


def _copy_bars(conn: sa.Connection, symbol: str, label: str, ingest_id: int,
               frame: pd.DataFrame) -> None:
    """PostgreSQL's COPY, in the ingest's transaction: ~7x faster than batched INSERTs.

    Values are written with 17 significant digits, which float64 reads back exactly; NaN is an
    empty field, i.e. NULL, as on SQLite.
    """
    import io

    table = pd.DataFrame({"symbol": symbol, "timeframe": label,
                          "ts_ns": frame.index.as_unit("ns").asi8, "ingest_id": ingest_id})
    for name in BAR_VALUES:
        table[name] = frame[name].to_numpy("float64")
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, header=False, float_format="%.17g")
    buffer.seek(0)
    columns = ", ".join(table.columns)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f"COPY bars ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


class BarStore:
    """Bars by symbol and timeframe, with every revision and ingest kept.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///mlruns/bars.db`` (the default, created with its folder on first
        use) or ``postgresql://user@host:5432/db`` (the database must exist; tables are created).
    """

    def __init__(self, url: str = DEFAULT_STORE_URL) -> None:
        self.url = url
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = open_engine(sa.make_url(self.url), _metadata)
        return self._engine

    def dispose(self) -> None:
        """Close the engine's connections (a PostgreSQL database can then be dropped)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- writing ------------------------------------------------------------------------------

    def ingest(self, frame: pd.DataFrame, symbol: str, timeframe: timedelta | str, *,
               source: str, sha256: str, rows: int | None = None, revise: bool = False,
               now: datetime | None = None) -> IngestReport:
        """Add the bars of one file; all of it or, when refused, nothing.

        Parameters
        ----------
        frame : pandas.DataFrame
            Canonical bars that passed the quality gate (UTC ``DatetimeIndex``, unique).
        symbol, timeframe : str, timedelta or str
            The series. The bars' most common spacing must be ``timeframe``.
        source, sha256 : str
            The file and its SHA-256, recorded with the ingest.
        rows : int, optional
            The file's data rows (default ``len(frame)``).
        revise : bool
            Record bars that differ from stored ones as a revision instead of refusing the ingest.
        now : datetime, optional
            The ingest's time (default: the clock); never earlier than the last ingest's.

        Returns
        -------
        IngestReport
            ``ingest_id`` None when every bar was already stored with the same values: nothing is
            written, so :meth:`state` and cache keys stay as they were.

        Raises
        ------
        BarConflictError
            Bars differ from stored ones and ``revise`` is False; the message names the first
            timestamps and both values.
        BarStoreError
            Empty bars, another spacing than ``timeframe``, or a bad ``symbol``.
        """
        label = _label(timeframe)
        if not symbol or len(symbol) > 64:
            raise BarStoreError(f"`symbol` must be 1 to 64 characters, got `symbol={symbol!r}`")
        if frame.empty:
            raise BarStoreError(f"{source}: no bars to ingest")
        spacing = infer_timeframe(frame.index)
        if spacing is not None and spacing != parse_duration(label):
            raise BarStoreError(f"{source}: bars are mostly {format_duration(spacing)} apart, but "
                                f"the series {symbol}/{label} is {label}")
        frame = frame.sort_index()
        first_ns, last_ns = _ns(frame.index[0], "first"), _ns(frame.index[-1], "last")
        with self.engine.connect() as conn, conn.begin() as transaction:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("LOCK TABLE ingests IN SHARE ROW EXCLUSIVE MODE"))
            at_ns = _ns(now or pd.Timestamp.now(tz="UTC"), "now")
            # Inserting first takes SQLite's write lock before anything is read.
            ingest_id = conn.execute(sa.insert(ingests).values(
                at_ns=at_ns, symbol=symbol, timeframe=label, file=source, sha256=sha256,
                rows=len(frame) if rows is None else rows, first_ns=first_ns, last_ns=last_ns,
                n_new=0, n_identical=0, n_revised=0)).inserted_primary_key[0]
            before = conn.execute(sa.select(sa.func.max(ingests.c.at_ns))
                                  .where(ingests.c.id != ingest_id)).scalar()
            at_ns = max(at_ns, before or 0)  # ingest ids and times increase together
            stored = latest_versions(self._versions(conn, symbol, label, first_ns, last_ns))
            diff = compare_bars(frame, stored)
            report = IngestReport(
                ingest_id=ingest_id, symbol=symbol, timeframe=label, source=source,
                rows=len(frame) if rows is None else rows, n_new=len(diff.new),
                n_identical=diff.identical, n_revised=len(diff.conflicts),
                first=frame.index[0], last=frame.index[-1])
            if len(diff.conflicts) and not revise:
                transaction.rollback()
                raise BarConflictError(
                    f"{source}: {len(diff.conflicts)} bar(s) differ from those stored for "
                    f"{symbol}/{label}: {diff.describe_conflicts()}; nothing was written "
                    f"(ingest with --revise to record them as a revision)")
            if not len(diff.new) and not len(diff.conflicts):
                transaction.rollback()
                return IngestReport(**{**asdict(report), "ingest_id": None})
            written = pd.concat([diff.new, diff.revised]).sort_index()
            self._insert_bars(conn, symbol, label, ingest_id, written)
            conn.execute(sa.update(ingests).where(ingests.c.id == ingest_id).values(
                at_ns=at_ns, n_new=report.n_new, n_identical=report.n_identical, n_revised=report.n_revised))
        return report

    @staticmethod
    def _insert_bars(conn: sa.Connection, symbol: str, label: str, ingest_id: int,
                     frame: pd.DataFrame) -> None:
        if conn.dialect.driver == "psycopg2":
            _copy_bars(conn, symbol, label, ingest_id, frame)
            return
        ts = frame.index.as_unit("ns").asi8.tolist()
        values = frame[list(BAR_VALUES)].to_numpy("float64")
        # NaN is stored as NULL (PostgreSQL would keep NaN, SQLite cannot): read back as NaN.
        cells = np.where(np.isnan(values), None, values).tolist()
        for start in range(0, len(ts), _BATCH):
            conn.execute(bars.insert(), [
                {"symbol": symbol, "timeframe": label, "ts_ns": t, "ingest_id": ingest_id,
                 **dict(zip(BAR_VALUES, row, strict=True))}
                for t, row in zip(ts[start:start + _BATCH], cells[start:start + _BATCH],
                                  strict=True)])

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def _versions(conn: sa.Connection, symbol: str, label: str, first_ns: int | None = None,
                  last_ns: int | None = None, max_ingest: int | None = None) -> pd.DataFrame:
        """Bar versions of one series as a versions frame (see :mod:`ml_core.data._versions`)."""
        query = (sa.select(bars.c.ts_ns, bars.c.ingest_id, ingests.c.at_ns,
                           *(bars.c[c] for c in BAR_VALUES))
                 .join(ingests, ingests.c.id == bars.c.ingest_id)
                 .where(bars.c.symbol == symbol, bars.c.timeframe == label))
        if first_ns is not None:
            query = query.where(bars.c.ts_ns >= first_ns)
        if last_ns is not None:
            query = query.where(bars.c.ts_ns <= last_ns)
        if max_ingest is not None:
            query = query.where(bars.c.ingest_id <= max_ingest)
        rows = conn.execute(query).fetchall()
        if not rows:
            columns = ["timestamp", "ingest_id", "ingested_at", *BAR_VALUES]
            return pd.DataFrame(columns=columns)
        ts, ids, at, *values = zip(*rows, strict=True)
        frame = pd.DataFrame({
            "timestamp": pd.to_datetime(np.asarray(ts, dtype="int64"), unit="ns", utc=True),
            "ingest_id": np.asarray(ids, dtype="int64"),
            "ingested_at": pd.to_datetime(np.asarray(at, dtype="int64"), unit="ns", utc=True),
        })
        for name, column in zip(BAR_VALUES, values, strict=True):
            frame[name] = np.asarray(column, dtype="float64")  # NULL -> NaN
        return frame

    def _last_ingest(self, conn: sa.Connection, by_ns: int | None) -> int:
        query = sa.select(sa.func.max(ingests.c.id))
        if by_ns is not None:
            query = query.where(ingests.c.at_ns <= by_ns)
        return int(conn.execute(query).scalar() or 0)

    def read(self, symbol: str, timeframe: timedelta | str, as_of: datetime | str | None = None,
             start: datetime | str | None = None, *,
             ingested_by: datetime | str | None = None) -> pd.DataFrame:
        """The bars of one series a reader at ``as_of`` may use (all latest bars without it).

        With ``as_of``: only bars closed by then (``ts + timeframe <= as_of``) and stored by
        ``ingested_by`` (default ``as_of``), each with the latest value ingested by then
        (:func:`ml_core.data.bars_as_of`). ``start`` drops bars opened before it.

        Returns
        -------
        pandas.DataFrame
            Canonical bars (UTC ``DatetimeIndex`` named ``timestamp``, float64 values), sorted.
        """
        return self._read(symbol, timeframe, as_of, start, ingested_by)[0]

    def _read(self, symbol: str, timeframe: timedelta | str, as_of: object, start: object,
              ingested_by: object) -> tuple[pd.DataFrame, int]:
        label = _label(timeframe)
        step = int(pd.Timedelta(parse_duration(label)).value)
        as_of_ns = None if as_of is None else _ns(as_of, "as_of")
        by_ns = as_of_ns if ingested_by is None else _ns(ingested_by, "ingested_by")
        start_ns = None if start is None else _ns(start, "start")
        with self.engine.connect() as conn:
            last = self._last_ingest(conn, by_ns)
            versions = self._versions(conn, symbol, label, start_ns,
                                      None if as_of_ns is None else as_of_ns - step, last)
        if as_of is None:
            return latest_versions(versions), last
        # The query applied the rule already; bars_as_of is its definition, kept in one place.
        return bars_as_of(versions, parse_duration(label), _stamp(as_of_ns),
                          _stamp(by_ns)), last

    def state(self, symbol: str, timeframe: timedelta | str, as_of: datetime | str | None = None,
              start: datetime | str | None = None, *,
              ingested_by: datetime | str | None = None) -> StoreState:
        """What :meth:`read` with the same arguments returns, summarised for a run's record."""
        return self.snapshot(symbol, timeframe, as_of, start, ingested_by=ingested_by)[1]

    def snapshot(self, symbol: str, timeframe: timedelta | str,
                 as_of: datetime | str | None = None, start: datetime | str | None = None, *,
                 ingested_by: datetime | str | None = None) -> tuple[pd.DataFrame, StoreState]:
        """:meth:`read` and :meth:`state` in one read: the bars and their record."""
        frame, last = self._read(symbol, timeframe, as_of, start, ingested_by)
        as_of_ts = None if as_of is None else _stamp(_ns(as_of, "as_of"))
        by = as_of_ts if ingested_by is None else _stamp(_ns(ingested_by, "ingested_by"))
        return frame, StoreState(
            symbol=symbol, timeframe=_label(timeframe), as_of=as_of_ts, ingested_by=by,
            last_ingest_id=last, n_bars=len(frame),
            first=frame.index[0] if len(frame) else None,
            last=frame.index[-1] if len(frame) else None, sha256=bars_digest(frame))

    def timeframes(self, symbol: str) -> list[str]:
        """The timeframes stored for ``symbol``."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ingests.c.timeframe).distinct()
                                .where(ingests.c.symbol == symbol)).scalars().all()
        return sorted(rows)

    def summary(self) -> pd.DataFrame:
        """One row per series: symbol, timeframe, first, last, bars, gaps, missing, last ingest.

        ``gaps`` counts runs of missing bars between first and last, ``missing`` the bars in them;
        ``last_ingest`` is the time of the series' latest ingest, ``last_file`` its file.
        """
        columns = ["symbol", "timeframe", "first", "last", "bars", "gaps", "missing",
                   "last_ingest", "last_ingest_id", "last_file"]
        rows = []
        with self.engine.connect() as conn:
            series = conn.execute(
                sa.select(ingests.c.symbol, ingests.c.timeframe, sa.func.max(ingests.c.id))
                .group_by(ingests.c.symbol, ingests.c.timeframe)
                .order_by(ingests.c.symbol, ingests.c.timeframe)).fetchall()
            for symbol, label, last_id in series:
                ts = conn.execute(sa.select(bars.c.ts_ns).distinct().where(
                    bars.c.symbol == symbol, bars.c.timeframe == label)).scalars().all()
                index = pd.DatetimeIndex(pd.to_datetime(np.sort(np.asarray(ts, "int64")),
                                                        unit="ns", utc=True))
                gaps = find_gaps(index, parse_duration(label))
                at_ns, file = conn.execute(sa.select(ingests.c.at_ns, ingests.c.file)
                                           .where(ingests.c.id == last_id)).one()
                rows.append([symbol, label, index[0], index[-1], len(index), len(gaps),
                             int(gaps["missing"].sum()), _stamp(at_ns), int(last_id), file])
        return pd.DataFrame(rows, columns=columns)

    def history(self, symbol: str | None = None, timeframe: timedelta | str | None = None
                ) -> pd.DataFrame:
        """Every recorded ingest, oldest first, with its time, file, hash, rows and counts."""
        query = sa.select(ingests).order_by(ingests.c.id)
        if symbol is not None:
            query = query.where(ingests.c.symbol == symbol)
        if timeframe is not None:
            query = query.where(ingests.c.timeframe == _label(timeframe))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=[c.name for c in ingests.columns])
        for ns, name in (("at_ns", "at"), ("first_ns", "first"), ("last_ns", "last")):
            frame[name] = pd.to_datetime(frame.pop(ns).astype("int64"), unit="ns", utc=True)
        return frame[["id", "at", "symbol", "timeframe", "file", "sha256", "rows", "first",
                      "last", "n_new", "n_identical", "n_revised"]]
