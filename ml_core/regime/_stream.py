"""Streaming regime features: :meth:`RegimeHMM.transform`'s columns, one base bar at a time, O(1).

A live system gets one bar at a time; recomputing ``transform`` over the whole history for each
would cost O(history) per bar. :class:`RegimeStream` keeps just what the next value needs: the
open regime bin's close, the previous regime close, the last ``volatility_window`` squared
returns and the filtered probabilities. Between regime bins an update only bins the timestamp
(a few integer operations); when a bin closes it runs one step of the forward filter in plain
Python floats (3 states, 2 observations: numpy's per-call overhead would dominate).
"""

from __future__ import annotations

import math
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ml_core.data import check_bars
from ml_core.regime._columns import TRANSFORM_COLUMNS
from ml_core.regime._hmm import _FITTED_ARRAYS, _N_STATES
from ml_core.regime._observations import _MIN_MEAN_SQUARE, OBSERVATION_NAMES

if TYPE_CHECKING:
    from ml_core.regime._hmm import RegimeHMM

_NAN = math.nan
_LOG_N_STATES = math.log(_N_STATES)
_BEFORE_ANY = -(1 << 64)  # below every Timestamp.value


class RegimeStream:
    """Update the causal regime columns of a fitted :class:`RegimeHMM` for one new base bar.

    Equals ``hmm.transform(bars).loc[t]`` for the bars streamed so far (up to rounding, ~1e-15
    relative) without looking at the history again. Regime bins follow
    :func:`ml_core.data.resample_ohlcv`: bin ``[T, T + timeframe)`` with origin the Unix epoch,
    *available* at ``T + timeframe - base_timeframe`` (the open time of its last scheduled base
    bar). A base bar at ``t`` sees every bin available at or before ``t``: a bin closes on its
    last scheduled bar or, if that bar is missing, on the first bar of a later bin. Bins without
    bars are skipped, as ``resample_ohlcv`` drops them.

    Parameters
    ----------
    hmm : RegimeHMM
        Fitted model. Its parameters are copied: refitting it later does not change the stream.
    base_timeframe : timedelta, optional
        Length of one input bar; must equal ``hmm.base_timeframe`` (the bins ``transform`` uses),
        which is the default.

    Notes
    -----
    Timestamps are bar open times in UTC (the canonical bar schema), on the ``base_timeframe``
    grid. Only ``close`` enters the HMM's observations; the other prices and the volume are
    accepted so every streaming feature takes the same bar.

    Examples
    --------
    >>> stream = hmm.stream()  # doctest: +SKIP
    >>> for t, bar in bars.iterrows():  # doctest: +SKIP
    ...     values = stream.update(t, *bar[["open", "high", "low", "close", "volume"]])
    """

    __slots__ = (
        "_avail_offset", "_bin_close", "_bin_open", "_bin_start", "_duration", "_expected_dur",
        "_filtered", "_last_ns", "_leave", "_log_norm", "_means", "_n_closed",
        "_obs_mean", "_obs_scale", "_precision", "_prev_log_close", "_squares", "_start",
        "_state", "_state_log_vol", "_tf_ns", "_transmat", "_values", "_window",
    )

    def __init__(self, hmm: RegimeHMM, base_timeframe: timedelta | None = None) -> None:
        check_is_fitted(hmm, _FITTED_ARRAYS)
        hmm._check_params()
        base = pd.Timedelta(hmm.base_timeframe)
        if base_timeframe is not None and pd.Timedelta(base_timeframe) != base:
            raise ValueError(
                f"`base_timeframe` must equal the model's `base_timeframe={base}` (its regime "
                f"bins depend on it), got `base_timeframe={pd.Timedelta(base_timeframe)}`"
            )
        if len(OBSERVATION_NAMES) != 2:  # the emission density below is written out for 2-D
            raise NotImplementedError("RegimeStream handles exactly two observations")
        tf = pd.Timedelta(hmm.timeframe)
        self._tf_ns = int(tf.value)
        self._avail_offset = int((tf - base).value)
        self._window = int(hmm.volatility_window)
        # fitted parameters as plain floats
        self._start = [float(p) for p in hmm.startprob_]
        self._transmat = [[float(p) for p in row] for row in hmm.transmat_]
        self._means = [(float(m[0]), float(m[1])) for m in hmm.means_]
        covars = np.asarray(hmm.covars_, dtype="float64")
        inverse = np.linalg.inv(covars)
        _, log_det = np.linalg.slogdet(covars)
        self._precision = [(float(p[0, 0]), float(p[0, 1] + p[1, 0]), float(p[1, 1]))
                           for p in inverse]
        self._log_norm = [-0.5 * (2 * math.log(2 * math.pi) + float(d)) for d in log_det]
        self._obs_mean = (float(hmm.obs_mean_[0]), float(hmm.obs_mean_[1]))
        self._obs_scale = (float(hmm.obs_scale_[0]), float(hmm.obs_scale_[1]))
        p_stay = np.diag(hmm.transmat_)
        self._leave = [float(1.0 - p) for p in p_stay]
        self._expected_dur = [1.0 / leave if leave > 0 else math.inf for leave in self._leave]
        self._state_log_vol = [float(v) for v in hmm.state_log_vol()]
        # stream state
        self._last_ns = _BEFORE_ANY
        self._bin_start: int | None = None
        self._bin_open = False  # the current bin has bars and has not closed yet
        self._bin_close = _NAN
        self._prev_log_close: float | None = None
        self._squares: deque[float] = deque(maxlen=self._window)
        self._filtered: list[float] | None = None
        self._state = -1
        self._duration = 0
        self._n_closed = 0
        self._values: tuple[float, ...] = (_NAN,) * len(TRANSFORM_COLUMNS)

    # ------------------------------------------------------------------ public
    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the values :meth:`update` returns, in order (:data:`TRANSFORM_COLUMNS`)."""
        return TRANSFORM_COLUMNS

    @property
    def n_regime_bars(self) -> int:
        """Regime bars closed so far (warm-up included)."""
        return self._n_closed

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        """Open time of the last bar passed to :meth:`update` (None before the first)."""
        return None if self._last_ns == _BEFORE_ANY else pd.Timestamp(self._last_ns, tz="UTC")

    def update(
        self,
        timestamp: pd.Timestamp,
        open: float,  # noqa: A002 - the bar's field name
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> tuple[float, ...]:
        """Take the next base bar; return the regime columns for it.

        Parameters
        ----------
        timestamp : pandas.Timestamp
            Bar open time, later than the previous bar's.
        open, high, low, close, volume : float
            The bar. ``close`` must be finite and positive.

        Returns
        -------
        tuple of float
            One value per :attr:`columns`, NaN during the warm-up; the same values as
            ``hmm.transform(bars).loc[timestamp]`` on all bars streamed so far.

        Raises
        ------
        ValueError
            On a timestamp not after the previous one, a bad close, or a bar inside a regime
            bin that already closed (off the ``base_timeframe`` grid).
        """
        return self.update_ns(timestamp.value, open, high, low, close, volume)

    def update_ns(self, t_ns: int, open: float, high: float, low: float,  # noqa: A002
                  close: float, volume: float) -> tuple[float, ...]:
        """:meth:`update` with the open time as nanoseconds since the epoch (UTC): the live
        path's entry point, no :class:`pandas.Timestamp` per bar."""
        if t_ns <= self._last_ns:
            raise ValueError(
                f"`timestamp` must increase: got {pd.Timestamp(t_ns, tz='UTC')} after "
                f"{self.last_timestamp}"
            )
        if not 0.0 < close < math.inf:
            raise ValueError(f"`close` must be finite and > 0, got `close={close}` at "
                             f"{pd.Timestamp(t_ns, tz='UTC')}")
        start = t_ns - t_ns % self._tf_ns
        if start != self._bin_start:
            if self._bin_open:
                self._close_bin()  # its last scheduled bar was missing
            self._bin_start = start
            self._bin_open = True
        elif not self._bin_open:
            tf = pd.Timedelta(self._tf_ns, unit="ns")
            raise ValueError(
                f"bar at {pd.Timestamp(t_ns, tz='UTC')} falls in the regime bin starting "
                f"{pd.Timestamp(start, unit='ns', tz='UTC')} that already closed on its last "
                f"scheduled bar; timestamps must lie on the base grid ({tf} bins)"
            )
        self._last_ns = t_ns
        self._bin_close = close
        if t_ns >= start + self._avail_offset:
            self._close_bin()
        return self._values

    def feed(self, bars: pd.DataFrame) -> pd.DataFrame:
        """:meth:`update` on every row of ``bars`` (canonical schema); the results as a frame.

        For warming a stream up on history, and for tests. Index ``bars.index``, columns
        :attr:`columns`.
        """
        check_bars(bars)
        rows = [
            self.update(t, o, h, lo, c, v)
            for t, o, h, lo, c, v in zip(
                bars.index, *(bars[col].to_numpy(dtype="float64").tolist()
                              for col in ("open", "high", "low", "close", "volume")),
                strict=True,
            )
        ]
        out = pd.DataFrame(rows, index=bars.index, columns=list(TRANSFORM_COLUMNS),
                           dtype="float64")
        return out

    # ------------------------------------------------------------------ one regime bar
    def _close_bin(self) -> None:
        """The open bin is complete: one observation, one filter step, new values."""
        self._bin_open = False
        self._n_closed += 1
        log_close = math.log(self._bin_close)
        prev = self._prev_log_close
        self._prev_log_close = log_close
        if prev is None:
            return  # the first regime bar has no return
        ret = log_close - prev
        squares = self._squares
        squares.append(ret * ret)
        if len(squares) < self._window:
            return  # volatility warm-up
        total = 0.0
        for sq in squares:  # summed afresh, in order, as regime_observations does
            total += sq
        mean_square = total / self._window
        if mean_square < _MIN_MEAN_SQUARE:
            mean_square = _MIN_MEAN_SQUARE
        log_vol = 0.5 * math.log(mean_square)
        self._filter_step(ret, log_vol)

    def _filter_step(self, ret: float, log_vol: float) -> None:
        """One normalised forward step (as :func:`~ml_core.regime.forward_filter`)."""
        x0 = (ret - self._obs_mean[0]) / self._obs_scale[0]
        x1 = (log_vol - self._obs_mean[1]) / self._obs_scale[1]
        log_em = []
        for (m0, m1), (p00, p01, p11), norm in zip(
            self._means, self._precision, self._log_norm, strict=True
        ):
            d0, d1 = x0 - m0, x1 - m1
            log_em.append(norm - 0.5 * (p00 * d0 * d0 + p01 * d0 * d1 + p11 * d1 * d1))
        peak = max(log_em)
        prev = self._filtered
        if prev is None:
            pred = self._start
        else:
            a = self._transmat
            pred = [prev[0] * a[0][k] + prev[1] * a[1][k] + prev[2] * a[2][k]
                    for k in range(_N_STATES)]
        alpha = [p * math.exp(le - peak) for p, le in zip(pred, log_em, strict=True)]
        total = alpha[0] + alpha[1] + alpha[2]
        if 0.0 < total < math.inf:
            log_predictive = math.log(total) + peak
        else:  # underflow: only possible with zero transition probabilities
            log_alpha = [math.log(p) + le if p > 0 else -math.inf
                         for p, le in zip(pred, log_em, strict=True)]
            top = max(log_alpha)
            if top == -math.inf:
                start = pd.Timestamp(self._bin_start, unit="ns", tz="UTC")
                raise ValueError(
                    f"the observation of the regime bin starting {start} has zero probability "
                    "under every reachable state; the filter cannot continue"
                )
            log_predictive = top + math.log(sum(math.exp(la - top) for la in log_alpha))
            alpha = [math.exp(la - log_predictive) for la in log_alpha]
            total = alpha[0] + alpha[1] + alpha[2]
        alpha = [v / total for v in alpha]
        self._filtered = alpha

        state = 0
        if alpha[1] > alpha[state]:
            state = 1
        if alpha[2] > alpha[state]:
            state = 2
        if state == self._state:
            self._duration += 1
        else:
            self._state = state
            self._duration = 0
        plogp = 0.0
        for p in alpha:
            if p > 0.0:
                plogp += p * math.log(p)
        self._values = (
            alpha[0],
            alpha[1],
            alpha[2],
            float(state),
            float(self._duration),
            self._leave[state],
            alpha[state],
            -plogp / _LOG_N_STATES,
            math.exp(log_vol - self._state_log_vol[state]),
            self._expected_dur[state],
            -log_predictive,
        )
