"""The independent pieces of a validation (CPCV splits, walk-forward windows) and how they run.

A piece is a :class:`SplitJob`; the function that scores it depends on its arguments only, so
whoever runs the pieces (here in order, or a task runner on a cluster) gets the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

__all__ = ["MapJobs", "SplitJob", "run_jobs"]

R = TypeVar("R")


class SplitJob(NamedTuple):
    """One split of a splitter: its number (0-based, in the splitter's order) and its purged
    training and test positions."""

    split: int
    train_idx: np.ndarray
    test_idx: np.ndarray


MapJobs = Callable[[Callable[[SplitJob], R], Sequence[SplitJob]], Sequence[R]]
"""``map_jobs(fit, jobs) -> [fit(job) for job in jobs]``, in the order of ``jobs``: the hook
through which a task runner runs the pieces in parallel."""


def run_jobs(fit: Callable[[SplitJob], R], jobs: Sequence[SplitJob],
             map_jobs: MapJobs | None,
             progress: Callable[[int, int], None] | None) -> list[R]:
    """``fit`` on every job: through ``map_jobs`` when given (its results checked to be one per
    job), else here in order, calling ``progress(i, n)`` after job ``i`` of ``n`` (1-based)."""
    if map_jobs is not None:
        results = list(map_jobs(fit, jobs))
        if len(results) != len(jobs):
            raise RuntimeError(f"`map_jobs` returned {len(results)} results for {len(jobs)} jobs")
        return results
    results = []
    for i, job in enumerate(jobs, start=1):
        results.append(fit(job))
        if progress is not None:
            progress(i, len(jobs))
    return results
