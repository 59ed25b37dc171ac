"""Shadow scoring: every new bar through each version's live stream into its paper book.

The champion and a candidate (in shadow or a rollout stage) each see the same bars through their
own :class:`~ml_core.pipeline.PipelineStream`; each bar's :class:`LiveSignal` becomes a target
position ``signal * size`` (None while a feature warms up: HOLD, flat), which the version's
:class:`~ml_core.lifecycle._paper.PaperBook` fills at the next bar's open. Marks and trades go to
the :class:`~tasks.ledger.Ledger` in blocks, each block in one transaction with the book's state.

Every paper book trades the version's own full size: a rollout stage's ``size_fraction``
scales live capital, not the paper record the stages are judged on.

Warm-up and replay
------------------
A stream must see history before its signals mean anything (features need up to a few hundred
bars). The caller passes that history first, in the same frame, and says how many bars it is
(``warmup``): those bars only advance the streams. After them, a bar is recorded in a version's
book only when it is newer than the book's newest recorded bar; older ones (a re-run over bars
already scored, or the history a later run passes again) advance the stream only. So a daily
run can pass "the last N bars" every time, and a retried run records nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_core.lifecycle._holding import SignalHolder
from ml_core.lifecycle._paper import BarMark
from ml_core.pipeline._stream import BarRejected, PipelineStream
from tasks.ledger import Ledger

__all__ = ["ShadowResult", "shadow_score"]

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class ShadowResult:
    """What one :func:`shadow_score` call did.

    Attributes
    ----------
    n_bars : int
        Bars given (warm-up included).
    n_scored : int
        Bars every stream took (``n_bars`` minus ``refused``).
    refused : tuple of (pandas.Timestamp or None, str, str)
        Each refused bar's time, the rule it broke and the stream's message; skipped for every
        version.
    marks : dict of str to int
        Per version: marks newly recorded in its book.
    replayed : dict of str to int
        Per version: bars after the warm-up its book had already recorded (not recorded again).
    trades : dict of str to int
        Per version: trades resolved by the newly recorded marks.
    signals : dict of str to int
        Per version: recorded bars whose decision was BUY or SELL.
    """

    n_bars: int
    n_scored: int
    refused: tuple[tuple[pd.Timestamp | None, str, str], ...]
    marks: dict[str, int]
    replayed: dict[str, int]
    trades: dict[str, int]
    signals: dict[str, int]


def _check(bars: pd.DataFrame, versions: Mapping[str, PipelineStream], warmup: int,
           block: int) -> None:
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError(f"`bars` must be a DataFrame on a DatetimeIndex, got "
                         f"{type(bars).__name__}")
    missing = [name for name in BAR_COLUMNS if name not in bars.columns]
    if missing:
        raise ValueError(f"`bars` lacks the column(s) {missing}")
    if not versions:
        raise ValueError("`versions` must name at least one version's stream, got none")
    if not 0 <= warmup <= len(bars):
        raise ValueError(f"`warmup` must be in [0, len(bars)] = [0, {len(bars)}], got "
                         f"`warmup={warmup}`")
    if block < 1:
        raise ValueError(f"`block` must be >= 1, got `block={block}`")


def shadow_score(bars: pd.DataFrame, versions: Mapping[str, PipelineStream], ledger: Ledger,
                 model_name: str, cost_bps: float, *, warmup: int = 0,
                 block: int = 500, max_holding: int | None = None) -> ShadowResult:
    """Feed ``bars`` to every version's stream and record their paper books in ``ledger``.

    Parameters
    ----------
    bars : pandas.DataFrame
        Canonical bars (``open, high, low, close, volume`` on a UTC DatetimeIndex), oldest
        first: the streams' warm-up history, then the bars to score.
    versions : mapping of str to PipelineStream
        Each version's fresh stream (``load_pipeline(dir).stream()``), e.g. the champion and
        the candidate. Every stream sees every bar.
    ledger : Ledger
        Where the books are read from (resumed) and recorded.
    model_name : str
        The registered model the versions belong to.
    cost_bps : float
        Paper trading cost per unit of position, in basis points
        (``validation.transaction_cost_bps``).
    warmup : int
        Leading bars that only warm the streams up; nothing is recorded for them.
    block : int
        Marks per version written in one transaction (a crash loses at most the block in hand;
        the next run, fed the same bars, records it then).
    max_holding : int, optional
        Hold each signal's position up to this many bars (:class:`~ml_core.lifecycle
        ._holding.SignalHolder`: the labels' vertical barrier); None: the position of each
        bar's own decision. The holder runs over the warm-up bars too, so a run resumed after
        a warm-up longer than ``max_holding`` holds what an uninterrupted one would.

    Returns
    -------
    ShadowResult

    Raises
    ------
    ValueError
        ``bars`` without the bar columns or a DatetimeIndex, no versions, ``warmup`` outside
        ``[0, len(bars)]``, ``block < 1``.
    tasks.ledger.LedgerError
        The ledger cannot be reached or refuses a block (a replay that differs from what it
        recorded); the blocks written before stay.

    Notes
    -----
    A bar a stream refuses (:class:`~ml_core.pipeline.BarRejected`: repeated, out of order,
    off the bar grid, impossible prices) is checked against every stream first and skipped for
    all of them, so the versions always see the same bars; the books never mark it.
    """
    _check(bars, versions, warmup, block)
    names = [str(name) for name in versions]
    streams = list(versions.values())
    books = {name: ledger.book(model_name, name, cost_bps) for name in names}
    holders = None if max_holding is None else [SignalHolder(max_holding) for _ in names]
    pending: dict[str, list[BarMark]] = {name: [] for name in names}
    counts = {key: dict.fromkeys(names, 0) for key in ("marks", "replayed", "trades", "signals")}
    refused: list[tuple[pd.Timestamp | None, str, str]] = []
    index = bars.index.tz_localize("UTC") if bars.index.tz is None else bars.index.tz_convert(
        "UTC")
    values = bars[list(BAR_COLUMNS)].to_numpy(dtype=np.float64)

    def flush(name: str) -> None:
        if pending[name]:
            counts["marks"][name] += ledger.record(model_name, name, books[name], pending[name])
            pending[name] = []

    for i, ts in enumerate(index):
        o, h, low, c, v = values[i].tolist()
        try:
            for stream in streams:
                stream.check(ts, o, h, low, c, v)
        except BarRejected as exc:
            refused.append((exc.timestamp, exc.rule, str(exc)))
            continue
        live = [stream.on_bar(ts, o, h, low, c, v) for stream in streams]
        targets = [None if signal is None else signal.signal * signal.size for signal in live]
        if holders is not None:
            targets = [holder.update(t) for holder, t in zip(holders, targets, strict=True)]
        if i < warmup:
            continue
        for name, signal, target in zip(names, live, targets, strict=True):
            book = books[name]
            if book.last_timestamp is not None and ts <= book.last_timestamp:
                counts["replayed"][name] += 1
                continue
            mark = book.on_bar(ts, o, c, target)
            counts["trades"][name] += mark.trade is not None
            counts["signals"][name] += signal is not None and signal.signal != 0
            pending[name].append(mark)
            if len(pending[name]) >= block:
                flush(name)
    for name in names:
        flush(name)
    return ShadowResult(n_bars=len(bars), n_scored=len(bars) - len(refused),
                        refused=tuple(refused), **counts)
