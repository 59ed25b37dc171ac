"""The live path: one new bar in, its full feature row (and signal) out, in O(1) per bar.

A live feed repeats bars, sends them late or out of order, and sometimes sends nonsense. Every
bar is checked before any state is touched (:meth:`PipelineStream.update`): a bad bar raises
:class:`BarRejected` naming its time, the field and the rule, and the stream carries on from
where it was, so its later outputs equal those of a stream that never saw the bad bar.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from ml_core.features import FeatureStream

if TYPE_CHECKING:
    from ml_core.pipeline._pipeline import RegimeForestPipeline

# Rule names, worded as the quality gate (``expectations``) words them.
RULE_VALID_TIME = "timestamps valid"
RULE_UNIQUE = "timestamps unique"
RULE_INCREASING = "timestamps increasing"
RULE_GRID = "timestamps on the bar grid"
RULE_FINITE = "finite numbers"
RULE_POSITIVE_PRICES = "prices > 0"
RULE_VOLUME = "volume >= 0"
RULE_HIGH = "high >= max(open, close)"
RULE_LOW = "low <= min(open, close) and low <= high"

_FIELDS = ("open", "high", "low", "close", "volume")
_UTC = pd.Timestamp(0, tz="UTC").tzinfo
_finite = math.isfinite


class BarRejected(ValueError):  # noqa: N818 - "rejected" says what happened to the bar
    """A bar the stream refused before changing any of its state.

    Attributes
    ----------
    timestamp : pandas.Timestamp or None
        The bar's open time (None when it is not a date-time at all).
    field : str
        ``"timestamp"`` or the price/volume field at fault.
    rule : str
        The rule it breaks (one of the ``RULE_*`` names of this module).
    """

    def __init__(self, timestamp: pd.Timestamp | None, field: str, rule: str,
                 detail: str) -> None:
        self.timestamp = timestamp
        self.field = field
        self.rule = rule
        super().__init__(f"bar {timestamp} refused, rule {rule!r}: {detail}; the stream is "
                         f"unchanged")


class LiveSignal(NamedTuple):
    """One bar's signal on the live path (:meth:`PipelineStream.on_bar`): the values of a row
    of :meth:`~ml_core.pipeline.RegimeForestPipeline.predict`, without a frame."""

    timestamp: pd.Timestamp
    """The bar's open time (UTC)."""
    signal: int
    """+1 BUY, -1 SELL, 0 HOLD."""
    confidence: float
    size: float
    p_long: float
    regime: dict[str, float]
    """The bar's filtered regime probabilities, by column name (``regime_prob_bull``, ...)."""


def _utc(timestamp: object) -> pd.Timestamp:
    """``timestamp`` as a UTC :class:`pandas.Timestamp` (naive times are taken as UTC)."""
    ts = timestamp if type(timestamp) is pd.Timestamp else pd.Timestamp(timestamp)
    if ts is pd.NaT:
        return ts
    if ts.tzinfo is None:
        return ts.tz_localize("UTC")
    return ts if ts.tzinfo is _UTC else ts.tz_convert("UTC")



class PipelineStream:
    """Incremental :meth:`RegimeForestPipeline.features` (and ``predict``) for a live feed.

    Base and higher-timeframe features come from a :class:`~ml_core.features.FeatureStream`,
    regime columns from the HMM's forward filter advanced one regime bar at a time
    (:class:`~ml_core.regime.RegimeStream`). On the same history the rows equal the batch
    matrix up to rounding (tested to 1e-9), so live signals see the training features.

    Parameters
    ----------
    pipeline : RegimeForestPipeline
        Fitted pipeline; only its fitted state is used (nothing is refitted).

    Notes
    -----
    **Which bars are refused** (:class:`BarRejected`, raised by :meth:`update` before any state
    changes), checked in this order:

    - the timestamp is not a date-time (``NaT``): ``timestamps valid``;
    - it equals the previous accepted bar's: ``timestamps unique`` (a repeated bar);
    - it is before the previous accepted bar's: ``timestamps increasing`` (late or out of order);
    - it is not a whole number of base bars after 1970-01-01 UTC: ``timestamps on the bar
      grid``. This is the quality gate's grid and the one the higher-timeframe and regime bins
      use (their origin is the epoch), so a 30m stream takes bars at :00 and :30 only, whatever
      its first bar was;
    - a price or the volume is not a finite number: ``finite numbers``;
    - a price is <= 0: ``prices > 0``; the volume is < 0: ``volume >= 0``;
    - ``high < max(open, close)``: ``high >= max(open, close)``;
    - ``low > min(open, close)`` or ``low > high``: ``low <= min(open, close) and low <= high``.

    The check is a handful of float comparisons (about a microsecond, no pandas), so a feed can
    call :meth:`update` on every bar it receives and skip the ones refused.

    **Missing bars (gaps) are accepted**, as in the batch path: the bar after a gap is the next
    row of every rolling window (windows count bars, not time), and a higher-timeframe or regime
    bin whose last scheduled bar is missing closes when the first bar of a later bin arrives,
    which is when the batch join makes it available. On the same gapped bars the stream equals
    :meth:`RegimeForestPipeline.features`.
    """

    def __init__(self, pipeline: RegimeForestPipeline) -> None:
        self.pipeline = pipeline
        config = pipeline.config
        self._features = FeatureStream(config.features, config.data.timeframe)
        self._regime = pipeline.regime.stream()
        self.columns: list[str] = [*self._features.columns, *self._regime.columns]
        self._index = pd.Index(self.columns)
        self._smoother_state = None  # the signal smoother's memory, carried bar to bar
        self._base = pd.Timedelta(config.data.timeframe)
        self._base_ns = int(self._base.value)
        self._last_ns: int | None = None
        self._last_ts: pd.Timestamp | None = None
        self._feature_at: np.ndarray | None = None  # set by _prepare_signal
        self._feature_index = self._regime_index = pd.Index([])
        self._regime_at = np.empty(0, dtype=np.intp)
        self._ensemble_at: np.ndarray | None = None  # set by _prepare_live

    @property
    def n_bars(self) -> int:
        """Bars accepted so far."""
        return self._features.n_bars

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        """Open time of the last accepted bar (None before the first)."""
        return self._last_ts

    def check(self, timestamp: pd.Timestamp, open: float, high: float,  # noqa: A002
              low: float, close: float, volume: float) -> int:
        """Raise :class:`BarRejected` unless :meth:`update` would take this bar; changes nothing.

        ``timestamp`` must be a UTC :class:`pandas.Timestamp` (or ``NaT``). Returns its
        nanoseconds since the epoch.
        """
        if timestamp is pd.NaT:
            raise BarRejected(None, "timestamp", RULE_VALID_TIME,
                              "`timestamp` is missing (NaT), not a date-time")
        t_ns = timestamp.value
        last = self._last_ns
        if last is not None and t_ns <= last:
            if t_ns == last:
                raise BarRejected(timestamp, "timestamp", RULE_UNIQUE,
                                  "`timestamp` repeats the previous bar's")
            raise BarRejected(timestamp, "timestamp", RULE_INCREASING,
                              f"`timestamp` is before the previous bar's {self._last_ts}")
        offset = t_ns % self._base_ns
        if offset:
            raise BarRejected(
                timestamp, "timestamp", RULE_GRID,
                f"`timestamp` is {pd.Timedelta(offset, unit='ns')} past the {self._base} grid "
                f"(bars open at whole multiples of {self._base} since 1970-01-01 UTC)")
        try:  # the common case in one expression; the loops below only name the culprit
            valid = (_finite(open) and _finite(high) and _finite(low) and _finite(close)
                     and _finite(volume) and open > 0 and high > 0 and low > 0 and close > 0)
        except TypeError:  # not a number at all
            valid = False
        if not valid:
            values = (open, high, low, close, volume)
            for name, value in zip(_FIELDS, values, strict=True):
                try:
                    finite = _finite(value)
                except TypeError:
                    finite = False
                if not finite:
                    raise BarRejected(timestamp, name, RULE_FINITE,
                                      f"`{name}={value!r}` is not a finite number")
            for name, value in zip(_FIELDS[:4], values[:4], strict=True):
                if not value > 0:
                    raise BarRejected(timestamp, name, RULE_POSITIVE_PRICES,
                                      f"`{name}={value!r}`")
        if volume < 0:
            raise BarRejected(timestamp, "volume", RULE_VOLUME, f"`volume={volume!r}`")
        top = open if open > close else close
        if high < top:
            raise BarRejected(timestamp, "high", RULE_HIGH,
                              f"`high={high!r}` is below max(open, close) = {top!r}")
        bottom = open if open < close else close
        if low > bottom:  # then low <= high too, as high >= max(open, close) held
            raise BarRejected(timestamp, "low", RULE_LOW,
                              f"`low={low!r}` is above min(open, close) = {bottom!r}")
        return t_ns

    def update(self, timestamp: pd.Timestamp, open: float, high: float, low: float,  # noqa: A002
               close: float, volume: float) -> pd.Series:
        """The feature row of the bar opened at ``timestamp`` (NaN while warming up).

        Raises
        ------
        BarRejected
            The bar breaks a rule (see the class notes); nothing has changed, and the next
            valid bar goes on as if this one had never arrived.
        """
        ts = _utc(timestamp)
        t_ns = self.check(ts, open, high, low, close, volume)
        base = self._features.update(ts, open, high, low, close, volume)
        regime = self._regime.update(ts, open, high, low, close, volume)
        self._last_ns, self._last_ts = t_ns, ts
        return pd.Series(np.concatenate([base, np.asarray(regime, dtype=np.float64)]),
                         index=self._index, name=ts)

    def on_bar(self, timestamp: pd.Timestamp, open: float, high: float,  # noqa: A002
               low: float, close: float, volume: float) -> LiveSignal | None:
        """The live path in one call: check the bar, update features and regimes, and return its
        signal (None while a feature warms up), with no pandas frame on the way.

        The same state as :meth:`update` then :meth:`signal` (the two may be mixed), and the same
        values: a stream of ``on_bar`` calls equals one ``predict`` over the same bars.

        Raises
        ------
        BarRejected
            As :meth:`update`: nothing has changed.
        """
        ensemble = self.pipeline.ensemble
        if ensemble is None:
            raise ValueError("this pipeline has no ensemble; it can only compute features")
        ts = _utc(timestamp)
        t_ns = self.check(ts, open, high, low, close, volume)
        base = self._features.update_ns(t_ns, open, high, low, close, volume)
        regime = self._regime.update_ns(t_ns, open, high, low, close, volume)
        self._last_ns, self._last_ts = t_ns, ts
        if self._ensemble_at is None:
            self._prepare_live()
        row = np.concatenate([base, regime])
        values = row[self._ensemble_at]
        if not np.isfinite(values).all():
            if np.isnan(values).any():
                return None
            # an infinite feature: the frame path names the column, as predict would
            self.signal(pd.Series(row, index=self._index, name=ts))
        columns, self._smoother_state = ensemble.predict_values(values[np.newaxis, :],
                                                                self._smoother_state)
        probs = row[self._regime_live_at].tolist()
        return LiveSignal(ts, int(columns["signal"][0]), float(columns["confidence"][0]),
                          float(columns["size"][0]), float(columns["p_long"][0]),
                          dict(zip(self._regime_live_names, probs, strict=True)))

    def _prepare_live(self) -> None:
        """Positions, in a row, of the ensemble's columns (its fit order) and of the regime
        probabilities."""
        names = [str(c) for c in self.pipeline.ensemble.feature_names_in_]
        at = self._index.get_indexer(names)
        if (at < 0).any():
            missing = [c for c, i in zip(names, at, strict=True) if i < 0]
            raise ValueError(f"the ensemble's feature columns {missing} are not computed by "
                             "this pipeline's features")
        # every regime probability the stream computes, whether or not the ensemble reads it
        regime = [c for c in self._regime.columns if c.startswith("regime_prob_")]
        self._regime_live_names = regime
        self._regime_live_at = self._index.get_indexer(regime)
        self._ensemble_at = at

    def signal(self, row: pd.Series) -> pd.DataFrame | None:
        """The ensemble's signal for a row from :meth:`update`; None while a feature warms up.

        Signal smoothing (``ensemble.smoothing``) continues from the previous signalled bar, so
        the stream's signals equal one ``predict`` over the same rows."""
        ensemble = self.pipeline.ensemble
        if ensemble is None:
            raise ValueError("this pipeline has no ensemble; it can only compute features")
        if self._feature_at is None:
            self._prepare_signal()
        values = row.to_numpy(dtype=np.float64)[self._feature_at]
        if np.isnan(values).any():
            return None
        # The one-row frame ``row[feature_columns].to_frame().T`` gives, and the regime columns
        # beside the signal, built from prepared indexes: label lookups and a concat on string
        # columns cost pandas ~2 ms per bar, this ~0.1 ms.
        name = row.name
        index = pd.DatetimeIndex([name]) if isinstance(name, pd.Timestamp) else pd.Index([name])
        frame = pd.DataFrame(values[np.newaxis, :], index=index, columns=self._feature_index)
        signals, self._smoother_state = ensemble.predict_from(frame, self._smoother_state)
        regime = pd.DataFrame(values[self._regime_at][np.newaxis, :], index=signals.index,
                              columns=self._regime_index)
        return pd.concat([signals, regime], axis=1)

    def _prepare_signal(self) -> None:
        """Positions of the ensemble's columns in a row, and of its regime probabilities."""
        columns = list(self.pipeline.feature_columns)
        at = self._index.get_indexer(columns)
        if (at < 0).any():
            missing = [c for c, i in zip(columns, at, strict=True) if i < 0]
            raise ValueError(f"the ensemble's feature columns {missing} are not computed by "
                             "this pipeline's features")
        regime = [i for i, c in enumerate(columns) if c.startswith("regime_prob_")]
        self._feature_index = pd.Index(columns)
        self._regime_at = np.asarray(regime, dtype=np.intp)
        self._regime_index = pd.Index([columns[i] for i in regime])
        self._feature_at = at

    def update_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """:meth:`update` on every row of ``bars``, in order; the rows as a frame."""
        values = bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        rows = [self.update(t, *v).to_numpy() for t, v in zip(bars.index, values, strict=True)]
        return pd.DataFrame(np.array(rows).reshape(len(rows), len(self.columns)),
                            index=bars.index, columns=self.columns)
