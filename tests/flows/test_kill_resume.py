"""A retrain killed mid-flow: failed with a readable reason in MLflow and Prefect; its rerun
resumes from the cached task results and registers exactly one version.

The integration test runs ``regimeforest retrain`` as a user does, in its own process (its own
``PREFECT_HOME``, so its own task cache), against the session's Prefect server so that the
test can read the states Prefect recorded. The unit tests below pin the cache keys and the
failure line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tasks._cache import CACHE_ENV, ContentKey, fingerprint, prune_cache
from tasks.registry import failure_tags

# what the rerun must take from the cache: everything that had finished before the kill
RESUMED = ("fit-regime", "evaluate-regime", "tune-pipeline", "tune", "fit-ensemble")
KILLED_IN = "cpcv"
_ROOT = Path(__file__).resolve().parents[2]


def _retrain(config_path: Path, bars: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    env.pop(CACHE_ENV, None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "regimeforest", "retrain", "--config", str(config_path),
             "--data", str(bars)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=_ROOT,
            start_new_session=True)


def _wait_for(process: subprocess.Popen[bytes], log: Path, pattern: str,
              timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while pattern not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{pattern!r} never appeared (exit {process.poll()}):\n"
                        + log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)


def _prefect_states(config_path: Path) -> list[tuple[object, dict[str, object]]]:
    """(flow run, {task name: state}) of the weekly retrains of this profile, oldest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = [run for run in client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC)
                if run.parameters.get("config_path") == str(config_path)]
        out = []
        for run in runs:
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            # task run names are "<task name>-<3 hex digits>"
            out.append((run, {t.name.rsplit("-", 1)[0]: t.state for t in tasks}))
    return out


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_a_killed_retrain_fails_readably_and_its_rerun_resumes_from_the_cache(
    quick_profile: tuple[Path, str], tiny_bars_file: Path, tmp_path: Path
) -> None:
    """The quick profile with its tuning back on (the studies are among what the rerun must
    take from the cache), on the last 60 days of bars: CPCV without HMM refits and no
    walk-forward leave less to redo."""
    from mlflow.tracking import MlflowClient

    from ml_core.pipeline import load_pipeline
    from tasks.registry import Tracker

    config_path, uri = quick_profile
    profile = yaml.safe_load(config_path.read_text())
    profile["tuning"]["enabled"] = True
    profile["data"]["lookback"] = "60D"
    config_path.write_text(yaml.safe_dump(profile))
    client = MlflowClient(uri, registry_uri=uri)
    home = tmp_path / "prefect-home"

    # 1. kill the retrain while CPCV runs (tuning and the final fit have finished)
    killed_log = tmp_path / "killed.log"
    started = time.monotonic()
    process = _retrain(config_path, tiny_bars_file, home, killed_log)
    _wait_for(process, killed_log, f"Task run '{KILLED_IN}-")
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    cold_seconds = time.monotonic() - started
    output = killed_log.read_text(errors="replace")
    # Prefect reports the crash; the command exits 128 + 15 (regimeforest._env.exit_on_sigterm)
    assert code == 128 + signal.SIGTERM, output[-3000:]

    experiment = client.get_experiment_by_name("tiny").experiment_id
    (run,) = client.search_runs([experiment], "attributes.status = 'FAILED'")
    tags = run.data.tags
    assert re.fullmatch(r"killed by SIGTERM \(signal 15\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
                        rf"during task '{KILLED_IN}'", tags["failure"]), tags["failure"]
    assert (tags["failure.signal"], tags["failure.task"]) == ("SIGTERM", KILLED_IN)
    assert f"MLflow run marked FAILED: {tags['failure']}" in output
    assert client.search_registered_models() == []  # nothing registered, nothing promoted

    ((flow_run, task_states),) = _prefect_states(config_path)
    assert flow_run.state.is_crashed(), flow_run.state
    assert flow_run.state.message == "Execution was aborted by a termination signal."
    assert task_states[KILLED_IN].is_crashed()
    assert all(task_states[name].is_completed() for name in RESUMED)

    # 2. rerun the same command: the finished expensive tasks come from the cache
    rerun_log = tmp_path / "rerun.log"
    started = time.monotonic()
    process = _retrain(config_path, tiny_bars_file, home, rerun_log)
    code = process.wait(timeout=300)
    rerun_seconds = time.monotonic() - started
    output = rerun_log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    for name in RESUMED:
        assert re.search(rf"Task run '{name}-\w+' - Finished in state Cached", output), name
    assert re.search(rf"Task run '{KILLED_IN}-\w+' - Finished in state Completed\(\)", output)
    _, rerun_states = _prefect_states(config_path)[-1]
    assert all(rerun_states[name].name == "Cached" for name in RESUMED)

    # exactly one version, from the rerun's run, and it is the champion
    (finished,) = client.search_runs([experiment], "attributes.status = 'FINISHED'"
                                     " and tags.`mlflow.parentRunId` IS NULL")
    versions = client.search_model_versions("name='tiny'")
    assert [(str(v.version), v.run_id) for v in versions] == [("1", finished.info.run_id)]
    tracker = Tracker(uri)
    assert tracker.alias_version("tiny", "champion") == "1"
    assert tracker.alias_version("tiny", "challenger") is None
    assert [(e.alias, e.version) for e in tracker.history("tiny")] == [("champion", "1")]
    # the cached ensemble is wrapped with the rerun's metadata, not the killed run's
    pipeline = load_pipeline(tracker.download_pipeline("models:/tiny@champion",
                                                       tmp_path / "model"))
    assert pipeline.metadata["run_id"] == finished.info.run_id
    print(f"killed run: {cold_seconds:.1f} s to the kill; rerun with cache hits: "
          f"{rerun_seconds:.1f} s")


# ------------------------------------------------------------------ the failure line
def test_a_kill_names_the_signal_the_moment_and_no_task_outside_one() -> None:
    from prefect.exceptions import TerminationSignal

    tags = failure_tags(TerminationSignal(signal.SIGTERM), when=0.0)
    assert tags["failure"] == ("killed by SIGTERM (signal 15) at 1970-01-01T00:00:00Z outside "
                               "any task")
    assert tags["failure.signal"] == "SIGTERM" and "failure.task" not in tags
    interrupt = failure_tags(KeyboardInterrupt(), when=0.0)["failure"]
    assert interrupt.startswith("interrupted by SIGINT (signal 2) at 1970-01-01T00:00:00Z")


def test_ordinary_errors_keep_their_type_and_message() -> None:
    assert failure_tags(ValueError("too few bars"))["failure"] == "ValueError: too few bars"
    assert failure_tags(RuntimeError())["failure"].startswith("RuntimeError() (no message) at ")


# ------------------------------------------------------------------ cache keys
def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    index = pd.date_range("2024-01-01", periods=500, freq="30min", tz="UTC")
    return pd.DataFrame({"close": 100 + rng.normal(size=500).cumsum(),
                         "volume": rng.integers(1, 100, 500)}, index=index)


def test_one_changed_bar_index_or_column_changes_the_fingerprint() -> None:
    bars = _bars()
    assert fingerprint(bars) == fingerprint(bars.copy())
    changed = bars.copy()
    changed.iloc[250, 0] += 1e-9
    shifted = bars.copy()
    shifted.index = shifted.index + pd.Timedelta("30min")
    renamed = bars.rename(columns={"volume": "vol"})
    prints = {fingerprint(f) for f in (bars, changed, shifted, renamed, bars.iloc[:-1])}
    assert len(prints) == 5
    assert fingerprint(pd.Timestamp("2024-01-01", tz="UTC")) != fingerprint(
        pd.Timestamp("2024-01-02", tz="UTC"))
    with pytest.raises(TypeError, match="no fingerprint for a object"):
        fingerprint(object())


def test_the_key_leaves_out_excluded_inputs_and_follows_the_profile(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from ml_core.config import Config

    monkeypatch.delenv(CACHE_ENV, raising=False)  # tests/conftest.py turns the cache off
    policy = ContentKey(exclude=("tracker", "run_id"))
    ctx = SimpleNamespace(task=SimpleNamespace(name="cpcv"))
    config = Config(profile="unit")
    base = {"bars": _bars(), "config": config, "run_id": "a", "tracker": object()}
    key = policy.compute_key(ctx, base, {})
    assert key == policy.compute_key(ctx, {**base, "run_id": "b", "tracker": object()}, {})
    assert key != policy.compute_key(ctx, {**base, "config": config.model_copy(
        update={"seed": config.seed + 1})}, {})
    assert key != policy.compute_key(SimpleNamespace(task=SimpleNamespace(name="tune")), base, {})
    monkeypatch.setenv(CACHE_ENV, "off")
    assert policy.compute_key(ctx, base, {}) is None


def test_prune_deletes_only_this_projects_expired_results(tmp_path: Path) -> None:
    old, new, other = (tmp_path / "regimeforest-cpcv-1", tmp_path / "regimeforest-cpcv-2",
                       tmp_path / "someone-elses")
    for path in (old, new, other):
        path.write_text("x")
    month_ago = time.time() - 30 * 86400
    for path in (old, other):
        os.utime(path, (month_ago, month_ago))
    assert prune_cache(storage=tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regimeforest-cpcv-2", "someone-elses"]


def test_a_failed_run_withdraws_the_version_it_registered(tmp_path: Path) -> None:
    """Killed between registering and finishing: the half-made version goes, the champion of
    an earlier run stays."""
    from tasks.registry import Tracker, tracked_run

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "m.txt").write_text("model")

    def register(run_id: str) -> str:
        tracker.log_artifact(run_id, tmp_path / "m.txt", "model")
        return tracker.register(f"runs:/{run_id}/model", "m", run_id, {})

    with tracked_run(tracker, "exp", "good", {}) as good:
        champion = register(good)
    tracker.move_alias("m", "champion", champion, "first")
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(tracker, "exp", "killed", {}) as killed:
            register(killed)
            raise KeyboardInterrupt
    tags = tracker.client.get_run(killed).data.tags
    assert tags["failure.withdrawn_versions"] == "m v2"
    assert [v.version for v in tracker.client.search_model_versions("name='m'")] == [1]
    assert tracker.alias_version("m", "champion") == champion


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_the_failure_names_the_task_it_happened_in_nested_ones_too(tmp_path: Path) -> None:
    from prefect import flow, task

    from tasks.registry import Tracker, tracked_run

    @task(name="inner-step")
    def inner() -> None:
        raise ValueError("boom")

    @task(name="outer-step")
    def outer() -> None:
        inner()

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")

    @flow
    def retrain() -> None:
        with tracked_run(tracker, "exp", "nested", {}):
            outer()

    with pytest.raises(ValueError, match="boom"):
        retrain()
    (run,) = tracker.client.search_runs([tracker.experiment_id("exp")])
    assert run.info.status == "FAILED"
    assert run.data.tags["failure"] == "ValueError: boom"
    assert run.data.tags["failure.task"] == "outer-step > inner-step"
