"""Tasks that read the profile and the bars."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.data import (BarsSchemaError, RepairLog, infer_timeframe, load_bars, repair_bars,
                          sample_bars_path)
from ml_core.features import timeframe_label
from tasks.profile import resolve_profile

__all__ = ["check_timeframe", "data_source", "frame_hash", "load_data", "resolve_profile",
           "select_span"]


def data_source(config: Config) -> Path:
    """The bars file of a profile: ``data.path`` or the bundled sample."""
    return Path(config.data.path) if config.data.path is not None else sample_bars_path()


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the bars' values and timestamps, to tie a model to the exact data it saw."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@task(name="load-data", cache_policy=NO_CACHE)
def load_data(config: Config) -> tuple[pd.DataFrame, RepairLog]:
    """Read the bars in file order; apply the safe repairs when ``data.repair`` allows them."""
    logger = get_run_logger()
    path = data_source(config)
    frame = load_bars(path, config.data.columns)
    logger.info("loaded %d rows from %s", len(frame), path)
    check_timeframe(frame, config, path)
    log = RepairLog()
    if config.data.repair and "timestamp" in frame.columns:
        frame, log = repair_bars(frame)
        if log.changed:
            logger.warning("repaired %s: %s", path, log.as_dict())
    return frame, log


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


def select_span(bars: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Bars between ``data.start`` and ``data.end`` (inclusive), when set."""
    return bars.loc[config.data.start:config.data.end]
