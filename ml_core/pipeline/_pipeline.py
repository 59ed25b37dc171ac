"""Features, filtered regime probabilities and the ensemble, applied with fitted state only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from ml_core.config import Config

if TYPE_CHECKING:
    from ml_core.pipeline._stream import PipelineStream


@dataclass
class RegimeForestPipeline:
    """A fitted regimeforest model: what a registered version holds.

    Parameters
    ----------
    config : Config
        The profile it was trained with (features, regime and label settings are applied as-is).
    regime : ml_core.regime.RegimeHMM
        Fitted HMM; only its forward filter is used, so regime features are causal.
    ensemble : ml_core.ensemble.RegimeForestEnsemble, ml_core.ensemble.CompiledEnsemble or None
        Fitted forests and meta-learner (scikit-learn, or compiled to ONNX and served by
        onnxruntime); None for a features-only pipeline.
    feature_columns : list of str
        Columns the ensemble was trained on, in order.
    metadata : dict
        Free-form facts kept with the model (data hash, training span, scores).
    """

    config: Config
    regime: object
    ensemble: object | None = None
    feature_columns: list[str] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def engine(self) -> str | None:
        """What computes the signals: ``"onnx"`` (a compiled ensemble, onnxruntime),
        ``"sklearn"`` (the fitted ensemble), or None (no ensemble)."""
        if self.ensemble is None:
            return None
        return str(getattr(self.ensemble, "engine", "sklearn"))

    def features(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The feature matrix on ``bars`` (index = bar time), NaN where a feature is warming up."""
        from ml_core.features import compute_features

        base = compute_features(bars, self.config.features, self.config.data.timeframe)
        regime = self.regime.transform(bars)
        return pd.concat([base, regime], axis=1)

    def predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Signals for every bar whose features are complete.

        Returns
        -------
        pandas.DataFrame
            Index = bar time; ``signal`` (+1 BUY, -1 SELL, 0 HOLD), ``confidence``, ``size``,
            ``p_long`` and the regime probabilities.
        """
        return self.predict_rows(self.features(bars))

    def predict_rows(self, features: pd.DataFrame) -> pd.DataFrame:
        """Signals for rows of a feature matrix (:meth:`features` or a live stream's rows);
        rows with a feature still warming up are left out."""
        if self.ensemble is None:
            raise ValueError("this pipeline has no ensemble; it can only compute features")
        feats = features[self.feature_columns]
        feats = feats.loc[feats.notna().all(axis=1)].astype("float64")
        signals = self.ensemble.predict(feats)
        regime_cols = [c for c in feats.columns if c.startswith("regime_prob_")]
        return pd.concat([signals, feats[regime_cols]], axis=1)

    def stream(self) -> PipelineStream:
        """A :class:`PipelineStream`: this pipeline applied one new bar at a time (live)."""
        from ml_core.pipeline._stream import PipelineStream

        return PipelineStream(self)
