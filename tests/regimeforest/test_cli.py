"""The command line as a user runs it: exit codes, messages naming rules and rows, the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_core.data import load_bars, sample_bars_path
from regimeforest.cli import app

runner = CliRunner()
DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")


def test_help_imports_no_heavy_engine() -> None:
    code = ("import sys, regimeforest.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'prefect', 'mlflow', 'great_expectations', 'sklearn', 'pandas', 'hmmlearn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("retrain", ["--config", "--data", "--tracking-uri"]),
        ("validate-data", ["--timeframe"]),
        ("features", ["--out", "--config", "--model"]),
        ("regimes", ["--out", "--config", "--model", "--smoothed", "available_at", "LATER"]),
        ("promote", ["--reason"]),
        ("rollback", ["--reason"]),
        ("history", []),
        ("ui", []),
    ],
)
def test_commands_and_options(command: str, options: list[str]) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in options:
        assert option in result.output


@pytest.fixture(scope="module")
def clean_frame() -> pd.DataFrame:
    return load_bars(sample_bars_path()).iloc[-3000:].reset_index(drop=True)


def _broken(frame: pd.DataFrame, defect: str) -> pd.DataFrame:
    frame = frame.copy()
    if defect == "duplicate":
        frame.loc[10, "timestamp"] = frame.loc[9, "timestamp"]
    elif defect == "negative":
        frame.loc[10, "open"] = -1.0
    elif defect == "high_low":
        frame.loc[10, "low"] = frame.loc[10, "high"] + 5.0
    elif defect == "missing":
        frame = frame.drop(columns="volume")
    return frame


@pytest.mark.parametrize(
    ("defect", "rule", "row"),
    [
        ("duplicate", "timestamps unique", "row 10"),
        ("negative", "prices > 0", "row 10"),
        ("high_low", "low <= min(open, close)", "row 10"),
        ("missing", "required columns", "volume"),
    ],
)
def test_validate_data_names_rule_and_rows(clean_frame: pd.DataFrame, tmp_path: Path,
                                           defect: str, rule: str, row: str) -> None:
    path = tmp_path / f"{defect}.csv"
    _broken(clean_frame, defect).to_csv(path, index=False)
    result = runner.invoke(app, ["validate-data", str(path), "--timeframe", "30m"],
                           terminal_width=300)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and rule in result.output and row in result.output


def test_validate_data_passes_clean_data(clean_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "clean.feather"
    clean_frame.to_feather(path)
    result = runner.invoke(app, ["validate-data", str(path), "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert "passed" in result.output
    assert any((tmp_path / "docs").rglob("index.html"))


def test_validate_data_on_the_real_dirty_files(shared_data: Path) -> None:
    yahoo = runner.invoke(app, ["validate-data",
                                str(shared_data / "dirty" / "BTC-USD-15m_yahoo_2021.csv")],
                          terminal_width=300)
    assert yahoo.exit_code == 1
    for rule in ("timestamps unique", "timestamps increasing", "bar grid", "gap ratio"):
        assert rule in yahoo.output
    alt = runner.invoke(app, ["validate-data",
                              str(shared_data / "dirty" / "ALT_BTC-1m_2017-11.feather")])
    assert alt.exit_code == 1 and "gap ratio" in alt.output


def test_unreadable_input_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bars.xlsx"
    path.write_text("x")
    result = runner.invoke(app, ["validate-data", str(path)])
    assert result.exit_code == 1
    assert "unsupported file type '.xlsx'" in result.output


def test_features_with_a_saved_pipeline_do_not_refit(clean_frame: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    from ml_core.config import load_config
    from ml_core.data import as_bars
    from ml_core.pipeline import RegimeForestPipeline, save_pipeline
    from ml_core.regime import RegimeHMM

    config = load_config(DEMO)
    full = as_bars(load_bars(sample_bars_path()))
    regime = RegimeHMM.from_config(config.regime, config.data.timeframe, 1).fit(full)
    saved = save_pipeline(RegimeForestPipeline(config=config, regime=regime), tmp_path / "model")
    bars_file = tmp_path / "bars.parquet"
    clean_frame.to_parquet(bars_file)

    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", str(bars_file), "--out", str(out), "--config", DEMO,
                                 "--model", str(saved)])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    expected = RegimeForestPipeline(config=config, regime=regime).features(as_bars(clean_frame))
    pd.testing.assert_frame_equal(got, expected, check_freq=False)

    refit = tmp_path / "refit.parquet"
    result = runner.invoke(app, ["features", str(bars_file), "--out", str(refit),
                                 "--config", DEMO])
    assert result.exit_code == 0, result.output
    # fitting the HMM on 3,000 bars gives other regime probabilities than the saved model's
    assert not pd.read_parquet(refit)["regime_prob_bull"].equals(got["regime_prob_bull"])


@pytest.fixture(scope="module")
def saved_regime(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An HMM fitted on the 6,000 bars before ``clean_frame``, saved as a pipeline."""
    from ml_core.config import load_config
    from ml_core.data import as_bars
    from ml_core.pipeline import RegimeForestPipeline, save_pipeline
    from ml_core.regime import fit_regime_model

    config = load_config(DEMO)
    history = as_bars(load_bars(sample_bars_path()).iloc[-9000:-3000])
    regime = fit_regime_model(history, config.regime, config.data.timeframe, 1)
    directory = tmp_path_factory.mktemp("model")
    saved = save_pipeline(RegimeForestPipeline(config=config, regime=regime), directory / "m")
    return regime, saved


def test_regimes_applies_a_saved_hmm_with_smoothed_diagnostics(
        clean_frame: pd.DataFrame, saved_regime, tmp_path: Path) -> None:  # noqa: ANN001
    from ml_core.data import as_bars
    from ml_core.regime import REGIME_LABELS, get_regime_probabilities

    regime, saved = saved_regime
    bars_file = tmp_path / "bars.parquet"
    clean_frame.to_parquet(bars_file)
    out = tmp_path / "regimes.parquet"
    result = runner.invoke(app, ["regimes", str(bars_file), "--out", str(out), "--config", DEMO,
                                 "--model", str(saved), "--smoothed"], terminal_width=250)
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)

    bars = as_bars(clean_frame)
    filtered = get_regime_probabilities(regime, bars)
    filtered = filtered[filtered.notna().all(axis=1)]
    assert got.index.name == "available_at"
    assert got.index.equals(filtered.index)
    # 3,000 bars from 12:30 give 375 closed 4h bins (the one opening at the last bar is still
    # open); the first `volatility_window` are warm-up
    assert len(got) == 375 - regime.volatility_window
    assert list(got.columns) == [
        "prob_bull", "prob_bear", "prob_sideways", "label", "state",
        "smoothed_diagnostic_prob_bull", "smoothed_diagnostic_prob_bear",
        "smoothed_diagnostic_prob_sideways", "smoothed_diagnostic_label"]
    np.testing.assert_array_equal(got[["prob_bull", "prob_bear", "prob_sideways"]].to_numpy(),
                                  filtered[list(REGIME_LABELS)].to_numpy())
    state = filtered[list(REGIME_LABELS)].to_numpy().argmax(axis=1)
    np.testing.assert_array_equal(got["state"].to_numpy(), state)
    assert got["label"].tolist() == [REGIME_LABELS[s] for s in state]
    smoothed = get_regime_probabilities(regime, bars, smoothed=True).loc[got.index]
    for k in REGIME_LABELS:
        np.testing.assert_array_equal(got[f"smoothed_diagnostic_prob_{k}"],
                                      smoothed[f"smoothed_diagnostic_{k}"])
    assert f"wrote {len(got):,} regime bars" in result.output
    assert "[bold]" not in result.output and got["label"].iloc[-1] in result.output
    assert "diagnostics only" in result.output


def test_regimes_fits_the_hmm_on_the_file_without_a_model(clean_frame: pd.DataFrame,
                                                          tmp_path: Path) -> None:
    from ml_core.config import load_config
    from ml_core.data import as_bars
    from ml_core.regime import fit_regime_model, get_regime_probabilities

    config = load_config(DEMO)
    bars_file = tmp_path / "bars.csv"
    clean_frame.to_csv(bars_file, index=False)
    out = tmp_path / "sub" / "regimes.parquet"
    result = runner.invoke(app, ["regimes", str(bars_file), "-o", str(out), "-c", DEMO])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    assert "smoothed_diagnostic_label" not in got
    bars = as_bars(clean_frame)
    model = fit_regime_model(bars, config.regime, config.data.timeframe, config.seed)
    expected = get_regime_probabilities(model, bars).dropna()
    np.testing.assert_allclose(got[["prob_bull", "prob_bear", "prob_sideways"]].to_numpy(),
                               expected.to_numpy(), rtol=0, atol=1e-12)
    assert f"fitted the HMM on {model.n_fit_bars_:,} regime bars" in result.output


def test_regimes_refuses_dirty_or_too_short_data(clean_frame: pd.DataFrame,
                                                 tmp_path: Path) -> None:
    dirty = tmp_path / "dirty.csv"
    _broken(clean_frame, "high_low").to_csv(dirty, index=False)
    out = tmp_path / "regimes.parquet"
    result = runner.invoke(app, ["regimes", str(dirty), "--out", str(out), "--config", DEMO],
                           terminal_width=300)
    assert result.exit_code == 1
    assert "low <= min(open, close)" in result.output
    assert "regimes were not computed" in result.output
    short = tmp_path / "short.csv"
    clean_frame.iloc[:400].to_csv(short, index=False)
    result = runner.invoke(app, ["regimes", str(short), "--out", str(out), "--config", DEMO],
                           terminal_width=300)
    assert result.exit_code == 1
    message = " ".join(result.output.split())  # rich wraps long lines
    assert "cannot fit the regime model" in message and "too few bars to fit" in message
    assert not out.exists()


def test_promote_rollback_history(tmp_path: Path) -> None:
    from tasks.registry import Tracker, tracked_run

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker(uri)
    for score in (0.3, 0.2):
        with tracked_run(tracker, "exp", "run", {}) as run_id:
            (tmp_path / "m.txt").write_text("m")
            tracker.log_artifact(run_id, tmp_path / "m.txt", "model")
        version = tracker.register(f"runs:/{run_id}/model", "regimeforest-demo", run_id,
                                   {"cv_score": repr(score)})
        tracker.promote_new_version("regimeforest-demo", version, score, 0.0)

    common = ["--config", DEMO, "--tracking-uri", uri]
    assert runner.invoke(app, ["promote", "2", "--reason", "won A/B", *common]).exit_code == 0
    assert tracker.alias_version("regimeforest-demo", "champion") == "2"
    again = runner.invoke(app, ["promote", "2", "--reason", "twice", *common])
    assert again.exit_code == 1 and "v2 is the champion already" in again.output
    # a "v2 -> v2" move recorded before promote refused no-ops is not a way back
    tracker.move_alias("regimeforest-demo", "champion", "2", "legacy no-op")
    missing = runner.invoke(app, ["promote", "9", "--reason", "typo", *common])
    assert missing.exit_code == 1 and "version 9" in missing.output
    rolled = runner.invoke(app, ["rollback", "--reason", "live drawdown", *common])
    assert rolled.exit_code == 0, rolled.output
    assert tracker.alias_version("regimeforest-demo", "champion") == "1"
    history = runner.invoke(app, ["history", *common], terminal_width=250)
    assert history.exit_code == 0
    assert history.output.count("champion") >= 3 and "won A/B" in history.output
    assert "twice" not in history.output
    assert "now: champion = v1" in history.output


def test_features_list_prints_the_registry_of_a_family():
    from ml_core.config import load_config
    from ml_core.pipeline import feature_catalogue

    result = CliRunner().invoke(app, ["features", "--list", "--family", "onchain_proxy"])
    assert result.exit_code == 0, result.output
    proxies = [s for s in feature_catalogue(load_config("configs/demo.yaml")).values()
               if s.family == "onchain_proxy"]
    for spec in proxies:
        assert spec.name in result.output
    assert f"{len(proxies)} columns: onchain_proxy {len(proxies)}" in result.output
    assert "not on-chain data" in result.output


def test_features_list_of_an_unknown_family_fails_naming_the_families():
    result = CliRunner().invoke(app, ["features", "--list", "--family", "astrology"])
    assert result.exit_code != 0
    assert "astrology" in result.output and "onchain_proxy" in result.output


def test_features_without_file_or_list_explains_what_to_give():
    result = CliRunner().invoke(app, ["features"])
    assert result.exit_code != 0
    assert "--list" in result.output
