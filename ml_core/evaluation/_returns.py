"""Per-event strategy returns of a signal, net of trading costs."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["trade_returns"]


def trade_returns(signal: pd.DataFrame, events: pd.DataFrame, cost_bps: float) -> pd.Series:
    """Return of acting on each event's signal, net of costs.

    ``r_i = signal_i * size_i * ret_i - cost_bps / 1e4 * 2 * size_i`` for BUY (+1) and SELL (-1),
    ``0`` for HOLD: a BUY holds ``size_i`` long and a SELL ``size_i`` short from the event start
    ``t0`` to its label end ``t1``, earning the event's realised long return ``ret_i`` (or its
    negative), and pays the cost twice, once to enter and once to leave.

    Events overlap in time, so these are per-bet returns (as in AFML ch. 14), not the bar-by-bar
    returns of one account; compounding them into an equity curve treats the bets as sequential.

    Parameters
    ----------
    signal : pandas.DataFrame
        Columns ``signal`` (+1 / -1 / 0) and ``size`` (in ``[0, 1]``), e.g.
        ``RegimeForestEnsemble.predict``; its index must be a subset of ``events.index``.
    events : pandas.DataFrame
        Triple-barrier events with column ``ret`` (simple return of a long from ``t0`` to ``t1``).
    cost_bps : float
        Cost per unit traded, in basis points (fees plus slippage), charged on entry and on exit.

    Returns
    -------
    pandas.Series of float, named ``trade_return``, on ``signal.index``.

    Examples
    --------
    >>> idx = pd.date_range("2024", periods=3, freq="h")
    >>> sig = pd.DataFrame({"signal": [1, -1, 0], "size": [1.0, 0.5, 0.0]}, index=idx)
    >>> ev = pd.DataFrame({"ret": [0.02, 0.02, 0.05]}, index=idx)
    >>> trade_returns(sig, ev, cost_bps=10).round(6).tolist()
    [0.018, -0.011, 0.0]
    """
    if not isinstance(signal, pd.DataFrame) or not {"signal", "size"} <= set(signal.columns):
        raise ValueError("`signal` must be a DataFrame with columns 'signal' and 'size'")
    if not isinstance(events, pd.DataFrame) or "ret" not in events.columns:
        raise ValueError("`events` must be a DataFrame with a 'ret' column")
    if not cost_bps >= 0:
        raise ValueError(f"`cost_bps` must be non-negative, got `cost_bps={cost_bps}`")
    missing = signal.index.difference(events.index)
    if len(missing):
        raise ValueError(
            f"`signal` has {len(missing)} rows that are not events, first at {missing[0]}"
        )
    side = signal["signal"].to_numpy()
    if not np.isin(side, (-1, 0, 1)).all():
        raise ValueError(f"`signal['signal']` must be -1, 0 or 1, got {np.unique(side).tolist()}")
    size = signal["size"].to_numpy(dtype=np.float64)
    if not ((size >= 0) & (size <= 1)).all():
        raise ValueError("`signal['size']` must lie in [0, 1]")
    ret = events["ret"].reindex(signal.index).to_numpy(dtype=np.float64)
    if not np.isfinite(ret).all():
        raise ValueError("`events['ret']` must be finite on the signal's rows")
    active = side != 0
    out = np.where(active, side * size * ret - cost_bps / 1e4 * 2.0 * size, 0.0)
    return pd.Series(out, index=signal.index, name="trade_return")
