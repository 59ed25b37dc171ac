"""Ctrl-C on ``regimeforest retrain`` with no Prefect server configured, as a terminal sends it
(SIGINT to the whole process group): the command stops in seconds, its MLflow run is FAILED
naming the signal and the task, Prefect records the crash, and nothing is left running.

Before, the temporary server Prefect starts inside the command's process group died with it:
the run stayed ``Running`` and the command hung about 2.5 minutes retrying.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_ROOT = Path(__file__).resolve().parents[2]


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action: a test run from a background job inherits SIGINT ignored, and a
    Python started so never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_a_retrain_in_seconds_and_records_why(
    stored_tiny_profile: tuple[Path, str], tiny_bars_file: Path, tmp_path: Path
) -> None:
    """The retrain is stopped in its first study: one HMM restart (the fits before it are not
    the subject) and an MLflow store with its tables made get it there sooner."""
    from mlflow.tracking import MlflowClient

    config, uri = stored_tiny_profile
    profile = yaml.safe_load(config.read_text())
    profile["regime"]["n_restarts"] = 1
    config.write_text(yaml.safe_dump(profile))
    bars = tiny_bars_file
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # the session's PREFECT_HOME (tests/conftest.py): where test_cli_retrain's temporary server
    # ran, its database is migrated already and this one starts sooner
    env.update(PYTHONUNBUFFERED="1", COLUMNS="250")
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "regimeforest", "retrain", "--config", str(config), "--data",
             str(bars)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=_ROOT,
            start_new_session=True, preexec_fn=_as_in_a_terminal)
    deadline = time.monotonic() + 240
    while "Task run 'tune" not in log.read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)

    start = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    code = process.wait(timeout=60)
    took = time.monotonic() - start
    time.sleep(1.0)
    alive = _group_alive(process.pid)
    if alive:
        os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert took < 20, output[-3000:]
    assert code == 130, output[-3000:]
    assert not alive  # the Prefect server it started is gone too
    assert "Finished in state Crashed('Execution was aborted by an interrupt signal.')" in output
    assert "Error logging to API" not in output

    run = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("tiny").experiment_id])[0]
    assert run.info.status == "FAILED"
    assert run.data.tags["failure"].startswith("interrupted by SIGINT (signal 2) at ")
    assert "during task 'tune" in run.data.tags["failure"]
