"""``regimeforest retrain`` on bad input, run as a user runs it: in its own process, with its own
temporary Prefect server. A non-zero exit names the rule and the rows; nothing is registered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from regimeforest.cli import app

pytestmark = pytest.mark.integration


def test_retrain_refuses_bad_data(tiny_profile: tuple[Path, str], tiny_bars_file: Path,
                                  tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    config_path, uri = tiny_profile
    frame = pd.read_parquet(tiny_bars_file)
    frame.loc[300, "close"] = -frame.loc[300, "close"]
    bad = tmp_path / "negative.parquet"
    frame.to_parquet(bad)
    env = {**os.environ, "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "regimeforest", "retrain", "--config", str(config_path),
         "--data", str(bad)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, output[-2000:]
    assert "prices > 0" in output and "row 300" in output
    assert "nothing was trained or registered" in output
    # the report once and one error line: no Prefect traceback, no copies in its log lines
    assert output.count("Data quality gate FAILED") == 1, done.stdout + done.stderr
    assert output.count("FAIL prices > 0") == 1 and "Traceback" not in output
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        "error: the data failed its quality checks: nothing was trained or registered"]
    assert MlflowClient(uri, registry_uri=uri).search_registered_models() == []


def test_retrain_refuses_an_invalid_profile(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("profile: x\nvalidation: {n_groups: 4, n_test_groups: 4}\n")
    result = CliRunner().invoke(app, ["retrain", "--config", str(config)], terminal_width=300)
    assert result.exit_code == 2
    assert "n_test_groups=4" in result.output
