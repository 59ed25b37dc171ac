"""Incremental feature engine: every feature of :func:`compute_features` for one new bar."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import FeatureConfig
from ml_core.features._ops import NAN
from ml_core.features._registry import plan_columns
from ml_core.features._spec import CrossTimeframeDefinition, timeframe_label
from ml_core.features._stream_ops import StreamOps

_EPOCH = pd.Timestamp(0, tz="UTC")


class _HigherTimeframe:
    """Aggregates base bars into one higher timeframe's bins, as ``resample_ohlcv`` does.

    A bin ``[T, T + tf)`` is complete at its scheduled last base bar (open time
    ``T + tf - base``) or, when that bar is missing, once a bar of a later bin arrives; only then
    do its features update, so a base bar sees the bins ``resample_ohlcv`` makes available to it.
    """

    def __init__(self, config: FeatureConfig, timeframe: timedelta, base: timedelta,
                 definitions: list) -> None:
        self.ops = StreamOps(config, timeframe)
        self.tf_ns = int(timeframe.total_seconds() * 1e9)
        self.last_offset_ns = self.tf_ns - int(base.total_seconds() * 1e9)
        self.definitions = definitions
        self.values: dict[str, float] = {d.name: NAN for d in definitions}
        self.bin: int | None = None
        self.bar: list[float] = []

    def _close_bin(self) -> None:
        o, h, lo, c, v = self.bar
        self.ops.step(o, h, lo, c, v)
        values = self.values
        for definition in self.definitions:
            values[definition.name] = float(definition.compute(self.ops))
        self.bin = None

    def update(self, t_ns: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        start = t_ns - t_ns % self.tf_ns
        if self.bin is not None and self.bin != start:
            self._close_bin()  # its last base bar was missing
        if self.bin is None:
            self.bin, self.bar = start, [o, h, lo, c, v]
        else:
            bar = self.bar
            bar[1] = h if h > bar[1] else bar[1]
            bar[2] = lo if lo < bar[2] else bar[2]
            bar[3] = c
            bar[4] += v
        if t_ns - start >= self.last_offset_ns:
            self._close_bin()


class FeatureStream:
    """Every column of :func:`~ml_core.features.compute_features`, updated bar by bar.

    The same recipes run on the newest bar only, each stateful operation keeping O(1) state
    (:mod:`ml_core.features._stream_ops`); higher timeframes update when their bin closes. On
    the same history the stream equals the batch matrix up to rounding (tested to 1e-9), so a
    live predictor sees exactly the features the model was trained on.

    Parameters
    ----------
    config : FeatureConfig
        The feature settings of the fitted pipeline (fracdiff order included).
    base_timeframe : timedelta
        Length of one base bar.

    Examples
    --------
    >>> stream = FeatureStream(config.features, config.data.timeframe)  # doctest: +SKIP
    >>> for t, bar in bars.iterrows():                                # doctest: +SKIP
    ...     row = stream.update(t, *bar[["open", "high", "low", "close", "volume"]])
    """

    def __init__(self, config: FeatureConfig, base_timeframe: timedelta) -> None:
        self.config = config
        self.base_timeframe = base_timeframe
        plan = plan_columns(config, base_timeframe)
        self.columns: list[str] = [c.spec.name for c in plan]
        self._base = StreamOps(config, base_timeframe)
        self._base_definitions = [c.definition for c in plan if c.timeframe is None
                                  and not isinstance(c.definition, CrossTimeframeDefinition)]
        self._cross = [c.definition for c in plan
                       if isinstance(c.definition, CrossTimeframeDefinition)]
        higher = list(dict.fromkeys(c.timeframe for c in plan if c.timeframe is not None))
        self._higher = {
            timeframe_label(tf): _HigherTimeframe(
                config, tf, base_timeframe,
                [c.definition for c in plan if c.timeframe == tf])
            for tf in higher
        }
        self._order = [(c.spec.name, c.definition.name,
                        timeframe_label(c.timeframe) if c.timeframe is not None else None)
                       for c in plan]
        self._base_label = timeframe_label(base_timeframe)
        self._base_ns = int(base_timeframe.total_seconds() * 1e9)
        self._last_ns: int | None = None
        self.last_timestamp: pd.Timestamp | None = None

    @property
    def n_bars(self) -> int:
        """Bars seen so far."""
        return self._base.n_bars

    def update(self, timestamp: pd.Timestamp, open: float, high: float, low: float,
               close: float, volume: float) -> np.ndarray:
        """Feed the bar opened at ``timestamp``; its feature row (ordered as :attr:`columns`).

        Raises
        ------
        ValueError
            When ``timestamp`` is not after the previous bar's, or not on the base grid.
        """
        ts = pd.Timestamp(timestamp)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        t_ns = ts.value
        if self._last_ns is not None and t_ns <= self._last_ns:
            raise ValueError(
                f"bars must arrive in time order: `timestamp={ts}` is not after the previous "
                f"bar's `{self.last_timestamp}`"
            )
        if (t_ns - _EPOCH.value) % self._base_ns:
            raise ValueError(
                f"`timestamp={ts}` is not on the {self._base_label} bar grid"
            )
        self._last_ns, self.last_timestamp = t_ns, ts

        base = self._base
        with np.errstate(all="ignore"):
            base.step(open, high, low, close, volume)
            base_values = {d.name: float(d.compute(base)) for d in self._base_definitions}
            for htf in self._higher.values():
                htf.update(t_ns, open, high, low, close, volume)
            frames = {self._base_label: base_values}
            for label, htf in self._higher.items():
                frames[label] = htf.values
            cross = {d.name: float(d.compute(frames, base)) for d in self._cross}
        row = np.empty(len(self._order))
        for i, (name, definition_name, label) in enumerate(self._order):
            if label is None:
                row[i] = base_values[name] if name in base_values else cross[name]
            else:
                row[i] = self._higher[label].values[definition_name]
        return row

    def update_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Feed every row of ``bars`` in order; their feature rows as a frame (for tests/replay)."""
        values = bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        rows = [self.update(t, *v) for t, v in zip(bars.index, values, strict=True)]
        return pd.DataFrame(np.array(rows).reshape(len(rows), len(self.columns)),
                            index=bars.index, columns=self.columns)
