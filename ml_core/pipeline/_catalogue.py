"""Every column a profile's pipeline produces: the feature registry plus the regime columns."""

from __future__ import annotations

from ml_core.config import Config
from ml_core.features import FeatureSpec, feature_specs


def feature_catalogue(config: Config) -> dict[str, FeatureSpec]:
    """Name -> :class:`~ml_core.features.FeatureSpec` of every column of
    :meth:`RegimeForestPipeline.features` for ``config``, in column order.

    Needs no data and no fitted model: ``regimeforest features --list`` prints it.
    """
    from ml_core.regime import regime_feature_specs

    specs = dict(feature_specs(config.features, config.data.timeframe))
    specs.update(regime_feature_specs(config.regime))
    return specs
