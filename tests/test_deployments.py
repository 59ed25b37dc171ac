from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.weekly_retrain import build_deployment

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_weekly_schedule_is_sunday_midnight_utc() -> None:
    deployment = build_deployment(str(CONFIGS / "production.yaml"))
    assert deployment.name == "weekly-retrain-production"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 0 * * 0"
    assert schedule.schedule.timezone == "UTC"
    assert deployment.parameters == {"config_path": str(CONFIGS / "production.yaml")}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, seconds: float, what: str):  # noqa: ANN001, ANN202
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = predicate()
        except Exception:  # noqa: BLE001 - the server is still starting
            found = None
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


@pytest.mark.integration
def test_serving_registers_the_weekly_schedule_on_a_real_server(tmp_path: Path) -> None:
    """The README's recipe: a Prefect server, then ``python -m deployments.weekly_retrain``."""
    import httpx

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    env.pop("PREFECT_API_KEY", None)
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    served = None
    try:
        _wait(lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120,
              "the Prefect server")
        served = subprocess.Popen([sys.executable, "-m", "deployments.weekly_retrain",
                                   "--config", str(CONFIGS / "demo.yaml")], env=env,
                                  cwd=CONFIGS.parent, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)

        def deployment() -> dict | None:
            reply = httpx.get(f"{api}/deployments/name/weekly-retrain/weekly-retrain-demo",
                              timeout=2)
            return reply.json() if reply.status_code == 200 else None

        found = _wait(deployment, 120, "the served deployment")
        (schedule,) = found["schedules"]
        assert schedule["schedule"]["cron"] == "0 0 * * 0"
        assert schedule["schedule"]["timezone"] == "UTC"
        assert schedule["active"] is True
        assert found["parameters"] == {"config_path": str(CONFIGS / "demo.yaml")}
    finally:
        for process in (served, server):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
