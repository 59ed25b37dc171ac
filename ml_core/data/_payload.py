"""Bars posted to a served model: parse them into the canonical frame, refuse them naming the
cell and the rule, and turn signals back into rows a JSON or CSV reply can carry.

A scoring server hands the model whatever the request held: JSON and CSV carry timestamps as
text (ISO 8601, with or without a zone) or as epoch milliseconds, and prices as numbers or, by
mistake, text. :func:`parse_bars_payload` accepts all of these, and a frame indexed by a
``DatetimeIndex`` as an in-process caller passes it, and returns exactly the frame
:func:`~ml_core.data.as_bars` gives for the same bars read from a file, so a served signal equals
the batch one. Anything else raises :class:`BarsPayloadError` naming the column, the row
(0-based, the payload's own order) and the rule broken, in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core._durations import format_duration
from ml_core.data._checks import OHLCV

__all__ = ["BarsPayloadError", "parse_bars_payload", "signal_rows"]

PRICES: tuple[str, ...] = ("open", "high", "low", "close")
# The OHLC rules of the data quality gate (``expectations``), in the order they are checked.
RULE_POSITIVE = "prices > 0"
RULE_VOLUME = "volume >= 0"
RULE_HIGH = "high >= max(open, close)"
RULE_LOW = "low <= min(open, close)"
RULE_LOW_HIGH = "low <= high"
RULE_UNIQUE = "timestamps unique"
RULE_INCREASING = "timestamps increasing"
RULE_GRID = "timestamps on the bar grid"
# Epoch numbers at or above this are milliseconds; below it they would be years before 1973.
_EPOCH_MS_FLOOR = 1e11


class BarsPayloadError(ValueError):
    """Posted bars that cannot be used; the message names the column, the row and the rule."""


def _row(position: int, stamps: pd.DatetimeIndex | None = None) -> str:
    if stamps is None:
        return f"row {position}"
    return f"row {position} ({stamps[position].isoformat()})"


def _more(count: int) -> str:
    return f" ({count} more such row{'s' if count > 1 else ''})" if count else ""


def _timestamps(values: pd.Series) -> pd.DatetimeIndex:
    """``values`` as UTC bar times: datetimes, ISO text (naive = UTC) or epoch milliseconds."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        missing = parsed.isna().to_numpy()
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise BarsPayloadError(f"column 'timestamp' {_row(first)} holds no value, not a "
                                   f"bar time{_more(int(missing.sum()) - 1)}")
        return pd.DatetimeIndex(parsed).astype("datetime64[ns, UTC]")
    items = values.to_numpy(dtype=object)
    n = len(items)
    is_text = np.fromiter((isinstance(v, str) for v in items), dtype=bool, count=n)
    is_number = np.fromiter((isinstance(v, (int, float, np.integer, np.floating))
                             and not isinstance(v, (bool, np.bool_)) for v in items),
                            dtype=bool, count=n)
    text = pd.Series(items[is_text], dtype=object).str.strip()
    digits = text.str.fullmatch(r"-?\d+").to_numpy(dtype=bool)
    text_at = np.flatnonzero(is_text)
    # epoch milliseconds: numbers, or digits as CSV carries them (float64 holds them exactly)
    millis = np.full(n, np.nan)
    millis[is_number] = items[is_number].astype(np.float64)
    millis[text_at[digits]] = text[digits].astype(np.float64).to_numpy()
    with np.errstate(invalid="ignore"):
        is_ms = np.isfinite(millis) & (millis == np.floor(millis)) & (
            np.abs(millis) >= _EPOCH_MS_FLOOR)
    out = np.zeros(n, dtype=np.int64)
    out[is_ms] = millis[is_ms].astype(np.int64) * 1_000_000
    # ISO 8601 text: one vectorised parse
    iso_at = text_at[~digits]
    parsed = pd.to_datetime(text[~digits], utc=True, errors="coerce", format="ISO8601")
    is_iso = np.zeros(n, dtype=bool)
    is_iso[iso_at] = parsed.notna().to_numpy()
    out[is_iso] = parsed.dropna().dt.tz_convert(None).astype("datetime64[ns]").to_numpy(
        dtype=np.int64)
    bad = np.flatnonzero(~(is_ms | is_iso))
    if len(bad):
        first = int(bad[0])
        raise BarsPayloadError(
            f"column 'timestamp' {_row(first)} holds {values.iloc[first]!r}, not a bar time: "
            "give ISO 8601 text (naive means UTC) or epoch milliseconds"
            + _more(len(bad) - 1))
    return pd.DatetimeIndex(out.view("datetime64[ns]")).tz_localize("UTC")


def _numbers(values: pd.Series, column: str) -> np.ndarray:
    """``values`` as float64; text that is not a number, or a missing value, names its row."""
    if pd.api.types.is_bool_dtype(values):
        raise BarsPayloadError(f"column {column!r} holds true/false values, not numbers")
    numbers = pd.to_numeric(values, errors="coerce")
    text = numbers.isna().to_numpy() & values.notna().to_numpy()
    if text.any():
        first = int(np.flatnonzero(text)[0])
        raise BarsPayloadError(f"column {column!r} {_row(first)} holds {values.iloc[first]!r}, "
                               f"not a number{_more(int(text.sum()) - 1)}")
    data = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(data)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        what = "no value" if np.isnan(data[first]) else f"{float(data[first])}"
        raise BarsPayloadError(f"column {column!r} {_row(first)} holds {what}: every bar needs "
                               f"a finite {column}{_more(int(missing.sum()) - 1)}")
    return data


def parse_bars_payload(frame: pd.DataFrame, timeframe: timedelta | None = None) -> pd.DataFrame:
    """Posted bars as the canonical bar frame, or a :class:`BarsPayloadError` naming the fault.

    Parameters
    ----------
    frame : pandas.DataFrame
        A ``timestamp`` column (or, in-process, a ``DatetimeIndex``) and the columns ``open,
        high, low, close, volume``; other columns are ignored. Timestamps are bar open times as
        datetimes, ISO 8601 text (a naive time means UTC; offsets are converted) or epoch
        milliseconds (integers, or their digits as text, as CSV carries them). Prices and volume
        are numbers or their text.
    timeframe : timedelta, optional
        The model's bar length: with it, every timestamp must lie on its grid (a multiple of it
        since the epoch), as the quality gate requires of the bars the model was trained on.

    Returns
    -------
    pandas.DataFrame
        Index ``timestamp`` (``datetime64[ns, UTC]``), float64 columns ``open, high, low, close,
        volume``, in the payload's order: what :func:`~ml_core.data.as_bars` returns for the same
        bars loaded from a file.

    Raises
    ------
    BarsPayloadError
        One line naming the first fault, checked in this order: a missing column; a timestamp
        that is not a bar time; a price or volume that is text, missing or not finite; the rules
        ``prices > 0``, ``volume >= 0``, ``low <= high``, ``high >= max(open, close)``,
        ``low <= min(open, close)`` (as the quality gate words them); duplicate timestamps;
        timestamps out of order; timestamps off the bar grid. The row is the 0-based position in
        the payload, with its bar time once that is known, and the count of further rows
        breaking the same rule.

    Examples
    --------
    >>> bars = parse_bars_payload(pd.DataFrame({
    ...     "timestamp": ["2024-01-01T00:00:00Z", 1704069000000], "open": [1.0, 2.0],
    ...     "high": [2.0, 2.5], "low": [0.5, 1.5], "close": [2.0, "2.25"], "volume": [3, 4]}))
    >>> [stamp.isoformat() for stamp in bars.index]
    ['2024-01-01T00:00:00+00:00', '2024-01-01T00:30:00+00:00']
    >>> float(bars["close"].iloc[1])
    2.25
    """
    if not isinstance(frame, pd.DataFrame):
        raise BarsPayloadError(f"bars must be a table (a pandas DataFrame), got "
                               f"{type(frame).__name__}")
    if "timestamp" not in frame.columns and isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names="timestamp")
    frame = frame.rename(columns=str)
    missing = [c for c in ("timestamp", *OHLCV) if c not in frame.columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise BarsPayloadError(f"bars lack the {noun} {', '.join(map(repr, missing))}; they have "
                               f"{list(frame.columns)}; every bar needs timestamp, "
                               f"{', '.join(OHLCV)}")
    if frame.empty:
        raise BarsPayloadError("no bars: the payload holds the columns but no rows")
    stamps = _timestamps(frame["timestamp"].reset_index(drop=True))
    data = {c: _numbers(frame[c].reset_index(drop=True), c) for c in OHLCV}
    _check_rules(stamps, data)
    bars = pd.DataFrame(data, index=stamps)
    bars.index.name = "timestamp"
    _check_order(stamps, timeframe)
    return bars


def _refuse_first(rows: np.ndarray, stamps: pd.DatetimeIndex, rule: str,
                  detail: Callable[[int], str]) -> None:
    """Raise naming the first of ``rows`` (positions breaking ``rule``) and counting the rest."""
    if len(rows):
        first = int(rows[0])
        raise BarsPayloadError(f"{_row(first, stamps)} breaks the rule {rule}: {detail(first)}"
                               f"{_more(len(rows) - 1)}")


def _check_rules(stamps: pd.DatetimeIndex, data: dict[str, np.ndarray]) -> None:
    o, h, lo, c, v = (data[k] for k in OHLCV)

    def check(broken: np.ndarray, rule: str, *columns: str) -> None:
        _refuse_first(np.flatnonzero(broken), stamps, rule,
                      lambda i: ", ".join(f"{k} = {data[k][i]:g}" for k in columns))

    for column in PRICES:
        check(data[column] <= 0, RULE_POSITIVE, column)
    check(v < 0, RULE_VOLUME, "volume")
    check(lo > h, RULE_LOW_HIGH, "low", "high")
    check(h < np.maximum(o, c), RULE_HIGH, "high", "open", "close")
    check(lo > np.minimum(o, c), RULE_LOW, "low", "open", "close")


def _check_order(stamps: pd.DatetimeIndex, timeframe: timedelta | None) -> None:
    ns = stamps.asi8
    step = np.diff(ns)
    _refuse_first(np.flatnonzero(step == 0) + 1, stamps, RULE_UNIQUE,
                  lambda i: f"row {i - 1} has the same timestamp")
    _refuse_first(np.flatnonzero(step < 0) + 1, stamps, RULE_INCREASING,
                  lambda i: f"it is earlier than row {i - 1} ({stamps[i - 1].isoformat()}); "
                            "send bars oldest first")
    if timeframe is not None:
        _refuse_first(np.flatnonzero(ns % pd.Timedelta(timeframe).value), stamps, RULE_GRID,
                      lambda i: f"the model's bars are {format_duration(timeframe)} long and "
                                "open on multiples of that")


def signal_rows(signals: pd.DataFrame, model_name: str, model_version: str,
                hold_reason: str | None = None) -> pd.DataFrame:
    """Signals (index = bar time) as reply rows: ``timestamp`` as ISO 8601 text in UTC first,
    the signal columns as they are, then ``model_name`` and ``model_version``.

    Text timestamps survive JSON and CSV alike and read back with :func:`parse_bars_payload`.
    With ``hold_reason`` (a model the promotion gate did not trust) every row holds: ``signal``
    and ``size`` are 0, the model's own figures stay for inspection, and a last column ``note``
    says ``"no trustworthy model: <hold_reason>"``.
    """
    if hold_reason is not None:
        signals = signals.assign(signal=0, size=0.0)
    rows = signals.reset_index(names="timestamp")
    stamps = pd.DatetimeIndex(rows["timestamp"])
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    rows["timestamp"] = [stamp.isoformat() for stamp in stamps]
    rows["model_name"] = str(model_name)
    rows["model_version"] = str(model_version)
    if hold_reason is not None:
        rows["note"] = f"no trustworthy model: {hold_reason}"
    return rows
