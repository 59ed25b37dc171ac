"""regime_feature_specs: one spec per transform column, from the config alone or from a model."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from ml_core.config import RegimeConfig
from ml_core.data import load_sample_bars
from ml_core.features import FeatureSpec
from ml_core.regime import TRANSFORM_COLUMNS, RegimeHMM, regime_feature_specs


def test_specs_from_the_config_alone():
    specs = regime_feature_specs(RegimeConfig())
    assert list(specs) == list(TRANSFORM_COLUMNS)
    assert len(specs) >= 9
    for name, spec in specs.items():
        assert isinstance(spec, FeatureSpec)
        assert (spec.name, spec.family, spec.timeframe, spec.lookback) == (name, "regime", "4h", 7)
        assert spec.description and "\n" not in spec.description


def test_specs_follow_the_configured_timeframe_and_window():
    cfg = RegimeConfig(timeframe="1d", volatility_window=10)
    spec = regime_feature_specs(cfg)["regime_surprise"]
    assert (spec.timeframe, spec.lookback) == ("1d", 11)
    unfitted = RegimeHMM.from_config(cfg, base_timeframe=timedelta(hours=1))
    assert regime_feature_specs(unfitted) == regime_feature_specs(cfg)


def test_lookback_is_where_the_first_value_appears():
    bars = load_sample_bars().iloc[:4000]
    model = RegimeHMM(n_restarts=1, random_state=0, volatility_window=4).fit(bars)
    features = model.regime_features(bars)
    specs = regime_feature_specs(model)
    assert list(features.columns) == list(specs)
    first = {name: int(np.argmax(features[name].notna().to_numpy())) for name in specs}
    # NaN on the first lookback - 1 regime bars of gap-free data, then defined
    assert first == {name: spec.lookback - 1 for name, spec in specs.items()}
    assert features.iloc[first["regime_state"]:].notna().all().all()


def test_wrong_source_is_rejected():
    with pytest.raises(TypeError, match="RegimeHMM or a RegimeConfig, got dict"):
        regime_feature_specs({"timeframe": "4h"})
    with pytest.raises(ValueError, match="`volatility_window=1`"):
        regime_feature_specs(RegimeHMM(volatility_window=1))
