"""The walk-forward of the whole MLOps loop: what a backfill says the live system would have done.

A backfill retrains at each ``as_of`` of a schedule (:func:`backfill_schedule`), applies the
promotion rule to each new version in order (:func:`champion_chain`), and lets the champion of each
moment trade the bars until the next ``as_of`` (:func:`replay_periods`, :func:`decision_bars`,
:func:`replay_returns`), against holding the asset. :func:`loop_table` puts the three together,
one row per ``as_of``.

Timing convention (causal): a bar is indexed by its open time and closes ``timeframe`` later. A
position is decided at a bar's close from the bars closed by then and held to the next bar's close,
earning that next bar's return. Period ``k`` earns the returns of the bars whose close falls in
``(start_k, end_k]``, so the champion named at ``as_of_k`` decides at closes in
``[as_of_k, end_k)``: it has seen nothing later than the bar it acts on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ml_core._durations import parse_duration
from ml_core.data import utc_timestamp
from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics, check_close

__all__ = [
    "LOOP_COLUMNS",
    "ChainStep",
    "EmptyRangeError",
    "LoopReplay",
    "PromotionRule",
    "backfill_schedule",
    "champion_chain",
    "decision_bars",
    "exposure",
    "loop_table",
    "replay_periods",
    "replay_returns",
    "schedule_in_span",
]

PromotionRule = Callable[[float, "float | None", float], "tuple[str | None, str]"]
"""``rule(score, champion_score, min_improvement) -> (alias, reason)``, as
``tasks.registry.decide_promotion``: alias ``"champion"``, ``"challenger"`` or None."""

_CHAMPION = "champion"


def backfill_schedule(start: datetime | str, end: datetime | str,
                      every: timedelta | str = "7d") -> list[pd.Timestamp]:
    """The ``as_of`` moments of a backfill: ``start``, ``start + every``, ... up to ``end``.

    Parameters
    ----------
    start, end : datetime or str
        First moment and the last one allowed (inclusive); naive means UTC.
    every : timedelta or str, default "7d"
        Spacing, as :func:`ml_core._durations.parse_duration` reads it (``"7d"``, ``"12h"``).

    Returns
    -------
    list of pandas.Timestamp
        UTC moments, increasing; ``[start]`` when ``start == end``.

    Raises
    ------
    ValueError
        Naming the parameter and its value: a date that cannot be read, ``start`` after ``end``,
        or ``every`` not a positive duration.

    Examples
    --------
    >>> [t.isoformat() for t in backfill_schedule("2024-01-01", "2024-01-15", "7d")]
    ['2024-01-01T00:00:00+00:00', '2024-01-08T00:00:00+00:00', '2024-01-15T00:00:00+00:00']
    """
    first = utc_timestamp(start, "start")
    last = utc_timestamp(end, "end")
    if first > last:
        raise ValueError(f"`start` must not be after `end`, got `start={first.isoformat()}`, "
                         f"`end={last.isoformat()}`")
    try:
        step = parse_duration(every)
    except ValueError as exc:
        raise ValueError(f"`every` must be a duration such as '7d' or '12h', got "
                         f"`every={every!r}`") from exc
    if step <= timedelta(0):
        raise ValueError(f"`every` must be a positive duration, got `every={every!r}`")
    count = int((last - first) // pd.Timedelta(step)) + 1
    return [first + k * pd.Timedelta(step) for k in range(count)]


class EmptyRangeError(ValueError):
    """A backfill range with no bars to train on before it or to replay after it."""


def _bar_span(index: pd.DatetimeIndex, timeframe: timedelta) -> str:
    if len(index) == 0:
        return "the data holds no bars"
    tf = pd.Timedelta(timeframe)
    return (f"the data holds {len(index):,} bars closing from {(index[0] + tf).isoformat()} to "
            f"{(index[-1] + tf).isoformat()}")


def schedule_in_span(as_ofs: Sequence[pd.Timestamp], index: pd.DatetimeIndex,
                     timeframe: timedelta) -> list[pd.Timestamp]:
    """The ``as_of`` moments that have bars to train on and bars to replay after them.

    Keeps ``as_of`` with ``first_close <= as_of < last_close``, where ``first_close`` and
    ``last_close`` are the closes of the first and last bar: before the first close nothing can be
    trained, and from the last close on there is no bar left to trade.

    Parameters
    ----------
    as_ofs : sequence of pandas.Timestamp
        :func:`backfill_schedule`'s moments.
    index : pandas.DatetimeIndex
        Open times of the bars available (sorted).
    timeframe : timedelta
        Bar length.

    Returns
    -------
    list of pandas.Timestamp
        The moments kept, in order.

    Raises
    ------
    EmptyRangeError
        When none is kept, naming the range and the data's span.
    """
    if not as_ofs:
        raise ValueError("`as_ofs` must hold at least one moment, got `as_ofs=[]`")
    tf = pd.Timedelta(timeframe)
    if len(index):
        first_close, last_close = index[0] + tf, index[-1] + tf
        kept = [a for a in as_ofs if first_close <= a < last_close]
    else:
        kept = []
    if not kept:
        raise EmptyRangeError(f"no bars in the backfill range {as_ofs[0].isoformat()} .. "
                              f"{as_ofs[-1].isoformat()}: {_bar_span(index, timeframe)}; "
                              "choose --start and --end inside that span")
    return kept


@dataclass(frozen=True)
class ChainStep:
    """The promotion rule applied to one backfilled version, in ``as_of`` order.

    ``alias`` and ``reason`` are the rule's answer; ``champion`` and ``champion_score`` name the
    champion after the decision (None while there is none).
    """

    version: str
    score: float
    alias: str | None
    reason: str
    champion: str | None
    champion_score: float | None


def champion_chain(candidates: Sequence[tuple[str, float]], rule: PromotionRule,
                   min_improvement: float = 0.0, champion: tuple[str, float] | None = None
                   ) -> list[ChainStep]:
    """Replay the promotion rule over versions registered in ``as_of`` order.

    Each version faces the champion left by the ones before it, as the live system would have
    had it; the first faces ``champion`` (default: none).

    Parameters
    ----------
    candidates : sequence of (version, score)
        In ``as_of`` order; ``score`` is the version's promotion score (NaN when undefined).
    rule : callable
        ``rule(score, champion_score, min_improvement) -> (alias, reason)``
        (:data:`PromotionRule`); a version becomes champion when the alias is ``"champion"``.
    min_improvement : float, default 0
        Passed to ``rule``.
    champion : (version, score), optional
        The champion before the first candidate.

    Returns
    -------
    list of ChainStep
        One per candidate.

    Examples
    --------
    >>> rule = lambda s, c, m: ("champion", "") if c is None or s > c + m else ("challenger", "")
    >>> [s.champion for s in champion_chain([("1", 0.5), ("2", 0.4), ("3", 0.9)], rule)]
    ['1', '1', '3']
    """
    if not min_improvement >= 0:
        raise ValueError(f"`min_improvement` must be non-negative, got "
                         f"`min_improvement={min_improvement}`")
    current, current_score = champion if champion is not None else (None, None)
    steps = []
    for version, score in candidates:
        alias, reason = rule(float(score), current_score, min_improvement)
        if alias == _CHAMPION:
            current, current_score = version, float(score)
        steps.append(ChainStep(str(version), float(score), alias, reason, current, current_score))
    return steps


def replay_periods(as_ofs: Sequence[pd.Timestamp], every: timedelta,
                   last_close: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``(start, end)`` of the span each ``as_of``'s champion trades: to the next ``as_of``, and
    for the last one to ``as_of + every`` or the last bar's close, whichever comes first.

    Examples
    --------
    >>> a = [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-08", tz="UTC")]
    >>> [(s.day, e.day) for s, e in replay_periods(a, timedelta(days=7),
    ...                                            pd.Timestamp("2024-01-10", tz="UTC"))]
    [(1, 8), (8, 10)]
    """
    if not as_ofs:
        raise ValueError("`as_ofs` must hold at least one moment, got `as_ofs=[]`")
    if any(b <= a for a, b in zip(as_ofs, as_ofs[1:])):
        raise ValueError("`as_ofs` must be strictly increasing")
    if every <= timedelta(0):
        raise ValueError(f"`every` must be a positive duration, got `every={every}`")
    ends = [*as_ofs[1:], min(as_ofs[-1] + pd.Timedelta(every), last_close)]
    return list(zip(as_ofs, ends))


def decision_bars(index: pd.DatetimeIndex, timeframe: timedelta, start: pd.Timestamp,
                  end: pd.Timestamp) -> pd.DatetimeIndex:
    """Open times of the bars at whose close a position for the period ``(start, end]`` is set.

    These are the bars just before each bar whose close falls in ``(start, end]``: the rows of the
    champion's signals a replay reads.

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    >>> [t.hour for t in decision_bars(idx, timedelta(hours=1), idx[1], idx[4])]
    [0, 1, 2]
    """
    held = _held_bars(index, timeframe, start, end)
    return index[held - 1]


def _held_bars(index: pd.DatetimeIndex, timeframe: timedelta, start: pd.Timestamp,
               end: pd.Timestamp) -> np.ndarray:
    """Positions of the bars whose close falls in ``(start, end]`` and that have a bar before."""
    closes = index + pd.Timedelta(timeframe)
    held = np.flatnonzero((closes > start) & (closes <= end))
    return held[held >= 1]


def exposure(signals: pd.DataFrame) -> pd.Series:
    """``signal * size`` per row: the fraction of equity held long (> 0) or short (< 0).

    Raises
    ------
    ValueError
        If the columns are missing, a signal is not -1, 0 or 1, or a size is outside ``[0, 1]``.
    """
    if not isinstance(signals, pd.DataFrame) or not {"signal", "size"} <= set(signals.columns):
        raise ValueError("`signals` must be a DataFrame with columns 'signal' and 'size'")
    side = signals["signal"].to_numpy(dtype=np.float64)
    if not np.isin(side, (-1.0, 0.0, 1.0)).all():
        raise ValueError(f"`signals['signal']` must be -1, 0 or 1, got {np.unique(side).tolist()}")
    size = signals["size"].to_numpy(dtype=np.float64)
    if not ((size >= 0) & (size <= 1)).all():
        raise ValueError("`signals['size']` must lie in [0, 1]")
    return pd.Series(side * size, index=signals.index, name="exposure")


@dataclass(frozen=True)
class LoopReplay:
    """The replay of a champion chain on the bars.

    Attributes
    ----------
    periods : pandas.DataFrame
        One row per period: ``period_start``, ``period_end``, ``bars`` (bar returns earned),
        ``trades`` (bars at whose close the position changed, entries and exits included),
        ``strategy_return`` (compounded, net of costs), ``buy_and_hold_return``, and the cumulative
        ``strategy_equity`` and ``buy_and_hold_equity`` at the period's end (1 at the start).
    equity : pandas.DataFrame
        Columns ``strategy`` and ``buy_and_hold``, indexed by bar close time, starting at 1.0 at the
        first period's start.
    """

    periods: pd.DataFrame
    equity: pd.DataFrame


def replay_returns(close: pd.Series, timeframe: timedelta,
                   periods: Sequence[tuple[pd.Timestamp, pd.Timestamp]],
                   positions: Sequence[pd.Series | None], cost_bps: float) -> LoopReplay:
    """Trade each period's exposure on the bars, with costs, against buy-and-hold.

    Over every bar ``j`` whose close falls in a period, the account holds the exposure decided at
    the previous bar's close, ``p_{j-1}`` (that period's ``positions`` at :func:`decision_bars`;
    0 where it has no row, e.g. no champion), and earns
    ``p_{j-1} * r_j - cost_bps / 1e4 * |p_{j-1} - p_{j-2}|`` with
    ``r_j = close_j / close_{j-1} - 1`` (:func:`ml_core.metrics.strategy_returns`). The position carries from one period to the
    next, and the first is entered from flat, so a change of champion pays only for the change
    of position. Buy-and-hold holds 1 over the same bars, without costs
    (:func:`~ml_core.evaluation.buy_and_hold_metrics`).

    Parameters
    ----------
    close : pandas.Series of float
        Close prices indexed by bar open time (sorted, positive).
    timeframe : timedelta
        Bar length.
    periods : sequence of (start, end)
        :func:`replay_periods`: increasing and not overlapping.
    positions : sequence of pandas.Series or None
        Per period, the exposure (in ``[-1, 1]``, e.g. :func:`exposure`) indexed by bar open time;
        None means flat (no champion).
    cost_bps : float
        Cost per unit of exposure changed, in basis points.

    Returns
    -------
    LoopReplay
    """
    from ml_core.metrics import strategy_returns

    close = check_close(close)
    if not periods:
        raise ValueError("`periods` must hold at least one period, got `periods=[]`")
    if len(positions) != len(periods):
        raise ValueError(f"`positions` must hold one entry per period, got {len(positions)} for "
                         f"{len(periods)} periods")
    if any(b[0] < a[1] for a, b in zip(periods, periods[1:])):
        raise ValueError("`periods` must be increasing and must not overlap")
    if not cost_bps >= 0:
        raise ValueError(f"`cost_bps` must be non-negative, got `cost_bps={cost_bps}`")
    prices = close.to_numpy()
    held = [_held_bars(close.index, timeframe, start, end) for start, end in periods]
    pos = []
    for rows, exposure_k in zip(held, positions):
        decided = close.index[rows - 1]
        values = (np.zeros(rows.size) if exposure_k is None
                  else exposure_k.reindex(decided).fillna(0.0).to_numpy(dtype=np.float64))
        if np.abs(values).max(initial=0.0) > 1:
            raise ValueError("`positions` must lie in [-1, 1]")
        pos.append(values)
    every_row, exposures = np.concatenate(held), np.concatenate(pos)
    asset = prices[every_row] / prices[every_row - 1] - 1.0
    net = strategy_returns(exposures, asset, cost_bps) if every_row.size else asset
    changes = np.abs(np.diff(exposures, prepend=0.0)) > 0

    rows_out, equity_s, equity_b, offset = [], 1.0, 1.0, 0
    for (start, end), rows in zip(periods, held):
        part = slice(offset, offset + rows.size)
        offset += rows.size
        strat = float(np.prod(1.0 + net[part]) - 1.0) if rows.size else math.nan
        market = (buy_and_hold_metrics(close, close.index[rows[0] - 1],
                                       close.index[rows[-1]])["total_return"]
                  if rows.size else math.nan)
        equity_s *= 1.0 + (0.0 if math.isnan(strat) else strat)
        equity_b *= 1.0 + (0.0 if math.isnan(market) else market)
        rows_out.append({"period_start": start, "period_end": end, "bars": int(rows.size),
                         "trades": int(np.count_nonzero(changes[part])),
                         "strategy_return": strat, "buy_and_hold_return": market,
                         "strategy_equity": equity_s, "buy_and_hold_equity": equity_b})
    times = close.index[every_row] + pd.Timedelta(timeframe)
    equity = pd.DataFrame(
        {"strategy": np.cumprod(np.concatenate([[1.0], 1.0 + net])),
         "buy_and_hold": np.cumprod(np.concatenate([[1.0], 1.0 + asset]))},
        index=pd.DatetimeIndex([periods[0][0], *times], name="time"))
    return LoopReplay(periods=pd.DataFrame(rows_out), equity=equity)


LOOP_COLUMNS: tuple[str, ...] = (
    "as_of", "version", "score", "decision", "champion", "period_start", "period_end", "bars",
    "trades", "strategy_return", "buy_and_hold_return", "strategy_equity", "buy_and_hold_equity")
"""Columns of :func:`loop_table`, in order."""


def loop_table(as_ofs: Sequence[pd.Timestamp], chain: Sequence[ChainStep],
               replay: LoopReplay) -> pd.DataFrame:
    """One row per ``as_of``: the version trained, its score, the rule's decision, the champion
    that traded the period, and the period's figures (:data:`LOOP_COLUMNS`)."""
    if not len(as_ofs) == len(chain) == len(replay.periods):
        raise ValueError(f"`as_ofs`, `chain` and `replay.periods` must have one row per as_of, "
                         f"got {len(as_ofs)}, {len(chain)} and {len(replay.periods)}")
    head = pd.DataFrame({
        "as_of": list(as_ofs),
        "version": [s.version for s in chain],
        "score": [s.score for s in chain],
        "decision": [s.alias or "rejected" for s in chain],
        "champion": pd.Series([s.champion for s in chain], dtype=object),  # None: no champion
    })
    return pd.concat([head, replay.periods.reset_index(drop=True)], axis=1)[list(LOOP_COLUMNS)]
