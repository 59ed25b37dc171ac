"""Two retrains of one profile never run at once, whoever starts them: the flows hold the
profile's Prefect global concurrency limit (a real server: the test harness)."""

from __future__ import annotations

import threading
import time

import pytest
from prefect import flow

from tasks.concurrency import limit_name, one_retrain_at_a_time

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


SPANS: list[tuple[str, float, float]] = []  # flows get copies of their arguments: not a list


@flow
def _hold(profile: str, seconds: float, name: str) -> None:
    with one_retrain_at_a_time(profile):
        start = time.monotonic()
        time.sleep(seconds)
        SPANS.append((name, start, time.monotonic()))


def test_a_second_retrain_of_the_profile_waits_for_the_first() -> None:
    first = threading.Thread(target=_hold, args=("p1", 4.0, "first"))
    first.start()
    time.sleep(1.5)  # the first holds the slot by now
    second = threading.Thread(target=_hold, args=("p1", 0.1, "second"))
    other = threading.Thread(target=_hold, args=("p2", 0.1, "other profile"))
    second.start()
    other.start()
    for thread in (first, second, other):
        thread.join(timeout=120)
    by_name = {name: (start, end) for name, start, end in SPANS}
    assert set(by_name) == {"first", "second", "other profile"}
    assert by_name["second"][0] >= by_name["first"][1]  # waited for the slot
    assert by_name["other profile"][0] < by_name["first"][1]  # another profile did not wait


def test_the_limit_is_named_after_the_profile() -> None:
    from prefect.client.orchestration import get_client

    _hold("named", 0.0, "x")
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(limit_name("named"))
    assert (limit.name, limit.limit, limit.active_slots) == ("retrain-named", 1, 0)
