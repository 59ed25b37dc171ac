"""Several worker processes tune one study in a real PostgreSQL server: the study ends with the
trials asked for (at most one more per extra worker), from every worker, the spec tried once."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import numpy as np
import optuna
import pandas as pd
import pytest

from ml_core.config import ForestSpec, TuningConfig
from ml_core.tuning import TuningResult
from tasks.tuning import trials_per_worker, tune_study, worker_pool

# the machine's PostgreSQL (trust auth), or only $TEST_POSTGRES_URL where that is set
POSTGRES_URLS = ((os.environ["TEST_POSTGRES_URL"],) if os.environ.get("TEST_POSTGRES_URL") else
                 ("postgresql+psycopg2://postgres@127.0.0.1:5432/test",
                  "postgresql+psycopg2://root@127.0.0.1:5432/test"))
H = timedelta(hours=1)
SPEC = ForestSpec(kind="classifier", n_estimators=27)
N_TRIALS, N_WORKERS = 12, 2
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(scope="module")
def postgres() -> str:
    """A reachable PostgreSQL URL; skipped without one, a failure under ``CI=true``."""
    import sqlalchemy

    errors = []
    for url in POSTGRES_URLS:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except sqlalchemy.exc.SQLAlchemyError as exc:
            errors.append(f"{url}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    message = "PostgreSQL is not reachable (" + "; ".join(errors) + ")"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: this must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def study_names(postgres: str) -> Iterator[list[str]]:
    """Names no other run uses (append one per study); the studies are deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            optuna.delete_study(study_name=name, storage=postgres)
        except KeyError:
            pass  # never created


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """One pool of worker processes for every study here, as ``tune_models`` keeps one."""
    with worker_pool(N_WORKERS) as workers:
        yield workers


def _data(n: int = 400) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(42)
    idx = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC", name="t0")
    X = pd.DataFrame(rng.normal(size=(n, 5)), index=idx, columns=[f"f{i}" for i in range(5)])
    y = (X["f0"] + 0.5 * X["f1"] + rng.normal(scale=0.8, size=n) > 0).astype(int)
    return X, y, pd.Series(idx + pd.Timedelta("2h"), index=idx)


def _tune(storage: str, name: str, pool: ProcessPoolExecutor,
          progress: Callable[[int, int], None] | None = None, seed: int = 42) -> TuningResult:
    X, y, t1 = _data()
    return tune_study(
        SPEC, X, y, t1, n_workers=N_WORKERS, pool=pool,
        tuning=TuningConfig(n_trials=N_TRIALS, tree_step=3, reduction_factor=3, cv_folds=3),
        purge=H, embargo=H, seed=seed, study_name=name, storage=storage, progress=progress)


@pytest.fixture(scope="module")
def tuned(postgres: str, study_names: list[str],
          pool: ProcessPoolExecutor) -> tuple[TuningResult, list[tuple[int, int]]]:
    """A new study tuned by two workers, and the progress reported while they ran."""
    study_names.append(f"test-workers-{uuid.uuid4().hex[:12]}")
    seen: list[tuple[int, int]] = []
    result = _tune(postgres, study_names[-1], pool,
                   progress=lambda finished, total: seen.append((finished, total)))
    return result, seen


def test_two_workers_fill_one_study(postgres: str, tuned: tuple) -> None:
    result, seen = tuned
    trials = optuna.load_study(study_name=result.study_name, storage=postgres).trials
    finished = [t for t in trials if t.state in FINISHED]
    # every worker stops once the study holds N_TRIALS finished trials; a trial another worker
    # is running at that moment still finishes: at most N_WORKERS - 1 more
    assert N_TRIALS <= len(finished) <= N_TRIALS + N_WORKERS - 1
    assert len(finished) == len(trials)  # none left running, waiting or failed
    assert (result.n_trials, result.n_pruned + result.n_complete) == (len(finished),) * 2

    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == N_WORKERS
    assert f"{socket.gethostname()}:{os.getpid()}" not in workers  # all ran in the workers
    assert sum(trials_per_worker(result).values()) == len(finished)

    # the spec was enqueued once, as trial 0, and ran with its own values
    assert [t.number for t in trials if "fixed_params" in t.system_attrs] == [0]
    assert trials[0].params["max_features"] == "sqrt" and trials[0].params["min_samples_leaf"] == 1
    assert trials[0].state == optuna.trial.TrialState.COMPLETE  # first in its bracket

    # progress is reported here, once per finished trial, in order
    assert seen == [(k, N_TRIALS) for k in range(1, len(finished) + 1)]


def test_a_rerun_adds_nothing_and_the_next_study_reuses_the_processes(
        postgres: str, tuned: tuple, study_names: list[str], pool: ProcessPoolExecutor) -> None:
    first, _ = tuned
    seen: list[tuple[int, int]] = []
    again = _tune(postgres, first.study_name, pool, progress=lambda i, n: seen.append((i, n)))
    assert (again.n_trials, again.trees_fitted, seen) == (first.n_trials, first.trees_fitted, [])
    pd.testing.assert_frame_equal(again.trials, first.trials)

    study_names.append(f"test-workers-{uuid.uuid4().hex[:12]}")
    second = _tune(postgres, study_names[-1], pool, seed=7)
    assert N_TRIALS <= second.n_trials <= N_TRIALS + N_WORKERS - 1
    assert set(trials_per_worker(second)) == set(trials_per_worker(first))  # same processes
