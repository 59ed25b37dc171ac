"""Feature specs of the regime columns, from a model or from the ``regime`` config section alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_core.config import RegimeConfig
from ml_core.features import FeatureSpec, timeframe_label
from ml_core.regime._columns import COLUMN_DESCRIPTIONS
from ml_core.regime._hmm import RegimeHMM


def regime_feature_specs(source: RegimeHMM | RegimeConfig) -> dict[str, FeatureSpec]:
    """Describe every column :meth:`RegimeHMM.transform` produces, in its order.

    Needs no fitted model (``regimeforest features --list`` prints it from the profile): names,
    lookback and timeframe depend on the configuration only.

    Parameters
    ----------
    source : RegimeHMM or RegimeConfig
        A model (fitted or not) or the ``regime`` section of a profile.

    Returns
    -------
    dict of str to FeatureSpec
        Keyed by column name (:data:`~ml_core.regime.TRANSFORM_COLUMNS` order); family
        ``"regime"``, timeframe the regime bar length (``"4h"``) and lookback
        ``volatility_window + 1`` regime bars: the first regime bar has no return and the next
        ``volatility_window - 1`` do not fill the volatility window, so on gap-free data the
        first value comes with regime bar ``volatility_window + 1`` (and reaches the base bars
        when that bar closes).

    Examples
    --------
    >>> specs = regime_feature_specs(RegimeConfig(timeframe="4h", volatility_window=6))
    >>> specs["regime_entropy"].timeframe, specs["regime_entropy"].lookback
    ('4h', 7)
    """
    if not isinstance(source, (RegimeHMM, RegimeConfig)):
        raise TypeError(
            f"`source` must be a RegimeHMM or a RegimeConfig, got {type(source).__name__}"
        )
    timeframe, window = source.timeframe, source.volatility_window
    label = timeframe_label(pd.Timedelta(timeframe).to_pytimedelta())
    if not isinstance(window, (int, np.integer)) or window < 2:
        raise ValueError(
            f"`volatility_window` must be an integer >= 2, got `volatility_window={window}`"
        )
    return {
        name: FeatureSpec(
            name=name, family="regime", timeframe=label, lookback=int(window) + 1,
            description=description,
        )
        for name, description in COLUMN_DESCRIPTIONS.items()
    }

