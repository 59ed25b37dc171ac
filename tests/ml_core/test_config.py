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
    assert {p.stem for p in profiles} >= {"demo", "production", "crypto_5m", "hourly"}
    for path in profiles:
        assert load_config(path).profile
        assert "schema_version: 2" in path.read_text()


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
        ({"features": {"higher_timeframes": ["45m"]}},
         "features.higher_timeframes[0]=45m must be a whole multiple of data.timeframe=30m"),
        ({"data": {"timeframe": "1h"}},  # the demo's 1h higher timeframe is not higher any more
         "  features.higher_timeframes[0]=1h must be longer than data.timeframe=1h: it aggregates "
         "several base bars, drop it from the list"),
        ({"regime": {"timeframe": "20m"}},
         "regime.timeframe=20m must be longer than data.timeframe=30m"),
        ({"features": {"volatility_window": "45m"}},
         "features.volatility_window=45m must be a whole multiple of data.timeframe=30m"),
        ({"regime": {"volatility_window": "6h"}},
         "regime.volatility_window=6h must be a whole multiple of regime.timeframe=4h"),
        ({"features": {"frac_diff_window": "2h"}},
         "features.frac_diff_window=2h is 4 bars of data.timeframe=30m; it must span at least "
         "10 bars (5h)"),
        ({"labels": {"max_holding": "soon"}}, "labels.max_holding='soon' is not a duration"),
        ({"features": {"volatility_window": 48}},
         "features.volatility_window must be a duration such as '24h', got 48"),
        ({"labels": {"max_holding_bars": 48}},
         "labels.max_holding_bars counts bars, which does not port across timeframes; write "
         "labels.max_holding as a duration"),
        ({"schema_version": 3}, "schema_version=3 is not a profile schema this release reads "
         "(1 to 2)"),
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


def test_windows_are_durations_held_as_bars() -> None:
    c = load_config(CONFIGS / "demo.yaml")
    assert (c.features.frac_diff_window, c.features.volatility_window, c.regime.volatility_window,
            c.labels.volatility_span, c.labels.max_holding_bars) == (100, 48, 6, 100, 48)
    dumped = c.model_dump(mode="json")
    assert dumped["schema_version"] == 2
    assert (dumped["features"]["frac_diff_window"], dumped["features"]["volatility_window"],
            dumped["regime"]["volatility_window"], dumped["labels"]["volatility_span"],
            dumped["labels"]["max_holding"]) == ("50h", "1d", "1d", "50h", "1d")
    assert "max_holding_bars" not in dumped["labels"]
    assert c.model_dump()["labels"]["max_holding"] == timedelta(hours=24)


def test_a_profile_ports_by_changing_the_timeframe() -> None:
    hourly = load_config(CONFIGS / "demo.yaml", {"data": {"timeframe": "1h"},
                                                 "features": {"higher_timeframes": ["4h", "1d"]}})
    assert (hourly.features.frac_diff_window, hourly.features.volatility_window,
            hourly.regime.volatility_window, hourly.labels.volatility_span,
            hourly.labels.max_holding_bars) == (50, 24, 6, 50, 24)
    shipped = load_config(CONFIGS / "hourly.yaml")
    for section in ("features", "regime", "labels"):
        assert getattr(shipped, section) == getattr(hourly, section)


@pytest.mark.parametrize(("timeframe", "bars"), [("1m", (3000, 1440, 3000, 1440)),
                                                 ("5m", (600, 288, 600, 288)),
                                                 ("15m", (200, 96, 200, 96))])
def test_omitted_windows_default_to_durations(timeframe: str, bars: tuple[int, ...]) -> None:
    c = Config(schema_version=2, profile="p", data={"timeframe": timeframe})
    assert (c.features.frac_diff_window, c.features.volatility_window,
            c.labels.volatility_span, c.labels.max_holding_bars) == bars
    assert c.regime.volatility_window == 6  # 24h of 4h regime bars


def test_schema_1_profiles_are_migrated_on_load(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("profile: old\ndata: {timeframe: 5m}\nregime: {timeframe: 1h}\n"
                   "features: {higher_timeframes: [15m, 1h], volatility_window: 288}\n"
                   "labels: {max_holding_bars: 48}\n")
    c = load_config(old)
    assert c.schema_version == 2
    # the bars it said, and schema 1's defaults in bars (100 fracdiff bars, 6 regime bars)
    assert (c.features.frac_diff_window, c.features.volatility_window, c.regime.volatility_window,
            c.labels.volatility_span, c.labels.max_holding_bars) == (100, 288, 6, 100, 48)


def test_round_trip_through_json() -> None:
    config = load_config(CONFIGS / "demo.yaml", {"data": {"start": "2018-01-01"}})
    assert Config.model_validate_json(config.model_dump_json()) == config


def test_production_declares_the_default_search_spaces() -> None:
    from ml_core._search_space import DEFAULT_FOREST_SPACE, DEFAULT_PIPELINE_SPACE

    c = load_config(CONFIGS / "production.yaml")
    assert c.tuning.forest_space == DEFAULT_FOREST_SPACE
    assert c.tuning.pipeline_space == DEFAULT_PIPELINE_SPACE
    assert len(c.tuning.forest_space) + len(c.tuning.pipeline_space) + 1 == 16  # + n_estimators


# ------------------------------------------------------------------ extends, scale


def test_a_profile_extends_another_and_states_only_what_differs(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "profile: base\nseed: 3\ntuning: {n_trials: 5, cv_folds: 4}\n")
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nprofile: child\ntuning: {n_trials: 9}\n"
        "scale: {executor: dask, n_workers: 3}\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config.profile, config.seed) == ("child", 3)
    assert (config.tuning.n_trials, config.tuning.cv_folds) == (9, 4)
    assert (config.scale.executor, config.scale.n_workers, config.scale.threads_per_worker,
            config.scale.dask_address) == ("dask", 3, 1, None)


def test_extends_refuses_a_missing_parent_and_a_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nprofile: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nprofile: b\n")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\nprofile: c\n")
    with pytest.raises(ConfigError, match=r"`extends` makes a cycle: .*a\.yaml -> .*b\.yaml -> "
                                          r".*a\.yaml"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match=r"c\.yaml: extends='nowhere\.yaml', but .*nowhere\.yaml "
                                          r"is not a file"):
        load_config(tmp_path / "c.yaml")


def test_the_embedded_default_runs_every_piece_here():
    assert Config(profile="p").scale.executor == "local"


def test_a_scheduler_address_without_dask_is_refused(tmp_path):
    (tmp_path / "p.yaml").write_text("profile: p\nscale: {dask_address: 'tcp://h:8786'}\n")
    with pytest.raises(ConfigError, match=r"scale.dask_address='tcp://h:8786' is only read with "
                                          r"scale.executor='dask', got scale.executor='local'"):
        load_config(tmp_path / "p.yaml")


def test_a_profile_reads_environment_variables_with_defaults(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text(
        "profile: p\nregistry: {tracking_uri: '${RF_TEST_URI:-http://127.0.0.1:5000}'}\n"
        "tuning: {storage: 'postgresql://${RF_TEST_HOST:-db}:5432/optuna'}\n")
    monkeypatch.delenv("RF_TEST_URI", raising=False)
    monkeypatch.setenv("RF_TEST_HOST", "pg.internal")
    config = load_config(tmp_path / "p.yaml")
    assert config.registry.tracking_uri == "http://127.0.0.1:5000"
    assert config.tuning.storage == "postgresql://pg.internal:5432/optuna"
    monkeypatch.setenv("RF_TEST_URI", "http://mlflow:5000")
    assert load_config(tmp_path / "p.yaml").registry.tracking_uri == "http://mlflow:5000"


def test_an_unset_variable_without_default_names_the_field(tmp_path, monkeypatch):
    monkeypatch.delenv("RF_TEST_UNSET", raising=False)
    (tmp_path / "p.yaml").write_text("profile: p\nregistry: {tracking_uri: '${RF_TEST_UNSET}'}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: registry\.tracking_uri = '\$\{RF_TEST_UNSET\}' "
                                          r"reads \$\{RF_TEST_UNSET\}, which is not set"):
        load_config(tmp_path / "p.yaml")
