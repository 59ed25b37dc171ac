"""The registry: at least the seed's feature counts per family, for every shipped profile."""

from __future__ import annotations

from collections import Counter

import pytest

from ml_core.config import load_config
from ml_core.features import timeframe_label
from ml_core.pipeline import feature_catalogue

# The seed's feature engineer: technical 42, statistical 18, regime 8, on-chain proxies 10.
SEED_COUNTS = {"technical": 42, "statistical": 18, "regime": 8, "onchain_proxy": 10}
SEED_TOP_FEATURES = [
    "rsi_14", "regime_prob_bull", "volume_sma_ratio", "macd_signal_cross", "volatility_regime",
    "ichimoku_cloud_position", "momentum_1h", "bb_squeeze", "volume_profile_poc",
    "fractional_diff_price", "regime_transition_prob", "multi_tf_consensus",
    "kelly_optimal_size", "cvar_risk_score", "onchain_mvrv_proxy",
]


@pytest.mark.parametrize("profile", ["demo", "production", "crypto_5m"])
def test_each_family_has_at_least_the_seed_count_of_distinct_features(profile):
    config = load_config(f"configs/{profile}.yaml")
    specs = feature_catalogue(config)
    base = timeframe_label(config.data.timeframe)
    regime = timeframe_label(config.regime.timeframe)
    # Distinct recipes: base-timeframe columns, plus the regime columns (on regime bars);
    # higher-timeframe copies (`rsi_14_4h`) are extra and not counted.
    counts = Counter(s.family for s in specs.values() if s.timeframe in (base, regime)
                     and not (s.timeframe == regime and s.family != "regime"))
    for family, needed in SEED_COUNTS.items():
        assert counts[family] >= needed, f"{profile}: {family} has {counts[family]} < {needed}"
    assert sum(counts.values()) >= 78
    assert counts["risk"] >= 2


def test_the_seed_top_features_exist_under_their_names():
    specs = feature_catalogue(load_config("configs/demo.yaml"))
    missing = [name for name in SEED_TOP_FEATURES if name not in specs]
    assert not missing


def test_proxies_are_named_and_described_as_proxies():
    specs = feature_catalogue(load_config("configs/demo.yaml"))
    proxies = [s for s in specs.values() if s.family == "onchain_proxy"]
    assert proxies and all(s.name.endswith("_proxy") or "_proxy_" in s.name for s in proxies)
    assert all("proxy" in s.description.lower() for s in proxies)


def test_every_spec_has_a_lookback_and_a_one_line_description():
    specs = feature_catalogue(load_config("configs/production.yaml"))
    for spec in specs.values():
        assert spec.lookback >= 1
        assert spec.description and "\n" not in spec.description
    assert len(specs) == len(set(specs))
