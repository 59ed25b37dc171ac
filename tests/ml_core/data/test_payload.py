"""Posted bars: parsed like a file's bars, refused naming the column, row and rule."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.data import (BarsPayloadError, as_bars, load_bars, load_sample_bars,
                          parse_bars_payload, signal_rows)

T0 = pd.Timestamp("2024-01-01T00:00:00Z")
HALF_HOUR = timedelta(minutes=30)


def _frame(n: int = 4, **columns: list) -> pd.DataFrame:
    base = {"timestamp": [(T0 + i * pd.Timedelta(HALF_HOUR)).isoformat() for i in range(n)],
            "open": [10.0 + i for i in range(n)], "high": [12.0 + i for i in range(n)],
            "low": [9.0 + i for i in range(n)], "close": [11.0 + i for i in range(n)],
            "volume": [5.0] * n}
    base.update(columns)
    return pd.DataFrame(base)


def test_iso_text_epoch_ms_and_naive_times_are_the_same_bars() -> None:
    frame = _frame(timestamp=["2024-01-01T00:00:00Z", 1704069000000, "2024-01-01 01:00:00",
                              "2024-01-01T02:30:00+01:00"])
    bars = parse_bars_payload(frame, HALF_HOUR)
    assert bars.index.tolist() == [T0 + i * pd.Timedelta(HALF_HOUR) for i in range(4)]
    assert str(bars.index.dtype) == "datetime64[ns, UTC]" and bars.index.name == "timestamp"
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars["close"].tolist() == [11.0, 12.0, 13.0, 14.0]


def test_text_as_csv_carries_it_parses_to_the_same_numbers() -> None:
    frame = _frame().astype(str)  # CSV read with the signature's string columns
    frame.loc[1, "timestamp"] = "1704069000000"
    text = parse_bars_payload(frame, HALF_HOUR)
    pd.testing.assert_frame_equal(text, parse_bars_payload(_frame(), HALF_HOUR))


def test_the_result_equals_the_bars_loaded_from_a_file(tmp_path) -> None:
    sample = load_sample_bars().iloc[:50]
    path = tmp_path / "bars.csv"
    sample.reset_index().to_csv(path, index=False)
    from_file = as_bars(load_bars(path))
    posted = sample.reset_index()
    posted["timestamp"] = [t.value // 1_000_000 for t in posted["timestamp"]]
    pd.testing.assert_frame_equal(parse_bars_payload(posted), from_file, check_exact=True)
    # in-process: a DatetimeIndex, as as_bars gives it
    pd.testing.assert_frame_equal(parse_bars_payload(from_file), from_file, check_exact=True)


@pytest.mark.parametrize(("change", "message"), [
    ({"drop": ["high", "volume"]},
     "bars lack the columns 'high', 'volume'; they have ['timestamp', 'open', 'low', 'close']; "
     "every bar needs timestamp, open, high, low, close, volume"),
    ({"close": [11.0, "abc", 13.0, "n/a"]},
     "column 'close' row 1 holds 'abc', not a number (1 more such row)"),
    ({"open": [10.0, 11.0, None, 13.0]},
     "column 'open' row 2 holds no value: every bar needs a finite open"),
    ({"volume": [5.0, np.inf, 5.0, 5.0]},
     "column 'volume' row 1 holds inf: every bar needs a finite volume"),
    ({"timestamp": ["2024-01-01T00:00:00Z", "soon", 1704070800000, 17]},
     "column 'timestamp' row 1 holds 'soon', not a bar time: give ISO 8601 text (naive means "
     "UTC) or epoch milliseconds (1 more such row)"),
    ({"timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:30:00Z",
                    "2024-01-01T01:30:00Z"]},
     "row 2 (2024-01-01T00:30:00+00:00) breaks the rule timestamps unique: row 1 has the same "
     "timestamp"),
    ({"timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T00:30:00Z",
                    "2024-01-01T01:30:00Z"]},
     "row 2 (2024-01-01T00:30:00+00:00) breaks the rule timestamps increasing: it is earlier "
     "than row 1 (2024-01-01T01:00:00+00:00); send bars oldest first"),
    ({"timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z", "2024-01-01T01:10:00Z",
                    "2024-01-01T01:30:00Z"]},
     "row 2 (2024-01-01T01:10:00+00:00) breaks the rule timestamps on the bar grid: the model's "
     "bars are 30m long and open on multiples of that"),
    ({"high": [12.0, 8.0, 14.0, 15.0]},
     "row 1 (2024-01-01T00:30:00+00:00) breaks the rule low <= high: low = 10, high = 8"),
    ({"high": [12.0, 11.5, 14.0, 15.0]},
     "row 1 (2024-01-01T00:30:00+00:00) breaks the rule high >= max(open, close): high = 11.5, "
     "open = 11, close = 12"),
    ({"low": [9.0, 10.0, 12.5, 12.0]},
     "row 2 (2024-01-01T01:00:00+00:00) breaks the rule low <= min(open, close): low = 12.5, "
     "open = 12, close = 13"),
    ({"low": [9.0, 0.0, 11.0, 12.0]},
     "row 1 (2024-01-01T00:30:00+00:00) breaks the rule prices > 0: low = 0"),
    ({"volume": [5.0, 5.0, -1.0, -2.0]},
     "row 2 (2024-01-01T01:00:00+00:00) breaks the rule volume >= 0: volume = -1 (1 more such "
     "row)"),
])
def test_a_bad_payload_is_refused_naming_column_row_and_rule(change: dict, message: str) -> None:
    change = dict(change)
    frame = _frame().drop(columns=change.pop("drop", []))
    for column, values in change.items():
        frame[column] = pd.Series(values, dtype=object)
    with pytest.raises(BarsPayloadError) as raised:
        parse_bars_payload(frame, HALF_HOUR)
    assert str(raised.value) == message


def test_no_rows_and_not_a_table() -> None:
    with pytest.raises(BarsPayloadError, match="no bars: the payload holds the columns but no"):
        parse_bars_payload(_frame().iloc[:0])
    with pytest.raises(BarsPayloadError, match="got list"):
        parse_bars_payload([1, 2])  # type: ignore[arg-type]


def test_signal_rows_are_iso_text_with_the_model() -> None:
    signals = pd.DataFrame({"signal": [1, 0], "p_long": [0.7, 0.5]},
                           index=pd.DatetimeIndex([T0, T0 + pd.Timedelta(HALF_HOUR)],
                                                  name="timestamp"))
    rows = signal_rows(signals, "m", "3")
    assert rows.to_dict(orient="records") == [
        {"timestamp": "2024-01-01T00:00:00+00:00", "signal": 1, "p_long": 0.7,
         "model_name": "m", "model_version": "3"},
        {"timestamp": "2024-01-01T00:30:00+00:00", "signal": 0, "p_long": 0.5,
         "model_name": "m", "model_version": "3"},
    ]
    assert parse_bars_payload(rows.assign(open=1.0, high=1.0, low=1.0, close=1.0, volume=0.0)
                              ).index[1] == T0 + pd.Timedelta(HALF_HOUR)
