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


class _HigherTimeframe:
    """Aggregates base bars into one higher timeframe's bins, as ``resample_ohlcv`` does.

    A bin ``[T, T + tf)`` is complete at its scheduled last base bar (open time
    ``T + tf - base``) or, when that bar is missing, once a bar of a later bin arrives; only then
    do its features update, so a base bar sees the bins ``resample_ohlcv`` makes available to it.
    """

    __slots__ = ("bar", "bin", "computes", "frame", "last_offset_ns", "names", "ops", "tf_ns",
                 "values")

    def __init__(self, config: FeatureConfig, timeframe: timedelta, base: timedelta,
                 definitions: list) -> None:
        self.ops = StreamOps(config, timeframe)
        self.tf_ns = int(timeframe.total_seconds() * 1e9)
        self.last_offset_ns = self.tf_ns - int(base.total_seconds() * 1e9)
        self.names = [d.name for d in definitions]
        self.computes = [d.compute for d in definitions]
        self.values: list[float] = [NAN] * len(definitions)  # in definition order
        self.frame: dict[str, float] = dict(zip(self.names, self.values, strict=True))
        self.bin: int | None = None
        self.bar: list[float] = []

    def _close_bin(self) -> None:
        o, h, lo, c, v = self.bar
        ops = self.ops
        ops.step(o, h, lo, c, v)
        self.values = [float(compute(ops)) for compute in self.computes]
        self.frame = dict(zip(self.names, self.values, strict=True))
        self.bin = None

    def update(self, t_ns: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        start = t_ns - t_ns % self.tf_ns
        if self.bin is not None and self.bin != start:
            self._close_bin()  # its last base bar was missing
        if self.bin is None:
            self.bin, self.bar = start, [o, h, lo, c, v]
        else:
            bar = self.bar
            if h > bar[1]:
                bar[1] = h
            if lo < bar[2]:
                bar[2] = lo
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

    Per bar the work is the recipes themselves: the timestamp stays an integer of nanoseconds
    (:meth:`update_ns`; :meth:`update` converts once), the recipes are called from lists built
    at construction, and the row is one array made from the values in column order.

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
        base_definitions = [c.definition for c in plan if c.timeframe is None
                            and not isinstance(c.definition, CrossTimeframeDefinition)]
        self._base_names = [d.name for d in base_definitions]
        self._base_computes = [d.compute for d in base_definitions]
        cross = [c.definition for c in plan if isinstance(c.definition, CrossTimeframeDefinition)]
        self._cross = [d.compute for d in cross]
        # A cross-timeframe recipe reads the features it `requires`: the base frame holds those.
        required = {name for d in cross for name in d.requires}
        self._cross_inputs = [(name, i) for i, name in enumerate(self._base_names)
                              if name in required]
        higher = list(dict.fromkeys(c.timeframe for c in plan if c.timeframe is not None))
        self._base_label = timeframe_label(base_timeframe)
        self._higher = [
            (timeframe_label(tf), _HigherTimeframe(
                config, tf, base_timeframe, [c.definition for c in plan if c.timeframe == tf]))
            for tf in higher
        ]
        # The row is base values, then each higher timeframe's, then the cross-timeframe ones:
        # the plan's order (checked, so a change of plan_columns cannot misplace a column).
        order = [*self._base_names,
                 *(f"{name}_{label}" for label, htf in self._higher for name in htf.names),
                 *(d.name for d in cross)]
        if order != self.columns:
            raise RuntimeError("plan_columns no longer orders base, higher-timeframe and "
                               "cross-timeframe columns as FeatureStream assembles its rows")
        self._base_ns = int(base_timeframe.total_seconds() * 1e9)
        self._last_ns: int | None = None

    @property
    def n_bars(self) -> int:
        """Bars seen so far."""
        return self._base.n_bars

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        """Open time of the last bar fed (UTC), None before the first."""
        return None if self._last_ns is None else pd.Timestamp(self._last_ns, tz="UTC")

    def update(self, timestamp: pd.Timestamp, open: float, high: float, low: float,  # noqa: A002
               close: float, volume: float) -> np.ndarray:
        """Feed the bar opened at ``timestamp``; its feature row (ordered as :attr:`columns`).

        ``timestamp`` is a :class:`pandas.Timestamp` or anything it takes; naive means UTC.

        Raises
        ------
        ValueError
            When ``timestamp`` is not after the previous bar's, or not on the base grid.
        """
        t_ns = (timestamp if type(timestamp) is pd.Timestamp else pd.Timestamp(timestamp)).value
        return self.update_ns(t_ns, open, high, low, close, volume)

    def update_ns(self, t_ns: int, open: float, high: float, low: float,  # noqa: A002
                  close: float, volume: float) -> np.ndarray:
        """:meth:`update` with the open time as nanoseconds since the epoch (UTC).

        The live path's entry point: no :class:`pandas.Timestamp` is made per bar.
        """
        last = self._last_ns
        if last is not None and t_ns <= last:
            raise ValueError(
                f"bars must arrive in time order: `timestamp={pd.Timestamp(t_ns, tz='UTC')}` "
                f"is not after the previous bar's `{self.last_timestamp}`"
            )
        if t_ns % self._base_ns:
            raise ValueError(
                f"`timestamp={pd.Timestamp(t_ns, tz='UTC')}` is not on the {self._base_label} "
                "bar grid"
            )
        self._last_ns = t_ns

        base = self._base
        with np.errstate(all="ignore"):
            base.step(open, high, low, close, volume)
            values = [float(compute(base)) for compute in self._base_computes]
            for _, htf in self._higher:
                htf.update(t_ns, open, high, low, close, volume)
                values += htf.values
            if self._cross:
                frames = {self._base_label: {name: values[i] for name, i in self._cross_inputs}}
                for label, htf in self._higher:
                    frames[label] = htf.frame
                values += [float(compute(frames, base)) for compute in self._cross]
        return np.array(values, dtype=np.float64)

    def update_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Feed every row of ``bars`` in order; their feature rows as a frame (for tests/replay)."""
        values = bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        stamps = pd.DatetimeIndex(bars.index).as_unit("ns").asi8.tolist()  # naive means UTC
        update = self.update_ns
        rows = [update(t, *v) for t, v in zip(stamps, values.tolist(), strict=True)]
        return pd.DataFrame(np.array(rows).reshape(len(rows), len(self.columns)),
                            index=bars.index, columns=self.columns)
