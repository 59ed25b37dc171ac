"""Alias moves that cannot race: two processes promoting at once, exactly one wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tasks.alias_lock import AliasLockTimeout, alias_lock, lock_target
from tasks.registry import AliasConflict, Tracker

NAME = "race-model"

_PROMOTER = textwrap.dedent("""
    import json, sys, time
    from tasks.registry import AliasConflict, Tracker
    uri, version, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    tracker = Tracker(uri)
    tracker.alias_version("race-model", "champion")  # warm: connect before the start line
    time.sleep(max(0.0, start - time.time()))
    try:
        event = tracker.move_alias("race-model", "champion", version, f"race: v{version}",
                                   expected="1", who=f"process-{version}")
        print(json.dumps({"version": version, "won": True, "previous": event.previous}))
    except AliasConflict as exc:
        print(json.dumps({"version": version, "won": False, "why": str(exc)}))
""")


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker(uri)
    for _ in range(3):
        tracker.register(f"{tmp_path}/model", NAME, run_id="", tags={})
    tracker.move_alias(NAME, "champion", "1", "first champion", expected=None)
    return uri


def test_two_processes_promoting_at_once_one_wins(store: str, tmp_path: Path) -> None:
    start = time.time() + 8.0  # both processes have imported mlflow by then
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", _PROMOTER, store, v, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for v in ("2", "3")]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    winners = [r for r in results if r["won"]]
    losers = [r for r in results if not r["won"]]
    assert len(winners) == 1 and len(losers) == 1, results
    winner, loser = winners[0]["version"], losers[0]["version"]
    assert winners[0]["previous"] == "1"
    assert losers[0]["why"] == (f"model '{NAME}': 'champion' was expected at v1 but is at "
                                f"v{winner}: another process moved it first; nothing changed")
    tracker = Tracker(store)
    assert tracker.alias_version(NAME, "champion") == winner
    moves = [(e.previous, e.version, e.who) for e in tracker.history(NAME)]
    assert moves == [(None, "1", moves[0][2]), ("1", winner, f"process-{winner}")]
    assert not any(key.startswith("alias_event.")
                   for key in tracker.version_tags(NAME, loser))  # the loser recorded nothing


def test_expected_holder_is_checked_and_nothing_changes(store: str) -> None:
    tracker = Tracker(store)
    with pytest.raises(AliasConflict, match="'champion' was expected at v2 but is at v1"):
        tracker.move_alias(NAME, "champion", "3", "stale decision", expected="2")
    with pytest.raises(AliasConflict, match="'challenger' was expected at v1 but is at no "
                                            "version"):
        tracker.move_alias(NAME, "challenger", "3", "stale decision", expected="1")
    assert tracker.alias_version(NAME, "champion") == "1"
    assert len(tracker.history(NAME)) == 1


def test_removal_is_recorded_on_the_version_that_lost_it(store: str) -> None:
    tracker = Tracker(store)
    event = tracker.remove_alias(NAME, "champion", "no trustworthy model", who="monitor")
    assert (event.action, event.version, event.who) == ("removed", "1", "monitor")
    assert tracker.alias_version(NAME, "champion") is None
    assert tracker.remove_alias(NAME, "champion", "again") is None
    assert [e.action for e in tracker.history(NAME)] == ["set", "removed"]


def test_rollback_names_the_monitor_and_refuses_a_stale_champion(store: str) -> None:
    tracker = Tracker(store)
    tracker.promote(NAME, "2", "better")
    event = tracker.rollback(NAME, "live hit rate 0.41 < 0.50", who="monitor")
    assert (event.previous, event.version, event.who) == ("2", "1", "monitor")
    assert event.reason == "rollback from v2: live hit rate 0.41 < 0.50"


def test_file_lock_waits_for_its_holder_then_times_out(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert lock_target(uri, "a/b") == str(tmp_path / "mlruns" / "locks" / "a_b.lock")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from tasks.alias_lock import alias_lock
        with alias_lock({uri!r}, "m"):
            print("held", flush=True)
            time.sleep(3)
    """)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(AliasLockTimeout, match="still held by another process after 0.3 s"):
        with alias_lock(uri, "m", wait_seconds=0.3):
            pass
    began = time.monotonic()
    with alias_lock(uri, "m", wait_seconds=30):
        waited = time.monotonic() - began
    holder.wait(timeout=30)
    assert waited > 0.5  # it waited for the holder to finish


def test_postgresql_store_uses_an_advisory_lock(postgres_db: str) -> None:
    assert lock_target(postgres_db, "m") == postgres_db
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from tasks.alias_lock import alias_lock
        with alias_lock({postgres_db!r}, "m"):
            print("held", flush=True)
            time.sleep(2)
    """)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(AliasLockTimeout, match="PostgreSQL advisory lock"):
        with alias_lock(postgres_db, "m", wait_seconds=0.3):
            pass
    with alias_lock(postgres_db, "other-model", wait_seconds=0.3):
        pass  # another model's lock is free
    with alias_lock(postgres_db, "m", wait_seconds=30):
        pass
    holder.wait(timeout=30)
