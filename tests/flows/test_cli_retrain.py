"""``regimeforest retrain`` on bad input: a non-zero exit naming the rule and rows, nothing registered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from regimeforest.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_retrain_refuses_bad_data(tiny_profile: tuple[Path, str], tiny_bars_file: Path,
                                  tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    config_path, uri = tiny_profile
    frame = pd.read_parquet(tiny_bars_file)
    frame.loc[300, "close"] = -frame.loc[300, "close"]
    bad = tmp_path / "negative.parquet"
    frame.to_parquet(bad)
    result = CliRunner().invoke(app, ["retrain", "--config", str(config_path), "--data", str(bad)],
                                terminal_width=300)
    assert result.exit_code == 1
    assert "prices > 0" in result.output and "row 300" in result.output
    assert "nothing was trained or registered" in result.output
    assert MlflowClient(uri, registry_uri=uri).search_registered_models() == []


def test_retrain_refuses_an_invalid_profile(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("profile: x\nvalidation: {n_groups: 4, n_test_groups: 4}\n")
    result = CliRunner().invoke(app, ["retrain", "--config", str(config)], terminal_width=300)
    assert result.exit_code == 2
    assert "n_test_groups=4" in result.output
