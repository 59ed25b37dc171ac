from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.data import (BarsSchemaError, as_bars, load_bars, load_sample_bars, repair_bars,
                          resample_ohlcv)


def _write(tmp_path: Path, frame: pd.DataFrame, name: str) -> Path:
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_feather(path)
    return path


RAW = pd.DataFrame({
    "Date": ["2021-01-01 00:00", "2021-01-01 00:30", "2021-01-01 01:00"],
    "Open": [1.0, 2.0, 3.0], "High": [1.5, 2.5, 3.5], "Low": [0.5, 1.5, 2.5],
    "Close": [1.2, 2.2, 3.2], "Adj Close": [1.2, 2.2, 3.2], "Volume": [10.0, 20.0, 30.0],
})


@pytest.mark.parametrize("name", ["bars.csv", "bars.parquet", "bars.feather"])
def test_common_spellings_in_every_format(tmp_path: Path, name: str) -> None:
    frame = load_bars(_write(tmp_path, RAW, name))
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["close"].tolist() == [1.2, 2.2, 3.2]


def test_symbol_prefixed_columns_and_offsets(tmp_path: Path) -> None:
    raw = pd.DataFrame({"time": ["2021-01-01T00:00:00+01:00", "2021-01-01T00:30:00+00:00"],
                        "BTC.open": [1, 2], "BTC.close": [1, 2], "BTC.high": [1, 2],
                        "BTC.low": [1, 2], "BTC.volume": [1, 2]})
    frame = load_bars(_write(tmp_path, raw, "b.csv"))
    assert frame["timestamp"].tolist() == [pd.Timestamp("2020-12-31 23:00", tz="UTC"),
                                           pd.Timestamp("2021-01-01 00:30", tz="UTC")]


def test_mapping_and_refusals(tmp_path: Path) -> None:
    raw = RAW.rename(columns={"Date": "ts_open"})
    path = _write(tmp_path, raw, "b.csv")
    assert "timestamp" not in load_bars(path).columns  # left for the gate to report
    assert "timestamp" in load_bars(path, {"ts_open": "timestamp"}).columns
    with pytest.raises(BarsSchemaError, match="'nope'"):
        load_bars(path, {"nope": "timestamp"})
    with pytest.raises(BarsSchemaError, match="not one of"):
        load_bars(path, {"ts_open": "when"})
    with pytest.raises(BarsSchemaError, match="unsupported file type '.xlsx'"):
        load_bars(tmp_path / "b.xlsx")


def test_bad_cells_name_row_and_column(tmp_path: Path) -> None:
    raw = RAW.copy()
    raw["Close"] = raw["Close"].astype(object)
    raw.loc[2, "Close"] = "n/a?"
    with pytest.raises(BarsSchemaError, match=r"column 'Close' row 2 holds 'n/a\?', not a number"):
        load_bars(_write(tmp_path, raw, "b.csv"))
    raw = RAW.copy()
    raw.loc[1, "Date"] = "yesterday"
    with pytest.raises(BarsSchemaError, match="column 'Date' row 1 holds 'yesterday'"):
        load_bars(_write(tmp_path, raw, "c.csv"))


def test_bundled_sample() -> None:
    bars = load_sample_bars()
    assert len(bars) == 35019
    assert bars.index[0] == pd.Timestamp("2017-10-01", tz="UTC")
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()


def test_repair_sorts_and_drops_exact_duplicates_only() -> None:
    frame = load_bars_frame([2, 0, 1, 1])
    frame.loc[3] = frame.loc[2]
    repaired, log = repair_bars(frame)
    assert repaired["timestamp"].is_monotonic_increasing
    assert log.dropped_duplicate_rows == [3]
    assert len(repaired) == 3
    assert log.reordered_rows == 3


def load_bars_frame(minutes: list[int]) -> pd.DataFrame:
    ts = [pd.Timestamp("2021-01-01", tz="UTC") + timedelta(minutes=30 * m) for m in minutes]
    values = np.arange(len(minutes), dtype=float) + 1.0
    return pd.DataFrame({"timestamp": ts, "open": values, "high": values + 1, "low": values - 0.5,
                         "close": values, "volume": values})


def test_resample_is_stamped_when_known() -> None:
    bars = as_bars(load_bars_frame(list(range(9))))
    hourly = resample_ohlcv(bars, timedelta(hours=1), timedelta(minutes=30))
    # the 00:00-01:00 bar is known once the 00:30 base bar has closed: stamped 00:30
    assert hourly.index[0] == pd.Timestamp("2021-01-01 00:30", tz="UTC")
    assert hourly["open"].iloc[0] == 1.0 and hourly["close"].iloc[0] == 2.0
    assert hourly["high"].iloc[0] == 3.0 and hourly["volume"].iloc[0] == 3.0
    # the last, incomplete bin (04:00 only) is stamped after the data ends
    assert hourly.index[-1] == pd.Timestamp("2021-01-01 04:30", tz="UTC") > bars.index[-1]
    with pytest.raises(ValueError, match="whole multiple"):
        resample_ohlcv(bars, timedelta(minutes=45), timedelta(minutes=30))


def test_infer_timeframe_ignores_gaps_duplicates_and_order() -> None:
    from ml_core.data import infer_timeframe

    stamps = pd.to_datetime(["2021-01-01 01:00", "2021-01-01 00:00", "2021-01-01 00:15",
                             "2021-01-01 00:15", "2021-01-01 00:30", "2021-01-01 03:00"], utc=True)
    assert infer_timeframe(pd.Series(stamps)) == timedelta(minutes=15)
    assert infer_timeframe(pd.Series(stamps[:1])) is None
