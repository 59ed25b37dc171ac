"""Bars: loading CSV/Parquet/Feather into the canonical schema, the bundled sample, resampling,
posted bars (:func:`parse_bars_payload`), and the bar store's rules (new / identical /
conflicting bars, reads as of a time, gaps).

The canonical bar frame has a UTC ``DatetimeIndex`` named ``timestamp`` (the bar's *open* time) and
float columns ``open, high, low, close, volume``. :func:`load_bars` keeps the file's row order so
the quality gate can name rows as they stand in the file; :func:`as_bars` indexes a frame that has
passed the gate.
"""

from ml_core.data._checks import OHLCV, check_bars
from ml_core.data._loading import (
    CANONICAL_COLUMNS,
    BarsSchemaError,
    as_bars,
    load_bars,
)
from ml_core.data._payload import BarsPayloadError, parse_bars_payload, signal_rows
from ml_core.data._repair import RepairLog, repair_bars
from ml_core.data._resample import resample_ohlcv
from ml_core.data._sample import SAMPLE_SYMBOL, load_sample_bars, sample_bars_path
from ml_core.data._timeframe import infer_timeframe
from ml_core.data._versions import (
    BAR_VALUES,
    BarDiff,
    bars_as_of,
    bars_digest,
    compare_bars,
    find_gaps,
    latest_versions,
)
from ml_core.data._window import bars_window, utc_timestamp

__all__ = [
    "BAR_VALUES",
    "CANONICAL_COLUMNS",
    "BarDiff",
    "BarsPayloadError",
    "BarsSchemaError",
    "OHLCV",
    "RepairLog",
    "SAMPLE_SYMBOL",
    "as_bars",
    "bars_as_of",
    "bars_digest",
    "bars_window",
    "check_bars",
    "compare_bars",
    "find_gaps",
    "infer_timeframe",
    "latest_versions",
    "load_bars",
    "load_sample_bars",
    "parse_bars_payload",
    "repair_bars",
    "resample_ohlcv",
    "sample_bars_path",
    "signal_rows",
    "utc_timestamp",
]
