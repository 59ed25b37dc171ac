"""The paper ledger: every version's paper book, bar by bar, and every rollout decision.

One SQLAlchemy Core implementation on the embedded default (``sqlite:///mlruns/ledger.db``) and
PostgreSQL at scale (``promotion.rollout.ledger`` or ``$REGIMEFOREST_LEDGER_URL``). The book's
arithmetic is :class:`ml_core.lifecycle._paper.PaperBook`; this module stores its marks, its
resolved trades and its state, so a later process resumes the book exactly where it stopped.
No Prefect, no MLflow: the flows wrap these calls in tasks.

Tables
------
``paper_books``
    One row per (model, version): ``id``, ``cost_bps``, ``created_ns`` and ``updated_ns`` (UTC ns
    since the epoch), ``state`` (:meth:`PaperBook.state` as JSON, as of the newest recorded bar).
``paper_marks``
    One row per book and bar (primary key ``(book_id, ts_ns)``): position, ret, cost, target.
``paper_trades``
    One row per resolved trade (primary key ``(book_id, exit_ns)``: at most one trade closes per
    bar): entry, side, bars, ret, cost.
``rollout_events``
    One row per rollout decision: model, version, action, stage before and after, reason, when
    (``at_ns``) and who.

Replaying bars is idempotent: :meth:`Ledger.record` skips a mark already stored when it is
equal, to the bit, and refuses the whole block (:class:`LedgerConflictError`, nothing written)
when it differs, so a retried flow cannot write a second, different history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ml_core.data import utc_timestamp
from ml_core.lifecycle._paper import MARK_COLUMNS, TRADE_COLUMNS, BarMark, PaperBook, Trade
from tasks.bar_store import open_engine

__all__ = [
    "DEFAULT_LEDGER_URL",
    "LEDGER_URL_ENV",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "StageEntry",
    "ledger_url",
]

DEFAULT_LEDGER_URL = "sqlite:///mlruns/ledger.db"
LEDGER_URL_ENV = "REGIMEFOREST_LEDGER_URL"
STAGE_COLUMNS: tuple[str, ...] = ("version", "action", "from_stage", "to_stage", "reason", "at",
                                  "who")
"""Columns of :meth:`Ledger.stages`."""

_metadata = sa.MetaData()
books = sa.Table(
    "paper_books", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("cost_bps", sa.Double, nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("updated_ns", sa.BigInteger, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.UniqueConstraint("model", "version", name="uq_paper_books_model_version"),
)
marks = sa.Table(
    "paper_marks", _metadata,
    sa.Column("book_id", sa.Integer, sa.ForeignKey("paper_books.id"), primary_key=True),
    sa.Column("ts_ns", sa.BigInteger, primary_key=True),
    *(sa.Column(name, sa.Double, nullable=False) for name in MARK_COLUMNS),
    sqlite_with_rowid=False,
)
trades = sa.Table(
    "paper_trades", _metadata,
    sa.Column("book_id", sa.Integer, sa.ForeignKey("paper_books.id"), primary_key=True),
    sa.Column("exit_ns", sa.BigInteger, primary_key=True),
    sa.Column("entry_ns", sa.BigInteger, nullable=False),
    sa.Column("side", sa.SmallInteger, nullable=False),
    sa.Column("bars", sa.Integer, nullable=False),
    sa.Column("ret", sa.Double, nullable=False),
    sa.Column("cost", sa.Double, nullable=False),
    sqlite_with_rowid=False,
)
events = sa.Table(
    "rollout_events", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(255), nullable=False, index=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_stage", sa.String(64), nullable=True),
    sa.Column("to_stage", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("who", sa.String(255), nullable=False),
)


class LedgerError(ValueError):
    """A ledger that cannot be reached or a request it refuses; the message names the URL or
    the model, version and bar."""


class LedgerConflictError(LedgerError):
    """Marks or trades that differ from those already recorded for the same bars; nothing was
    written."""


class StageEntry(NamedTuple):
    """A version's newest rollout event that changed its stage (:meth:`Ledger.current_stage`)."""

    action: str
    """``"advance"``, ``"promote"`` or ``"reject"``."""
    stage: str | None
    """The stage it is in since; None once promoted or rejected (the rollout is over)."""
    since: pd.Timestamp
    """When the event was recorded: the candidate's record in ``stage`` starts there."""


def ledger_url(url: str | None = None) -> str:
    """``url``, else ``$REGIMEFOREST_LEDGER_URL``, else :data:`DEFAULT_LEDGER_URL`."""
    return url or os.environ.get(LEDGER_URL_ENV) or DEFAULT_LEDGER_URL


def _ns(value: datetime | pd.Timestamp | str, name: str) -> int:
    return int(utc_timestamp(value, name).as_unit("ns").value)


def _times(values: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype="int64"), unit="ns",
                                           utc=True)).as_unit("ns")


def _now_ns() -> int:
    return int(pd.Timestamp.now(tz="UTC").value)


class Ledger:
    """Paper books and rollout events on SQLite or PostgreSQL.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL (:func:`ledger_url` when None): ``sqlite:///mlruns/ledger.db`` (created
        with its folder on first use) or ``postgresql://user@host:5432/db`` (the database must
        exist; the tables are created on first use).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = ledger_url(url)
        self._engine: sa.Engine | None = None

    def _label(self) -> str:
        try:
            return sa.make_url(self.url).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return repr(self.url)

    @property
    def engine(self) -> sa.Engine:
        """The engine, created with the tables on first use.

        Raises
        ------
        LedgerError
            A malformed URL or a database that cannot be reached, naming the URL (password
            hidden).
        """
        if self._engine is None:
            try:
                url = sa.make_url(self.url)
            except sa.exc.ArgumentError as exc:
                raise LedgerError(f"the ledger URL must be a SQLAlchemy URL, got "
                                  f"`url={self.url!r}`") from exc
            try:
                engine = open_engine(url, _metadata)
            except sa.exc.DBAPIError as exc:
                raise LedgerError(f"the paper ledger at {self._label()} cannot be reached: "
                                  f"{str(exc.orig).strip().splitlines()[0]}") from exc
            self._engine = engine
        return self._engine

    def dispose(self) -> None:
        """Close the engine's connections (a PostgreSQL database can then be dropped)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction; a lost or locked database raises a :class:`LedgerError` naming it."""
        engine = self.engine
        try:
            with engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise LedgerError(f"the paper ledger at {self._label()} failed: "
                              f"{str(exc.orig).strip().splitlines()[0]}") from exc

    # -- books --------------------------------------------------------------------------------

    def _book_row(self, conn: sa.Connection, model: str, version: str, cost_bps: float | None,
                  *, lock: bool = False) -> sa.Row | None:
        """The book's row (created when ``cost_bps`` is given); a cost other than the stored
        one is refused."""
        query = sa.select(books.c.id, books.c.cost_bps, books.c.state).where(
            books.c.model == model, books.c.version == version)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None and cost_bps is not None:
            now = _now_ns()
            state = json.dumps(PaperBook(cost_bps).state())
            # another process may create the same book at the same moment: keep the first
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)
            conn.execute(insert(books).values(
                model=model, version=version, cost_bps=float(cost_bps), created_ns=now,
                updated_ns=now, state=state).on_conflict_do_nothing(
                index_elements=["model", "version"]))
            row = conn.execute(query).first()
        if row is not None and cost_bps is not None and row.cost_bps != float(cost_bps):
            raise LedgerError(f"the paper book of {model} version {version} costs "
                              f"{row.cost_bps} bps, got `cost_bps={cost_bps}`")
        return row

    def book(self, model_name: str, version: str | int, cost_bps: float) -> PaperBook:
        """The version's paper book, resumed from its stored state (a new, flat book the first
        time, recorded at once).

        Raises
        ------
        LedgerError
            ``cost_bps`` differs from the stored book's.
        """
        with self._begin() as conn:
            row = self._book_row(conn, model_name, str(version), cost_bps)
        return PaperBook.from_state(json.loads(row.state))

    def record(self, model_name: str, version: str | int, book: PaperBook,
               bar_marks: Sequence[BarMark]) -> int:
        """Store a block of marks (and the trades they closed) and ``book``'s state, in one
        transaction.

        Parameters
        ----------
        model_name, version : str
            The book's version.
        book : PaperBook
            The book after its newest mark in ``bar_marks``; its state is stored when it is newer
            than the stored one.
        bar_marks : sequence of BarMark
            What :meth:`PaperBook.on_bar` returned, in order.

        Returns
        -------
        int
            Marks written; a mark already stored and equal is skipped (a replay writes 0).

        Raises
        ------
        LedgerConflictError
            A mark or trade differs from the stored one at the same bar, or a new mark is older
            than the newest stored bar (a hole in the history); nothing is written.
        LedgerError
            ``book`` costs another ``cost_bps`` than the stored book, or it is older than its
            own marks.
        """
        version = str(version)
        if bar_marks and (book.last_timestamp is None
                          or bar_marks[-1].timestamp > book.last_timestamp):
            raise LedgerError(f"`book` of {model_name} version {version} is at "
                              f"{book.last_timestamp}, before its marks' newest bar "
                              f"{bar_marks[-1].timestamp}")
        with self._begin() as conn:
            row = self._book_row(conn, model_name, version, book.cost_bps, lock=True)
            stored_last = json.loads(row.state)["last"]
            stored_last = None if stored_last is None else pd.Timestamp(stored_last)
            new = self._new_marks(conn, row.id, model_name, version, bar_marks, stored_last)
            if new:
                conn.execute(marks.insert(), [
                    {"book_id": row.id, "ts_ns": m.timestamp.value,
                     **{name: float(getattr(m, name)) for name in MARK_COLUMNS}} for m in new])
                closed = [m.trade for m in new if m.trade is not None]
                if closed:
                    conn.execute(trades.insert(), [_trade_row(row.id, t) for t in closed])
            if stored_last is None or (book.last_timestamp is not None
                                       and book.last_timestamp > stored_last):
                conn.execute(sa.update(books).where(books.c.id == row.id).values(
                    state=json.dumps(book.state()), updated_ns=_now_ns()))
        return len(new)

    @staticmethod
    def _new_marks(conn: sa.Connection, book_id: int, model: str, version: str,
                   bar_marks: Sequence[BarMark],
                   stored_last: pd.Timestamp | None) -> list[BarMark]:
        """The marks not yet stored; stored ones (and their trades) must be equal."""
        if not bar_marks:
            return []
        first, last = bar_marks[0].timestamp.value, bar_marks[-1].timestamp.value
        stored = {r[0]: tuple(r[1:]) for r in conn.execute(
            sa.select(marks.c.ts_ns, *(marks.c[n] for n in MARK_COLUMNS)).where(
                marks.c.book_id == book_id, marks.c.ts_ns >= first, marks.c.ts_ns <= last))}
        stored_trades = {r[0]: r for r in conn.execute(
            sa.select(trades.c.exit_ns, trades.c.entry_ns, trades.c.side, trades.c.bars,
                      trades.c.ret, trades.c.cost).where(
                trades.c.book_id == book_id, trades.c.exit_ns >= first,
                trades.c.exit_ns <= last))}
        new = []
        for mark in bar_marks:
            ts = mark.timestamp.value
            values = tuple(float(getattr(mark, name)) for name in MARK_COLUMNS)
            where = f"{model} version {version} at bar {mark.timestamp}"
            if ts in stored:
                if stored[ts] != values:
                    raise LedgerConflictError(
                        f"the mark of {where} differs from the recorded one: "
                        f"{dict(zip(MARK_COLUMNS, values, strict=True))} vs "
                        f"{dict(zip(MARK_COLUMNS, stored[ts], strict=True))}; nothing was "
                        f"written")
                t = mark.trade
                trade = None if t is None else (ts, t.entry.value, t.side, t.bars, t.ret, t.cost)
                recorded = stored_trades.get(ts)
                if trade != (None if recorded is None else tuple(recorded)):
                    raise LedgerConflictError(f"the trade closed {where} differs from the "
                                              f"recorded one; nothing was written")
                continue
            if stored_last is not None and mark.timestamp <= stored_last:
                raise LedgerConflictError(
                    f"the mark of {where} is not recorded but the book was already recorded "
                    f"up to {stored_last} (a hole in its history); resume the book with "
                    f"Ledger.book; nothing was written")
            new.append(mark)
        return new

    # -- reading ------------------------------------------------------------------------------

    def summary(self, model_name: str | None = None) -> pd.DataFrame:
        """One row per book (of ``model_name``, or all): model, version, cost_bps, created,
        updated, n_bars, last (newest bar) and position, from the stored state."""
        query = sa.select(books.c.model, books.c.version, books.c.cost_bps, books.c.created_ns,
                          books.c.updated_ns, books.c.state).order_by(books.c.id)
        if model_name is not None:
            query = query.where(books.c.model == model_name)
        with self._begin() as conn:
            rows = conn.execute(query).fetchall()
        states = [json.loads(r.state) for r in rows]
        return pd.DataFrame({
            "model": pd.Series([r.model for r in rows], dtype=object),
            "version": pd.Series([r.version for r in rows], dtype=object),
            "cost_bps": np.array([r.cost_bps for r in rows], dtype=np.float64),
            "created": _times([r.created_ns for r in rows]),
            "updated": _times([r.updated_ns for r in rows]),
            "n_bars": np.array([st["n_bars"] for st in states], dtype=np.int64),
            "last": pd.DatetimeIndex([st["last"] for st in states], tz="UTC").as_unit("ns"),
            "position": np.array([st["position"] for st in states], dtype=np.float64),
        })

    def _book_id(self, conn: sa.Connection, model: str, version: str | int) -> int | None:
        row = self._book_row(conn, model, str(version), None)
        return None if row is None else int(row.id)

    def marks(self, model_name: str, version: str | int,
              since: datetime | str | None = None) -> pd.DataFrame:
        """The book's marks (:data:`~ml_core.lifecycle._paper.MARK_COLUMNS`) on bars at or after
        ``since``, by UTC bar time; empty when the version has no book."""
        with self._begin() as conn:
            book_id = self._book_id(conn, model_name, version)
            query = sa.select(marks.c.ts_ns, *(marks.c[n] for n in MARK_COLUMNS)).where(
                marks.c.book_id == (book_id if book_id is not None else -1))
            if since is not None:
                query = query.where(marks.c.ts_ns >= _ns(since, "since"))
            rows = conn.execute(query.order_by(marks.c.ts_ns)).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[]] * (1 + len(MARK_COLUMNS))
        return pd.DataFrame({name: np.asarray(values, dtype=np.float64)
                             for name, values in zip(MARK_COLUMNS, columns[1:], strict=True)},
                            index=_times(columns[0]).rename("timestamp"))

    def returns(self, model_name: str, version: str | int,
                since: datetime | str | None = None) -> pd.Series:
        """The book's per-bar returns (net of costs) at or after ``since``, named ``ret``."""
        return self.marks(model_name, version, since)["ret"]

    def trades(self, model_name: str, version: str | int,
               since: datetime | str | None = None) -> pd.DataFrame:
        """Resolved trades (:data:`~ml_core.lifecycle._paper.TRADE_COLUMNS`) closed at or after
        ``since``, in order of exit."""
        with self._begin() as conn:
            book_id = self._book_id(conn, model_name, version)
            query = sa.select(trades.c.entry_ns, trades.c.exit_ns, trades.c.side, trades.c.bars,
                              trades.c.ret, trades.c.cost).where(
                trades.c.book_id == (book_id if book_id is not None else -1))
            if since is not None:
                query = query.where(trades.c.exit_ns >= _ns(since, "since"))
            rows = conn.execute(query.order_by(trades.c.exit_ns)).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[]] * len(TRADE_COLUMNS)
        dtypes = ("int64", "int64", "int64", "int64", "float64", "float64")
        frame = pd.DataFrame({name: np.asarray(values, dtype=dtype) for name, values, dtype
                              in zip(TRADE_COLUMNS, columns, dtypes, strict=True)})
        frame["entry"], frame["exit"] = _times(frame["entry"]), _times(frame["exit"])
        return frame

    def aligned_returns(self, model_name: str, version_a: str | int,
                        version_b: str | int | None,
                        since: datetime | str | None = None) -> pd.DataFrame:
        """Per-bar returns of two books on the bars both recorded, at or after ``since``.

        Returns
        -------
        pandas.DataFrame
            Columns ``a`` and ``b`` on the common bars (UTC). ``version_b`` None (no champion):
            ``b`` is a flat book's, zeros on ``a``'s bars.
        """
        a = self.returns(model_name, version_a, since)
        if version_b is None:
            return pd.DataFrame({"a": a, "b": np.zeros(len(a))}, index=a.index)
        b = self.returns(model_name, version_b, since)
        return pd.concat({"a": a, "b": b}, axis=1, join="inner")

    # -- rollout events -----------------------------------------------------------------------

    def record_stage(self, model_name: str, version: str | int, action: str,
                     from_stage: str | None, to_stage: str | None, reason: str, *,
                     who: str = "regimeforest", at: datetime | str | None = None) -> None:
        """Record one rollout decision (e.g. a :class:`~ml_core.lifecycle._rollout.RolloutStep`:
        ``action``, ``stage``, ``next_stage``, ``reason``); ``at`` defaults to now (a backfill
        passes its ``as_of``)."""
        if not action or len(action) > 16:
            raise LedgerError(f"`action` must be 1 to 16 characters, got `action={action!r}`")
        at_ns = _now_ns() if at is None else _ns(at, "at")
        with self._begin() as conn:
            conn.execute(sa.insert(events).values(
                model=model_name, version=str(version), action=action, from_stage=from_stage,
                to_stage=to_stage, reason=reason, at_ns=at_ns, who=who))

    def stages(self, model_name: str, version: str | int | None = None) -> pd.DataFrame:
        """The model's rollout events (one version's with ``version``), oldest first:
        :data:`STAGE_COLUMNS`."""
        query = sa.select(events.c.version, events.c.action, events.c.from_stage,
                          events.c.to_stage, events.c.reason, events.c.at_ns,
                          events.c.who).where(events.c.model == model_name)
        if version is not None:
            query = query.where(events.c.version == str(version))
        with self._begin() as conn:
            rows = conn.execute(query.order_by(events.c.at_ns, events.c.id)).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[]] * len(STAGE_COLUMNS)
        # object columns keep None (no stage) as None, not NaN
        frame = pd.DataFrame({name: pd.Series(values, dtype=object)
                              for name, values in zip(STAGE_COLUMNS, columns, strict=True)})
        frame["at"] = _times(columns[5])
        return frame

    def current_stage(self, model_name: str, version: str | int) -> StageEntry | None:
        """The version's newest event that changed its stage (not a ``"stay"``); None when it
        never entered the rollout."""
        query = (sa.select(events.c.action, events.c.to_stage, events.c.at_ns)
                 .where(events.c.model == model_name, events.c.version == str(version),
                        events.c.action != "stay")
                 .order_by(events.c.at_ns.desc(), events.c.id.desc()).limit(1))
        with self._begin() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return StageEntry(row.action, row.to_stage, _times([row.at_ns])[0])


def _trade_row(book_id: int, trade: Trade) -> dict[str, Any]:
    return {"book_id": book_id, "entry_ns": trade.entry.value, "side": int(trade.side),
            "bars": int(trade.bars), "ret": float(trade.ret), "cost": float(trade.cost),
            "exit_ns": trade.exit.value}
