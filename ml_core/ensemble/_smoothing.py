"""Damping signal flip-flops between consecutive events: EWMA of ``p_long`` or hysteresis.

A meta probability that hovers around the confidence threshold makes the raw rule enter, exit and
re-enter on consecutive events, paying costs on each change. :class:`SignalSmoother` offers two
remedies, chosen by ``ensemble.smoothing``:

- ``"ewma"`` smooths the *input* of the rule: the rule reads an exponentially weighted moving
  average of ``p_long`` over consecutive events instead of each event's own value;
- ``"hysteresis"`` smooths the *output*: a position is kept through a dip of its side's
  confidence down to ``threshold - band`` and is only reversed when the other side qualifies at
  the full threshold.

Both are causal recursions over events in time order, so the live path (one event at a time,
:meth:`SignalSmoother.step` with a carried :class:`SmootherState`) gives exactly the batch result
(:meth:`SignalSmoother.apply`) on the same events. :func:`turnover` measures what they save.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Self, get_args

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ml_core.ensemble._signal import (
    SIGNAL_BUY,
    SIGNAL_HOLD,
    per_row,
    signal_arrays,
)
from ml_core.ensemble._sizing import SizingPolicy

if TYPE_CHECKING:
    from ml_core.config import EnsembleConfig

__all__ = ["SMOOTHING_METHODS", "SignalSmoother", "SmootherState", "turnover"]

SmoothingMethod = Literal["none", "hysteresis", "ewma"]
SMOOTHING_METHODS: tuple[str, ...] = get_args(SmoothingMethod)
"""The methods of :class:`SignalSmoother` (as ``ensemble.smoothing`` in the config)."""

_SIGNAL_COLUMNS = ("signal", "size", "p_long")


@dataclass(frozen=True)
class SmootherState:
    """What a :class:`SignalSmoother` carries from one event to the next (immutable).

    Parameters
    ----------
    ewma : float or None
        Smoothed ``p_long`` of the last event (``"ewma"``); None before the first event.
    signal : int
        Output signal of the last event (0 before the first).
    size : float
        Output size of the last event (0 before the first).
    """

    ewma: float | None = None
    signal: int = SIGNAL_HOLD
    size: float = 0.0


class SignalSmoother:
    """Smooth the signal rule over consecutive events, identically in batch and streaming.

    Methods (one at a time):

    - ``"none"``: identity.
    - ``"ewma"``: the rule reads ``s_t = a * p_t + (1 - a) * s_{t-1}``, ``a = 2 / (span + 1)``,
      ``s_0 = p_0`` (pandas ``ewm(span=span, adjust=False)``) instead of ``p_long``.
    - ``"hysteresis"``: on the rule's output. While the last output is a position (BUY or SELL) and
      the rule says HOLD, the position is kept if its side's confidence (``p`` for BUY, ``1 - p``
      for SELL) is still at least ``max(threshold - band, 0.5)``: the smoother holds instead of
      exiting. A kept row keeps the previous size, capped by the row's ``max_size`` (a cap of 0
      exits). Whatever the rule trades passes unchanged, so a position is reversed only when the
      opposite side qualifies at the full threshold (a SELL also needs the exit forest), and a
      kept position never outlives the model favouring its side (the 0.5 floor).

    Batch use (``RegimeForestEnsemble.predict``), step by step::

        p = smoother.smooth_probabilities(p_long)
        caps = sizing.caps(p)                     # SizingPolicy; optional
        frame = apply_signal_rule(p, p_exit, size, confidence_threshold=t, max_size=caps)
        signals = smoother.smooth_signals(frame, t, max_size=caps)

    or all at once: ``smoother.apply(p_long, p_exit, size, confidence_threshold=t,
    sizing=sizing)``. Streaming (one event at a time)::

        state = smoother.initial_state()
        row, state = smoother.step(state, p_long, p_exit, size, confidence_threshold=t,
                                   sizing=sizing)

    Parameters
    ----------
    method : {"none", "hysteresis", "ewma"}, default "none"
    band : float, default 0.05
        Hysteresis band, in ``[0, 0.5)``.
    span : int, default 3
        EWMA span in events, at least 1 (1: no smoothing).

    Examples
    --------
    >>> smoother = SignalSmoother("hysteresis", band=0.1)
    >>> smoother.apply([0.7, 0.55, 0.45], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0],
    ...                confidence_threshold=0.6)["signal"].tolist()
    [1, 1, 0]
    >>> SignalSmoother("ewma", span=3).smooth_probabilities([0.75, 0.25, 0.5]).tolist()
    [0.75, 0.5, 0.5]
    """

    def __init__(self, method: SmoothingMethod = "none", *, band: float = 0.05,
                 span: int = 3) -> None:
        if method not in SMOOTHING_METHODS:
            raise ValueError(
                f"`method` must be one of {SMOOTHING_METHODS}, got `method={method!r}`"
            )
        if not isinstance(band, numbers.Real) or not 0.0 <= band < 0.5:
            raise ValueError(f"`band` must be in [0, 0.5), got `band={band}`")
        if not isinstance(span, numbers.Integral) or isinstance(span, bool) or span < 1:
            raise ValueError(f"`span` must be an integer of at least 1, got `span={span}`")
        self.method = method
        self.band = float(band)
        self.span = int(span)

    @classmethod
    def from_config(cls, ensemble: EnsembleConfig) -> Self:
        """``smoothing``, ``hysteresis_band`` and ``ewma_span`` of the ensemble section."""
        return cls(ensemble.smoothing, band=ensemble.hysteresis_band, span=ensemble.ewma_span)

    def __repr__(self) -> str:
        return f"SignalSmoother({self.method!r}, band={self.band}, span={self.span})"

    @staticmethod
    def initial_state() -> SmootherState:
        """The state before the first event: no EWMA yet, flat."""
        return SmootherState()

    # ------------------------------------------------------------ the two stages

    def filter_probabilities(
        self, state: SmootherState, p_long: ArrayLike
    ) -> tuple[np.ndarray, SmootherState]:
        """:meth:`smooth_probabilities` continuing from ``state``; also returns the new state."""
        p = np.asarray(p_long, dtype=float)
        if p.ndim != 1:
            raise ValueError(f"`p_long` must be 1-d, got shape {p.shape}")
        bad = ~((p >= 0.0) & (p <= 1.0))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"`p_long` must be in [0, 1], got `p_long[{first}]={p[first]}`")
        if self.method != "ewma" or p.size == 0:
            return p.copy(), state
        a = 2.0 / (self.span + 1.0)
        out = np.empty_like(p)
        last = float(p[0]) if state.ewma is None else state.ewma
        for i, value in enumerate(p.tolist()):
            last = a * value + (1.0 - a) * last
            out[i] = last
        return out, SmootherState(ewma=last, signal=state.signal, size=state.size)

    def filter_signals(
        self,
        state: SmootherState,
        frame: pd.DataFrame,
        confidence_threshold: float | ArrayLike,
        max_size: float | ArrayLike | None = None,
    ) -> tuple[pd.DataFrame, SmootherState]:
        """:meth:`smooth_signals` continuing from ``state``; also returns the new state."""
        if not isinstance(frame, pd.DataFrame) or not set(_SIGNAL_COLUMNS) <= set(frame.columns):
            raise ValueError(
                f"`frame` must be a DataFrame with columns {list(_SIGNAL_COLUMNS)} "
                "(the output of apply_signal_rule)"
            )
        out = frame.copy()
        signal, size, state = self._hold(
            state, frame["signal"].to_numpy(dtype=np.int64), frame["size"].to_numpy(dtype=np.float64),
            frame["p_long"].to_numpy(dtype=np.float64), confidence_threshold, max_size)
        if self.method == "hysteresis" and len(frame):
            out["signal"], out["size"] = signal, size
        return out, state

    def _hold(
        self,
        state: SmootherState,
        signal: np.ndarray,
        size: np.ndarray,
        p: np.ndarray,
        confidence_threshold: float | ArrayLike,
        max_size: float | ArrayLike | None,
    ) -> tuple[np.ndarray, np.ndarray, SmootherState]:
        """:meth:`filter_signals` on the rule's ``signal``, ``size`` and ``p_long`` arrays: the
        signals and sizes after hysteresis (copies), and the state after the last row."""
        n = signal.size
        threshold = per_row(confidence_threshold, "confidence_threshold", n, 0.5, 1.0)
        cap = np.ones(n) if max_size is None else per_row(max_size, "max_size", n, 0.0, 1.0)
        signal, size = signal.astype(np.int64, copy=True), size.astype(np.float64, copy=True)
        if n == 0:
            return signal, size, state
        if self.method == "hysteresis":
            floor = np.maximum(threshold - self.band, 0.5)
            held, held_size = state.signal, state.size
            for i in range(n):
                if signal[i] == SIGNAL_HOLD and held != SIGNAL_HOLD:
                    side_confidence = p[i] if held == SIGNAL_BUY else 1.0 - p[i]
                    kept = min(held_size, cap[i])
                    if side_confidence >= floor[i] and kept > 0.0:
                        signal[i], size[i] = held, kept
                held, held_size = int(signal[i]), float(size[i])
        return signal, size, SmootherState(ewma=state.ewma, signal=int(signal[-1]),
                                           size=float(size[-1]))

    def smooth_probabilities(self, p_long: ArrayLike) -> np.ndarray:
        """The ``p_long`` the rule should read: the EWMA (``"ewma"``), else ``p_long`` itself.

        Parameters
        ----------
        p_long : array-like of float, shape (n,)
            Meta probabilities of consecutive events in time order, in ``[0, 1]``.

        Returns
        -------
        numpy.ndarray of float, shape (n,)
        """
        return self.filter_probabilities(self.initial_state(), p_long)[0]

    def smooth_signals(
        self,
        frame: pd.DataFrame,
        confidence_threshold: float | ArrayLike,
        max_size: float | ArrayLike | None = None,
    ) -> pd.DataFrame:
        """The rule's output with hysteresis applied (``"hysteresis"``), else a copy of it.

        Parameters
        ----------
        frame : pandas.DataFrame
            Output of :func:`apply_signal_rule` on consecutive events in time order (columns
            ``signal``, ``size``, ``p_long`` are read).
        confidence_threshold : float or array-like of float, shape (n,)
            The thresholds the rule used, in ``[0.5, 1]``.
        max_size : float or array-like of float, shape (n,), optional
            The caps the rule used, in ``[0, 1]``, also applied to kept positions (computed for
            the side ``p_long`` favours, e.g. ``SizingPolicy.caps(p)``); None: no cap.

        Returns
        -------
        pandas.DataFrame
            ``frame``'s columns and index; only ``signal`` and ``size`` of kept rows change.
        """
        return self.filter_signals(self.initial_state(), frame, confidence_threshold, max_size)[0]

    # ------------------------------------------------------------ the whole chain

    def run(
        self,
        state: SmootherState,
        p_long: ArrayLike,
        p_exit: ArrayLike,
        size: ArrayLike,
        *,
        confidence_threshold: float | ArrayLike,
        sizing: SizingPolicy | None = None,
        index: pd.Index | None = None,
    ) -> tuple[pd.DataFrame, SmootherState]:
        """Smooth ``p_long``, cap, apply the rule, smooth the signals — continuing from ``state``.

        Events are consecutive and in time order; running chunks one after the other, each from
        the previous chunk's state, gives exactly the result of one run on all of them.

        Parameters
        ----------
        state : SmootherState
            :meth:`initial_state` for the first event ever, else the state returned last.
        p_long, p_exit, size, confidence_threshold, index
            As in :func:`apply_signal_rule` (``p_long`` raw, before smoothing).
        sizing : SizingPolicy, optional
            Size caps from the smoothed ``p_long`` (``sizing.caps(p)``); None: no cap.

        Returns
        -------
        (pandas.DataFrame, SmootherState)
            The signal frame (as :func:`apply_signal_rule`) and the state after its last event.
        """
        columns, state = self.run_arrays(state, p_long, p_exit, size,
                                         confidence_threshold=confidence_threshold, sizing=sizing)
        return pd.DataFrame(columns, index=index), state

    def run_arrays(
        self,
        state: SmootherState,
        p_long: ArrayLike,
        p_exit: ArrayLike,
        size: ArrayLike,
        *,
        confidence_threshold: float | ArrayLike,
        sizing: SizingPolicy | None = None,
    ) -> tuple[dict[str, np.ndarray], SmootherState]:
        """:meth:`run`'s columns as arrays, by name (``signal``, ``confidence``, ``size``,
        ``p_long``), and the state after the last event: the live path builds one frame from
        them (or none)."""
        p, state = self.filter_probabilities(state, p_long)
        caps = None if sizing is None else sizing.caps(p)
        signal, confidence, sized, p = signal_arrays(
            p, p_exit, size, confidence_threshold=confidence_threshold,
            max_size=1.0 if caps is None else caps)
        signal, sized, state = self._hold(state, signal, sized, p, confidence_threshold, caps)
        return {"signal": signal, "confidence": confidence, "size": sized, "p_long": p}, state

    def apply(
        self,
        p_long: ArrayLike,
        p_exit: ArrayLike,
        size: ArrayLike,
        *,
        confidence_threshold: float | ArrayLike,
        sizing: SizingPolicy | None = None,
        index: pd.Index | None = None,
    ) -> pd.DataFrame:
        """:meth:`run` from the initial state: the batch signal of consecutive events."""
        return self.run(self.initial_state(), p_long, p_exit, size,
                        confidence_threshold=confidence_threshold, sizing=sizing, index=index)[0]

    def step(
        self,
        state: SmootherState,
        p_long: float,
        p_exit: float,
        size: float,
        *,
        confidence_threshold: float,
        sizing: SizingPolicy | None = None,
        label: Hashable | None = None,
    ) -> tuple[pd.DataFrame, SmootherState]:
        """One live event: :meth:`run` on a single row (labelled ``label``, default 0).

        Returns
        -------
        (pandas.DataFrame of shape (1, 4), SmootherState)
            The event's signal row and the state to pass to the next call.
        """
        index = pd.Index([0 if label is None else label])
        return self.run(state, [p_long], [p_exit], [size],
                        confidence_threshold=confidence_threshold, sizing=sizing, index=index)


def turnover(signal_frame: pd.DataFrame) -> float:
    """Total change of the signed position between consecutive events.

    ``sum_{t >= 1} |x_t - x_{t-1}|`` with ``x_t = signal_t * size_t``, over the rows in order:
    a reversal from +0.5 to -0.5 counts 1.0, keeping a position unchanged counts 0. The first
    event's entry is not counted (no position before it is assumed), so the figure compares
    smoothings of the same events rather than pricing a backtest.

    Parameters
    ----------
    signal_frame : pandas.DataFrame
        Columns ``signal`` (+1 / -1 / 0) and ``size``, consecutive events in time order.

    Returns
    -------
    float
        Non-negative; 0 for fewer than two rows.

    Examples
    --------
    >>> turnover(pd.DataFrame({"signal": [1, 1, 0, -1], "size": [0.5, 0.25, 0.0, 0.5]}))
    1.0
    """
    if not isinstance(signal_frame, pd.DataFrame) \
            or not {"signal", "size"} <= set(signal_frame.columns):
        raise ValueError("`signal_frame` must be a DataFrame with columns 'signal' and 'size'")
    x = signal_frame["signal"].to_numpy(dtype=np.float64) \
        * signal_frame["size"].to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("`signal_frame` must have finite 'signal' and 'size'")
    return float(np.abs(np.diff(x)).sum())
