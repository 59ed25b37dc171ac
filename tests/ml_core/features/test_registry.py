"""The registry describes exactly the columns compute_features produces."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from ml_core.config import FeatureConfig
from ml_core.features import (
    FAMILIES,
    FEATURES,
    FeatureSpec,
    compute_features,
    feature_names,
    feature_specs,
    timeframe_label,
)

from ._bars import random_walk_bars

THIRTY_MINUTES = timedelta(minutes=30)

REQUIRED = [
    "rsi_14", "macd_signal_cross", "macd_hist", "bb_squeeze", "bb_percent_b", "volume_sma_ratio",
    "momentum_1h", "volatility_regime", "ichimoku_cloud_position", "fractional_diff_price",
    "atr_14_pct", "adx_14", "stoch_k_14", "williams_r_14", "cci_20", "obv_slope",
    "vwap_distance", "ema_cross_12_26", "realized_vol", "return_zscore", "autocorr_1",
    "momentum_4h", "momentum_1d", "rsi_14_4h", "rsi_14_1d", "multi_tf_consensus",
]


def test_registry_names_equal_the_computed_columns(sample_features):
    assert list(FEATURES) == list(sample_features.columns)
    assert feature_names(FeatureConfig(), THIRTY_MINUTES) == list(sample_features.columns)
    assert (sample_features.dtypes == "float64").all()


def test_required_names_are_present():
    assert set(REQUIRED) <= set(FEATURES)
    assert not any(name.startswith("regime_prob") for name in FEATURES)


def test_specs_are_complete_and_consistent():
    for name, spec in FEATURES.items():
        assert spec.name == name
        assert spec.family in FAMILIES
        assert spec.lookback >= 1
        assert spec.description and "\n" not in spec.description
    assert FEATURES["rsi_14"].timeframe == "30m"
    assert FEATURES["rsi_14_4h"].timeframe == "4h"
    assert FEATURES["rsi_14_4h"].lookback == 15  # in 4-hour bars
    assert FEATURES["fractional_diff_price"].lookback == FeatureConfig().frac_diff_window
    assert FEATURES["momentum_1h"].lookback == 3  # 2 bars back at 30m


def test_feature_spec_validates_and_is_frozen():
    spec = FeatureSpec("x", "risk", "30m", 5, "a feature")
    with pytest.raises(FrozenInstanceError):
        spec.lookback = 6  # type: ignore[misc]
    with pytest.raises(ValueError, match="`family='price'`"):
        FeatureSpec("x", "price", "30m", 5, "a feature")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`lookback=0`"):
        FeatureSpec("x", "risk", "30m", 0, "a feature")


def test_production_like_names_equal_columns_on_one_minute_bars():
    config = FeatureConfig(
        higher_timeframes=[timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)],
        frac_diff_window=500, volatility_window=60,
    )
    names = feature_names(config, timedelta(minutes=1))
    assert {"rsi_14_5m", "rsi_14_15m", "rsi_14_1h", "momentum_1h", "momentum_1d"} <= set(names)
    assert feature_specs(config, timedelta(minutes=1))["momentum_1h"].lookback == 61
    bars = random_walk_bars(2_100, freq="1min")  # macd_hist_1h: 34 hours
    features = compute_features(bars, config, timedelta(minutes=1))
    assert list(features.columns) == names


def test_time_defined_features_follow_the_base_timeframe():
    names = feature_names(FeatureConfig(higher_timeframes=[timedelta(days=1)]),
                          timedelta(hours=4))
    assert "momentum_1h" not in names  # an hour is shorter than one 4-hour bar
    assert {"momentum_4h", "momentum_1d", "rsi_14_1d"} <= set(names)


@pytest.mark.parametrize(("td", "label"), [
    (timedelta(minutes=5), "5m"), (timedelta(minutes=15), "15m"), (timedelta(hours=1), "1h"),
    (timedelta(hours=4), "4h"), (timedelta(days=1), "1d"), (timedelta(minutes=90), "90m"),
])
def test_timeframe_labels(td, label):
    assert timeframe_label(td) == label


def test_higher_timeframe_must_be_a_multiple_of_the_base():
    config = FeatureConfig(higher_timeframes=[timedelta(minutes=45)])
    with pytest.raises(ValueError, match="`higher_timeframes=\\['45m'\\]`"):
        feature_names(config, THIRTY_MINUTES)
    with pytest.raises(ValueError, match="base_timeframe"):
        feature_names(FeatureConfig(), timedelta(0))
