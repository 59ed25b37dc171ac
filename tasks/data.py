"""Tasks that read the profile and the bars: a file, or the bar store as of a moment."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.data import (SAMPLE_SYMBOL, BarsSchemaError, RepairLog, bars_digest, bars_window,
                          infer_timeframe, load_bars, load_sample_bars, repair_bars,
                          sample_bars_path, utc_timestamp)
from ml_core.features import timeframe_label
from tasks.profile import resolve_profile

__all__ = ["DataState", "check_timeframe", "config_hash", "data_source",
           "load_data", "resolve_as_of", "resolve_profile", "select_span", "store_url"]

SAMPLE_INGESTED_AT = pd.Timestamp("2019-10-01T00:30:00Z")
"""When the bundled sample counts as ingested: the close of its last bar."""


def store_url(config: Config) -> str:
    """The profile's bar store: ``data.store``, else ``$REGIMEFOREST_STORE_URL``, else the default."""
    from tasks.bar_store import DEFAULT_STORE_URL, STORE_URL_ENV

    return config.data.store or os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL


def data_source(config: Config) -> Path | str:
    """The bars of a profile: its file (``data.path`` or the bundled sample), or
    ``SYMBOL/TF in URL`` for a bar-store series (``data.symbol``)."""
    if config.data.symbol is not None:
        return f"{config.data.symbol}/{timeframe_label(config.data.timeframe)} in {store_url(config)}"
    return Path(config.data.path) if config.data.path is not None else sample_bars_path()


def config_hash(config: Config) -> str:
    """SHA-256 of the resolved profile (JSON): what, with the data's hash, decides a result."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def resolve_as_of(as_of: datetime | str | None) -> pd.Timestamp:
    """The retrain's moment: ``as_of``, else the flow run's scheduled start time, else now (UTC).

    A scheduled weekly run therefore reads the bars of its own week, even when it starts late
    or is rerun later.
    """
    if as_of is not None:
        return utc_timestamp(as_of, "as_of")
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    moment = (pd.Timestamp.now(tz="UTC") if scheduled is None
              else utc_timestamp(str(scheduled), "scheduled_start_time"))
    return moment.floor("s")  # a readable tag; a bar closes on a whole second anyway


@dataclass(frozen=True)
class DataState:
    """What a retrain read: its moment, its window and the content hash of its bars.

    ``store_url``, ``symbol``, ``known_at`` and ``last_ingest_id`` are set for a bar-store
    series (``last_ingest_id`` is the store's version read), None for a file.
    """

    source: str
    timeframe: str
    as_of: pd.Timestamp
    first: pd.Timestamp
    last: pd.Timestamp
    n_bars: int
    sha256: str
    symbol: str | None = None
    store_url: str | None = None
    known_at: pd.Timestamp | None = None
    last_ingest_id: int | None = None

    @property
    def key(self) -> str:
        """``SERIES/TF@sha256-prefix``: names the bars read, whichever way they were stored."""
        series = self.symbol or Path(self.source).stem
        return f"{series}/{self.timeframe}@{self.sha256[:16]}"

    def tags(self) -> dict[str, str]:
        """Run and model-version tags: ``as_of``, the span, the bars' hash and the store state."""
        tags = {"as_of": self.as_of.isoformat(), "data.first": self.first.isoformat(),
                "data.last": self.last.isoformat(), "data.bars": str(self.n_bars),
                "data.hash": self.sha256, "store.sha256": self.sha256, "store.key": self.key}
        if self.store_url is not None:
            tags.update({"store.url": self.store_url, "store.symbol": str(self.symbol),
                         "store.known_at": str(self.known_at),
                         "store.last_ingest_id": str(self.last_ingest_id)})
        return tags


@dataclass(frozen=True)
class _StoreRead:
    url: str
    known_at: pd.Timestamp
    last_ingest_id: int


@task(name="load-data", cache_policy=NO_CACHE)
def load_data(config: Config, as_of: pd.Timestamp | None = None,
              known_at: datetime | str | None = None
              ) -> tuple[pd.DataFrame, RepairLog, _StoreRead | None]:
    """Read the bars: a file in file order (with the safe repairs ``data.repair`` allows), or a
    bar-store series as known at ``known_at`` (default ``as_of``), its bars closed by ``as_of``.

    The store's rows come back as a frame with a ``timestamp`` column, so the quality gate
    checks them exactly as it checks a file."""
    if config.data.symbol is not None:
        return _read_store(config, as_of, known_at)
    logger = get_run_logger()
    path = Path(data_source(config))
    frame = load_bars(path, config.data.columns)
    logger.info("loaded %d rows from %s", len(frame), path)
    check_timeframe(frame, config, path)
    log = RepairLog()
    if config.data.repair and "timestamp" in frame.columns:
        frame, log = repair_bars(frame)
        if log.changed:
            logger.warning("repaired %s: %s", path, log.as_dict())
    return frame, log, None


def _read_store(config: Config, as_of: pd.Timestamp | None, known_at: datetime | str | None
                ) -> tuple[pd.DataFrame, RepairLog, _StoreRead]:
    from tasks.bar_store import BarStore

    logger = get_run_logger()
    symbol, timeframe = str(config.data.symbol), config.data.timeframe
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else as_of
    known = as_of if known_at is None else utc_timestamp(known_at, "known_at")
    store = BarStore(store_url(config))
    try:
        if ingest_sample(store, config):
            logger.info("first use: ingested the bundled sample as %s/%s into %s", symbol,
                        timeframe_label(timeframe), store.url)
        bars, state = _read_window(store, config, as_of, known)
    finally:
        store.dispose()
    if bars.empty:
        raise BarsSchemaError(
            f"bar store {store.url} holds no bars of {symbol}/{timeframe_label(timeframe)} closed "
            f"by as_of={as_of} and ingested by {known}: ingest some with `regimeforest ingest "
            f"FILE --symbol {symbol}` (`regimeforest store` lists what is stored)")
    logger.info("read %d bars of %s/%s from %s as of %s (%s .. %s, store version %d)", len(bars),
                symbol, timeframe_label(timeframe), store.url, as_of, bars.index[0],
                bars.index[-1], state.last_ingest_id)
    return (bars.reset_index(), RepairLog(),
            _StoreRead(url=store.url, known_at=known, last_ingest_id=state.last_ingest_id))


def _read_window(store: object, config: Config, as_of: pd.Timestamp,
                 known: pd.Timestamp) -> tuple[pd.DataFrame, object]:
    """Read only what the lookback window can hold: it ends at the newest bar's close (at most
    ``as_of``), so read from ``as_of - lookback`` and, when the newest bar closed earlier, once
    more from its close ``- lookback``."""
    symbol, timeframe, lookback = config.data.symbol, config.data.timeframe, config.data.lookback
    if lookback is None:
        return store.snapshot(symbol, timeframe, as_of, ingested_by=known)
    start = as_of - lookback
    bars, state = store.snapshot(symbol, timeframe, as_of, start, ingested_by=known)
    newest_close = (bars.index[-1] + timeframe) if len(bars) else None
    if newest_close is None or newest_close < as_of:
        bars, state = store.snapshot(symbol, timeframe, as_of, None if newest_close is None
                                     else newest_close - lookback, ingested_by=known)
    return bars, state


def ingest_sample(store: object, config: Config) -> bool:
    """Ingest the bundled sample when the profile reads its series and the store lacks it.

    So ``make run`` works on a fresh clone with no set-up. The sample counts as ingested when its
    last bar closed (:data:`SAMPLE_INGESTED_AT`; later if the store already holds later
    ingests), so point-in-time reads and backfills over its span see it. It passes the quality
    gate in every retrain that reads it.
    """
    if config.data.symbol != SAMPLE_SYMBOL or config.data.timeframe != timedelta(minutes=30):
        return False
    if timeframe_label(config.data.timeframe) in store.timeframes(SAMPLE_SYMBOL):
        return False
    path = sample_bars_path()
    store.ingest(load_sample_bars(), SAMPLE_SYMBOL, config.data.timeframe, source=str(path),
                 sha256=hashlib.sha256(path.read_bytes()).hexdigest(), now=SAMPLE_INGESTED_AT)
    return True

def check_timeframe(frame: pd.DataFrame, config: Config, path: Path) -> None:
    """Refuse bars whose spacing is not the profile's ``data.timeframe``, naming both."""
    if "timestamp" not in frame.columns:
        return  # the quality gate names the missing column
    found = infer_timeframe(frame["timestamp"])
    expected = config.data.timeframe
    if found is not None and found != expected:
        raise BarsSchemaError(
            f"{path}: bars are mostly {timeframe_label(found)} apart, but profile "
            f"{config.profile!r} expects data.timeframe={timeframe_label(expected)}; use a "
            f"profile whose data.timeframe (and higher timeframes) match the file"
        )


@task(name="select-window", cache_policy=NO_CACHE)
def select_span(bars: pd.DataFrame, config: Config, as_of: pd.Timestamp,
                read: _StoreRead | None = None) -> tuple[pd.DataFrame, DataState]:
    """The retrain's window (:func:`ml_core.data.bars_window`: closed by ``as_of``, within
    ``data.start``/``data.end``, the last ``data.lookback``) and the record of what was read."""
    window = bars_window(bars, config.data.timeframe, as_of, config.data.lookback,
                         config.data.start, config.data.end)
    stale = as_of - (window.index[-1] + pd.Timedelta(config.data.timeframe))
    if stale > pd.Timedelta(days=7):
        get_run_logger().warning("the newest bar known at as_of=%s closed %s, %d days earlier: "
                                 "the model trains on old data", as_of,
                                 window.index[-1] + pd.Timedelta(config.data.timeframe),
                                 stale.days)
    state = DataState(
        source=str(data_source(config)), timeframe=timeframe_label(config.data.timeframe),
        as_of=as_of, first=window.index[0], last=window.index[-1], n_bars=len(window),
        sha256=bars_digest(window), symbol=config.data.symbol,
        store_url=None if read is None else read.url,
        known_at=None if read is None else read.known_at,
        last_ingest_id=None if read is None else read.last_ingest_id)
    return window, state
