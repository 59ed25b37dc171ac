"""A SIMULATED market with a planted, regime-dependent edge that breaks at a known time.

Real markets give no retrain that passes the promotion gate honestly; these bars do, because
the edge in them is put there on purpose. They exist to show the whole model lifecycle (gate,
shadow, rollout, break, rollback) on data where the truth is known. Never read them as evidence
about any real market.

The market (per base bar ``t``, state ``s`` in bull / bear / sideways order)::

    m_t = sign(r_{t-L} + ... + r_{t-1})                       # the last L bars' direction
    r_t = sigma_s * (mu_s + k_t * edge * phi_s * m_t + eps_t) - a * log(close_{t-1} / start)
    k_t = 1 before the break, post_break from the break on

with ``phi = (+1, -0.6, 0)``: in the bull state the last bars' direction continues (momentum),
in the bear state it reverses (mean reversion, weaker), in the sideways state it says nothing.
The two effects do not cancel on average, so a greedy tree finds the direction first and the
regime next (a pure interaction, equal and opposite, would hide from every single split).
``eps`` is Student-t with unit variance. States follow a persistent Markov chain on regime bars
(a block of ``bars_per_state`` base bars) and differ mainly in volatility, as real regimes do.
A slow pull ``a`` (half-life ``anchor_halflife`` bars) keeps the price in a range, so a seed's
random trend does not dominate long-only results. ``post_break = -1`` inverts the edge at the
break (momentum becomes reversal and reversal momentum), ``0`` removes it.

See ``ml_core/datasets/PLANTED.md`` for the committed file and what a retrain measures on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["PLANTED_SEED", "PlantedMarket", "PlantedSample", "edge_hit_rate", "planted_bars"]

PLANTED_SEED = 7
"""Seed of the committed file ``ml_core/datasets/planted_1h.parquet``."""

_STATES = 3


def _default_transmat() -> tuple[tuple[float, ...], ...]:
    # per regime bar (4 base bars): stays ~1/(1-0.985) = 67 regime bars (~11 days of 1h bars)
    return ((0.985, 0.008, 0.007), (0.010, 0.980, 0.010), (0.007, 0.008, 0.985))


@dataclass(frozen=True)
class PlantedMarket:
    """Parameters of the simulated market (defaults: the committed file).

    Attributes
    ----------
    n_bars : int
        Base bars generated.
    start : str
        Open time of the first bar (UTC).
    freq : str
        Base bar length (a pandas frequency).
    bars_per_state : int
        Base bars per regime bar: the state can change only every this many bars (4 with 1h
        bars: the 4h bars the profile's HMM is fitted on).
    break_fraction : float
        Where the edge breaks, as a share of ``n_bars``; the break is the open time of bar
        ``round(break_fraction * n_bars)``.
    edge : float
        Drift in units of the state's volatility that the last bars' direction adds to the next
        bar (before the break).
    lookback : int
        ``L``: bars whose summed return gives the direction ``m_t``.
    post_break : float
        Multiplier of the edge from the break on: -1 inverts it, 0 removes it.
    post_break_vol : float
        Multiplier of every state's volatility from the break on (2: the market turns twice as
        volatile as it inverts, as real breaks tend to; 1: the edge alone breaks, which the
        trained forests, leaning on volatility and drift as much as on the edge, barely feel).
    phi : tuple of float
        Sign and relative strength of the edge per state (bull, bear, sideways): positive
        momentum, negative reversal, 0 none.
    mu : tuple of float
        Mean return per state, in units of the state's volatility.
    sigma : tuple of float
        Volatility of a base bar's log return per state.
    transmat : tuple of tuple of float
        State transition probabilities per regime bar.
    tail_df : float
        Degrees of freedom of the Student-t noise (fat tails), above 2.
    wick : float
        Typical wick beyond the bar's body, in units of the state's volatility.
    start_price : float
        Open of the first bar.
    anchor_halflife : float or None
        Half-life, in bars, of a slow pull of the log price back to ``log(start_price)`` (336:
        two weeks of 1h bars), so that no seed drifts far up or down over the sample and
        long-only rules are not judged on one lucky trend; None: a pure random walk.
    """

    n_bars: int = 14_592
    start: str = "2024-01-01"
    freq: str = "1h"
    bars_per_state: int = 4
    break_fraction: float = 0.75
    edge: float = 0.6
    lookback: int = 4
    post_break: float = -1.0
    post_break_vol: float = 2.0
    phi: tuple[float, float, float] = (1.0, -0.6, 0.0)
    mu: tuple[float, float, float] = (0.01, -0.01, 0.0)
    sigma: tuple[float, float, float] = (0.006, 0.011, 0.0035)
    transmat: tuple[tuple[float, ...], ...] = field(default_factory=_default_transmat)
    tail_df: float = 5.0
    wick: float = 0.3
    start_price: float = 100.0
    anchor_halflife: float | None = 336.0

    def __post_init__(self) -> None:
        if self.n_bars < 2 * self.lookback + 2:
            raise ValueError(f"n_bars must be at least 2 * lookback + 2, got n_bars={self.n_bars}")
        if not 0.0 < self.break_fraction < 1.0:
            raise ValueError(f"break_fraction must be in (0, 1), got "
                             f"break_fraction={self.break_fraction}")
        if self.lookback < 1 or self.bars_per_state < 1:
            raise ValueError(f"lookback and bars_per_state must be at least 1, got "
                             f"lookback={self.lookback}, bars_per_state={self.bars_per_state}")
        if self.tail_df <= 2.0:
            raise ValueError(f"tail_df must exceed 2 (finite variance), got tail_df={self.tail_df}")
        if not self.post_break_vol > 0.0:
            raise ValueError(f"post_break_vol must be positive, got "
                             f"post_break_vol={self.post_break_vol}")
        if self.anchor_halflife is not None and self.anchor_halflife <= 0.0:
            raise ValueError(f"anchor_halflife must be positive or None, got "
                             f"anchor_halflife={self.anchor_halflife}")
        if min(self.sigma) <= 0.0 or self.start_price <= 0.0 or self.wick < 0.0:
            raise ValueError(f"sigma and start_price must be positive and wick non-negative, got "
                             f"sigma={self.sigma}, start_price={self.start_price}, "
                             f"wick={self.wick}")
        matrix = np.asarray(self.transmat, dtype=float)
        if matrix.shape != (_STATES, _STATES) or (matrix < 0).any() or not np.allclose(
                matrix.sum(axis=1), 1.0):
            raise ValueError(f"transmat must be a 3x3 row-stochastic matrix, got "
                             f"transmat={self.transmat}")

    @property
    def break_index(self) -> int:
        """Row of the first bar with the broken edge."""
        return int(round(self.break_fraction * self.n_bars))

    @property
    def break_at(self) -> pd.Timestamp:
        """Open time of the first bar with the broken edge (UTC)."""
        return pd.Timestamp(self.start, tz="UTC") + self.break_index * pd.Timedelta(self.freq)


@dataclass(frozen=True)
class PlantedSample:
    """Simulated bars and the truth behind them.

    Attributes
    ----------
    bars : pandas.DataFrame
        Canonical bars: UTC ``DatetimeIndex`` ``timestamp`` (open time), float columns
        ``open, high, low, close, volume``.
    states : numpy.ndarray of int, shape (n_bars,)
        True state per bar: 0 bull, 1 bear, 2 sideways.
    break_at : pandas.Timestamp
        Open time of the first bar with the broken edge.
    """

    bars: pd.DataFrame
    states: np.ndarray
    break_at: pd.Timestamp


def planted_bars(market: PlantedMarket | None = None, seed: int = PLANTED_SEED) -> PlantedSample:
    """Simulate ``market`` with ``numpy.random.default_rng(seed)``: same seed, same bars.

    Parameters
    ----------
    market : PlantedMarket, optional
        The market's parameters; None: the defaults (those of the committed file).
    seed : int, default PLANTED_SEED
        Seed of the only random generator used.

    Returns
    -------
    PlantedSample
        The bars (open = previous close, so no gaps; high >= max(open, close); low <=
        min(open, close); volume > 0), the true states and the break time.
    """
    m = market if market is not None else PlantedMarket()
    rng = np.random.default_rng(seed)
    n_blocks = -(-m.n_bars // m.bars_per_state)
    cumulative = np.cumsum(np.asarray(m.transmat, dtype=float), axis=1)
    draws = rng.random(n_blocks)
    blocks = np.empty(n_blocks, dtype=np.int64)
    blocks[0] = 2  # start sideways
    for b in range(1, n_blocks):
        blocks[b] = min(int(np.searchsorted(cumulative[blocks[b - 1]], draws[b], side="right")),
                        _STATES - 1)
    states = np.repeat(blocks, m.bars_per_state)[: m.n_bars]

    # unit-variance Student-t noise
    eps = rng.standard_t(m.tail_df, m.n_bars) * np.sqrt((m.tail_df - 2.0) / m.tail_df)
    sigma = np.asarray(m.sigma)[states]
    sigma[m.break_index:] *= m.post_break_vol
    drift = np.asarray(m.mu)[states]
    gain = m.edge * np.asarray(m.phi)[states]
    gain[m.break_index:] *= m.post_break
    pull = 0.0 if m.anchor_halflife is None else float(np.log(2.0) / m.anchor_halflife)
    log_ret = np.empty(m.n_bars)
    window = 0.0  # sum of the last `lookback` returns
    level = 0.0  # log(close / start_price) of the previous bar
    for t in range(m.n_bars):
        direction = float(np.sign(window)) if t >= m.lookback else 0.0
        log_ret[t] = sigma[t] * (drift[t] + gain[t] * direction + eps[t]) - pull * level
        window += log_ret[t] - (log_ret[t - m.lookback] if t >= m.lookback else 0.0)
        level += log_ret[t]

    close = m.start_price * np.exp(np.cumsum(log_ret))
    open_ = np.r_[m.start_price, close[:-1]]
    upper = np.exp(m.wick * sigma * np.abs(rng.standard_normal(m.n_bars)))
    lower = np.exp(-m.wick * sigma * np.abs(rng.standard_normal(m.n_bars)))
    # busier bars trade more: volume grows with the bar's move relative to its state's volatility
    volume = 1_000.0 * np.exp(0.4 * rng.standard_normal(m.n_bars)) * (
        1.0 + np.abs(log_ret) / sigma)
    index = pd.date_range(m.start, periods=m.n_bars, freq=m.freq, tz="UTC",
                          name="timestamp").as_unit("ns")  # the canonical unit (as_bars)
    bars = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * upper,
                         "low": np.minimum(open_, close) * lower, "close": close,
                         "volume": volume}, index=index)
    return PlantedSample(bars=bars, states=states, break_at=m.break_at)


def edge_hit_rate(bars: pd.DataFrame, states: np.ndarray, market: PlantedMarket | None = None,
                  *, state: int = 0) -> pd.Series:
    """How often the planted rule calls the next bar's direction, before and after the break.

    The rule: in ``state``, the next bar moves in direction ``phi[state] * m_t`` (the sign of the
    last ``lookback`` close-to-close returns). A hit rate near 0.5 means no edge; above it, the
    edge; below it, the edge inverted.

    Parameters
    ----------
    bars : pandas.DataFrame
        Bars of :func:`planted_bars` (``close`` is used).
    states : numpy.ndarray of int, shape (n_bars,)
        True states of those bars.
    market : PlantedMarket, optional
        The parameters they were simulated with (``lookback``, ``phi``, the break).
    state : int, default 0
        The state measured (0 bull, 1 bear, 2 sideways); a state with ``phi = 0`` is scored
        against momentum.

    Returns
    -------
    pandas.Series
        Index ``("before", "after")``: the share of the state's bars (with a non-zero direction
        and move) whose move agrees with the rule.
    """
    m = market if market is not None else PlantedMarket()
    if state not in range(_STATES):
        raise ValueError(f"state must be 0, 1 or 2, got state={state}")
    log_close = np.log(bars["close"].to_numpy(dtype=float))
    ret = np.diff(log_close, prepend=np.log(m.start_price))
    past = pd.Series(ret).rolling(m.lookback).sum().shift(1).to_numpy()
    sign = float(np.sign(m.phi[state])) if m.phi[state] != 0.0 else 1.0
    called = np.sign(past) * sign
    usable = (np.asarray(states) == state) & np.isfinite(past) & (called != 0) & (ret != 0)
    hit = np.sign(ret) == called
    rows = np.arange(len(ret))
    before, after = usable & (rows < m.break_index), usable & (rows >= m.break_index)
    return pd.Series({"before": float(hit[before].mean()), "after": float(hit[after].mean())})
