"""How a paper book holds a signal: as the model's labels hold a trade.

The ensemble is trained on triple-barrier events: a BUY or SELL at bar ``t`` is a bet held until
its barriers, at most ``labels.max_holding`` bars. Its live signal, though, is HOLD on most bars,
including the bars right after a BUY, because HOLD means "no new bet here", not "close the bet".
A book that went flat on every HOLD would open and close a position on every signal, pay the
costs twice per bar and earn one bar of an edge that the model bet on over many. So a book holds
each signal's position for up to ``max_bars`` bars: a new BUY or SELL replaces it (and restarts
the count), a HOLD keeps it until the count runs out (the vertical barrier; the take-profit and
stop-loss barriers are left out: their width moves with volatility the book does not track).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SignalHolder", "hold_targets"]


def _check_max_bars(max_bars: int) -> int:
    if not isinstance(max_bars, (int, np.integer)) or isinstance(max_bars, bool) or max_bars < 1:
        raise ValueError(f"max_bars must be a positive integer, got max_bars={max_bars!r}")
    return int(max_bars)


class SignalHolder:
    """Turn each bar's decision (``signal * size``; 0, NaN or None = HOLD) into the position
    to hold, keeping a bet for up to ``max_bars`` bars.

    Examples
    --------
    >>> holder = SignalHolder(max_bars=3)
    >>> [holder.update(x) for x in (0.5, None, 0.0, 0.0, -1.0, 0.0)]
    [0.5, 0.5, 0.5, 0.0, -1.0, -1.0]
    """

    def __init__(self, max_bars: int) -> None:
        self.max_bars = _check_max_bars(max_bars)
        self._held = 0.0
        self._age = 0

    def update(self, target: float | None) -> float:
        """The position to take at this bar, given its decision ``target``."""
        if target is not None and not math.isnan(target) and target != 0.0:
            self._held, self._age = float(target), 0
        elif self._held != 0.0:
            self._age += 1
            if self._age >= self.max_bars:
                self._held, self._age = 0.0, 0
        return self._held

    def state(self) -> dict[str, Any]:
        """JSON-able state; :meth:`from_state` resumes it."""
        return {"max_bars": self.max_bars, "held": self._held, "age": self._age}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SignalHolder:
        holder = cls(state["max_bars"])
        holder._held, holder._age = float(state["held"]), int(state["age"])
        return holder


def hold_targets(targets: pd.Series, max_bars: int) -> pd.Series:
    """:class:`SignalHolder` over a series of decisions (NaN = HOLD), in order: equal to
    feeding them one by one."""
    holder = SignalHolder(max_bars)
    values = targets.to_numpy(dtype=np.float64)
    out = np.fromiter((holder.update(v) for v in values.tolist()), dtype=np.float64,
                      count=len(values))
    return pd.Series(out, index=targets.index, name=targets.name)
