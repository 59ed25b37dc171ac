"""Real servers on fresh PostgreSQL databases, for the scale profile's tests (one per session).

- ``pg_mlflow_server``: an ``mlflow server`` on a fresh database, serving artifacts from a
  temporary folder (``pg_mlflow_artifacts``; one uvicorn worker, no job runner, no telemetry):
  its tracking URL;
- ``pg_prefect_server``: a ``prefect server start`` on a fresh database (asyncpg, no UI, no
  analytics) with the process work pool ``regimeforest``: its API URL.

``pg_mlflow_database`` and ``pg_prefect_database`` give the databases' URLs, to check what the
servers wrote. They come from ``fresh_postgres_database`` (``tests/conftest.py``): skipped,
saying why, without PostgreSQL; a failure under ``CI=true``. The servers start with the code
``scripts/scale_services.py up`` uses (``regimeforest._services``); each is stopped and its
database dropped at the end of the session, also when it fails to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

import pytest

from regimeforest import _services as svc

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
STARTUP_TIMEOUT = 120.0


def _fresh_database(config: pytest.Config) -> Callable[[str], AbstractContextManager[str]]:
    """``tests/conftest.py``'s ``fresh_postgres_database``. Test directories are not packages, so
    every conftest module is named ``conftest``: it is found as the plugin pytest registered
    under the file's path instead of by an import."""
    module = config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    if module is None:
        raise RuntimeError(f"{ROOT_CONFTEST} is not loaded as a pytest plugin")
    return module.fresh_postgres_database


@pytest.fixture(scope="session")
def pg_mlflow_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh PostgreSQL database behind ``pg_mlflow_server``
    (``postgresql+psycopg2://...``: ``sqlalchemy.create_engine`` takes it as it is)."""
    with _fresh_database(request.config)("regimeforest_mlflow") as url:
        yield svc.pg_url(url, _name(url))


@pytest.fixture(scope="session")
def pg_mlflow_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``pg_mlflow_server`` stores the artifacts it serves in."""
    return tmp_path_factory.mktemp("pg-mlflow-artifacts")


@pytest.fixture(scope="session")
def pg_mlflow_server(pg_mlflow_database: str, pg_mlflow_artifacts: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Tracking URL (``http://127.0.0.1:<port>``) of an ``mlflow server`` on
    ``pg_mlflow_database``, serving the artifacts (``mlflow-artifacts:``) it stores in
    ``pg_mlflow_artifacts``."""
    log = tmp_path_factory.mktemp("pg-mlflow") / "mlflow.log"
    service = svc.mlflow_server(pg_mlflow_database, pg_mlflow_artifacts, port=svc.free_port(),
                                workers=1)
    with svc.running(service, log, timeout=STARTUP_TIMEOUT) as server:
        yield server.url


@pytest.fixture(scope="session")
def pg_prefect_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh PostgreSQL database behind ``pg_prefect_server``
    (``postgresql+psycopg2://...``: ``sqlalchemy.create_engine`` takes it as it is)."""
    with _fresh_database(request.config)("regimeforest_prefect") as url:
        yield svc.pg_url(url, _name(url))


@pytest.fixture(scope="session")
def pg_prefect_server(pg_prefect_database: str, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[str]:
    """API URL (``http://127.0.0.1:<port>/api``) of a ``prefect server start`` on
    ``pg_prefect_database`` (``postgresql+asyncpg://``), with the process work pool
    ``regimeforest``."""
    folder = tmp_path_factory.mktemp("pg-prefect")
    database = svc.pg_url(pg_prefect_database, _name(pg_prefect_database), "asyncpg")
    service = svc.prefect_server(database, folder / "home", port=svc.free_port(), ui=False)
    with svc.running(service, folder / "prefect.log", timeout=STARTUP_TIMEOUT) as server:
        svc.ensure_work_pool(server.url, svc.POOL)
        yield server.url


def _name(url: str) -> str:
    """The database name at the end of a URL."""
    return url.rsplit("/", 1)[1]
