"""Persisted task results keyed on what decides them, so a retrain killed mid-flow resumes.

A task decorated with :func:`cached` stores its result (Prefect's result persistence, pickled)
under a key that is the SHA-256 of

* the task's name;
* the code that computes it: every ``.py`` file of ``ml_core`` and the task modules whose code
  runs inside a cached task (:data:`TASK_MODULES`), and the versions of the numerical
  libraries: a change to any of them makes every key new;
* a content fingerprint of each input (:func:`fingerprint`): bars, features and training sets
  by their values, index and columns; profiles (pydantic models) by their JSON, which holds the
  seed and the tracking URI; timestamps (the holdout cut) by their ISO form. Inputs named in
  ``exclude`` (the tracker, the MLflow run id: a rerun has a new run) are left out.

Bars that differ in one value, another profile, another cut or another release of the code
therefore never meet an old result; the same inputs always do, whichever flow run computed them.

Where results live: Prefect's default result storage, ``$PREFECT_HOME/storage``
(``PREFECT_RESULTS_LOCAL_STORAGE_PATH`` moves it; a default storage block, set in
``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` or on the server, replaces it). Tests that give
Prefect their own ``PREFECT_HOME`` get their own cache; within one ``PREFECT_HOME`` runs
against different tracking stores never share a key, as the profile's tracking URI is part
of it.

Switches: ``REGIMEFOREST_TASK_CACHE=off`` neither reads nor writes cached results (every task
computes); Prefect's ``PREFECT_TASKS_REFRESH_CACHE=true`` recomputes and overwrites them.
Results expire after :data:`CACHE_EXPIRATION`; Prefect then ignores them but leaves the files:
:func:`prune_cache` deletes them (a tiny retrain writes ~1.7 MB, a production one the size of
its pickled forests).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from pydantic import BaseModel

__all__ = ["CACHE_ENV", "CACHE_EXPIRATION", "KEY_PREFIX", "TASK_MODULES", "ContentKey",
           "cache_enabled", "cached", "code_version", "fingerprint", "prune_cache"]

CACHE_ENV = "REGIMEFOREST_TASK_CACHE"
"""Set to ``off`` (or ``0``, ``false``, ``no``) to run every cached task without its cache."""

CACHE_EXPIRATION = dt.timedelta(days=14)
"""How long a cached result may be reused: long enough to resume a killed retrain or backfill
after a weekend; a weekly retrain on new bars never meets its predecessor's keys anyway."""

_ROOT = Path(__file__).resolve().parents[1]
TASK_MODULES = ("_cache", "features", "labels", "parallel", "training", "tuning")
"""The modules of ``tasks`` whose code computes a cached result (add one that does)."""
_LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "hmmlearn", "optuna")

KEY_PREFIX = "regimeforest-"
"""Every key (and so every file name in the result storage) starts with it."""

F = TypeVar("F", bound=Callable[..., Any])


def cache_enabled() -> bool:
    """False when ``$REGIMEFOREST_TASK_CACHE`` says ``off``/``0``/``false``/``no``."""
    return os.environ.get(CACHE_ENV, "on").strip().lower() not in {"off", "0", "false", "no"}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 of the sources of ``ml_core`` and of :data:`TASK_MODULES` (paths and contents,
    in path order), the Python version and the versions of the numerical libraries: any change
    to the code that computes a cached result makes its key new. Computed once per process
    (~0.8 MB of source)."""
    digest = hashlib.sha256(sys.version.encode())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    paths = sorted((_ROOT / "ml_core").rglob("*.py"))
    paths += [_ROOT / "tasks" / f"{name}.py" for name in TASK_MODULES]
    for path in paths:
        digest.update(str(path.relative_to(_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _frame_digest(digest: Any, frame: pd.DataFrame | pd.Series | pd.Index) -> None:
    """Values, index, names and dtypes of a pandas object, by pandas' vectorised row hash."""
    if isinstance(frame, pd.Index):
        digest.update(repr((type(frame).__name__, frame.names, str(frame.dtype))).encode())
        digest.update(pd.util.hash_pandas_object(frame).to_numpy().tobytes())
        return
    if isinstance(frame, pd.DataFrame):
        digest.update(repr(("DataFrame", frame.shape, [str(c) for c in frame.columns],
                            [str(t) for t in frame.dtypes])).encode())
    else:
        digest.update(repr(("Series", frame.shape, str(frame.name), str(frame.dtype))).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    _frame_digest(digest, frame.index)


def _update(digest: Any, value: Any) -> None:
    """Feed ``value``'s canonical form into ``digest``; TypeError for a type without one."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        digest.update(repr((type(value).__name__, value)).encode())
    elif isinstance(value, (pd.Timestamp, dt.datetime, dt.date, pd.Timedelta, dt.timedelta)):
        digest.update(repr((type(value).__name__, value.isoformat()
                            if hasattr(value, "isoformat") else str(value))).encode())
    elif isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        _frame_digest(digest, value)
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays have no stable fingerprint")
        digest.update(repr(("ndarray", value.shape, str(value.dtype))).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, BaseModel):
        digest.update(type(value).__qualname__.encode())
        digest.update(value.model_dump_json().encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(type(value).__qualname__.encode())
        for item in dataclasses.fields(value):
            digest.update(item.name.encode())
            _update(digest, getattr(value, item.name))
    elif isinstance(value, Mapping):
        digest.update(repr(("Mapping", len(value))).encode())
        for key in sorted(value, key=repr):
            _update(digest, key)
            _update(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(repr((type(value).__name__, len(value))).encode())
        for item in value:
            _update(digest, item)
    else:
        raise TypeError(f"no fingerprint for a {type(value).__qualname__}: exclude the input or "
                        "pass what determines it")


def fingerprint(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s content.

    Scalars, timestamps and timedeltas by type and value; pandas objects by
    ``pandas.util.hash_pandas_object`` of their rows and index (vectorised: ~0.1 s per million
    rows and column) plus shape, column names and dtypes; numpy arrays by their bytes; pydantic
    models by their JSON; dataclasses field by field; mappings (in key order), lists and tuples
    item by item.

    Raises
    ------
    TypeError
        For any other type (a fitted model, a client): such inputs cannot key a result.
    """
    digest = hashlib.sha256()
    _update(digest, value)
    return digest.hexdigest()


@dataclass
class ContentKey(CachePolicy):
    """Prefect cache policy: the key is :func:`code_version`, the task's name and the
    :func:`fingerprint` of each input not in ``exclude``, hashed together.

    ``compute_key`` returns None (the run neither reads nor writes a cached result) when the
    cache is switched off (:func:`cache_enabled`); an input without a fingerprint raises
    ``TypeError``, which Prefect logs before running the task uncached.

    Parameters
    ----------
    exclude : tuple of str
        Names of the inputs that do not decide the result (a tracker, a run id).
    """

    exclude: tuple[str, ...] = ()

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any],
                    flow_parameters: dict[str, Any], **kwargs: Any) -> str | None:
        if not cache_enabled():
            return None
        digest = hashlib.sha256(code_version().encode())
        digest.update(task_ctx.task.name.encode())
        for name in sorted(set(inputs) - set(self.exclude)):
            digest.update(name.encode())
            digest.update(fingerprint(inputs[name]).encode())
        return f"{KEY_PREFIX}{task_ctx.task.name}-{digest.hexdigest()}"


def cached(name: str, *, exclude: Iterable[str] = (), **task_options: Any) -> Callable[[F], Any]:
    """``prefect.task(name=name, ...)`` with a persisted :class:`ContentKey` cache.

    Parameters
    ----------
    name : str
        The task's name (part of its key).
    exclude : iterable of str
        Inputs that do not decide the result.
    **task_options
        Passed on to :func:`prefect.task`.
    """
    from prefect import task

    return task(name=name, cache_policy=ContentKey(exclude=tuple(exclude)), persist_result=True,
                cache_expiration=CACHE_EXPIRATION, **task_options)


def prune_cache(older_than: dt.timedelta = CACHE_EXPIRATION,
                storage: Path | None = None) -> list[Path]:
    """Delete the cached results written more than ``older_than`` ago.

    Parameters
    ----------
    older_than : timedelta, default :data:`CACHE_EXPIRATION`
        Results this old are expired: Prefect no longer reads them.
    storage : Path, optional
        The result folder; default Prefect's local result storage
        (``PREFECT_RESULTS_LOCAL_STORAGE_PATH``, ``$PREFECT_HOME/storage``).

    Returns
    -------
    list of Path
        The files deleted: only this project's (names starting with :data:`KEY_PREFIX`).
    """
    if storage is None:
        from prefect.settings import get_current_settings

        storage = Path(get_current_settings().results.local_storage_path)
    cutoff = dt.datetime.now().timestamp() - older_than.total_seconds()
    deleted = []
    for path in Path(storage).glob(f"{KEY_PREFIX}*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted
