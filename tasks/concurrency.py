"""One retrain of a profile at a time, whatever started it: a schedule, a backfill, the CLI.

A deployment's ``concurrency_limit`` (``prefect.yaml``) only queues runs *of that deployment*; a
backfill's retrains are subflows and ``regimeforest retrain`` runs without a deployment. So the
retrain flow itself holds a slot of the Prefect global concurrency limit ``retrain-<profile>``
(limit 1, created on first use) for its whole body. A second retrain waits for the slot, saying
so, and starts when the first ends. A process killed without a chance to release its slot holds
it until its lease expires (:data:`LEASE_SECONDS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

__all__ = ["LEASE_SECONDS", "limit_name", "one_retrain_at_a_time"]

LEASE_SECONDS = 300.0
"""How long a slot outlives a holder that stopped renewing it (a killed process)."""

def limit_name(profile: str) -> str:
    """The global concurrency limit a profile's retrains share: ``retrain-<profile>``."""
    return f"retrain-{profile}"


@contextmanager
def one_retrain_at_a_time(profile: str, hold: bool = True) -> Iterator[None]:
    """Hold the profile's retrain slot for the block; wait (logging why) while another holds it.
    ``hold=False`` runs the block without it: its caller already holds the slot for it (a
    backfill's retrains running at once)."""
    if not hold:
        yield
        return
    name = limit_name(profile)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
        busy = client.read_global_concurrency_limit_by_name(name).active_slots > 0
    if busy:
        get_run_logger().warning(
            "another retrain of profile %r is running (Prefect concurrency limit %r): waiting "
            "for it to finish", profile, name)
    with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield
