"""The live path: one new bar in, its full feature row (and signal) out, in O(1) per bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml_core.features import FeatureStream

if TYPE_CHECKING:
    from ml_core.pipeline._pipeline import RegimeForestPipeline


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
    """

    def __init__(self, pipeline: RegimeForestPipeline) -> None:
        self.pipeline = pipeline
        config = pipeline.config
        self._features = FeatureStream(config.features, config.data.timeframe)
        self._regime = pipeline.regime.stream()
        self.columns: list[str] = [*self._features.columns, *self._regime.columns]
        self._index = pd.Index(self.columns)
        self._smoother_state = None  # the signal smoother's memory, carried bar to bar

    @property
    def n_bars(self) -> int:
        """Bars seen so far."""
        return self._features.n_bars

    def update(self, timestamp: pd.Timestamp, open: float, high: float, low: float,  # noqa: A002
               close: float, volume: float) -> pd.Series:
        """The feature row of the bar opened at ``timestamp`` (NaN while warming up)."""
        ts = pd.Timestamp(timestamp)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        base = self._features.update(ts, open, high, low, close, volume)
        regime = self._regime.update(ts, open, high, low, close, volume)
        return pd.Series(np.concatenate([base, np.asarray(regime, dtype=np.float64)]),
                         index=self._index, name=ts)

    def signal(self, row: pd.Series) -> pd.DataFrame | None:
        """The ensemble's signal for a row from :meth:`update`; None while a feature warms up.

        Signal smoothing (``ensemble.smoothing``) continues from the previous signalled bar, so
        the stream's signals equal one ``predict`` over the same rows."""
        ensemble = self.pipeline.ensemble
        if ensemble is None:
            raise ValueError("this pipeline has no ensemble; it can only compute features")
        features = row[self.pipeline.feature_columns]
        if features.isna().any():
            return None
        frame = features.to_frame().T.astype("float64")
        signals, self._smoother_state = ensemble.predict_from(frame, self._smoother_state)
        regime_cols = [c for c in frame.columns if c.startswith("regime_prob_")]
        return pd.concat([signals, frame[regime_cols]], axis=1)

    def update_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """:meth:`update` on every row of ``bars``, in order; the rows as a frame."""
        values = bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        rows = [self.update(t, *v).to_numpy() for t, v in zip(bars.index, values, strict=True)]
        return pd.DataFrame(np.array(rows).reshape(len(rows), len(self.columns)),
                            index=bars.index, columns=self.columns)
