"""Point-in-time reads of a bar-store series inside a real Prefect flow: what a retrain at
``as_of`` sees, the bundled sample ingested on first use, and the record of what was read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect import flow

from ml_core.data import SAMPLE_SYMBOL, BarsSchemaError, as_bars, bars_digest, load_sample_bars
from tasks.bar_store import BarStore
from ml_core.config import load_config
from tasks.data import SAMPLE_INGESTED_AT, load_data, select_span

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def _read(config, as_of, known_at=None):  # noqa: ANN001, ANN202
    frame, _, read = load_data(config, as_of, known_at)
    return select_span(as_bars(frame), config, as_of, read)


def _profile(tmp_path: Path, **data: object):  # noqa: ANN202 - a Config
    url = f"sqlite:///{tmp_path / 'bars.db'}"
    return load_config(DEMO, {"data": {"store": url, **data}}), url


def test_the_bundled_sample_is_ingested_on_first_use(tmp_path: Path) -> None:
    config, url = _profile(tmp_path)
    as_of = pd.Timestamp("2019-09-01T00:00:00Z")
    with pytest.raises(BarsSchemaError, match="holds no bars"):  # stored on 2019-10-01 only
        _read(config, as_of)
    bars, state = _read(config, as_of, known_at=SAMPLE_INGESTED_AT)
    sample = load_sample_bars()
    assert SAMPLE_INGESTED_AT == sample.index[-1] + pd.Timedelta("30min")  # its last close
    expected = sample.loc[sample.index + pd.Timedelta("30min") <= as_of]
    pd.testing.assert_frame_equal(bars, expected, check_freq=False)
    assert state.last == pd.Timestamp("2019-08-31T23:30:00Z")
    assert state.n_bars == len(expected) and state.sha256 == bars_digest(expected)
    history = BarStore(url).history()
    assert list(history["symbol"]) == [SAMPLE_SYMBOL] and history["at"][0] == SAMPLE_INGESTED_AT
    _read(config, SAMPLE_INGESTED_AT)  # a second read ingests nothing more
    assert len(BarStore(url).history()) == 1


def test_a_retrain_reads_only_bars_closed_and_stored_by_as_of(tmp_path: Path) -> None:
    config, url = _profile(tmp_path, symbol="X", lookback="2d")
    sample = load_sample_bars()
    first, second = sample.loc["2019-01-01":"2019-01-10"], sample.loc["2019-01-11":"2019-01-20"]
    store = BarStore(url)
    store.ingest(first, "X", "30m", source="a", sha256="a", now=pd.Timestamp("2019-01-11T00:00Z"))
    store.ingest(second, "X", "30m", source="b", sha256="b", now=pd.Timestamp("2019-01-21T00:00Z"))
    store.dispose()

    # as of the 15th, the second file is not in the store yet: two days back from the 10th's end
    bars, state = _read(config, pd.Timestamp("2019-01-15T00:00Z"))
    assert (bars.index[0], bars.index[-1]) == (pd.Timestamp("2019-01-09T00:00Z"),
                                               pd.Timestamp("2019-01-10T23:30Z"))
    assert state.last_ingest_id == 1 and state.known_at == pd.Timestamp("2019-01-15T00:00Z")
    # a backfill replaying the 15th with what is stored on the 22nd sees the bars closed by then
    bars, state = _read(config, pd.Timestamp("2019-01-15T00:00Z"),
                        known_at=pd.Timestamp("2019-01-22T00:00Z"))
    assert (bars.index[0], bars.index[-1]) == (pd.Timestamp("2019-01-13T00:00Z"),
                                               pd.Timestamp("2019-01-14T23:30Z"))
    assert state.last_ingest_id == 2
    tags = state.tags()
    assert tags["as_of"] == "2019-01-15T00:00:00+00:00"
    assert tags["data.first"] == "2019-01-13T00:00:00+00:00" and tags["data.bars"] == "96"
    assert tags["store.key"] == f"X/30m@{state.sha256[:16]}"
    assert tags["store.last_ingest_id"] == "2" and tags["store.url"] == url


def test_an_empty_read_names_the_series_and_the_moment(tmp_path: Path) -> None:
    config, _ = _profile(tmp_path, symbol="NOPE")
    with pytest.raises(BarsSchemaError, match=r"holds no bars of NOPE/30m closed by "
                                              r"as_of=2019-01-15 00:00:00\+00:00"):
        _read(config, pd.Timestamp("2019-01-15T00:00Z"))
