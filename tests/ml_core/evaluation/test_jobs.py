"""CPCV and walk-forward through ``map_splits``/``map_windows``: the hook a task runner uses to run
the pieces elsewhere and in any order gives the very same report as running them here in order."""

import functools
import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import ForestSpec
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.evaluation import SplitJob, evaluate_cpcv, evaluate_walk_forward
from ml_core.evaluation._jobs import run_jobs
from ml_core.validation import CombinatorialPurgedCV, WalkForwardCV

H3 = timedelta(hours=3)
EVENTS_PER_YEAR = 365 * 8
FOREST = {"n_estimators": 10, "max_depth": 3}
# A top-level class bound with partial: the factory pickles, as a Dask task's argument must.
MAKE = functools.partial(
    RegimeForestEnsemble, entry=ForestSpec(kind="classifier", **FOREST),
    position=ForestSpec(kind="regressor", **FOREST), exit=ForestSpec(kind="classifier", **FOREST),
    profit=ForestSpec(kind="regressor", **FOREST), meta_folds=2, purge=H3, embargo=H3, n_jobs=1,
    kelly_fraction=None, cvar_budget=None, random_state=0)


def elsewhere_backwards(fit, jobs):
    """Run each job on an unpickled copy of ``fit`` (as another process would), last job first;
    return the results in the jobs' order."""
    shipped = pickle.loads(pickle.dumps(fit))
    done = {job.split: shipped(pickle.loads(pickle.dumps(job))) for job in reversed(jobs)}
    return [done[job.split] for job in jobs]


def test_cpcv_through_the_hook_equals_cpcv_here(synthetic):
    X, targets, events = synthetic
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, purge=H3, embargo=H3)
    here = evaluate_cpcv(MAKE, X, targets, events, cv, cost_bps=5.0,
                         events_per_year=EVENTS_PER_YEAR)
    away = evaluate_cpcv(MAKE, X, targets, events, cv, cost_bps=5.0,
                         events_per_year=EVENTS_PER_YEAR, map_splits=elsewhere_backwards)
    pd.testing.assert_frame_equal(away.splits, here.splits)
    pd.testing.assert_frame_equal(away.paths, here.paths)
    pd.testing.assert_frame_equal(away.baselines, here.baselines)
    pd.testing.assert_frame_equal(away.per_regime, here.per_regime)
    assert away.path_returns.keys() == here.path_returns.keys()
    for p in here.path_returns:
        pd.testing.assert_series_equal(away.path_returns[p], here.path_returns[p])


def test_walk_forward_through_the_hook_equals_walk_forward_here(synthetic):
    X, targets, events = synthetic
    cv = WalkForwardCV(n_windows=4, purge=H3)
    here = evaluate_walk_forward(MAKE, X, targets, events, cv, cost_bps=5.0,
                                 events_per_year=EVENTS_PER_YEAR)
    away = evaluate_walk_forward(MAKE, X, targets, events, cv, cost_bps=5.0,
                                 events_per_year=EVENTS_PER_YEAR, map_windows=elsewhere_backwards)
    pd.testing.assert_frame_equal(away.windows, here.windows)
    for k in here.window_returns:
        pd.testing.assert_series_equal(away.window_returns[k], here.window_returns[k])


def test_run_jobs_calls_progress_in_order_only_when_it_runs_them():
    jobs = [SplitJob(k, np.arange(k), np.arange(1)) for k in range(3)]
    calls = []
    assert run_jobs(lambda job: job.split * 10, jobs, None,
                    lambda i, n: calls.append((i, n))) == [0, 10, 20]
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert run_jobs(lambda job: job.split, jobs, lambda f, js: [f(j) for j in js],
                    lambda i, n: calls.append("mapped")) == [0, 1, 2]
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_a_mapper_that_drops_a_job_is_refused():
    jobs = [SplitJob(k, np.arange(1), np.arange(1)) for k in range(3)]
    with pytest.raises(RuntimeError, match="returned 2 results for 3 jobs"):
        run_jobs(lambda job: job, jobs, lambda f, js: [f(j) for j in js[:2]], None)
