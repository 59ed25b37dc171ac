"""Where a retrain's independent pieces run: here, one after another, or as Prefect tasks on Dask.

The embedded profile (``scale.executor: local``) runs CPCV splits, walk-forward windows and the
four models' studies in the flow's process, in order, exactly as before. The scale profile
(``scale.executor: dask``) opens prefect-dask's ``DaskTaskRunner`` for the flow run
(:func:`scale_out`): on the scheduler at ``scale.dask_address``, or on a ``LocalCluster`` of
``scale.n_workers`` processes of ``scale.threads_per_worker`` threads started for the run. Each
piece is then one Prefect task run (``cpcv-split-3``, ``wf-window-0``, ``tune-entry``), visible in
the Prefect UI, computed on a Dask worker.

A piece is a top-level function bound to its data with :func:`functools.partial`
(:func:`ml_core.evaluation.fit_split`, ...): it depends on its arguments only, so where it runs
changes nothing it computes. The data a stage's pieces share is sent to the cluster once per
stage (scattered), not once per piece. Forests inside a piece use ``threads_per_worker`` threads
(:func:`piece_threads`): pieces that share a machine do not oversubscribe its cores; Dask's
nanny also starts its workers with one BLAS/OpenMP thread.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config

__all__ = ["active_runner", "dask_runner", "mapper", "on_dask_worker", "parallel_map",
           "piece_threads", "scale_out"]

T = TypeVar("T")
R = TypeVar("R")

_RUNNER: ContextVar[Any] = ContextVar("regimeforest_dask_runner", default=None)


def dask_runner(config: Config) -> Any:
    """The ``DaskTaskRunner`` of ``config.scale``: the scheduler at ``dask_address``, else at
    Dask's own ``scheduler-address`` setting (``$DASK_SCHEDULER_ADDRESS``), else a
    ``LocalCluster`` of ``n_workers`` processes (``threads_per_worker`` threads each, the
    dashboard on a free port)."""
    import dask
    from prefect_dask import DaskTaskRunner

    scale = config.scale
    address = scale.dask_address or dask.config.get("scheduler-address", None)
    if address:
        return DaskTaskRunner(address=address)
    # dashboard on a free port (None still binds 8787, which a second cluster finds taken)
    return DaskTaskRunner(cluster_kwargs={"n_workers": scale.n_workers,
                                          "threads_per_worker": scale.threads_per_worker,
                                          "processes": True, "dashboard_address": ":0"})


@contextmanager
def scale_out(config: Config) -> Iterator[None]:
    """For the block, run the pieces of :func:`parallel_map` on ``config``'s Dask cluster
    (``scale.executor: dask``); with ``local``, inside a block already scaled out, or on a Dask
    worker (a backfill's retrain running as a piece: its own pieces then run on its worker, in
    order), change nothing. The cluster is reached (or the LocalCluster started) on first use
    and closed when the block ends."""
    if config.scale.executor != "dask" or _RUNNER.get() is not None or on_dask_worker():
        yield
        return
    import dask

    # the workers' statistical profiler samples every thread 100 times a second: ~7% of a core
    # beside each piece (benchmarks/results/scale.md); a LocalCluster started here inherits this
    with dask.config.set({"distributed.worker.profile.enabled": False}), \
            dask_runner(config) as runner:
        token = _RUNNER.set(runner)
        try:
            yield
        finally:
            _RUNNER.reset(token)


def active_runner() -> Any:
    """The DaskTaskRunner of the enclosing :func:`scale_out`, or None (pieces run here)."""
    return _RUNNER.get()


def on_dask_worker() -> bool:
    """Whether this code runs inside a task on a Dask worker."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def piece_threads(config: Config) -> int | None:
    """Threads a forest uses on a Dask worker: ``scale.threads_per_worker`` (its neighbours on the
    machine run pieces too); None elsewhere: the profile's ``ensemble.n_jobs``, e.g. every core
    for the final fit in the flow's process while the workers wait."""
    return config.scale.threads_per_worker if on_dask_worker() else None


@task(name="piece", cache_policy=NO_CACHE)
def _run_piece(fit: Callable[[Any], Any], item: Any) -> Any:
    """One piece, on a Dask worker: ``fit(item)``."""
    return fit(item)


def parallel_map(stage: str, fit: Callable[[T], R], items: Sequence[T],
                 label: Callable[[T], str] = str) -> list[R]:
    """``[fit(item) for item in items]``, in order.

    Under :func:`scale_out`, each item is a Prefect task run named ``<stage>-<label(item)>`` on
    the Dask cluster, all submitted at once; ``fit`` (and the data bound to it) is scattered to
    the cluster once. Progress is logged as pieces finish. Otherwise the items run here, one
    after another. The first piece that fails raises its error here, naming the piece.
    """
    runner = active_runner()
    if runner is None:
        return [fit(item) for item in items]
    logger = get_run_logger()
    started = time.perf_counter()
    shared = runner.client.scatter(fit, broadcast=False, hash=False)
    futures = [runner.submit(_run_piece.with_options(name=stage,
                                                     task_run_name=f"{stage}-{label(item)}"),
                             {"fit": shared, "item": item})
               for item in items]
    results: list[R] = []
    for item, future in zip(items, futures):
        state = future.wait() or future.state
        if not state.is_completed():
            future.result()  # raises the piece's error
            raise RuntimeError(f"{stage}-{label(item)} ended {state.name}: {state.message}")
        results.append(future.result())
    logger.info("%s: %d pieces on Dask in %.1f s", stage, len(items),
                time.perf_counter() - started)
    return results


def mapper(stage: str) -> Callable[[Callable[[Any], R], Sequence[Any]], list[R]] | None:
    """The ``map_splits``/``map_windows`` hook of :mod:`ml_core.evaluation` for ``stage``: None
    (ml_core runs the jobs itself, logging progress) outside :func:`scale_out`."""
    if active_runner() is None:
        return None
    return functools.partial(_map_jobs, stage)


def _map_jobs(stage: str, fit: Callable[[Any], R], jobs: Sequence[Any]) -> list[R]:
    return parallel_map(stage, fit, jobs, label=lambda job: str(job.split))
