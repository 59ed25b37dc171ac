from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ml_core.config import Config, ConfigError, load_config, parse_duration

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_demo_profile() -> None:
    config = load_config(CONFIGS / "demo.yaml")
    assert config.data.timeframe == timedelta(minutes=30)
    assert config.features.higher_timeframes == [timedelta(hours=1), timedelta(hours=4),
                                                 timedelta(days=1)]
    assert (config.validation.n_groups, config.validation.n_test_groups) == (6, 2)


def test_every_shipped_profile_loads() -> None:
    profiles = sorted(CONFIGS.glob("*.yaml"))
    assert {p.stem for p in profiles} >= {"demo", "production", "crypto_5m"}
    for path in profiles:
        assert load_config(path).profile


def test_production_profile_has_the_seed_values() -> None:
    c = load_config(CONFIGS / "production.yaml")
    assert c.data.timeframe == timedelta(minutes=1)
    assert c.features.higher_timeframes == [timedelta(minutes=5), timedelta(minutes=15),
                                            timedelta(hours=1)]
    got = {name: (s.kind, s.n_estimators, s.max_depth, s.min_samples_split, s.min_samples_leaf,
                  s.max_features)
           for name in ("entry", "position", "exit", "profit")
           for s in [getattr(c.ensemble, name)]}
    assert got == {
        "entry": ("classifier", 100, 10, 20, 10, "sqrt"),
        "position": ("regressor", 100, 8, 15, 8, "sqrt"),
        "exit": ("classifier", 100, 12, 25, 12, "log2"),
        "profit": ("regressor", 100, 15, 30, 15, "sqrt"),
    }
    assert c.tuning.n_trials == 500
    assert c.validation.walk_forward_windows == 51
    assert (c.validation.purge, c.validation.embargo) == (timedelta(hours=24), timedelta(hours=12))
    assert c.ensemble.confidence_threshold == 0.6
    assert c.schedule.cron == "0 0 * * 0"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"ensemble": {"entry": {"max_depth": -3}}}, "ensemble.entry.max_depth = -3"),
        ({"validation": {"purge": "soon"}}, "validation.purge = 'soon'"),
        ({"validation": {"n_test_groups": 6}}, "n_test_groups=6"),
        ({"features": {"higher_timeframes": ["45m"]}}, "whole multiples"),
        ({"ensemble": {"exit": {"kind": "regressor", "max_features": "sqrt"}}},
         "ensemble.exit.kind must be 'classifier'"),
        ({"labels": {"take_profit": 0}}, "labels.take_profit = 0"),
        ({"tunning": {}}, "tunning"),
        ({"validation": {"pbo_partitions": 15}}, "pbo_partitions=15"),
        ({"validation": {"walk_forward_train_size": 100}}, "walk_forward_mode='expanding'"),
        ({"ensemble": {"entry": {"criterion": "squared_error"}}}, "criterion='squared_error'"),
        ({"ensemble": {"entry": {"bootstrap": False, "max_samples": 0.5}}},
         "max_samples needs bootstrap=True"),
        ({"tuning": {"forest_space": {"max_samples": {"type": "float", "low": 0, "high": 1}}}},
         "tuning.forest_space.max_samples holds the invalid value 0.0"),
        ({"tuning": {"forest_space": {"criterion": {"type": "categorical",
                                                    "choices": ["gini"]}}}},
         "tuning.forest_space.criterion leaves no valid choice for a regressor"),
        ({"tuning": {"forest_space": {"depth": {"type": "int", "low": 1, "high": 3}}}},
         "tuning.forest_space.depth is not a searchable forest parameter"),
        ({"tuning": {"pipeline_space": {"meta_C": {"type": "float", "low": 0, "high": 3}}}},
         "tuning.pipeline_space.meta_C holds the invalid value 0.0"),
        ({"tuning": {"pipeline_space": {"corr_threshold": {"type": "float", "low": 0.5,
                                                           "high": 1.5}}}},
         "tuning.pipeline_space.corr_threshold holds the invalid value 1.5"),
        ({"tuning": {"n_workers": 2}}, "tuning.n_workers=2 needs a server storage"),
        ({"tuning": {"objective_weights": {"accuracy": 0, "sharpe": 0, "drawdown": 0}}},
         "at least one objective weight must be positive"),
    ],
)
def test_invalid_values_are_named(override: dict, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / "demo.yaml", override)
    assert named in str(info.value)
    assert "demo.yaml" in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(bad)


def test_parse_duration() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration(90) == timedelta(seconds=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("fortnight")


def test_round_trip_through_json() -> None:
    config = load_config(CONFIGS / "demo.yaml", {"data": {"start": "2018-01-01"}})
    assert Config.model_validate_json(config.model_dump_json()) == config


def test_production_declares_the_default_search_spaces() -> None:
    from ml_core._search_space import DEFAULT_FOREST_SPACE, DEFAULT_PIPELINE_SPACE

    c = load_config(CONFIGS / "production.yaml")
    assert c.tuning.forest_space == DEFAULT_FOREST_SPACE
    assert c.tuning.pipeline_space == DEFAULT_PIPELINE_SPACE
    assert len(c.tuning.forest_space) + len(c.tuning.pipeline_space) + 1 == 16  # + n_estimators
