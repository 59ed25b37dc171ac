"""Paper books: fills at the next open, costs on the change of position, trades by side runs."""

import json

import numpy as np
import pandas as pd
import pytest

from ml_core.lifecycle._paper import (
    MARK_COLUMNS,
    TRADE_COLUMNS,
    PaperBook,
    marks_frame,
    paper_returns,
    trades_frame,
)

IDX = pd.date_range("2024-01-01", periods=5, freq="30min", tz="UTC")
BARS = pd.DataFrame({"open": [100.0, 102.0, 103.0, 100.0, 98.0],
                     "close": [100.0, 104.0, 101.0, 99.0, 100.0]}, index=IDX)
# long 1 decided at bar 0, flipped to short 0.5 at bar 1, held at bar 2, HOLD (None) at 3 and 4
TARGETS = [1.0, -0.5, -0.5, None, None]
C = 10.0 / 1e4  # 10 bps


def _stream(bars: pd.DataFrame, targets: list, cost_bps: float = 10.0,
            book: PaperBook | None = None) -> tuple[PaperBook, list]:
    book = PaperBook(cost_bps) if book is None else book
    marks = [book.on_bar(t, o, c, x)
             for t, o, c, x in zip(bars.index, bars["open"], bars["close"], targets, strict=True)]
    return book, marks


def test_five_bar_book_with_a_flip_by_hand():
    _, marks = _stream(BARS, TARGETS)
    assert [m.position for m in marks] == [0.0, 1.0, -0.5, -0.5, 0.0]
    assert [m.target for m in marks] == [1.0, -0.5, -0.5, 0.0, 0.0]
    assert [m.cost for m in marks] == pytest.approx([0.0, C, 1.5 * C, 0.0, 0.5 * C], abs=1e-15)
    expected = [
        0.0,                                                     # no position, no previous close
        1.0 * (104 / 102 - 1) - C,                               # bought at 102, close 104
        1.0 * (103 / 104 - 1) - 0.5 * (101 / 103 - 1) - 1.5 * C,  # gap on the long, then short
        -0.5 * (100 / 101 - 1) - 0.5 * (99 / 100 - 1),           # short held: gap and move
        -0.5 * (98 / 99 - 1) - 0.5 * C,                          # gap on the short, then flat
    ]
    assert [m.ret for m in marks] == pytest.approx(expected, abs=1e-15)
    assert expected[1] == pytest.approx(0.018607843137254, abs=1e-14)
    assert expected[2] == pytest.approx(-0.001406646751, abs=1e-12)
    long, short = marks[2].trade, marks[4].trade
    assert [m.trade for m in (marks[0], marks[1], marks[3])] == [None, None, None]
    assert (long.entry, long.exit, long.side, long.bars) == (IDX[1], IDX[2], 1, 1)
    assert long.ret == pytest.approx((1 + 104 / 102 - 1 - C) * (1 + 103 / 104 - 1 - C) - 1,
                                     abs=1e-15)
    assert long.cost == pytest.approx(2 * C, abs=1e-15)
    assert (short.entry, short.exit, short.side, short.bars) == (IDX[2], IDX[4], -1, 2)
    assert short.ret == pytest.approx(
        (1 - 0.5 * (101 / 103 - 1) - 0.5 * C) * (1 + expected[3]) * (1 + expected[4]) - 1,
        abs=1e-15)
    assert short.ret == pytest.approx(0.0238889706, abs=1e-10)
    assert short.cost == pytest.approx(C, abs=1e-15)
    # the flip bar is split between the two trades; together they paid all the book's costs
    assert long.cost + short.cost == pytest.approx(sum(m.cost for m in marks), abs=1e-15)


def test_batch_gives_the_hand_example():
    marks, trades = paper_returns(BARS, pd.Series(TARGETS, index=IDX, dtype="float64"), 10.0)
    _, streamed = _stream(BARS, TARGETS)
    pd.testing.assert_frame_equal(marks, marks_frame(streamed), check_exact=True)
    assert list(marks.columns) == list(MARK_COLUMNS) and list(trades.columns) == list(TRADE_COLUMNS)
    assert trades["side"].tolist() == [1, -1] and trades["bars"].tolist() == [1, 2]
    assert trades["exit"].tolist() == [IDX[2], IDX[4]]


def test_an_open_trade_is_not_resolved():
    marks, trades = paper_returns(BARS, pd.Series([1.0, 1.0, 0.5, 0.5, 1.0], index=IDX), 5.0)
    assert marks["position"].tolist() == [0.0, 1.0, 1.0, 0.5, 0.5]
    assert trades.empty and list(trades.columns) == list(TRADE_COLUMNS)
    book, _ = _stream(BARS, [1.0, 1.0, 0.5, 0.5, 1.0], 5.0)
    assert book.open_side == 1 and book.state()["trade"]["bars"] == 4


def _random_book(n: int, seed: int = 42) -> tuple[pd.DataFrame, list]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
    idx = pd.date_range("2024-03-01", periods=n, freq="30min", tz="UTC")
    sides = rng.choice([-1, 0, 1], n, p=[0.3, 0.3, 0.4])
    sides = np.where(rng.random(n) < 0.8, np.repeat(sides[::7], 7)[:n], sides)  # runs of a side
    sizes = np.round(rng.uniform(0.1, 1.0, n), 2)
    targets = [None if rng.random() < 0.05 else float(s * z) for s, z in zip(sides, sizes)]
    return pd.DataFrame({"open": open_, "close": close}, index=idx), targets


def test_stream_equals_batch_to_the_bit():
    bars, targets = _random_book(3000)
    _, streamed = _stream(bars, targets, 7.5)
    series = pd.Series([np.nan if x is None else x for x in targets], index=bars.index)
    marks, trades = paper_returns(bars, series, 7.5)
    expected_marks = marks_frame(streamed)
    expected_trades = trades_frame([m.trade for m in streamed if m.trade is not None])
    assert len(expected_trades) > 200
    for name in MARK_COLUMNS:
        assert marks[name].to_numpy().tobytes() == expected_marks[name].to_numpy().tobytes(), name
    for name in ("ret", "cost"):
        assert trades[name].to_numpy().tobytes() == expected_trades[name].to_numpy().tobytes()
    pd.testing.assert_frame_equal(trades, expected_trades, check_exact=True)


@pytest.mark.parametrize("split", [1, 1234, 2999])
def test_resumed_from_state_equals_uninterrupted(split):
    bars, targets = _random_book(3000, seed=7)
    _, whole = _stream(bars, targets)
    first, head = _stream(bars.iloc[:split], targets[:split])
    state = json.loads(json.dumps(first.state()))
    resumed, tail = _stream(bars.iloc[split:], targets[split:], book=PaperBook.from_state(state))
    assert head + tail == whole
    assert resumed.state() == _stream(bars, targets)[0].state()


def test_stream_refuses_repeated_and_out_of_order_bars_unchanged():
    book, _ = _stream(BARS.iloc[:3], TARGETS[:3])
    before = book.state()
    with pytest.raises(ValueError, match=r"`timestamp=2024-01-01 01:00:00\+00:00` repeats the "
                                         r"book's newest bar 2024-01-01 01:00:00\+00:00"):
        book.on_bar(IDX[2], 100.0, 100.0, None)
    with pytest.raises(ValueError, match=r"`timestamp=2024-01-01 00:30:00\+00:00` is before"):
        book.on_bar(IDX[1], 100.0, 100.0, None)
    with pytest.raises(ValueError, match=r"`target` must be None or in \[-1, 1\], got "
                                         r"`target=1.5` at bar 2024-01-01 01:30"):
        book.on_bar(IDX[3], 100.0, 100.0, 1.5)
    with pytest.raises(ValueError, match=r"`open` must be a positive finite price, got "
                                         r"`open=0.0`"):
        book.on_bar(IDX[3], 0.0, 100.0, None)
    assert book.state() == before


def test_naive_times_are_utc():
    book = PaperBook(0.0)
    assert book.on_bar("2024-01-01 00:00", 1.0, 1.0, None).timestamp == IDX[0]
    with pytest.raises(ValueError, match="repeats"):
        book.on_bar(IDX[0], 1.0, 1.0, None)


@pytest.mark.parametrize(
    ("bars", "targets", "cost", "message"),
    [
        (BARS.iloc[[0, 1, 1]], pd.Series(dtype="float64"), 5.0,
         r"`bars` bar 2024-01-01 00:30:00\+00:00 repeats the bar before it"),
        (BARS.iloc[[0, 2, 1]], pd.Series(dtype="float64"), 5.0,
         r"`bars` bar 2024-01-01 00:30:00\+00:00 is before the bar before it"),
        (BARS, pd.Series([2.0], index=IDX[:1]), 5.0, r"`target=2.0` at bar 2024-01-01 00:00"),
        (BARS, pd.Series([1.0], index=IDX[:1] - pd.Timedelta("1h")), 5.0,
         "`targets` has 1 time"),
        (BARS.assign(close=-1.0), pd.Series(dtype="float64"), 5.0, "`close=-1.0`"),
        (BARS[["open"]], pd.Series(dtype="float64"), 5.0, r"lacks the column\(s\) \['close'\]"),
        (BARS, pd.Series(dtype="float64"), -1.0, "`cost_bps=-1.0`"),
    ],
)
def test_batch_errors_name_the_bar(bars, targets, cost, message):
    with pytest.raises(ValueError, match=message):
        paper_returns(bars, targets, cost)


def test_state_of_another_format_is_refused():
    state = PaperBook(5.0).state()
    with pytest.raises(ValueError, match="format 1, got format=2"):
        PaperBook.from_state({**state, "format": 2})
    del state["target"]
    with pytest.raises(ValueError, match="lacks the key 'target'"):
        PaperBook.from_state(state)
