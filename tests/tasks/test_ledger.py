"""The paper ledger on both engines: SQLite in a temporary folder, PostgreSQL in a fresh database.

PostgreSQL: ``postgres_module_db`` of tests/conftest.py (a fresh database per module run, dropped
after; skipped with the reason where unreachable, a failure under ``CI=true``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ml_core.lifecycle._paper import PaperBook, marks_frame, paper_returns, trades_frame
from tasks.ledger import (
    DEFAULT_LEDGER_URL,
    LEDGER_URL_ENV,
    Ledger,
    LedgerConflictError,
    LedgerError,
    StageEntry,
    ledger_url,
)

MODEL = "btc-signal"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlruns' / 'ledger.db'}"
        return
    pg = request.getfixturevalue("postgres_module_db")
    yield pg
    cleaner = Ledger(pg)  # the module's database is shared: empty it
    with cleaner.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE paper_marks, paper_trades, paper_books, rollout_events "
                             "RESTART IDENTITY"))
    cleaner.dispose()


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    store = Ledger(url)
    yield store
    store.dispose()


def _bars(n: int, seed: int = 42) -> tuple[pd.DataFrame, list]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    idx = pd.date_range("2024-03-01", periods=n, freq="30min", tz="UTC")
    sides = np.repeat(rng.choice([-1, 0, 1], n // 5 + 1), 5)[:n]
    targets = [None if s == 0 else float(s * z) for s, z in zip(sides, rng.uniform(0.2, 1, n))]
    return pd.DataFrame({"open": open_, "close": close}, index=idx), targets


def _feed(book: PaperBook, bars: pd.DataFrame, targets: list) -> list:
    return [book.on_bar(t, o, c, x) for t, o, c, x in
            zip(bars.index, bars["open"], bars["close"], targets, strict=True)]


def _batch(bars: pd.DataFrame, targets: list, cost: float = 5.0):  # noqa: ANN202
    series = pd.Series([np.nan if x is None else x for x in targets], index=bars.index)
    return paper_returns(bars, series, cost)


def test_url_comes_from_the_argument_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv(LEDGER_URL_ENV, raising=False)
    assert ledger_url(None) == DEFAULT_LEDGER_URL == "sqlite:///mlruns/ledger.db"
    monkeypatch.setenv(LEDGER_URL_ENV, "sqlite:///elsewhere.db")
    assert Ledger().url == "sqlite:///elsewhere.db"
    assert Ledger("sqlite:///given.db").url == "sqlite:///given.db"


def test_a_new_book_is_flat_and_kept(ledger):
    book = ledger.book(MODEL, 3, 5.0)
    assert book.state() == PaperBook(5.0).state()
    assert ledger.returns(MODEL, 3).empty and ledger.trades(MODEL, "3").empty
    with pytest.raises(LedgerError, match=r"the paper book of btc-signal version 3 costs 5.0 "
                                          r"bps, got `cost_bps=7.5`"):
        ledger.book(MODEL, 3, 7.5)


def test_resumed_in_another_process_equals_one_uninterrupted_batch(ledger, url):
    bars, targets = _bars(600)
    book = ledger.book(MODEL, "1", 5.0)
    for start in range(0, 400, 100):  # blocks of 100 bars, as the shadow scorer writes
        block = _feed(book, bars.iloc[start:start + 100], targets[start:start + 100])
        assert ledger.record(MODEL, "1", book, block) == 100
    later = Ledger(url)  # a later process: the book comes back from the stored state
    resumed = later.book(MODEL, "1", 5.0)
    assert resumed.state() == book.state()
    assert later.record(MODEL, "1", resumed, _feed(resumed, bars.iloc[400:], targets[400:])) == 200
    marks, trades = _batch(bars, targets)
    stored = later.marks(MODEL, "1")
    pd.testing.assert_frame_equal(stored, marks, check_exact=True, check_freq=False)
    pd.testing.assert_frame_equal(later.trades(MODEL, "1"), trades, check_exact=True)
    assert len(trades) > 30
    assert later.book(MODEL, "1", 5.0).state() == resumed.state()
    later.book("other", "7", 2.0)
    summary = later.summary(MODEL)
    assert summary[["model", "version", "cost_bps", "n_bars"]].values.tolist() == [
        [MODEL, "1", 5.0, 600]]
    assert summary["last"].tolist() == [bars.index[-1]]
    assert summary["position"].tolist() == [marks["position"].iloc[-1]]
    assert later.summary()["model"].tolist() == [MODEL, "other"]
    later.dispose()


def test_replaying_recorded_bars_is_idempotent(ledger):
    bars, targets = _bars(300)
    book = ledger.book(MODEL, "1", 5.0)
    first = _feed(book, bars.iloc[:200], targets[:200])
    assert ledger.record(MODEL, "1", book, first) == 200
    assert ledger.record(MODEL, "1", book, first) == 0  # a retried task
    rest = _feed(book, bars.iloc[200:], targets[200:])
    assert ledger.record(MODEL, "1", book, first[150:] + rest) == 100  # overlapping block
    marks, trades = _batch(bars, targets)
    pd.testing.assert_frame_equal(ledger.marks(MODEL, "1"), marks, check_exact=True,
                                  check_freq=False)
    pd.testing.assert_frame_equal(ledger.trades(MODEL, "1"), trades, check_exact=True)


def test_a_replay_that_differs_is_refused_and_writes_nothing(ledger):
    bars, targets = _bars(300)
    book = ledger.book(MODEL, "1", 5.0)
    assert ledger.record(MODEL, "1", book, _feed(book, bars.iloc[:200], targets[:200])) == 200
    other = PaperBook(5.0)  # the same bars with another decision at bar 99
    changed = _feed(other, bars, targets[:99] + [0.3] + targets[100:])
    with pytest.raises(LedgerConflictError, match=r"the mark of btc-signal version 1 at bar "
                                                  r"2024-03-03 01:30:00\+00:00 differs from the "
                                                  r"recorded one: \{'position': .*, "
                                                  r"'target': 0.3\} vs \{"):
        ledger.record(MODEL, "1", other, changed)
    assert len(ledger.marks(MODEL, "1")) == 200
    assert ledger.book(MODEL, "1", 5.0).state() == book.state()


def test_a_hole_in_the_history_is_refused(ledger):
    bars, targets = _bars(300)
    book = ledger.book(MODEL, "1", 5.0)
    ledger.record(MODEL, "1", book, _feed(book, bars.iloc[100:200], targets[100:200]))
    fresh = PaperBook(5.0)  # not resumed: starts again at bar 0
    with pytest.raises(LedgerConflictError, match=r"at bar 2024-03-01 00:00:00\+00:00 is not "
                                                  r"recorded but the book was already recorded "
                                                  r"up to 2024-03-05 03:30:00\+00:00"):
        ledger.record(MODEL, "1", fresh, _feed(fresh, bars.iloc[:10], targets[:10]))
    with pytest.raises(LedgerError, match="before its marks' newest bar"):
        ledger.record(MODEL, "1", PaperBook(5.0), _feed(PaperBook(5.0), bars.iloc[:1], [None]))


def test_since_and_aligned_returns(ledger):
    bars, targets = _bars(300)
    champion, candidate = ledger.book(MODEL, "1", 5.0), ledger.book(MODEL, "2", 5.0)
    ledger.record(MODEL, "1", champion, _feed(champion, bars, targets))
    flipped = [None if x is None else -x for x in targets[100:]]
    ledger.record(MODEL, "2", candidate, _feed(candidate, bars.iloc[100:], flipped))
    since = bars.index[150]
    aligned = ledger.aligned_returns(MODEL, "2", "1", since)
    assert list(aligned.columns) == ["a", "b"] and aligned.index[0] == since
    assert len(aligned) == 150
    assert aligned["b"].equals(ledger.returns(MODEL, "1", since))
    flat = ledger.aligned_returns(MODEL, "2", None, since)
    assert (flat["b"] == 0.0).all() and flat["a"].equals(aligned["a"])
    trades = ledger.trades(MODEL, "2", since)
    all_trades = ledger.trades(MODEL, "2")
    assert (trades["exit"] >= since).all() and (all_trades["exit"] < since).sum() > 0
    assert len(trades) == (all_trades["exit"] >= since).sum()


def test_stage_events_and_the_current_stage(ledger):
    at = pd.Timestamp("2024-05-01", tz="UTC")
    assert ledger.current_stage(MODEL, "2") is None
    ledger.record_stage(MODEL, "2", "advance", None, "shadow", "enters 'shadow'", at=at)
    ledger.record_stage(MODEL, "2", "stay", "shadow", "shadow", "120 bars",
                        at=at + pd.Timedelta("1D"), who="monitor")
    ledger.record_stage(MODEL, "3", "advance", None, "shadow", "enters", at=at)
    assert ledger.current_stage(MODEL, "2") == StageEntry("advance", "shadow", at)
    ledger.record_stage(MODEL, 2, "reject", "shadow", None, "worse", at=at + pd.Timedelta("2D"))
    assert ledger.current_stage(MODEL, "2") == StageEntry("reject", None,
                                                           at + pd.Timedelta("2D"))
    history = ledger.stages(MODEL, "2")
    assert history["action"].tolist() == ["advance", "stay", "reject"]
    assert history["who"].tolist() == ["regimeforest", "monitor", "regimeforest"]
    assert history["from_stage"].tolist() == [None, "shadow", "shadow"]
    assert history["to_stage"].tolist() == ["shadow", "shadow", None]
    assert str(history["at"].dt.tz) == "UTC" and len(ledger.stages(MODEL)) == 4
    with pytest.raises(LedgerError, match="`action=''`"):
        ledger.record_stage(MODEL, "2", "", None, None, "")


def test_an_unreachable_database_is_named():
    ledger = Ledger("postgresql://postgres:secret@127.0.0.1:9/ledger")
    with pytest.raises(LedgerError, match=r"the paper ledger at "
                                          r"postgresql://postgres:\*\*\*@127.0.0.1:9/ledger "
                                          r"cannot be reached: connection to server at "
                                          r'"127.0.0.1", port 9 failed'):
        ledger.book(MODEL, "1", 5.0)
    with pytest.raises(LedgerError, match="must be a SQLAlchemy URL, got `url='nonsense'`"):
        Ledger("nonsense").returns(MODEL, "1")


def test_marks_frame_matches_the_ledger_types(ledger):
    book = ledger.book(MODEL, "1", 5.0)
    bars, targets = _bars(20)
    block = _feed(book, bars, targets)
    ledger.record(MODEL, "1", book, block)
    pd.testing.assert_frame_equal(ledger.marks(MODEL, "1"), marks_frame(block), check_exact=True)
    pd.testing.assert_frame_equal(
        ledger.trades(MODEL, "1"),
        trades_frame([m.trade for m in block if m.trade is not None]), check_exact=True)
