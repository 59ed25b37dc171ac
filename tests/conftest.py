"""Shared fixtures: engine settings for a closed network, the shared market data, a Prefect harness."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
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
