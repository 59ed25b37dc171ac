"""One alias move of a registered model at a time, across processes.

MLflow sets an alias with a plain upsert: two processes promoting at once both "win", and the
registry keeps no record of which version was live when. Every alias move of this project
(promotion, rollout stages, rollback, a manual promote) therefore happens inside
:func:`alias_lock`, re-reads the alias it expects to replace, and re-reads it after the move
(:meth:`tasks.registry.Tracker.move_alias`).

The lock lives where the store lives:

- a PostgreSQL tracking store (``postgresql://...``): a session-level advisory lock
  (``pg_advisory_lock``) in that database, so every machine using the store shares it;
- a SQLite store (``sqlite:///mlruns/mlflow.db``, one machine by construction): an exclusive
  ``flock`` on a file beside the database (``mlruns/locks/<model>.lock``);
- a tracking server (``http://...``): the PostgreSQL database named by
  ``$REGIMEFOREST_LOCK_URL`` when set (the server's own backend, say), else a file lock under
  ``$REGIMEFOREST_LOCK_DIR`` (default ``~/.regimeforest/locks``), which serialises the processes
  of one machine only.

A process that dies releases its lock at once (the kernel drops the ``flock``; PostgreSQL ends
the session), so a killed promotion never blocks the next.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["AliasLockTimeout", "alias_lock", "lock_target"]

_WAIT_SECONDS = 120.0


class AliasLockTimeout(TimeoutError):
    """Another process held the alias lock for longer than the wait allowed."""


def lock_target(tracking_uri: str, model_name: str) -> str:
    """Where the alias lock of ``model_name`` lives: a PostgreSQL URL or a lock file path."""
    override = os.environ.get("REGIMEFOREST_LOCK_URL")
    if tracking_uri.startswith("postgresql"):
        return tracking_uri
    if override and not tracking_uri.startswith("sqlite:"):
        return override
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model_name)
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "locks"
    else:
        folder = Path(os.environ.get("REGIMEFOREST_LOCK_DIR")
                      or Path.home() / ".regimeforest" / "locks")
    return str(folder / f"{safe}.lock")


@contextmanager
def alias_lock(tracking_uri: str, model_name: str,
               wait_seconds: float = _WAIT_SECONDS) -> Iterator[str]:
    """Hold the alias lock of ``model_name`` in the store ``tracking_uri`` for the block.

    Yields where the lock lives (:func:`lock_target`). Raises :class:`AliasLockTimeout`, naming
    the lock, when another holder keeps it longer than ``wait_seconds``.
    """
    target = lock_target(tracking_uri, model_name)
    if target.startswith("postgresql"):
        with _advisory_lock(target, model_name, wait_seconds):
            yield target
    else:
        with _file_lock(Path(target), wait_seconds):
            yield target


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AliasLockTimeout(
                        f"alias lock {path} still held by another process after "
                        f"{wait_seconds:g} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str, model_name: str, wait_seconds: float) -> Iterator[None]:
    import sqlalchemy as sa

    from tasks.bar_store import _with_driver

    key = int.from_bytes(hashlib.sha256(f"regimeforest-alias:{model_name}".encode())
                         .digest()[:8], "big", signed=True)
    engine = sa.create_engine(_with_driver(sa.make_url(url)), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + wait_seconds
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise AliasLockTimeout(
                        f"alias lock of model {model_name!r} (PostgreSQL advisory lock {key} "
                        f"in {engine.url.render_as_string(hide_password=True)}) still held "
                        f"after {wait_seconds:g} s")
                time.sleep(0.05)
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()
