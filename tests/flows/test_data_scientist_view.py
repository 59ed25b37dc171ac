"""The data scientist's view, as a data scientist uses it: two tiny real retrains (v1 the
champion, v2 judged against it), ``regimeforest compare`` on them, and ``mlflow ui`` on their
store with the pages rendered by headless Chromium (Debian's ``chromium``).

The store is the one ``test_weekly_retrain`` checks (the session fixture ``retrained_twice``).
Screenshots of the pages are kept under ``test-artifacts/screenshots/`` (not committed) for a
person to look at."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regimeforest.cli import app
from reporting.headline import HEADLINE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--window-size=1920,1080", "--virtual-time-budget=10000"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: this must not be skipped)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _render(chromium: str, url: str, screenshot: Path) -> str:
    """The page's DOM after its scripts ran (10 s of virtual time), and a PNG of it."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               f"--screenshot={screenshot}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=180, check=True).stdout


@dataclass(frozen=True)
class Store:
    """The two retrains' store: CLI options pointing at it, its URI, the retrain summaries."""

    options: list[str]
    uri: str
    first: object
    second: object


@pytest.fixture(scope="module")
def store(retrained_twice: tuple[Path, str, object, object], tiny_bars_file: Path) -> Store:
    """The two tiny retrains' store (``tests/flows/conftest.py``): v1 the champion, v2 judged
    against it by the retrain's gate, which also logged the page comparing the two."""
    config, uri, first, second = retrained_twice
    assert (first.version, second.version, second.champion_version) == ("1", "2", "1")
    return Store(["--config", str(config), "--data", str(tiny_bars_file)], uri, first, second)


@pytest.fixture(scope="module")
def ui(store: Store) -> Iterator[str]:
    """``mlflow ui`` on the store, on a free port of 127.0.0.1: its base URL."""
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    # one worker and no job executor: a light server on a 2-core machine that also runs the
    # Prefect harness (four workers starting while the page loads stalled it for minutes)
    server = subprocess.Popen([str(mlflow), "ui", "--backend-store-uri", store.uri, "--host",
                               "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow ui did not start on {base}") from None
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_compare_defaults_to_the_champion_against_the_newest_version(
        store: Store) -> None:
    from mlflow.tracking import MlflowClient

    options, uri = store.options, store.uri
    result = CliRunner().invoke(app, ["compare", *options], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"tiny: B = v2( \(\w+\))? against A = v1 \(champion\)", out), out
    rows = [line.strip("│ ").split()[0] for line in out.splitlines() if line.startswith("│")]
    assert rows == list(HEADLINE)
    assert "paired test (the promotion gate's, newest bars 2019-09-01 20:30 → 2019-10-01 00:00" \
        " UTC):" in out
    assert "one-sided p = " in out
    assert re.search(r"v2( \(\w+\))? (beats|does not beat) v1 \(champion\)", out), out
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


def test_compare_names_a_version_that_does_not_exist(store: Store) -> None:
    options = store.options
    result = CliRunner().invoke(app, ["compare", "1", "99", *options], terminal_width=200)
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        "error: model 'tiny' has no version 99 (registered versions of tiny: 1, 2)")
    result = CliRunner().invoke(app, ["compare", "shadow", *options], terminal_width=200)
    assert result.exit_code == 1
    assert "no version of model 'tiny' holds the alias 'shadow'" in result.output
    result = CliRunner().invoke(app, ["compare", "2", "2", *options], terminal_width=200)
    assert result.exit_code == 1
    assert "A and B are both v2 of model 'tiny': nothing to compare" in result.output


def _column_ids(dom: str) -> list[str]:
    """The runs table's header column ids, left to right (by their ``aria-colindex``)."""
    cells = re.findall(r'role="columnheader"[^>]*aria-colindex="(\d+)"[^>]*col-id="([^"]+)"',
                       dom)
    return [col for _, col in sorted({int(i): c for i, c in cells}.items())]


def test_runs_table_opens_in_model_training_mode_with_the_headline_columns(store: Store,
                                                                          ui: str) -> None:
    from mlflow.tracking import MlflowClient

    from reporting.headline import HEADLINE_KEYS
    from reporting.links import VIEW_NAME, runs_url

    chromium = _chromium()
    dom = _render(chromium, runs_url(ui, store.second.experiment_id),
                  SCREENSHOTS / "runs_table.png")
    assert "ag-root" in dom, "the runs table did not render (GenAI pages instead?)"
    assert VIEW_NAME in dom, "the headline view is not the one shown"
    # after the checkbox: the run, its start, its dataset, the promotion decision, then the
    # headline figures in headline order (the table renders the columns in view, >= 5 of them)
    columns = _column_ids(dom)
    assert columns[1:5] == ["attributes.`Run Name`", "runDateAndNestInfo",
                            "attributes.`Dataset`", "tags.`promotion.decision`"], columns
    client = MlflowClient(store.uri)
    logged = {key for summary in (store.first, store.second)
              for key in client.get_run(summary.run_id).data.metrics}
    headline = [key for key in HEADLINE_KEYS if key in logged]  # the table shows these
    shown = [c.removeprefix("metrics.`").removesuffix("`") for c in columns[5:]]
    assert len(shown) >= 5 and shown == headline[:len(shown)], columns
    for summary in (store.first, store.second):
        assert client.get_run(summary.run_id).info.run_name in dom
    # the chart view: the headline section first, the CPCV-split series beside it
    charts = _render(chromium, runs_url(ui, store.second.experiment_id) +
                     "&compareRunsMode=CHART", SCREENSHOTS / "runs_charts.png")
    sections = re.findall(r">(headline|cv_split|wf_window|Model metrics)<", charts)
    assert sections[:2] == ["headline", "cv_split"], sections


def test_run_page_states_the_verdict_the_dataset_and_links_the_comparison(store: Store,
                                                                         ui: str) -> None:
    from mlflow.tracking import MlflowClient

    from reporting.links import artifact_url, run_url

    chromium = _chromium()
    second = store.second
    dom = _render(chromium, run_url(ui, second.experiment_id, second.run_id),
                  SCREENSHOTS / "run_page.png")
    tags = MlflowClient(store.uri).get_run(second.run_id).data.tags
    verdict = tags.get("promotion.verdict") or tags.get("promotion.decision") or "undecided"
    assert f"tiny v2: {verdict}" in dom
    assert re.search(r"Gate: (passed|failed)", dom)
    assert re.search(r" 30m \d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", dom), "no dataset shown"
    # one click from the run: the page comparing it with the champion it was judged against
    page = artifact_url("", second.experiment_id, second.run_id, "compare/v2_vs_v1.html")
    assert f'href="{page}"' in dom.replace("&amp;", "&"), "no link to the comparison"
    compare = _render(chromium, ui + "/" + page, SCREENSHOTS / "compare_page.png")
    assert "v2_vs_v1.html" in compare
