"""A Prefect server for one command (``retrain``, ``backfill``) when none is configured.

Without ``PREFECT_API_URL`` Prefect starts a temporary server inside the command's process group,
so Ctrl-C in a terminal reaches that server too: it dies before the flow can report its crash,
the flow run stays ``Running`` for good, and the command hangs about 2.5 minutes retrying. This
one runs ``prefect server start`` in its own session on a free local port (the same database,
``$PREFECT_HOME``): Ctrl-C stops the command in seconds, the crash is recorded, and the server
is stopped when the command ends, however it ends.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["prefect_api"]

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _flush_to_server() -> None:
    """Send the logs and events still queued while the server is up (else each is an error)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=5)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


@contextmanager
def prefect_api(echo: Callable[[str], None]) -> Iterator[str]:
    """The Prefect API to run flows against: the configured one, else a server started now.

    Yields
    ------
    str
        The API URL; for the block, Prefect's settings point at it.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield str(configured)
        return
    from regimeforest._serve import _start_server, prefect_executable

    port = _free_port()
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    children: list = []
    try:
        api_url = _start_server({k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
                                prefect_executable(), HOST, port, STARTUP_TIMEOUT,
                                home / f"regimeforest-server-{port}.log", children, echo)
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield api_url
    finally:
        if children:
            _flush_to_server()
        for child in children:
            child.stop(STOP_TIMEOUT)
            if child.log is not None and child.process.returncode in (0, -15, 143):
                child.log.unlink(missing_ok=True)
