"""``regimeforest serve`` on a real Prefect server: deploy, run, one retrain at a time, Ctrl-C.

One ``serve`` process per module (it starts its own server, with its own PREFECT_HOME in tmp, a
process work pool, the deployments and a worker); the tests trigger runs of the demo deployment
with a tiny profile and data file as parameters, then stop it with SIGINT.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from regimeforest import _serve
from regimeforest._serve import ServeError, prefect_executable, serve_command, wait_for_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "weekly-retrain/weekly-retrain-demo"
DEMO = str(ROOT / "configs" / "demo.yaml")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TwoRuns = tuple[dict[str, Any], dict[str, Any]]  # the first finished, the second running


def _quick_profile() -> dict[str, Any]:
    """tests/flows/conftest.py's TINY profile with its QUICK settings (no tuning, fewer
    validation fits; read from there, so they stay one): serve's scheduling is the subject
    here, not the model."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_flows_conftest",
                                                  ROOT / "tests" / "flows" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.with_quick(module.TINY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = predicate()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _descendants(pid: int) -> list[int]:
    return _serve._children_of(pid)  # noqa: SLF001 - the same /proc walk serve uses


def _alive(pid: int) -> bool:
    return _serve._alive(pid)  # noqa: SLF001


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    api: str
    log: Path
    tmp: Path
    started_in: float

    def get(self, path: str) -> Any:
        reply = httpx.get(f"{self.api}{path}", timeout=10)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        # 503 is the server's "retry": a transient error such as its SQLite database being
        # busy while the worker starts (Prefect's own client retries it the same way)
        for wait in (0.5, 1.0, 2.0, 4.0, 8.0):
            reply = httpx.post(f"{self.api}{path}", json=body, timeout=10)
            if reply.status_code != 503:
                break
            time.sleep(wait)
        reply.raise_for_status()
        return reply.json()

    def trigger(self, parameters: dict[str, Any]) -> str:
        deployment = self.get(f"/deployments/name/{DEPLOYMENT}")
        run = self.post(f"/deployments/{deployment['id']}/create_flow_run",
                        {"parameters": parameters})
        return run["id"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/flow_runs/{run_id}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve_command(['configs/demo.yaml'], port)`` in a subprocess, as ``regimeforest serve``."""
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"),
           # quicker than the defaults (30 s, 10 s): an enqueued run retries its slot every 3 s
           "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
           "PREFECT_WORKER_QUERY_SECONDS": "2"}
    for key in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE"):
        env.pop(key, None)
    log = tmp / "serve.log"
    start = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from regimeforest._serve import serve_command; "
             f"sys.exit(serve_command(['configs/demo.yaml'], {port}))"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(process, f"http://127.0.0.1:{port}/api", log, tmp, 0.0)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}:\n{served.tail()}")
            workers = httpx.post(f"{served.api}/work_pools/regimeforest/workers/filter",
                                 json={}, timeout=5)
            return (httpx.get(f"{served.api}/deployments/name/{DEPLOYMENT}",
                              timeout=5).status_code == 200
                    and workers.status_code == 200 and bool(workers.json()))

        _wait(ready, 180, "serve's deployment and worker")
        served.started_in = time.monotonic() - start
        print(f"\nserve ready in {served.started_in:.1f} s:\n{served.tail(8)}")
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            for pid in _descendants(process.pid):
                try:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(10)


@pytest.fixture(scope="module")
def tiny(served: Served) -> dict[str, str]:
    """Run parameters: the quick tiny profile training on the last 60 days (its MLflow store
    in tmp) and 7,000 bars of the sample."""
    from ml_core.data import load_bars, sample_bars_path

    data = served.tmp / "btc_tail.parquet"
    load_bars(sample_bars_path()).iloc[-7000:].to_parquet(data, index=False)
    uri = f"sqlite:///{served.tmp / 'mlruns' / 'mlflow.db'}"
    profile = served.tmp / "tiny.yaml"
    quick = _quick_profile()
    profile.write_text(yaml.safe_dump({
        "profile": "tiny", "seed": 7, **quick, "data": {**quick["data"], "lookback": "60D"},
        "registry": {"tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}}))
    return {"config_path": str(profile), "data": str(data)}


@pytest.fixture(scope="module")
def two_runs(served: Served, tiny: dict[str, str]) -> TwoRuns:
    """Two runs of the demo deployment triggered together with the tiny profile and data: the
    one that got the slot once it has finished, the other once it is running (the Ctrl-C test
    stops it). Which of the two gets the slot first is the worker's choice."""
    start = time.monotonic()
    ids = [served.trigger(tiny), served.trigger(tiny)]

    def one_finished() -> tuple[dict[str, Any], str] | None:
        runs = [served.run(i) for i in ids]
        done = [r for r in runs if r["state_type"] in TERMINAL]
        return (done[0], next(i for i in ids if i != done[0]["id"])) if done else None

    try:
        first, other = _wait(one_finished, 300, "one of the two runs to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; serve's log ends:\n{served.tail()}") from None
    print(f"\nthe first tiny retrain, triggered to finished: {time.monotonic() - start:.1f} s")
    second = _wait(lambda: (run := served.run(other))["state_type"] in {"RUNNING", *TERMINAL}
                   and run, 120, "the second run to start")
    return first, second


@pytest.mark.integration
def test_prefect_deploy_reads_the_project_file_as_written(served: Served) -> None:
    """The README's route without serve: ``prefect deploy`` on prefect.yaml itself."""
    env = {**os.environ, "PREFECT_API_URL": served.api,
           "PREFECT_HOME": str(served.tmp / "prefect")}
    done = subprocess.run([str(prefect_executable()), "--no-prompt", "deploy", "--name",
                           "weekly-retrain-demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = served.get(f"/deployments/name/{DEPLOYMENT}")
    assert deployment["parameters"] == {"config_path": "configs/demo.yaml"}
    assert deployment["work_pool_name"] == "regimeforest"
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    (schedule,) = deployment["schedules"]
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == ("0 0 * * 0",
                                                                                "UTC")
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]


@pytest.mark.integration
@pytest.mark.slow
def test_a_triggered_run_of_a_small_profile_completes(
        served: Served, two_runs: TwoRuns) -> None:
    first, _ = two_runs
    assert first["state_type"] == "COMPLETED", first["state"]
    assert first["parameters"]["config_path"].endswith("tiny.yaml")
    assert first["deployment_id"] == served.get(f"/deployments/name/{DEPLOYMENT}")["id"]
    assert (served.tmp / "mlruns" / "mlflow.db").is_file()


@pytest.mark.integration
@pytest.mark.slow
def test_two_runs_of_one_profile_never_overlap(
        served: Served, two_runs: TwoRuns) -> None:
    """The second run, triggered with the first, waited for a slot and started after it ended."""
    first, second = two_runs
    assert second["state_type"] == "RUNNING", second["state"]
    assert first["end_time"] <= second["start_time"], (first["end_time"], second["start_time"])
    held = served.get(f"/flow_run_states/?flow_run_id={second['id']}")
    assert "AwaitingConcurrencySlot" in {s["name"] for s in held}


@pytest.mark.integration
@pytest.mark.slow
def test_ctrl_c_stops_serve_its_server_worker_and_runs_within_seconds(
        served: Served, two_runs: TwoRuns) -> None:
    """SIGINT while a run is running: serve exits within 10 s, leaves no process behind, and
    the run is marked crashed (not left running, holding the deployment's concurrency slot)."""
    _, running = two_runs
    assert served.run(running["id"])["state_type"] == "RUNNING"
    children = _descendants(served.process.pid)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                for pid in children if _alive(pid)]
    assert any("server start" in c for c in commands), commands
    assert any("worker start" in c for c in commands), commands
    assert any("prefect.engine" in c for c in commands), commands
    start = time.monotonic()
    served.process.send_signal(signal.SIGINT)
    served.process.wait(timeout=10)
    took = time.monotonic() - start
    print(f"\nSIGINT -> serve exited in {took:.1f} s:\n{served.tail(6)}")
    assert served.process.returncode == 0
    assert took < 10
    assert [pid for pid in children if _alive(pid)] == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{served.api}/health", timeout=2)
    # the run got SIGTERM while the worker and server were up, so it recorded its end
    assert "Finished in state Crashed('Execution was aborted by a termination signal.')" in \
        served.log.read_text(errors="replace")


# --- failures that must say what is wrong ---------------------------------------------------------

def test_a_missing_prefect_command_is_named(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServeError, match="the `prefect` command was found neither beside"):
        serve_command([DEMO], _free_port())


def test_a_server_that_fails_to_start_is_reported_with_its_log(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "prefect"
    fake.write_text("#!/bin/sh\necho 'sqlite3.OperationalError: database is locked' >&2\n"
                    "exit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_serve, "prefect_executable", lambda: fake)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    with pytest.raises(ServeError, match=r"(?s)exited with code 3 before answering.*"
                                         r"database is locked"):
        serve_command([DEMO], _free_port(), echo=lambda _: None)


def test_a_port_held_by_something_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServeError, match=f"port {port} on 127.0.0.1 is in use by something "
                                             "that is not a Prefect server"):
            serve_command([DEMO], port, echo=lambda _: None)


def test_an_unreachable_configured_server_is_named() -> None:
    url = f"http://127.0.0.1:{_free_port()}/api"
    with pytest.raises(ServeError, match=f"no Prefect server answered {url}/health within 1 s"):
        wait_for_server(url, 1.0)
