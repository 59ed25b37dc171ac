"""The data scientist's view in a real browser: ``mlflow ui`` on a store made by two small real
retrains, pages rendered by headless Chromium (Debian's ``chromium``).

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
from pathlib import Path

import pytest

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
                              capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory, tiny_bars_file: Path
             ) -> Iterator[tuple[str, str, object, object]]:
    """Two retrains of the tiny profile (champion, then a challenger) and ``mlflow ui`` on
    their store: (UI base URL, tracking URI, first summary, second summary)."""
    import yaml

    from flows.weekly_retrain import weekly_retrain
    from tests.flows.conftest import TINY

    folder = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({"profile": "tiny", "seed": 7, **TINY, "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}))
    first = weekly_retrain(config_path=str(config), data=str(tiny_bars_file))
    second = weekly_retrain(config_path=str(config), data=str(tiny_bars_file))
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow), "ui", "--backend-store-uri", uri, "--host",
                               "127.0.0.1", "--port", str(port)],
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
        yield base, uri, first, second
    finally:
        server.terminate()
        server.wait(timeout=30)


def _column_ids(dom: str) -> list[str]:
    """The runs table's header column ids, left to right (by their ``aria-colindex``)."""
    cells = re.findall(r'role="columnheader"[^>]*aria-colindex="(\d+)"[^>]*col-id="([^"]+)"',
                       dom)
    return [col for _, col in sorted({int(i): c for i, c in cells}.items())]


def test_runs_table_opens_in_model_training_mode_with_the_headline_columns(ui_store) -> None:
    from reporting.headline import HEADLINE_KEYS
    from reporting.links import VIEW_NAME, runs_url

    chromium = _chromium()
    base, _, first, second = ui_store
    dom = _render(chromium, runs_url(base, second.experiment_id),
                  SCREENSHOTS / "runs_table.png")
    assert "ag-root" in dom, "the runs table did not render (GenAI pages instead?)"
    assert VIEW_NAME in dom, "the headline view is not the one shown"
    columns = _column_ids(dom)
    # the dataset, the promotion decision, then the headline figures in headline order (the
    # table renders the columns in view; at least the first five are)
    assert columns[1:5] == ["attributes.`Run Name`", "runDateAndNestInfo",  # after the checkbox
                            "attributes.`Dataset`", "tags.`promotion.decision`"], columns
    shown = [c.removeprefix("metrics.`").removesuffix("`") for c in columns[5:]]
    assert len(shown) >= 5 and shown == list(HEADLINE_KEYS[:len(shown)]), columns
    # both retrains' rows, by name
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ui_store[1])
    for summary in (first, second):
        assert client.get_run(summary.run_id).info.run_name in dom


def test_run_page_states_the_verdict_and_the_dataset(ui_store) -> None:
    from mlflow.tracking import MlflowClient

    from reporting.links import run_url

    chromium = _chromium()
    base, uri, _, second = ui_store
    dom = _render(chromium, run_url(base, second.experiment_id, second.run_id),
                  SCREENSHOTS / "run_page.png")
    decision = MlflowClient(uri).get_run(second.run_id).data.tags["promotion.decision"]
    assert f"tiny v{second.version}: {decision}" in dom
    assert re.search(r"Gate: (passed|failed)", dom)
    assert re.search(r" 30m \d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}", dom), "no dataset shown"
