"""Tasks that tune each forest with Optuna and Hyperband (trees grown as the resource), with one
or several worker processes per study, and log every study to an MLflow child run."""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config, EnsembleConfig, ForestSpec
from ml_core.pipeline import TrainingSet
from reporting import tuning_plots
from tasks._cache import cached
from tasks.parallel import active_runner, parallel_map
from tasks.registry import Tracker
from tasks.training import events_per_year

if TYPE_CHECKING:
    from ml_core.tuning import TuningResult

MODEL_NAMES = ("entry", "position", "exit", "profit")


def optuna_storage(config: Config) -> str | None:
    """``tuning.storage``, else an SQLite file beside a SQLite tracking store, else in memory.
    A ``postgresql://`` URL names the installed driver (psycopg2 where psycopg 3 is absent), as
    the bar store's does."""
    if config.tuning.storage:
        import sqlalchemy as sa

        from tasks.bar_store import _with_driver

        url = _with_driver(sa.make_url(config.tuning.storage))
        return url.render_as_string(hide_password=False)
    uri = config.registry.tracking_uri
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).parent / "optuna.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db}"
    return None


# Settings that say how long or where to tune, not what: changing them resumes the same study.
_BUDGET_FIELDS = {"enabled", "n_trials", "pipeline_trials", "timeout_seconds", "storage",
                  "n_workers"}
# Sections that say where the work runs, not what it computes: not part of a study's name.
_WHERE_SECTIONS = ("scale",)


def study_name(config: Config, model: str, data_hash: str) -> str:
    """Fixed per (profile, config, data, model): a rerun resumes the same study, and so does a
    rerun with a larger budget (``tuning.n_trials``, workers, time, storage are not hashed)."""
    dump = config.model_dump(mode="json")
    dump["tuning"] = {k: v for k, v in dump["tuning"].items() if k not in _BUDGET_FIELDS}
    for section in _WHERE_SECTIONS:
        dump.pop(section, None)
    key = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:8]
    return f"{config.profile}-{model}-{data_hash[:10]}-{key}"


@cached("tune-pipeline")
def tune_pipeline_settings(bars: pd.DataFrame, features: pd.DataFrame, config: Config,
                           data_hash: str,
                           cut: pd.Timestamp | None) -> tuple[Config, TuningResult | None]:
    """Tune the barrier width, the selection thresholds and the meta-learner's C on the
    development events (the final holdout, from ``cut`` on, is cut after every relabelling);
    returns the profile with the best values applied, and the study (None when skipped) with
    the span its trials read. Cached on its inputs' content (:mod:`tasks._cache`)."""
    from ml_core.tuning import apply_pipeline_params, tune_pipeline
    from tasks.labels import development_set

    logger = get_run_logger()
    t = config.tuning
    if not t.enabled or t.pipeline_trials == 0 or not t.pipeline_space:
        logger.info("pipeline tuning skipped (tuning.enabled, pipeline_trials or pipeline_space)")
        return config, None
    base = development_set(bars, features, config, cut)
    spans = [base.span]

    def make_dataset(trial_config: Config) -> TrainingSet:
        dataset = development_set(bars, features, trial_config, cut)
        spans.append(dataset.span)
        return dataset

    result = tune_pipeline(
        config, make_dataset,
        study_name=study_name(config, "pipeline", data_hash), storage=optuna_storage(config),
        progress=_every_tenth(logger, "pipeline"), events_per_year=events_per_year(base))
    result.fit_span = (min(s for s, _ in spans), max(e for _, e in spans))
    logger.info("tuned pipeline best %.4f over %d trials (%d pruned): %s", result.best_value,
                result.n_trials, result.n_pruned, result.best_params)
    return apply_pipeline_params(config, result.best_params), result


@cached("tune")
def tune_models(dataset: TrainingSet, config: Config, data_hash: str) -> dict[str, object]:
    """One study per model, tuned by ``tuning.n_workers`` processes (:func:`tune_study`); returns
    ``{model: TuningResult}`` (empty when tuning is disabled). Cached on its inputs' content
    (:mod:`tasks._cache`); a study interrupted before it finished resumes in its Optuna
    storage (:func:`study_name`)."""
    logger = get_run_logger()
    if not config.tuning.enabled:
        logger.info("tuning disabled: using the profile's forests as given")
        return {}
    storage = optuna_storage(config)
    X = tuning_features(dataset, config)
    if X.shape[1] < dataset.X.shape[1]:
        logger.info("tuning on the %d of %d features a selector keeps on the tuning window",
                    X.shape[1], dataset.X.shape[1])
    study = functools.partial(_tune_model, X, dataset, config, data_hash, storage)
    if active_runner() is not None:
        if config.tuning.n_workers > 1:
            logger.info("on Dask every study is one piece: tuning.n_workers=%d is not used",
                        config.tuning.n_workers)
        tuned = parallel_map("tune", study, MODEL_NAMES)
    else:
        n_workers = config.tuning.n_workers
        # several workers: the same processes serve the four studies (spawned and imported once)
        with worker_pool(n_workers) if n_workers > 1 else nullcontext() as pool:
            tuned = [study(name, pool=pool) for name in MODEL_NAMES]
    return dict(zip(MODEL_NAMES, tuned))


def _tune_model(X: pd.DataFrame, dataset: TrainingSet, config: Config, data_hash: str,
                storage: str | None, name: str,
                pool: ProcessPoolExecutor | None = None) -> TuningResult:
    """Tune model ``name``'s study (:func:`tune_study`); a top-level function, so one study may
    run as a piece on a Dask worker (then in one process)."""
    logger = get_run_logger()
    n_workers = config.tuning.n_workers if pool is not None else 1
    # tune_forest keeps the most recent `tuning.max_rows` events when that is set
    result = tune_study(
        getattr(config.ensemble, name), X, dataset.targets[name], dataset.t1,
        n_workers=n_workers, pool=pool, tuning=config.tuning,
        purge=config.validation.purge, embargo=config.validation.embargo,
        seed=config.seed, study_name=study_name(config, name, data_hash),
        storage=storage, progress=_every_tenth(logger, name),
        # every complete trial also records what its rule earned out of fold (PBO matrix)
        ret=dataset.events["ret"], trade_rule=name,
        cost_bps=config.validation.transaction_cost_bps,
        events_per_year=events_per_year(dataset),
    )
    logger.info("tuned %-8s best %.4f over %d trials (%d pruned, %d trees fitted)",
                name, result.best_value, result.n_trials, result.n_pruned,
                result.trees_fitted)
    if n_workers > 1:
        logger.info("tuned %-8s trials per worker: %s", name, trials_per_worker(result))
    result.fit_span = dataset.span
    return result


# ------------------------------------------------------------------ parallel workers
_POLL_SECONDS = 1.0
_FINISHED_STATES = ("COMPLETE", "PRUNED")


def worker_pool(n_workers: int) -> ProcessPoolExecutor:
    """``n_workers`` processes started with "spawn" (no copy of this process's threads or
    locks), each importing ``ml_core.tuning`` as it starts: :func:`tune_study`'s workers."""
    return ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=importlib.import_module, initargs=("ml_core.tuning",))


def tune_study(spec: ForestSpec, X: pd.DataFrame, y: pd.Series, t1: pd.Series, *,
               n_workers: int = 1, pool: ProcessPoolExecutor | None = None,
               **kwargs: Any) -> TuningResult:
    """:func:`~ml_core.tuning.tune_forest` one study, in this process or in ``n_workers``
    processes at once.

    ``n_workers == 1`` is exactly ``tune_forest(spec, X, y, t1, **kwargs)``. With more, the study
    lives in the server storage ``kwargs["storage"]`` (a URL: PostgreSQL, as
    ``tuning.n_workers > 1`` requires) and ``n_workers`` spawned processes each run
    ``tune_forest`` with the same arguments (see :func:`_run_workers`); every worker stops once
    the study holds ``tuning.n_trials`` finished trials, so it may end with up to
    ``n_workers - 1`` more (trials still running at that moment finish). When all have stopped,
    the study is read back here: ``tune_forest`` with ``n_trials=1`` finds it already holds a
    finished trial and runs none, returning the counts, tables and best trial of the whole study.

    Worker ``i`` samples with ``sampler_seed = seed + i`` (TPE with the constant liar), so the
    workers do not repeat each other's random start-up configurations; a parallel study is
    therefore not reproducible trial by trial, only a single-process one is.

    Parameters
    ----------
    spec, X, y, t1
        As in :func:`~ml_core.tuning.tune_forest`.
    n_workers : int, default 1
        Processes tuning the study.
    pool : ProcessPoolExecutor, optional
        A :func:`worker_pool` of ``n_workers`` processes to run them in (several studies in a
        row then spawn and import once); None starts one for this study.
    **kwargs
        ``tune_forest``'s keyword arguments. With several workers, ``progress`` is called here,
        in this process, once per finished trial in order (polled from the storage every
        second), as the single-process study calls it.

    Raises
    ------
    ValueError
        ``n_workers < 1``, or several workers without a storage URL they can all open.
    Exception
        The first error raised by a worker, once the running workers have stopped (the same code
        on the same data: an error in one is usually met by all at the same point).
    """
    from ml_core.tuning import tune_forest

    if n_workers < 1:
        raise ValueError(f"`n_workers` must be at least 1, got `n_workers={n_workers}`")
    if n_workers == 1:
        return tune_forest(spec, X, y, t1, **kwargs)
    storage = kwargs.get("storage")
    if not isinstance(storage, str):
        raise ValueError(f"`n_workers={n_workers}` needs a storage URL that every worker process "
                         f"can open (e.g. postgresql://...), got `storage={storage!r}`")
    progress = kwargs.pop("progress", None)  # a closure over a Prefect logger does not pickle
    with nullcontext(pool) if pool is not None else worker_pool(n_workers) as workers:
        _run_workers(workers, n_workers, (spec, X, y, t1), kwargs, progress)
    collect = {**kwargs, "tuning": kwargs["tuning"].model_copy(update={"n_trials": 1})}
    return tune_forest(spec, X, y, t1, **collect)


def _run_workers(pool: ProcessPoolExecutor, n_workers: int, args: tuple[Any, ...],
                 kwargs: dict[str, Any], progress: Callable[[int, int], None] | None) -> None:
    """Run ``tune_forest(*args, **kwargs)`` ``n_workers`` times at once in ``pool`` (spawned
    processes, :func:`worker_pool`) on one study.

    Each process imports only ``ml_core`` (the worker entry is ``tune_forest`` itself, a top-level
    function, so it pickles). Two races are kept out:

    - the storage's tables are created here, before any worker opens the storage (concurrent
      ``CREATE TABLE`` on a fresh PostgreSQL database fails);
    - a new study enqueues the spec as trial 0 when it finds no trial (``skip_if_exists`` does
      not guard two processes doing so at the same moment): the first worker starts alone and
      the others are given their study only once it holds that trial; meanwhile the other
      processes are spawned and import ``ml_core``, so the head start costs no import time.
    """
    import optuna
    from ml_core.tuning import tune_forest

    storage = optuna.storages.get_storage(kwargs["storage"])
    name, target = kwargs["study_name"], kwargs["tuning"].n_trials
    _, reported = _study_progress(storage, name)  # a resumed study's trials were reported before
    seed = kwargs["seed"]
    workers: list[Future[Any]] = [pool.submit(tune_forest, *args, **kwargs)]
    for _ in range(n_workers - 1):
        pool.submit(os.getpid)  # spawns (and warms) the other processes now, if not yet running
    while True:
        waiting = len(workers) < n_workers  # for the study: poll often, the others idle
        wait(workers, timeout=0.1 if waiting else _POLL_SECONDS, return_when=FIRST_EXCEPTION)
        if any(f.done() and f.exception() is not None for f in workers):
            break
        stopped = not waiting and all(f.done() for f in workers)  # before the last count
        started, finished = _study_progress(storage, name)
        if waiting and (started or workers[0].done()):
            # each worker samples with its own seed: no repeated start-up configurations
            workers += [pool.submit(tune_forest, *args, **kwargs, sampler_seed=seed + i)
                        for i in range(1, n_workers)]
        if progress is not None:
            for count in range(reported + 1, finished + 1):
                progress(count, target)
        reported = max(reported, finished)
        if stopped:
            break
    for future in workers:
        future.result()  # re-raises a worker's error (after the others stopped, see tune_study)


def _study_progress(storage: Any, name: str) -> tuple[bool, int]:
    """(whether the study exists and holds a trial, how many of its trials finished)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return False, 0
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return bool(trials), sum(t.state.name in _FINISHED_STATES for t in trials)


def trials_per_worker(result: TuningResult) -> dict[str, int]:
    """Finished trials of the study by the process that ran them (``host:pid``)."""
    trials = result.trials
    if "user_attrs_worker" not in trials:
        return {}
    finished = trials[trials["state"].isin(_FINISHED_STATES)]
    return {str(k): int(v) for k, v in finished["user_attrs_worker"].value_counts().items()}


def tuning_features(dataset: TrainingSet, config: Config) -> pd.DataFrame:
    """The columns the forests will read: with selection on, a selector fitted on the tuning
    window (the most recent ``tuning.max_rows`` events) picks them, as the ensemble's own selector
    does on its training rows, so the tuned parameters fit forests of that width.

    Leakage note: the selection sees every tuning fold's rows (like the meta-learner's stacking
    folds); CPCV refits the whole ensemble, selector included, per split.
    """
    X = dataset.X
    if not config.features.selection.enabled:
        return X
    from ml_core.selection import FeatureSelector

    window = X.iloc[-config.tuning.max_rows:] if config.tuning.max_rows else X
    selector = FeatureSelector.from_config(config.features.selection, config.seed)
    selector.fit(window, dataset.targets["entry"].loc[window.index])
    return X[selector.selected_]


def _every_tenth(logger, model: str):  # noqa: ANN001, ANN202 - Prefect's run logger
    """Log tuning progress about ten times per study, whatever its size."""
    def report(finished: int, total: int) -> None:
        if finished == total or finished % max(total // 10, 1) == 0:
            logger.info("tuning %s: %d/%d trials", model, finished, total)
    return report


def tuned_ensemble_config(config: Config, tuned: dict[str, object]) -> EnsembleConfig:
    """The profile's ensemble with each forest's best parameters applied."""
    update = {name: ForestSpec.model_validate({**getattr(config.ensemble, name).model_dump(),
                                               **result.best_params})
              for name, result in tuned.items()}
    return config.ensemble.model_copy(update=update)


# ------------------------------------------------------------------ logging to MLflow
def param_importances(trials: pd.DataFrame, max_bins: int = 4) -> pd.Series:
    """How much of the objective's spread each tuned parameter explains on its own.

    Over the complete trials of ``trials`` (:attr:`~ml_core.tuning.TuningResult.trials`), each
    ``params_*`` column splits the trials into groups: its values for a categorical parameter
    (None, i.e. not sampled or unlimited, is a group of its own), and for a numeric one with more
    distinct values than bins, ``k = min(max_bins, max(2, n // 4))`` quantile bins (``n``
    complete trials). The importance is the correlation ratio

        eta² = sum_g n_g (mean_g - mean)² / sum_i (value_i - mean)²,

    the share of the objective's variance between the groups, in [0, 1]: 1 when the parameter's
    group alone fixes the objective, 0 when every group averages the same. It is the main effect
    that Optuna's fANOVA estimates (which needs the study), without a surrogate forest and
    without interactions. Parameters sampled together are not told apart, and with few trials
    every parameter is overstated (a group per trial explains everything): read it as a ranking.
    Pruned trials are left out: their values come from fewer trees.

    Returns
    -------
    pandas.Series named ``importance``, index ``param`` (names without ``params_``), largest
    first; empty with fewer than two complete trials or a constant objective.
    """
    if max_bins < 2:
        raise ValueError(f"`max_bins` must be at least 2, got `max_bins={max_bins}`")
    empty = pd.Series(dtype=float, name="importance", index=pd.Index([], name="param"))
    if trials.empty or "value" not in trials:
        return empty
    complete = trials[(trials["state"] == "COMPLETE") & np.isfinite(trials["value"])]
    value = complete["value"].to_numpy(dtype=float)
    if value.size < 2 or value.min() == value.max():
        return empty
    total = float(((value - value.mean()) ** 2).sum())
    bins = min(max_bins, max(2, value.size // 4))
    shares = {}
    for column in (c for c in complete.columns if c.startswith("params_")):
        groups = _groups(complete[column], bins)
        means = pd.Series(value).groupby(groups.to_numpy()).agg(["mean", "size"])
        shares[column.removeprefix("params_")] = float(
            (means["size"] * (means["mean"] - value.mean()) ** 2).sum() / total)
    out = pd.Series(shares, name="importance", dtype=float).sort_values(ascending=False,
                                                                        kind="stable")
    out.index.name = "param"
    return out


def _groups(column: pd.Series, bins: int) -> pd.Series:
    """Group label of each trial: the value (None as ``"None"``), or its quantile bin."""
    numeric = (pd.api.types.is_numeric_dtype(column)
               and not pd.api.types.is_bool_dtype(column))
    labels = column.astype(object).where(column.notna(), "None").astype(str)
    known = column.notna()
    if numeric and column[known].nunique() > bins:
        binned = pd.qcut(column[known].astype(float), bins, labels=False, duplicates="drop")
        labels[known] = "bin" + binned.astype(int).astype(str)
    return labels.reset_index(drop=True)


def _best_trial(trials: pd.DataFrame) -> pd.Series | None:
    """The first complete trial with the highest objective (Optuna's best trial)."""
    complete = trials[trials["state"] == "COMPLETE"].sort_values("number")
    if complete.empty or complete["value"].isna().all():
        return None
    return complete.loc[complete["value"].idxmax()]


def tuning_params(result: TuningResult) -> dict[str, Any]:
    """A study's child-run params: the best trial's parameters, the study name, its trials."""
    return {**result.best_params, "study_name": result.study_name, "n_trials": result.n_trials}


def tuning_metrics(result: TuningResult) -> dict[str, float]:
    """A study's child-run metrics: the best objective, trial counts, trees grown, and the best
    trial's number, accuracy, Sharpe and max drawdown (those it measured)."""
    metrics = {"best_value": result.best_value, "n_trials": result.n_trials,
               "n_pruned": result.n_pruned, "n_complete": result.n_complete,
               "trees_fitted": result.trees_fitted,
               "n_workers": len(trials_per_worker(result))}
    best = _best_trial(result.trials)
    if best is not None:
        metrics["best_trial"] = best["number"]
        for part in ("accuracy", "sharpe", "max_drawdown"):
            value = best.get(f"user_attrs_{part}")
            if value is not None and pd.notna(value):
                metrics[f"best_{part}"] = value
    return {k: float(v) for k, v in metrics.items()}


def tuning_summary(tuned: dict[str, TuningResult]) -> dict[str, float]:
    """The retrain run's summary of every study: ``tune_<model>_best_score``, ``_trials``,
    ``_pruned`` and ``_trees_fitted``."""
    out: dict[str, float] = {}
    for model, result in tuned.items():
        out.update({f"tune_{model}_best_score": float(result.best_value),
                    f"tune_{model}_trials": float(result.n_trials),
                    f"tune_{model}_pruned": float(result.n_pruned),
                    f"tune_{model}_trees_fitted": float(result.trees_fitted)})
    return out


@task(name="log-tuning", cache_policy=NO_CACHE)
def log_tuning(tracker: Tracker, run_id: str, tuned: dict[str, TuningResult]) -> None:
    """One MLflow child run per study under the retrain run ``run_id``, and a summary in it.

    Child run ``tune-<model>`` (tags ``tuning.model``, ``tuning.study``): params
    :func:`tuning_params`, metrics :func:`tuning_metrics`, tables ``tables/trials.csv`` (every
    trial), ``tables/pareto.csv`` (complete trials' accuracy, Sharpe, drawdown and front) and
    ``tables/param_importances.csv`` (:func:`param_importances`), and plots
    ``plots/optimisation_history.png``, ``plots/param_importances.png``,
    ``plots/pareto_front.png``. The retrain run gets :func:`tuning_summary` as metrics, the tuned
    parameters as params ``tuned.<model>.<param>``, and the tag ``tuning.child_runs``: a JSON
    object ``{model: child run id}``. Nothing is logged when tuning was disabled (``tuned``
    empty).
    """
    if not tuned:
        return
    children: dict[str, str] = {}
    for model, result in tuned.items():
        tags = {"tuning.model": model, "tuning.study": result.study_name}
        with tracker.child_run(run_id, f"tune-{model}", tags) as child:
            tracker.log_params(child, tuning_params(result))
            tracker.log_metrics(child, tuning_metrics(result))
            importances = param_importances(result.trials)
            tracker.log_table(child, result.trials.set_index("number"), "trials.csv")
            tracker.log_table(child, result.pareto, "pareto.csv")
            tracker.log_table(child, importances.to_frame(), "param_importances.csv")
            tracker.log_figure(child, tuning_plots.optimisation_history(result.trials),
                               "optimisation_history.png")
            tracker.log_figure(child, tuning_plots.param_importances(importances,
                                                                     result.n_complete),
                               "param_importances.png")
            tracker.log_figure(child, tuning_plots.pareto_front(result.pareto),
                               "pareto_front.png")
        children[model] = child
    tracker.log_metrics(run_id, tuning_summary(tuned))
    tracker.log_params(run_id, {f"tuned.{model}.{k}": v for model, result in tuned.items()
                                for k, v in result.best_params.items()})
    tracker.set_tags(run_id, {"tuning.child_runs": json.dumps(children)})
