"""``regimeforest compare`` on a real store: two tiny real retrains (v1 the champion, v2 the
newest), compared as a user compares them, with the page logged on v2's run.

Here beside the other tests that run whole flows: the tiny profile and bars are this folder's
fixtures (``conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regimeforest.cli import app
from reporting.headline import HEADLINE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_bars_file: Path,
          prefect_harness: None) -> Iterator[tuple[list[str], str]]:
    """v1 trained as of a week before the bars end and made champion by hand, v2 trained on
    every bar, its alias left alone: the options that point ``compare`` at them, and the
    tracking URI."""
    import yaml

    from flows.weekly_retrain import weekly_retrain
    from tests.flows.conftest import TINY

    folder = tmp_path_factory.mktemp("compare")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({"profile": "tiny", "seed": 7, **TINY, "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}))
    first = weekly_retrain(config_path=str(config), data=str(tiny_bars_file),
                           as_of=datetime(2019, 9, 24, tzinfo=timezone.utc), promote=False)
    second = weekly_retrain(config_path=str(config), data=str(tiny_bars_file), promote=False)
    assert (first.version, second.version) == ("1", "2")
    options = ["--config", str(config)]
    done = CliRunner().invoke(app, ["promote", "1", "--reason", "the test's champion", *options])
    assert done.exit_code == 0, done.output
    yield [*options, "--data", str(tiny_bars_file)], uri


def test_compare_defaults_to_the_champion_against_the_newest_version(
        store: tuple[list[str], str]) -> None:
    from mlflow.tracking import MlflowClient

    options, uri = store
    result = CliRunner().invoke(app, ["compare", *options], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tiny: B = v2 against A = v1 (champion)" in out
    rows = [line.strip("│ ").split()[0] for line in out.splitlines() if line.startswith("│")]
    assert rows == list(HEADLINE)
    assert "paired test (the promotion gate's, newest bars 2019-09-01 20:30 → 2019-10-01 00:00" \
        " UTC):" in out
    assert "one-sided p = " in out and ("v2 beats v1" in out or "v2 does not beat v1" in out)
    assert "gate verdict for B with A in the champion's place:" in out

    client = MlflowClient(uri, registry_uri=uri)
    version = client.get_model_version("tiny", "2")
    listed = [a.path for a in client.list_artifacts(version.run_id, "compare")]
    assert listed == ["compare/v2_vs_v1.html"]
    experiment = client.get_run(version.run_id).info.experiment_id
    assert (f"/#/experiments/{experiment}/runs/{version.run_id}/artifacts/compare/v2_vs_v1.html"
            "?workflowType=machine_learning") in " ".join(out.split())
    page = client.download_artifacts(version.run_id, "compare/v2_vs_v1.html")
    html = Path(page).read_text()
    assert html.count('src="data:image/png;base64,') == 2
    assert "<th>A: v1 (champion)</th>" in html and "<td>pbo</td>" in html
    assert "one-sided p = " in html and "cv_bull_" in html


def test_compare_names_a_version_that_does_not_exist(store: tuple[list[str], str]) -> None:
    options, _ = store
    result = CliRunner().invoke(app, ["compare", "1", "99", *options], terminal_width=200)
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        "error: model 'tiny' has no version 99 (registered versions of tiny: 1, 2)")
    result = CliRunner().invoke(app, ["compare", "challenger", *options], terminal_width=200)
    assert result.exit_code == 1
    assert "no version of model 'tiny' holds the alias 'challenger'" in result.output
    result = CliRunner().invoke(app, ["compare", "2", "2", *options], terminal_width=200)
    assert result.exit_code == 1
    assert "A and B are both v2 of model 'tiny': nothing to compare" in result.output
