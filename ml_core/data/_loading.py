"""Read bars from CSV, Parquet or Feather and map their columns onto the canonical schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

CANONICAL_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")

# Spellings accepted without a mapping; matching ignores case, spaces, dots, dashes, underscores
# and a leading symbol prefix such as "BTC." or "btc_".
_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "date", "datetime", "time", "opentime", "ts", "dateutc"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice", "last"),
    "volume": ("volume", "vol", "v", "basevolume"),
}
_READERS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
            ".feather": "feather", ".arrow": "feather"}
# Cells read as missing in a CSV: empty, or NaN as pandas and numpy print it.
_MISSING_TEXT = ("", "NaN", "nan")
_MAGIC = {b"PAR1": "a Parquet file (name it .parquet)",
          b"ARROW1": "a Feather file (name it .feather)",
          b"PK\x03\x04": "a zip archive (an Excel workbook?)", b"\x1f\x8b": "gzip-compressed data",
          b"\x89PNG": "a PNG image", b"%PDF": "a PDF document"}


class BarsSchemaError(ValueError):
    """The file cannot be read as bars; the message names the file and the column or row."""


def _key(name: str) -> str:
    return re.sub(r"[\s._\-]", "", str(name).lower())


def _read(path: Path) -> pd.DataFrame:
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise BarsSchemaError(
            f"{path}: unsupported file type {path.suffix!r}; use CSV, Parquet or Feather"
        )
    if not path.is_file():
        raise BarsSchemaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise BarsSchemaError(f"{path}: the file is empty (0 bytes): no header row, no bars")
    if kind == "csv":
        return _read_csv(path)
    try:
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_feather(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError
        raise BarsSchemaError(
            f"{path}: not a readable {kind.capitalize()} file ({_first_line(exc)})") from None
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(4096)
    binary = _binary_kind(head)
    if binary is not None:
        raise BarsSchemaError(f"{path}: holds {binary}, not CSV text")
    try:
        # Only an empty field (or NaN as pandas and numpy write it) is a missing value: text such
        # as "n/a" or "-" is reported by load_bars as not a number, naming its row.
        return pd.read_csv(path, keep_default_na=False, na_values=list(_MISSING_TEXT))
    except pd.errors.EmptyDataError:
        raise BarsSchemaError(f"{path}: no header row (the file holds only blank lines)") from None
    except UnicodeDecodeError as exc:
        raise BarsSchemaError(f"{path}: not UTF-8 text ({exc.reason}, byte "
                              f"0x{exc.object[exc.start]:02x})") from None
    except pd.errors.ParserError as exc:
        raise BarsSchemaError(f"{path}: not a well-formed CSV ({_first_line(exc)})") from None


def _binary_kind(head: bytes) -> str | None:
    """What the first bytes of a file say it is, when that is not text."""
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    control = sum(b < 9 or 13 < b < 32 for b in head)
    if b"\x00" in head or control > len(head) // 10:
        return "binary data"
    return None


def _first_line(exc: BaseException) -> str:
    """A reader's reason, without traceback lines or pyarrow's repeat of the path."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^Could not open .*? input source '.*?': ", "", line)


def _match_columns(columns: list[str], mapping: Mapping[str, str], path: Path) -> dict[str, str]:
    """Return source column -> canonical name for every canonical column that can be found."""
    for canonical in mapping.values():
        if canonical not in CANONICAL_COLUMNS:
            raise BarsSchemaError(
                f"{path}: --columns maps to {canonical!r}, which is not one of {CANONICAL_COLUMNS}"
            )
    for source in mapping:
        if source not in columns:
            raise BarsSchemaError(
                f"{path}: --columns names column {source!r}, which the file does not have "
                f"(it has {columns})"
            )
    found = {src: dst for src, dst in mapping.items()}
    for canonical in CANONICAL_COLUMNS:
        if canonical in found.values():
            continue
        candidates = [
            col for col in columns
            if col not in found
            and (_key(col) in _ALIASES[canonical]
                 or any(_key(col).endswith(alias) and len(alias) > 1 and not _key(col).startswith("adj")
                        and _key(col)[: -len(alias)].isalpha() and len(_key(col)) - len(alias) <= 6
                        for alias in _ALIASES[canonical]))
        ]
        exact = [c for c in candidates if _key(c) in _ALIASES[canonical]]
        chosen = exact or candidates
        if len(chosen) > 1:
            raise BarsSchemaError(
                f"{path}: columns {chosen} could each be {canonical!r}; "
                f"choose one with --columns {chosen[0]}={canonical}"
            )
        if chosen:
            found[chosen[0]] = canonical
    return found


def load_bars(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a bars file into the canonical columns, keeping the file's row order.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.parquet`` or ``.feather`` file. A Parquet/Feather index (e.g. ``date``) is
        read as a column.
    columns : mapping, optional
        Source column name -> canonical name, for spellings that are not recognised
        (e.g. ``{"ts_ms": "timestamp"}``).

    Returns
    -------
    pandas.DataFrame
        A RangeIndex frame (row ``i`` is the file's ``i``-th data row) holding those of
        ``timestamp, open, high, low, close, volume`` that were found; timestamps are parsed to UTC
        (naive timestamps are taken as UTC, offsets are converted). Columns that are not bars
        (e.g. ``Adj Close``) are dropped. Missing canonical columns are left for the quality gate
        to report.

    Raises
    ------
    BarsSchemaError
        A file that is missing, empty, binary or not well-formed for its type, a ``columns`` entry
        naming an absent column, an ambiguous column, text in a price or volume column (``n/a``,
        ``abc``: only an empty cell or ``NaN`` counts as missing), or unparseable timestamps; the
        message is one line naming the file, and the column, row and value where there is one.
    """
    path = Path(path)
    raw = _read(path)
    raw.columns = [str(c) for c in raw.columns]
    mapping = _match_columns(list(raw.columns), columns or {}, path)
    frame = raw[list(mapping)].rename(columns=mapping)
    frame = frame[[c for c in CANONICAL_COLUMNS if c in frame.columns]].reset_index(drop=True)
    source_name = {dst: src for src, dst in mapping.items()}  # errors quote the file's names
    if "timestamp" in frame.columns:
        frame["timestamp"] = _parse_timestamps(frame["timestamp"], source_name["timestamp"], path)
    for col in ("open", "high", "low", "close", "volume"):
        if col in frame.columns:
            frame[col] = _numbers(frame[col], source_name[col], path)
    frame.attrs["source"] = str(path)
    return frame


def _numbers(values: pd.Series, source: str, path: Path) -> pd.Series:
    """``values`` as float64, or a BarsSchemaError quoting the first cell that is not a number."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(bad.idxmax())
        more = int(bad.sum()) - 1
        raise BarsSchemaError(
            f"{path}: column {source!r} row {row} holds {values.iloc[row]!r}, not a number"
            + (f" ({more} more such row{'s' if more > 1 else ''})" if more else "")
        )
    return numbers.astype("float64")


def _parse_timestamps(values: pd.Series, source: str, path: Path) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        unit = "ms" if values.dropna().abs().median() > 1e11 else "s"
        parsed = pd.to_datetime(values, unit=unit, utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & values.notna()
    if bad.any():
        row = int(bad.idxmax())
        raise BarsSchemaError(
            f"{path}: column {source!r} row {row} holds {values.iloc[row]!r}, not a date-time"
        )
    return parsed.astype("datetime64[ns, UTC]")


def as_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Index a validated frame by its ``timestamp`` column, giving the canonical bar frame."""
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise BarsSchemaError(f"bars lack the columns {missing}")
    bars = frame.set_index("timestamp")[list(CANONICAL_COLUMNS[1:])]
    bars.index.name = "timestamp"
    return bars
