"""Pieces on a real Dask LocalCluster (2 workers) through prefect-dask's DaskTaskRunner, inside a
real Prefect flow: results in order, one named task run per piece, a failing piece's error, and
the embedded profile running everything here."""

from __future__ import annotations

import functools
import os

import pytest
from prefect import flow

from ml_core.config import Config
from tasks.parallel import (active_runner, mapper, on_dask_worker, parallel_map, piece_threads,
                            scale_out)

DASK = Config(profile="p", scale={"executor": "dask", "n_workers": 2, "threads_per_worker": 1})
LOCAL = Config(profile="p")


def where(offset: int, item: int) -> tuple[int, int, bool, int | None]:
    """What a piece reports: its value, the process it ran in, whether on a worker, threads."""
    return item + offset, os.getpid(), on_dask_worker(), piece_threads(DASK)


def fails_on_two(item: int) -> int:
    if item == 2:
        raise ValueError(f"item {item} is bad")
    return item


@flow
def run_pieces(config: Config, items: list[int]):
    with scale_out(config):
        runner = active_runner()
        results = parallel_map("square", functools.partial(where, 100), items)
        workers = (0 if runner is None
                   else len(runner.client.scheduler_info(n_workers=-1)["workers"]))
        hook = mapper("cpcv-split")
    return workers, results, hook


@flow
def run_failing(config: Config):
    with scale_out(config):
        return parallel_map("check", fails_on_two, [1, 2, 3])


@pytest.mark.usefixtures("prefect_harness")
def test_pieces_run_on_two_dask_workers_in_order_as_named_task_runs():
    from prefect.client.orchestration import get_client

    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    workers, results, hook = run_pieces(DASK, [5, 1, 4, 3])
    assert workers == 2 and hook is not None
    assert [r[0] for r in results] == [105, 101, 104, 103]  # the items' order, whoever finished
    assert all(r[2] for r in results) and {r[3] for r in results} == {1}
    assert os.getpid() not in {r[1] for r in results}  # on the workers' processes
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            name=TaskRunFilterName(like_="square-")))
    assert {"square-5", "square-1", "square-4", "square-3"} <= {run.name for run in runs}


@pytest.mark.usefixtures("prefect_harness")
def test_the_embedded_profile_runs_every_piece_here():
    workers, results, hook = run_pieces(LOCAL, [2, 7])
    assert (workers, hook) == (0, None)
    assert [r[:3] for r in results] == [(102, os.getpid(), False), (107, os.getpid(), False)]
    assert piece_threads(DASK) is None  # not on a worker: the profile's own n_jobs


@pytest.mark.usefixtures("prefect_harness")
def test_a_failing_piece_raises_its_error_in_the_flow():
    with pytest.raises(ValueError, match="item 2 is bad"):
        run_failing(DASK)
