"""One version's paper account: each bar's decision filled at the next bar's open, net of costs.

The rollout compares a candidate with the champion on what each would have earned, bar by bar,
had it traded: a *paper book* per version. :class:`PaperBook` advances one bar at a time (live,
resumable from a JSON state); :func:`paper_returns` computes the same marks and trades for a whole
frame at once, equal to the stream to the bit.

Conventions
-----------
A decision taken at bar ``t``'s close (the *target* position ``side * size``, in ``[-1, 1]``;
None means HOLD, i.e. flat, as the live rule's HOLD signal) is filled at bar ``t+1``'s **open**.
With ``p`` the position held before that fill (during bar ``t``), ``q`` the position after it
(held during bar ``t+1``) and ``c = cost_bps / 1e4``, the book's simple return of bar ``t+1`` is

``ret = p * (open[t+1] / close[t] - 1) + q * (close[t+1] / open[t+1] - 1) - c * |q - p|``

the gap from the previous close to the open earned on the old position, the bar's own move on the
new one, and the cost of the change as a return (a flip from ``+s`` to ``-s`` pays ``2 s c``).
The two legs are added, not compounded, as in a per-bar backtest: their cross term
``p q gap move`` is negligible where each open follows the previous close (a continuous market,
where ``gap`` is about 0). The first bar of a book has no previous close and no position: its ``ret`` is
0.

A *trade* is a run of bars holding a nonzero position of one side: opened by a fill, closed by
the fill that makes the position flat or flips it (size changes within a side stay in the trade).
Its return compounds its share of the book's bar returns: the opening bar's ``q * move - c|q|``,
each later bar's whole ``ret``, and the closing bar's ``p * gap - c|p|`` (a flip's bar is split
between the closed and the opened trade). A trade is *resolved* when it is closed; only resolved
trades are reported. ``bars`` counts the bars it held the position (exit bar minus entry bar).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ml_core.data import utc_timestamp

__all__ = ["MARK_COLUMNS", "TRADE_COLUMNS", "BarMark", "PaperBook", "Trade", "marks_frame",
           "paper_returns", "trades_frame"]

MARK_COLUMNS: tuple[str, ...] = ("position", "ret", "cost", "target")
"""Columns of a marks frame (indexed by bar open time, UTC, in ns as the bar store's)."""
TRADE_COLUMNS: tuple[str, ...] = ("entry", "exit", "side", "bars", "ret", "cost")
"""Columns of a trades frame (one row per resolved trade, in order of exit)."""
STATE_FORMAT = 1
"""Version of :meth:`PaperBook.state`'s layout."""


class Trade(NamedTuple):
    """A resolved paper trade."""

    entry: pd.Timestamp
    """Open time of the bar whose open filled it."""
    exit: pd.Timestamp
    """Open time of the bar whose open closed it (flat or flipped)."""
    side: int
    """+1 long, -1 short."""
    bars: int
    """Bars it held the position (``exit`` bar minus ``entry`` bar)."""
    ret: float
    """Compounded return over its bars, costs included."""
    cost: float
    """Costs it paid (entry, size changes, exit), as a return."""


class BarMark(NamedTuple):
    """One bar of a paper book (:meth:`PaperBook.on_bar`)."""

    timestamp: pd.Timestamp
    """The bar's open time (UTC)."""
    position: float
    """Position held during the bar (the previous bar's target, filled at this bar's open)."""
    ret: float
    """The book's return over the bar, net of ``cost``."""
    cost: float
    """``cost_bps / 1e4 * |position - previous position|``."""
    target: float
    """This bar's decision (0.0 for None), filled at the next bar's open."""
    trade: Trade | None
    """The trade this bar's fill closed, if any."""


def _side(x: float) -> int:
    return (x > 0.0) - (x < 0.0)


def _price(value: Any, name: str, ts: pd.Timestamp) -> float:
    price = float(value)
    if not (math.isfinite(price) and price > 0.0):
        raise ValueError(f"`{name}` must be a positive finite price, got `{name}={value!r}` at "
                         f"bar {ts}")
    return price


def _target(value: Any, ts: pd.Timestamp) -> float:
    if value is None:
        return 0.0
    target = float(value)
    if not (math.isfinite(target) and -1.0 <= target <= 1.0):
        raise ValueError(f"`target` must be None or in [-1, 1], got `target={value!r}` at bar {ts}")
    return target


def _check_cost(cost_bps: Any) -> float:
    cost = float(cost_bps)
    if not (math.isfinite(cost) and cost >= 0.0):
        raise ValueError(f"`cost_bps` must be a finite number >= 0, got `cost_bps={cost_bps!r}`")
    return cost


class _OpenTrade:
    """The running trade of a book: its side, entry, bars held, growth factor and costs."""

    __slots__ = ("bars", "cost", "entry", "growth", "side")

    def __init__(self, side: int, entry: pd.Timestamp, bars: int, growth: float,
                 cost: float) -> None:
        self.side, self.entry, self.bars, self.growth, self.cost = side, entry, bars, growth, cost


class PaperBook:
    """A version's paper account, advanced one bar at a time (see the module notes).

    Parameters
    ----------
    cost_bps : float
        Cost per unit of position traded, in basis points (fees plus slippage), e.g.
        ``ValidationConfig.transaction_cost_bps``.

    Examples
    --------
    >>> book = PaperBook(cost_bps=10.0)
    >>> book.on_bar("2024-01-01 00:00", 100.0, 100.0, target=1.0).ret
    0.0
    >>> round(book.on_bar("2024-01-01 00:30", 101.0, 102.0, target=None).ret, 6)
    0.008901
    """

    def __init__(self, cost_bps: float) -> None:
        self.cost_bps = _check_cost(cost_bps)
        self._c = self.cost_bps / 10_000.0
        self._last: pd.Timestamp | None = None
        self._last_close: float | None = None
        self._position = 0.0
        self._target = 0.0
        self._n_bars = 0
        self._trade: _OpenTrade | None = None

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        """Open time of the newest bar marked (None before the first)."""
        return self._last

    @property
    def position(self) -> float:
        """Position held during the newest bar."""
        return self._position

    @property
    def target(self) -> float:
        """The newest decision, filled at the next bar's open."""
        return self._target

    @property
    def n_bars(self) -> int:
        """Bars marked so far."""
        return self._n_bars

    @property
    def open_side(self) -> int:
        """Side of the running (unresolved) trade: +1, -1, or 0 when flat."""
        return 0 if self._trade is None else self._trade.side

    def on_bar(self, timestamp: Any, open: float, close: float,  # noqa: A002
               target: float | None) -> BarMark:
        """Mark bar ``timestamp``: fill the previous bar's target at ``open``, earn to ``close``,
        and take ``target`` (this bar's decision; None = HOLD = flat) for the next bar.

        Raises
        ------
        ValueError
            A timestamp at or before the newest bar's (repeated or out of order), a price that is
            not positive and finite, or a target outside ``[-1, 1]``; the book is unchanged.
        """
        ts = utc_timestamp(timestamp, "timestamp")
        if self._last is not None and ts <= self._last:
            kind = "repeats" if ts == self._last else "is before"
            raise ValueError(f"`timestamp={ts}` {kind} the book's newest bar {self._last}: bars "
                             f"must come in increasing time")
        o, cl = _price(open, "open", ts), _price(close, "close", ts)
        new_target = _target(target, ts)
        c, prev, new = self._c, self._position, self._target
        gap = 0.0 if self._last_close is None else o / self._last_close - 1.0
        move = cl / o - 1.0
        cost = c * abs(new - prev)
        ret = prev * gap + new * move - cost
        closed = self._advance_trade(ts, prev, new, gap, move, ret, cost)
        self._last, self._last_close = ts, cl
        self._position, self._target = new, new_target
        self._n_bars += 1
        return BarMark(ts, new, ret, cost, new_target, closed)

    def _advance_trade(self, ts: pd.Timestamp, prev: float, new: float, gap: float, move: float,
                       ret: float, cost: float) -> Trade | None:
        side_prev, side_new = _side(prev), _side(new)
        trade = self._trade
        if side_prev == side_new:
            if trade is not None:
                trade.growth *= 1.0 + ret
                trade.cost += cost
                trade.bars += 1
            return None
        closed = None
        c = self._c
        if trade is not None:
            trade.growth *= 1.0 + (prev * gap - c * abs(prev))
            trade.cost += c * abs(prev)
            closed = Trade(trade.entry, ts, trade.side, trade.bars, trade.growth - 1.0,
                           trade.cost)
        self._trade = None if side_new == 0 else _OpenTrade(
            side_new, ts, 1, 1.0 + (new * move - c * abs(new)), c * abs(new))
        return closed

    # -- persistence -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the book needs to continue, as JSON-able values (floats round-trip
        exactly through :mod:`json`); :meth:`from_state` resumes it."""
        trade = self._trade
        return {
            "format": STATE_FORMAT,
            "cost_bps": self.cost_bps,
            "last": None if self._last is None else self._last.isoformat(),
            "last_close": self._last_close,
            "position": self._position,
            "target": self._target,
            "n_bars": self._n_bars,
            "trade": None if trade is None else {
                "side": trade.side, "entry": trade.entry.isoformat(), "bars": trade.bars,
                "growth": trade.growth, "cost": trade.cost},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PaperBook:
        """The book :meth:`state` described; its next bar gives what the original's would.

        Raises
        ------
        ValueError
            A state of another format or with missing keys.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"`state` must be a PaperBook state of format {STATE_FORMAT}, got "
                             f"format={found!r}")
        try:
            book = cls(state["cost_bps"])
            last = state["last"]
            book._last = None if last is None else utc_timestamp(last, "state['last']")
            book._last_close = state["last_close"]
            book._position = float(state["position"])
            book._target = float(state["target"])
            book._n_bars = int(state["n_bars"])
            trade = state["trade"]
            if trade is not None:
                entry = utc_timestamp(trade["entry"], "state['trade']['entry']")
                book._trade = _OpenTrade(int(trade["side"]), entry,
                                         int(trade["bars"]), float(trade["growth"]),
                                         float(trade["cost"]))
        except KeyError as exc:
            raise ValueError(f"`state` lacks the key {exc.args[0]!r}") from exc
        return book


# -- frames -----------------------------------------------------------------------------------

def marks_frame(marks: Sequence[BarMark]) -> pd.DataFrame:
    """Marks from :meth:`PaperBook.on_bar` as a frame: :data:`MARK_COLUMNS` on their UTC times."""
    index = pd.DatetimeIndex([m.timestamp for m in marks], name="timestamp",
                             tz="UTC").as_unit("ns")
    return pd.DataFrame({name: np.array([getattr(m, name) for m in marks], dtype=np.float64)
                         for name in MARK_COLUMNS}, index=index)


def trades_frame(trades: Sequence[Trade]) -> pd.DataFrame:
    """Trades as a frame of :data:`TRADE_COLUMNS` (times UTC, ``side``/``bars`` int64)."""
    return pd.DataFrame({
        "entry": pd.DatetimeIndex([t.entry for t in trades], tz="UTC").as_unit("ns"),
        "exit": pd.DatetimeIndex([t.exit for t in trades], tz="UTC").as_unit("ns"),
        "side": np.array([t.side for t in trades], dtype=np.int64),
        "bars": np.array([t.bars for t in trades], dtype=np.int64),
        "ret": np.array([t.ret for t in trades], dtype=np.float64),
        "cost": np.array([t.cost for t in trades], dtype=np.float64),
    })


def _check_bars(bars: Any) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError(f"`bars` must be a DataFrame on a DatetimeIndex, got "
                         f"{type(bars).__name__}")
    missing = [name for name in ("open", "close") if name not in bars.columns]
    if missing:
        raise ValueError(f"`bars` lacks the column(s) {missing}")
    index = bars.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        kind = "repeats" if steps[k - 1] == 0 else "is before"
        raise ValueError(f"`bars` bar {index[k]} {kind} the bar before it ({index[k - 1]}): "
                         f"bars must come in increasing time")
    prices = {name: bars[name].to_numpy(dtype=np.float64) for name in ("open", "close")}
    for name, values in prices.items():
        bad = ~(np.isfinite(values) & (values > 0.0))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"`{name}` must be a positive finite price, got "
                             f"`{name}={float(values[k])!r}` at bar {index[k]}")
    return (pd.DatetimeIndex(index, freq=None, name="timestamp").as_unit("ns"), prices["open"],
            prices["close"])


def _check_targets(targets: Any, bars: pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    if not isinstance(targets, pd.Series):
        raise ValueError(f"`targets` must be a pandas Series, got {type(targets).__name__}")
    extra = targets.index.difference(bars.index)
    if len(extra):
        raise ValueError(f"`targets` has {len(extra)} time(s) that are not bars, first "
                         f"{extra[0]}")
    values = targets.reindex(bars.index).to_numpy(dtype=np.float64)
    values = np.where(np.isnan(values), 0.0, values)  # None/NaN: HOLD, flat
    bad = ~(np.isfinite(values) & (np.abs(values) <= 1.0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`targets` must be NaN or in [-1, 1], got "
                         f"`target={float(values[k])!r}` at bar {index[k]}")
    return values


def paper_returns(bars: pd.DataFrame, targets: pd.Series,
                  cost_bps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The marks and resolved trades of a fresh :class:`PaperBook` fed ``bars`` and ``targets``.

    Vectorised; equal to the book bar by bar, to the bit (same operations in the same order).

    Parameters
    ----------
    bars : pandas.DataFrame
        Columns ``open`` and ``close`` (positive, finite) on an increasing DatetimeIndex (naive
        times are taken as UTC).
    targets : pandas.Series of float
        Each bar's decision in ``[-1, 1]`` (``signal * size``); NaN or a missing bar is HOLD
        (flat). Its index must be a subset of ``bars.index``.
    cost_bps : float
        Cost per unit of position traded, in basis points.

    Returns
    -------
    marks : pandas.DataFrame
        :data:`MARK_COLUMNS` on the bars' UTC times.
    trades : pandas.DataFrame
        :data:`TRADE_COLUMNS`, the resolved trades in order of exit (a trade still open at the
        last bar is not included).

    Raises
    ------
    ValueError
        Repeated or out-of-order bars, bad prices or targets (named with their bar), or a
        negative ``cost_bps``.
    """
    c = _check_cost(cost_bps) / 10_000.0
    index, o, cl = _check_bars(bars)
    target = _check_targets(targets, bars, index)
    n = len(index)
    new = np.concatenate([[0.0], target[:-1]])[:n]
    prev = np.concatenate([[0.0], new[:-1]])[:n]
    gap = np.zeros(n)
    gap[1:] = o[1:] / cl[:-1] - 1.0
    move = cl / o - 1.0
    cost = c * np.abs(new - prev)
    ret = prev * gap + new * move - cost
    marks = pd.DataFrame({"position": new, "ret": ret, "cost": cost, "target": target},
                         index=index)
    return marks, _batch_trades(index, prev, new, gap, move, ret, cost, c)


def _batch_trades(index: pd.DatetimeIndex, prev: np.ndarray, new: np.ndarray, gap: np.ndarray,
                  move: np.ndarray, ret: np.ndarray, cost: np.ndarray, c: float) -> pd.DataFrame:
    """Resolved trades of :func:`paper_returns`: runs of one nonzero side, each compounded with
    ``cumprod`` and its costs summed with ``cumsum`` (sequential, as the book does)."""
    side = np.sign(new).astype(np.int64)
    starts = np.flatnonzero((side != 0) & (side != np.concatenate([[0], side[:-1]])))
    changes = np.flatnonzero(side[1:] != side[:-1]) + 1
    r_open, cost_open = new * move - c * np.abs(new), c * np.abs(new)
    r_close, cost_close = prev * gap - c * np.abs(prev), c * np.abs(prev)
    trades: list[Trade] = []
    for a in starts:
        later = changes[changes > a]
        if not len(later):
            break  # still open at the last bar: unresolved
        b = int(later[0])
        growth = np.cumprod(1.0 + np.concatenate([[r_open[a]], ret[a + 1:b], [r_close[b]]]))
        paid = np.cumsum(np.concatenate([[cost_open[a]], cost[a + 1:b], [cost_close[b]]]))
        trades.append(Trade(index[a], index[b], int(side[a]), b - int(a),
                            float(growth[-1] - 1.0), float(paid[-1])))
    return trades_frame(trades)
