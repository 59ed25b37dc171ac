"""The scale profile's servers, for real: MLflow and Prefect on PostgreSQL, a Dask cluster of
local processes, and ``scripts/scale_services.py``'s command line.

Each server test checks both sides: what a client gets back, and what the server wrote in its
PostgreSQL database (or its served-artifacts folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from regimeforest import _services as svc

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "scale_services.py"
FLOW = """
from prefect import flow, task
from prefect.runtime import flow_run

@task
def add_one(x: int) -> int:
    return x + 1

@flow(name="scale-services-probe", log_prints=False)  # print to stdout, not the log
def probe(x: int) -> int:
    print(f"flow-run-id={flow_run.id}")
    return add_one(x)

print(f"result={probe(41)}")
"""


def _query(database: str, sql: str, **params: object) -> list[tuple]:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read()


# --- MLflow on PostgreSQL -------------------------------------------------------------------------

@pytest.mark.integration
def test_mlflow_server_keeps_runs_in_postgres_and_serves_their_artifacts(
        pg_mlflow_server: str, pg_mlflow_database: str, pg_mlflow_artifacts: Path,
        tmp_path: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=pg_mlflow_server)
    experiment = client.create_experiment("scale-services")
    run = client.create_run(experiment, run_name="pg-backed")
    run_id = run.info.run_id
    note = tmp_path / "hello.txt"
    note.write_text("served by the tracking server\n")
    client.log_metric(run_id, "rmse", 0.25)
    client.log_artifact(run_id, str(note), artifact_path="notes")
    client.set_terminated(run_id)

    uri = f"mlflow-artifacts:/{experiment}/{run_id}/artifacts"
    assert client.get_run(run_id).info.artifact_uri == uri
    back = mlflow.artifacts.download_artifacts(artifact_uri=f"{uri}/notes/hello.txt",
                                               dst_path=str(tmp_path / "back"),
                                               tracking_uri=pg_mlflow_server)
    assert Path(back).read_text() == "served by the tracking server\n"
    # the server stored it in its own folder, not where the client ran
    stored = pg_mlflow_artifacts / experiment / run_id / "artifacts" / "notes" / "hello.txt"
    assert stored.read_text() == "served by the tracking server\n"
    assert _query(pg_mlflow_database,
                  "SELECT r.name, r.status, r.artifact_uri, e.name FROM runs r JOIN experiments e "
                  "ON e.experiment_id = r.experiment_id WHERE r.run_uuid = :id", id=run_id) == [
        ("pg-backed", "FINISHED", uri, "scale-services")]
    assert _query(pg_mlflow_database, "SELECT key, value FROM metrics WHERE run_uuid = :id",
                  id=run_id) == [("rmse", 0.25)]


# --- Prefect on PostgreSQL ------------------------------------------------------------------------

@pytest.mark.integration
def test_prefect_server_is_healthy_with_the_process_work_pool(
        pg_prefect_server: str, pg_prefect_database: str) -> None:
    assert _get(f"{pg_prefect_server}/health") == (200, b"true")
    status, body = _get(f"{pg_prefect_server}/work_pools/{svc.POOL}")
    assert (status, json.loads(body)["type"]) == (200, "process")
    assert _query(pg_prefect_database, "SELECT name, type FROM work_pool") == [
        ("regimeforest", "process")]
    assert svc.ensure_work_pool(pg_prefect_server) is False  # already there: left as it is


@pytest.mark.integration
def test_a_flow_run_pointed_at_the_server_is_recorded_in_postgres(
        pg_prefect_server: str, pg_prefect_database: str, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": pg_prefect_server,
           "PREFECT_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", FLOW], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "result=42" in lines
    run_id = next(line.split("=", 1)[1] for line in lines if line.startswith("flow-run-id="))
    assert _query(pg_prefect_database,
                  "SELECT f.name, r.state_type, r.parameters FROM flow_run r JOIN flow f "
                  "ON f.id = r.flow_id WHERE r.id = CAST(:id AS uuid)", id=run_id) == [
        ("scale-services-probe", "COMPLETED", {"x": 41})]


# --- a Dask cluster of local processes ------------------------------------------------------------

@pytest.mark.integration
def test_dask_scheduler_and_workers_started_as_processes_compute(tmp_path: Path) -> None:
    from distributed import Client

    port, dashboard = svc.free_port(), svc.free_port()
    scheduler = svc.dask_scheduler(port=port, dashboard_port=dashboard)
    with svc.running(scheduler, tmp_path / "scheduler.log") as running:
        assert running.url == f"tcp://127.0.0.1:{port}"
        worker = svc.dask_worker(running.url, dashboard_port=dashboard, index=1,
                                 scratch=tmp_path / "scratch", cwd=ROOT)
        with svc.running(worker, tmp_path / "worker.log"):
            with Client(running.url, timeout=30) as client:
                info = client.scheduler_info()
                assert [w["nthreads"] for w in info["workers"].values()] == [1]
                assert client.submit(lambda a, b: a + b, 1, 1).result(timeout=30) == 2


# --- process handling, without servers ------------------------------------------------------------

def _http_server(port: int) -> svc.Service:
    return svc.Service("http", (sys.executable, "-m", "http.server", str(port), "--bind",
                                "127.0.0.1"), f"http://127.0.0.1:{port}",
                       svc.Probe(f"http://127.0.0.1:{port}/"))


def test_a_service_that_exits_before_it_is_ready_is_reported_with_its_log(
        tmp_path: Path) -> None:
    dying = svc.Service("dying", (sys.executable, "-c", "print('bad flag'); raise SystemExit(3)"),
                        "http://127.0.0.1:9", svc.Probe(f"http://127.0.0.1:{svc.free_port()}/"))
    with pytest.raises(svc.ServiceError, match=r"(?s)dying exited with code 3 before it was "
                                               r"ready; its log .*dying.log ends:\nbad flag"):
        with svc.running(dying, tmp_path / "dying.log", timeout=30):
            pass


def test_a_running_service_is_stopped_when_the_block_fails(tmp_path: Path) -> None:
    port = svc.free_port()
    with pytest.raises(RuntimeError, match="the block failed"):
        with svc.running(_http_server(port), tmp_path / "http.log", timeout=30) as running:
            pid = running.pid
            assert svc.port_in_use("127.0.0.1", port)
            raise RuntimeError("the block failed")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not svc.port_in_use("127.0.0.1", port)


def test_urls_and_environment_name_the_driver_and_the_databases() -> None:
    pg = "postgresql://postgres@127.0.0.1:5432"
    assert svc.pg_url(pg, "mlflow") == "postgresql+psycopg2://postgres@127.0.0.1:5432/mlflow"
    assert (svc.pg_url("postgresql://u:pw@db:5433/old", "prefect", "asyncpg")
            == "postgresql+asyncpg://u:pw@db:5433/prefect")
    with pytest.raises(svc.ServiceError, match=r"`pg` must be a postgresql:// URL, got "
                                               r"pg='sqlite:///x.db'"):
        svc.pg_url("sqlite:///x.db", "mlflow")
    assert svc.client_env(mlflow="http://127.0.0.1:5000", prefect_api="http://127.0.0.1:4200/api",
                          scheduler="tcp://127.0.0.1:8786", pg=pg, prefix="t_") == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "PREFECT_API_URL": "http://127.0.0.1:4200/api",
        "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:8786",
        "OPTUNA_STORAGE": "postgresql+psycopg2://postgres@127.0.0.1:5432/t_optuna",
        "REGIMEFOREST_STORE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/t_bars"}
    with pytest.raises(svc.ServiceError, match=r"needs an asyncpg URL .* got "
                                               r"database_url='postgresql\+psycopg2://"):
        svc.prefect_server(svc.pg_url(pg, "prefect"), Path("home"), port=4200)


def test_the_script_helps_and_says_when_nothing_runs(tmp_path: Path) -> None:
    helped = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "COLUMNS": "100"})
    assert helped.returncode == 0
    for command in ("up", "status", "env", "down"):
        assert f"│ {command} " in helped.stdout
    status = subprocess.run([sys.executable, str(SCRIPT), "status", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "COLUMNS": "200"})
    assert (status.returncode, status.stdout.strip()) == (
        1, f"no services recorded under {tmp_path}: start them with `up`")
