"""Shared fixtures: engine settings for a closed network, the shared market data, a Prefect harness."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from regimeforest._env import configure_engines

configure_engines()
# Tests get their own Prefect home so parallel or repeated runs never share a migrating database.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="regimeforest-prefect-"))
# Every retrain computes afresh (same data, same seed: the same models is what tests check);
# tests/flows/test_kill_resume.py turns the task cache on for its own subprocess.
os.environ.setdefault("REGIMEFOREST_TASK_CACHE", "off")

# Prefect's console log handlers bind the stream that is sys.stderr when logging is configured.
# Configure it now, on the session's streams, not inside a test whose captured stream closes.
from prefect.logging.configuration import ensure_logging_setup  # noqa: E402

ensure_logging_setup()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _require_shared(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is absent: the shared market data is not on this machine"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: this must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skipped where absent, a failure under ``CI=true``."""
    return _require_shared(SHARED_DATA)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (real engine, no mocks)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test on the real Prefect engine (the ``prefect_harness`` fixture: a temporary server,
    ~20 s to start) is an integration test: ``-m "not slow and not integration"`` skips it."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


PG_SERVER = os.environ.get("REGIMEFOREST_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
"""The PostgreSQL server tests use (this machine's; trust auth)."""


@contextmanager
def fresh_postgres_database(prefix: str = "regimeforest_test") -> Iterator[str]:
    """A new, empty database on :data:`PG_SERVER` for the block (its URL), dropped afterwards.

    Skips, saying why, when the server cannot be reached; under ``CI=true`` fails instead."""
    import uuid

    import sqlalchemy as sa

    from tasks.bar_store import _with_driver

    admin = sa.create_engine(_with_driver(sa.make_url(f"{PG_SERVER}/postgres")),
                             isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {PG_SERVER}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: this must not be skipped)")
        pytest.skip(message)
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for one test (:func:`fresh_postgres_database`)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_db() -> Iterator[str]:
    """Like :func:`postgres_db`, shared by the tests of one module (they empty it themselves)."""
    with fresh_postgres_database() as url:
        yield url
