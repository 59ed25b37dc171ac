"""The scale profile's servers, started as local processes: no container runtime needed.

``compose.yaml`` runs PostgreSQL, an MLflow tracking server, a Prefect server and worker, a Dask
scheduler and Dask workers in containers. This module starts the same programs, with the same
flags, as background processes on this machine, against a PostgreSQL server that already runs.
Two users share it:

- ``scripts/scale_services.py`` (``up`` / ``status`` / ``down``): long-lived services under
  ``.scale/``, each with its log and pid file;
- the fixtures of ``tests/scale/conftest.py``: servers on fresh databases for one test session.

A :class:`Service` is what to run (argv, environment, working directory) and how to tell it is
ready (a :class:`Probe`); :func:`start`, :func:`wait_ready` and :func:`stop_pid` run it, and
:func:`running` does all three around a block. Every process starts in its own session, so a
signal to its process group reaches what it spawned (MLflow's and Prefect's uvicorn workers, a
Dask nanny's worker) and Ctrl-C in the caller's terminal does not.

MLflow serves the artifacts itself (``--serve-artifacts``, default root ``mlflow-artifacts:/``):
runs record ``mlflow-artifacts:/<experiment>/<run>/artifacts`` URIs, which clients resolve
through the tracking server, so a store keeps working when the folder a client ran in moves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from regimeforest._serve import _alive, _children_of, _port_in_use, _signal_group, check_work_pool

__all__ = ["DATABASES", "DEFAULT_PG", "HOST", "POOL", "Probe", "Running", "Service",
           "ServiceError", "client_env", "dask_scheduler", "dask_worker", "ensure_databases",
           "ensure_work_pool", "executable", "free_port", "mlflow_server", "pg_url",
           "port_in_use", "prefect_server", "prefect_worker", "running", "start", "stop_pid",
           "tail", "wait_all", "wait_ready"]

HOST = "127.0.0.1"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
"""This machine's PostgreSQL server (trust auth), as the tests use it."""
DATABASES = ("mlflow", "prefect", "optuna", "bars")
"""One database per store: MLflow's tracking store, Prefect's, Optuna's studies, the bar store."""
POOL = "regimeforest"
"""The process work pool ``prefect.yaml``'s deployments name."""

# No analytics (the network is closed; Prefect logs an ERROR when they fail) and no MLflow job
# runner (a huey consumer for GenAI jobs this project does not use: one process less per server).
QUIET_ENV = {"DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
             "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class ServiceError(RuntimeError):
    """A service cannot start or is not ready; the message names it, says why, and where its log
    is."""


def free_port(host: str = HOST) -> int:
    """A TCP port of ``host`` that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    return _port_in_use(host, port)


def executable(name: str) -> str:
    """The command ``name`` of this environment (beside the interpreter), else on ``PATH``."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise ServiceError(f"the `{name}` command was found neither beside {sys.executable} nor on "
                       "PATH: install the project (`make install`) or activate its environment")


# --- PostgreSQL ----------------------------------------------------------------------------------

def pg_url(server: str, database: str, driver: str = "psycopg2") -> str:
    """The URL of ``database`` on ``server`` with an explicit driver.

    Parameters
    ----------
    server : str
        ``postgresql://user[:password]@host:port`` (a database path, if any, is replaced).
    database : str
        The database name.
    driver : str
        ``psycopg2`` for SQLAlchemy users (MLflow, Optuna, the bar store: SQLAlchemy 2.1 would
        pick psycopg 3, which is not installed), ``asyncpg`` for Prefect's server.

    Returns
    -------
    str
        e.g. ``postgresql+psycopg2://postgres@127.0.0.1:5432/mlflow``.
    """
    import sqlalchemy as sa

    try:
        url = sa.make_url(server)
    except sa.exc.ArgumentError as exc:
        raise ServiceError(f"`pg` must be a PostgreSQL URL such as {DEFAULT_PG}, got "
                           f"pg={server!r}") from exc
    if url.get_backend_name() != "postgresql":
        raise ServiceError(f"`pg` must be a postgresql:// URL, got pg={server!r}")
    return url.set(drivername=f"postgresql+{driver}", database=database).render_as_string(
        hide_password=False)


def ensure_databases(server: str, names: Sequence[str]) -> list[str]:
    """Create each database of ``names`` that ``server`` lacks; the ones created.

    Raises
    ------
    ServiceError
        When the server cannot be reached or refuses (the message names ``server``).
    """
    import sqlalchemy as sa

    admin = sa.create_engine(pg_url(server, "postgres"), isolation_level="AUTOCOMMIT")
    created = []
    try:
        with admin.connect() as conn:
            existing = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
            for name in names:
                if name not in existing:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    created.append(name)
    except sa.exc.DBAPIError as exc:  # unreachable, or not allowed to create a database
        raise ServiceError(f"PostgreSQL at pg={server!r} cannot be used: "
                           f"{str(exc.orig).strip().splitlines()[0]}") from None
    finally:
        admin.dispose()
    return created


def client_env(*, mlflow: str, prefect_api: str, scheduler: str, pg: str,
               prefix: str = "") -> dict[str, str]:
    """What a client of the services exports: the three servers' addresses and the URLs of the
    Optuna and bar-store databases (``<prefix>optuna``, ``<prefix>bars`` on ``pg``).

    ``DASK_SCHEDULER_ADDRESS`` is Dask's own setting (``distributed.Client()`` with no address
    connects to it); ``OPTUNA_STORAGE`` and ``REGIMEFOREST_STORE_URL`` are for the profile's
    ``tuning.storage`` and ``data.store``.
    """
    return {"MLFLOW_TRACKING_URI": mlflow, "PREFECT_API_URL": prefect_api,
            "DASK_SCHEDULER_ADDRESS": scheduler,
            "OPTUNA_STORAGE": pg_url(pg, f"{prefix}optuna"),
            "REGIMEFOREST_STORE_URL": pg_url(pg, f"{prefix}bars")}


# --- readiness ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """How to tell a service is ready; plain data, so it can be stored in a pid file.

    Attributes
    ----------
    url : str
        What to ask over HTTP.
    kind : {"http", "prefect_worker", "dask_workers"}
        ``http``: the URL answers 200 (MLflow's ``/health``, Prefect's ``/api/health``, the Dask
        scheduler's ``/health``). ``prefect_worker``: the work pool's workers (Prefect's
        ``/api/work_pools/<pool>/workers/filter``) include ``name`` as ``ONLINE``, i.e. it has
        polled the pool. (The pool's own ``READY`` status would not do: it stays READY for a
        while after a previous worker stopped.) ``dask_workers``: the scheduler's
        ``/json/counts.json`` counts at least ``at_least`` workers.
    at_least : int
        For ``dask_workers``.
    name : str
        For ``prefect_worker``: the worker's name, unique per start.
    """

    url: str
    kind: Literal["http", "prefect_worker", "dask_workers"] = "http"
    at_least: int = 1
    name: str = ""

    def _get(self) -> bytes | None:
        body = b"{}" if self.kind == "prefect_worker" else None  # a POST: the filter
        request = urllib.request.Request(self.url, data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2.0) as reply:
                return reply.read() if reply.status == 200 else None
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def ok(self) -> bool:
        """True if the service answers as ready now."""
        body = self._get()
        if body is None:
            return False
        if self.kind == "http":
            return True
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if self.kind == "prefect_worker":
            return any(w.get("name") == self.name and w.get("status") == "ONLINE" for w in data)
        return int(data.get("workers", 0)) >= self.at_least

    def describe(self) -> str:
        """What :meth:`ok` waits for, in words."""
        return {"http": f"{self.url} to answer 200",
                "prefect_worker": f"worker {self.name!r} to be ONLINE at {self.url}",
                "dask_workers": f"{self.url} to count {self.at_least} worker(s)"}[self.kind]


@dataclass(frozen=True)
class Service:
    """A program to run in the background and how to tell it is ready.

    Attributes
    ----------
    name : str
        What messages, logs and pid files call it (``mlflow``, ``dask-worker-1``).
    argv : tuple of str
        The command.
    url : str
        What a client uses to reach it (a tracking URI, an API URL, a scheduler address).
    probe : Probe
        Readiness.
    env : dict
        Added to the environment it starts with.
    cwd : str, optional
        Its working directory (default: the caller's).
    """

    name: str
    argv: tuple[str, ...]
    url: str
    probe: Probe
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None


def mlflow_server(backend_uri: str, artifacts: Path, *, port: int, host: str = HOST,
                  workers: int = 1, name: str = "mlflow") -> Service:
    """``mlflow server`` on ``backend_uri`` serving the artifacts it stores under ``artifacts``.

    The flags are ``compose.yaml``'s: ``--serve-artifacts --artifacts-destination <artifacts>
    --default-artifact-root mlflow-artifacts:/``. ``workers`` uvicorn workers (1 keeps a 2-core
    machine free for the work; MLflow's default is 4).
    """
    if workers < 1:
        raise ServiceError(f"`workers` must be at least 1, got workers={workers}")
    url = f"http://{host}:{port}"
    argv = (executable("mlflow"), "server", "--backend-store-uri", backend_uri,
            "--serve-artifacts", "--artifacts-destination", str(Path(artifacts).resolve()),
            "--default-artifact-root", "mlflow-artifacts:/", "--host", host, "--port", str(port),
            "--workers", str(workers))
    return Service(name, argv, url, Probe(f"{url}/health"), dict(QUIET_ENV))


def prefect_server(database_url: str, home: Path, *, port: int, host: str = HOST,
                   ui: bool = True, name: str = "prefect-server") -> Service:
    """``prefect server start`` on ``database_url`` (``postgresql+asyncpg://...``).

    ``home`` is its ``PREFECT_HOME`` (profiles, the UI's static files); the database holds
    everything else. ``ui=False`` skips the dashboard (tests).
    """
    if not database_url.startswith("postgresql+asyncpg://"):
        raise ServiceError("Prefect's server needs an asyncpg URL (postgresql+asyncpg://...), "
                           f"got database_url={database_url!r}")
    api = f"http://{host}:{port}/api"
    argv = (executable("prefect"), "server", "start", "--host", host, "--port", str(port),
            *(() if ui else ("--no-ui",)))
    env = {**QUIET_ENV, "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
           "PREFECT_HOME": str(Path(home).resolve()), "PREFECT_API_URL": api,
           "PREFECT_UI_API_URL": api}
    return Service(name, argv, api, Probe(f"{api}/health"), env)


def prefect_worker(api_url: str, *, pool: str = POOL, home: Path, cwd: Path,
                   env: Mapping[str, str] | None = None, name: str = "prefect-worker") -> Service:
    """``prefect worker start --pool <pool> --type process``: runs the pool's flow runs as
    processes started in ``cwd`` (the project, where deployments' entrypoints resolve), with
    ``env`` (the other servers' addresses) in their environment. Ready when the server lists
    it ONLINE in the pool (its name is unique per start, so a previous worker does not count)."""
    worker = f"{name}-{os.uname().nodename}-{uuid.uuid4().hex[:6]}"
    argv = (executable("prefect"), "worker", "start", "--pool", pool, "--type", "process",
            "--name", worker)
    worker_env = {**QUIET_ENV, **(env or {}), "PREFECT_API_URL": api_url,
                  "PREFECT_HOME": str(Path(home).resolve())}
    probe = Probe(f"{api_url}/work_pools/{pool}/workers/filter", "prefect_worker", name=worker)
    return Service(name, argv, api_url, probe, worker_env, str(Path(cwd).resolve()))


def ensure_work_pool(api_url: str, pool: str = POOL) -> bool:
    """Create the process work pool ``pool`` (Prefect's default process job template) unless the
    server has it; True if created. A pool of another type is refused (:class:`ServiceError`)."""
    import httpx

    from regimeforest._serve import ServeError

    try:
        if check_work_pool(api_url, pool):
            return False
    except ServeError as exc:
        raise ServiceError(str(exc)) from None
    from prefect.workers.process import ProcessWorker

    reply = httpx.post(f"{api_url}/work_pools/", timeout=30.0, json={
        "name": pool, "type": "process",
        "base_job_template": ProcessWorker.get_default_base_job_template()})
    if reply.status_code == 409:  # created meanwhile by a worker
        return False
    if reply.status_code >= 400:
        raise ServiceError(f"creating work pool {pool!r} on {api_url} failed: "
                           f"{reply.status_code} {reply.text[:300]}")
    return True


def dask_scheduler(*, port: int, dashboard_port: int, host: str = HOST,
                   name: str = "dask-scheduler") -> Service:
    """``dask scheduler``; ready when its HTTP server (``dashboard_port``) answers ``/health``.

    The HTTP server also serves ``/json/counts.json``; the dashboard pages need ``bokeh``,
    which the project does not install."""
    url = f"tcp://{host}:{port}"
    argv = (executable("dask"), "scheduler", "--host", host, "--port", str(port),
            "--dashboard-address", f"{host}:{dashboard_port}")
    return Service(name, argv, url, Probe(f"http://{host}:{dashboard_port}/health"),
                   dict(QUIET_ENV))


def dask_worker(scheduler: str, *, dashboard_port: int, index: int, scratch: Path,
                cwd: Path, host: str = HOST, env: Mapping[str, str] | None = None) -> Service:
    """``dask worker <scheduler> --nthreads 1``, the ``index``-th (1-based) of the cluster.

    One thread per worker: a task's forests then use one core, so workers sharing a machine do
    not oversubscribe it. Ready when the scheduler counts ``index`` workers. ``env`` (the
    servers' addresses) reaches the tasks it runs; ``cwd`` (the project) is where they start."""
    name = f"dask-worker-{index}"
    argv = (executable("dask"), "worker", scheduler, "--nthreads", "1", "--name", name,
            "--host", host, "--no-dashboard", "--local-directory", str(Path(scratch).resolve()))
    probe = Probe(f"http://{host}:{dashboard_port}/json/counts.json", "dask_workers", index)
    # no statistical profiler: it costs ~7% of a core beside each task (benchmarks/scale.py)
    quiet = {**QUIET_ENV, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    return Service(name, argv, scheduler, probe, {**quiet, **(env or {})},
                   str(Path(cwd).resolve()))


# --- processes ---------------------------------------------------------------------------------

def tail(log: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, or a note that it is empty."""
    try:
        text = Path(log).read_text(errors="replace").rstrip()
    except OSError:
        return f"({log} cannot be read)"
    return "\n".join(text.splitlines()[-lines:]) if text else f"({log} is empty)"


def start(service: Service, log: Path, base_env: Mapping[str, str] | None = None
          ) -> subprocess.Popen[bytes]:
    """Start ``service`` in its own session, its output appended to ``log``."""
    env = {k: v for k, v in (os.environ if base_env is None else base_env).items()
           if k != "PREFECT_API_URL"}  # a caller's server is not the service's
    env.update(service.env)
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(list(service.argv), env=env, cwd=service.cwd, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_ready(service: Service, process: subprocess.Popen[bytes], log: Path,
               timeout: float = 120.0, since: float | None = None) -> float:
    """Poll ``service.probe`` until it answers; the seconds since ``since``.

    Parameters
    ----------
    since : float, optional
        ``time.monotonic()`` when the process started (default: now); the timeout counts from it.

    Raises
    ------
    ServiceError
        When the process exits first, or after ``timeout`` seconds; with its log's last lines.
    """
    begin = time.monotonic() if since is None else since
    return wait_all([(service, process, Path(log), begin)], timeout)[0]


def wait_all(starting: Sequence[tuple[Service, subprocess.Popen[bytes], Path, float]],
             timeout: float = 120.0) -> list[float]:
    """Poll several starting services in turn until each is ready; the seconds each took.

    Parameters
    ----------
    starting : sequence of (service, process, log, since)
        ``since`` is ``time.monotonic()`` when that process started; its timeout counts from it.

    Raises
    ------
    ServiceError
        When one exits first, or is not ready ``timeout`` seconds after its start; with its
        log's last lines.
    """
    seconds: list[float | None] = [None] * len(starting)
    while True:
        for i, (service, process, log, since) in enumerate(starting):
            if seconds[i] is not None:
                continue
            if service.probe.ok():
                seconds[i] = time.monotonic() - since
            elif process.poll() is not None:
                raise ServiceError(f"{service.name} exited with code {process.returncode} before "
                                   f"it was ready; its log {log} ends:\n{tail(log)}")
            elif time.monotonic() - since > timeout:
                raise ServiceError(f"{service.name} was not ready within {timeout:.0f} s (waited "
                                   f"for {service.probe.describe()}); its log {log} ends:\n"
                                   f"{tail(log)}")
        if all(s is not None for s in seconds):
            return [float(s) for s in seconds if s is not None]
        time.sleep(0.25)


def stop_pid(pid: int, timeout: float = 10.0) -> float:
    """Stop the process ``pid`` and everything it started; the seconds it took.

    SIGTERM to its process group and its descendants' groups (flow runs a worker started run in
    their own sessions), up to ``timeout`` seconds for them to end, then SIGKILL to what is left.
    """
    begin = time.monotonic()
    pids = [pid, *_children_of(pid)]
    for each in pids:
        if _alive(each):
            _signal_group(each, signal.SIGTERM)
    deadline = begin + timeout
    while any(_alive(each) for each in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for each in pids:
        if _alive(each):
            _signal_group(each, signal.SIGKILL)
    return time.monotonic() - begin


@dataclass(frozen=True)
class Running:
    """A started, ready service: its process id, log and the seconds it took to be ready."""

    service: Service
    pid: int
    log: Path
    ready_seconds: float

    @property
    def url(self) -> str:
        return self.service.url


@contextmanager
def running(service: Service, log: Path, *, timeout: float = 120.0, stop_timeout: float = 10.0,
            base_env: Mapping[str, str] | None = None) -> Iterator[Running]:
    """``service`` started and ready for the block, stopped afterwards however the block ends
    (a start that fails or times out is stopped too)."""
    begin = time.monotonic()
    process = start(service, log, base_env)
    try:
        seconds = wait_ready(service, process, log, timeout, since=begin)
        yield Running(service, process.pid, Path(log), seconds)
    finally:
        stop_pid(process.pid, stop_timeout)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
