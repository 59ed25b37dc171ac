"""The command line as a user runs it: exit codes, messages naming rules and rows, the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    missing = runner.invoke(app, ["promote", "9", "--reason", "typo", *common])
    assert missing.exit_code == 1 and "version 9" in missing.output
    rolled = runner.invoke(app, ["rollback", "--reason", "live drawdown", *common])
    assert rolled.exit_code == 0, rolled.output
    assert tracker.alias_version("regimeforest-demo", "champion") == "1"
    history = runner.invoke(app, ["history", *common], terminal_width=250)
    assert history.exit_code == 0
    assert history.output.count("champion") >= 3 and "won A/B" in history.output
    assert "now: champion = v1" in history.output
