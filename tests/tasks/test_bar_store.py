"""The bar store on both engines: SQLite in a temporary folder, PostgreSQL in a fresh database.

PostgreSQL runs on 127.0.0.1:5432 (user ``postgres``, trust auth; ``REGIMEFOREST_TEST_PG`` names
another server). Each run creates its own database and drops it; without a server the PostgreSQL
cases are skipped with the reason, and fail under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.bar_store import BarConflictError, BarStore, BarStoreError

H = timedelta(hours=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _bars(hours: range | list[int], close: float | list[float] = 100.0) -> pd.DataFrame:
    index = pd.DatetimeIndex([T0 + h * H for h in hours], name="timestamp")
    c = np.broadcast_to(np.asarray(close, dtype="float64"), (len(index),)).copy()
    return pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c,
                         "volume": np.full(len(index), 5.0)}, index=index)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[BarStore]:  # noqa: ANN001
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mlruns' / 'bars.db'}"
    else:
        url = request.getfixturevalue("postgres_module_db")
    bar_store = BarStore(url)
    yield bar_store
    if request.param == "postgresql":  # the module's database is shared: empty it
        import sqlalchemy as sa

        with bar_store.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE bars, ingests RESTART IDENTITY"))
    bar_store.dispose()


def _ingest(store: BarStore, frame: pd.DataFrame, at: str, revise: bool = False,
            source: str = "a.csv"):  # noqa: ANN202
    return store.ingest(frame, "BTC", "1h", source=source, sha256="0" * 64, revise=revise,
                        now=pd.Timestamp(at, tz="UTC"))


def test_ingest_then_read(store: BarStore) -> None:
    report = _ingest(store, _bars(range(4), [1.0, 2.0, 3.0, 4.0]), "2024-01-01 05:00")
    assert (report.n_new, report.n_identical, report.n_revised) == (4, 0, 0)
    bars = store.read("BTC", "1h")
    assert bars["close"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert bars.index.equals(_bars(range(4)).index)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]


def test_reingest_of_identical_bars_changes_nothing(store: BarStore) -> None:
    first = _ingest(store, _bars(range(3)), "2024-01-01 05:00")
    state = store.state("BTC", "1h")
    again = _ingest(store, _bars(range(3)), "2024-01-01 06:00")
    assert again.ingest_id is None and again.n_identical == 3 and again.n_new == 0
    assert store.state("BTC", "1h") == state
    assert store.history()["id"].tolist() == [first.ingest_id]


def test_overlap_adds_only_new_bars(store: BarStore) -> None:
    _ingest(store, _bars(range(3)), "2024-01-01 05:00")
    report = _ingest(store, _bars(range(2, 6)), "2024-01-01 07:00")
    assert (report.n_new, report.n_identical) == (3, 1)
    assert len(store.read("BTC", "1h")) == 6


def test_conflict_is_refused_and_store_unchanged(store: BarStore) -> None:
    _ingest(store, _bars(range(3), [1.0, 2.0, 3.0]), "2024-01-01 05:00")
    state, history = store.state("BTC", "1h"), store.history()
    with pytest.raises(BarConflictError) as caught:
        _ingest(store, _bars(range(1, 5), [2.0, 3.5, 4.0, 5.0]), "2024-01-01 06:00",
                source="b.csv")
    assert str(caught.value) == (
        "b.csv: 1 bar(s) differ from those stored for BTC/1h: 2024-01-01T02:00:00+00:00 "
        "open stored 3.0, incoming 3.5; high stored 4.0, incoming 4.5; low stored 2.0, "
        "incoming 2.5; close stored 3.0, incoming 3.5; nothing was written (ingest with "
        "--revise to record them as a revision)")
    assert store.state("BTC", "1h") == state
    pd.testing.assert_frame_equal(store.history(), history)


def test_revision_is_kept_and_read_as_of(store: BarStore) -> None:
    _ingest(store, _bars(range(3), [1.0, 2.0, 3.0]), "2024-01-01 05:00")
    report = _ingest(store, _bars([1], [20.0]), "2024-01-01 08:00", revise=True)
    assert (report.ingest_id, report.n_revised, report.n_new) == (2, 1, 0)
    assert store.read("BTC", "1h")["close"].tolist() == [1.0, 20.0, 3.0]
    assert store.read("BTC", "1h", as_of="2024-01-01 07:00")["close"].tolist() == [1.0, 2.0, 3.0]
    assert store.read("BTC", "1h", as_of="2024-01-01 08:00")["close"].tolist() == [1.0, 20.0, 3.0]
    # closed by as_of: the bar opened at 02:00 closes at 03:00
    assert store.read("BTC", "1h", as_of="2024-01-01 02:59",
                      ingested_by="2024-01-02")["close"].tolist() == [1.0, 20.0]
    assert store.read("BTC", "1h", as_of="2024-01-01 04:59").empty  # nothing stored yet
    before = store.state("BTC", "1h", as_of="2024-01-01 07:00")
    after = store.state("BTC", "1h", as_of="2024-01-01 08:00")
    assert (before.last_ingest_id, after.last_ingest_id) == (1, 2)
    assert before.sha256 != after.sha256 and before.n_bars == after.n_bars == 3
    assert after.as_params()["store.last_ingest_id"] == "2"
    history = store.history()
    assert history[["n_new", "n_identical", "n_revised"]].to_numpy().tolist() == [
        [3, 0, 0], [0, 0, 1]]
    assert history["at"].tolist() == [pd.Timestamp("2024-01-01 05:00", tz="UTC"),
                                      pd.Timestamp("2024-01-01 08:00", tz="UTC")]


def test_state_hash_is_the_same_on_both_engines(store: BarStore) -> None:
    _ingest(store, _bars(range(3), [1.0, 2.0, 3.0]), "2024-01-01 05:00")
    assert store.state("BTC", "1h").sha256 == (
        "6114fa26d84c7ef18473df8827ce723e1e4bd352c5d523c9d43f7ba711d83ff6")


def test_nan_volume_round_trips(store: BarStore) -> None:
    frame = _bars(range(2))
    frame.iloc[1, 4] = np.nan
    _ingest(store, frame, "2024-01-01 05:00")
    assert np.isnan(store.read("BTC", "1h")["volume"].iloc[1])
    assert _ingest(store, frame, "2024-01-01 06:00").ingest_id is None


def test_other_spacing_is_refused(store: BarStore) -> None:
    with pytest.raises(BarStoreError, match="a.csv: bars are mostly 2h apart, but the series "
                                            "BTC/1h is 1h"):
        _ingest(store, _bars([0, 2, 4]), "2024-01-01 05:00")
    assert store.history().empty


def test_summary_lists_spans_and_gaps(store: BarStore) -> None:
    _ingest(store, _bars([0, 1, 4, 5]), "2024-01-01 07:00", source="a.csv")
    store.ingest(_bars(range(2)), "ETH", "1h", source="e.csv", sha256="1" * 64,
                 now=pd.Timestamp("2024-01-01 08:00", tz="UTC"))
    summary = store.summary()
    assert summary[["symbol", "timeframe", "bars", "gaps", "missing", "last_ingest_id",
                    "last_file"]].to_numpy().tolist() == [
        ["BTC", "1h", 4, 1, 2, 1, "a.csv"], ["ETH", "1h", 2, 0, 0, 2, "e.csv"]]
    assert summary["last"].iloc[0] == T0 + 5 * H
    assert store.timeframes("BTC") == ["1h"]


def test_values_round_trip_exactly(store: BarStore) -> None:
    close = [0.1 + 0.2, 1 / 3, 12345.678901234567, 5e-324]
    frame = _bars(range(4), close)
    frame.index = frame.index.as_unit("ns")  # the store's unit, as load_bars gives it
    _ingest(store, frame, "2024-01-01 05:00")
    pd.testing.assert_frame_equal(store.read("BTC", "1h"), frame, check_freq=False)
    assert _ingest(store, frame, "2024-01-01 06:00").ingest_id is None
