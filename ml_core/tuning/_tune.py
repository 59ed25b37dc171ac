"""Tune one forest with Optuna: TPE sampling, Hyperband pruning over trees grown, purged folds."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import optuna
import pandas as pd

from ml_core.config import ForestSpec, TuningConfig
from ml_core.tuning._objective import ForestObjective
from ml_core.tuning._pareto import pareto_front
from ml_core.tuning._space import spec_params
from ml_core.tuning._trial_returns import TRADE_RULES, decode_returns
from ml_core.validation import PurgedKFold

__all__ = ["TuningResult", "tune_forest"]

_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class TuningResult:
    """Outcome of :func:`tune_forest`; counts cover the whole study, resumed trials included.

    Attributes
    ----------
    best_params : dict
        Tuned ``ForestSpec`` fields (``max_samples`` completed: None when the best trial does
        not bootstrap); ``ForestSpec.model_validate({**spec.model_dump(), **best_params})``
        applies them (``n_estimators`` stays the spec's).
    best_value : float
        Objective of the best complete trial: the scalarised accuracy (ROC AUC or R²), Sharpe
        and drawdown (see :class:`~ml_core.tuning._objective.ForestObjective`).
    n_trials, n_pruned, n_complete : int
        Finished trials (complete + pruned), pruned ones, complete ones.
    trees_fitted : int
        Trees grown over all trials and folds (compute spent).
    trials : pandas.DataFrame
        One row per trial: ``number, state, value, params_*, user_attrs_*`` (without the bulky
        ``oos_returns``).
    study_name : str
    trial_returns : pandas.DataFrame
        Out-of-fold returns of every complete trial that recorded them (columns: trial numbers;
        rows: the tuning events, index ``t0``, in time order): the PBO matrix. Empty without a
        ``trade_rule``.
    pareto : pandas.DataFrame
        Complete trials (index ``number``) with their ``accuracy``, ``sharpe``, ``max_drawdown``
        and ``value``, and a ``pareto`` column: True where no other trial is better on all three.
    fit_span : tuple of Timestamp, optional
        ``(first event start, last label end)`` over every row a trial was fitted or scored on;
        set by the caller that knows the rows (None when unknown).
    """

    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    n_pruned: int
    n_complete: int
    trees_fitted: int
    trials: pd.DataFrame
    study_name: str
    trial_returns: pd.DataFrame
    pareto: pd.DataFrame
    fit_span: tuple[pd.Timestamp, pd.Timestamp] | None = None


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines, restoring the caller's verbosity afterwards."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _storage(storage: str | optuna.storages.BaseStorage | None) -> Any:
    if isinstance(storage, str) and storage.startswith("sqlite"):
        # concurrent writers (another model's study in the same file) wait instead of failing
        return optuna.storages.RDBStorage(
            storage, engine_kwargs={"connect_args": {"timeout": 30}}
        )
    return storage


def _window(
    X: pd.DataFrame, y: pd.Series, t1: pd.Series, ret: pd.Series | None, max_rows: int | None
) -> tuple[pd.DataFrame, np.ndarray, pd.Series, np.ndarray | None]:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a pandas DataFrame, got {type(X).__name__}")
    for name, obj in (("y", y), ("t1", t1), ("ret", ret)):
        if obj is None and name == "ret":
            continue
        if not isinstance(obj, pd.Series) or not obj.index.equals(X.index):
            raise ValueError(f"`{name}` must be a pandas Series on the same index as `X`")
    if max_rows is not None and len(X) > max_rows:
        X, y, t1 = X.iloc[-max_rows:], y.iloc[-max_rows:], t1.iloc[-max_rows:]
        ret = None if ret is None else ret.iloc[-max_rows:]
    if y.isna().any():
        raise ValueError(f"`y` must not contain NaN, got {int(y.isna().sum())} missing values")
    ret_arr = None if ret is None else ret.to_numpy(dtype=float)
    if ret_arr is not None and not np.isfinite(ret_arr).all():
        first = int(np.flatnonzero(~np.isfinite(ret_arr))[0])
        raise ValueError(f"`ret` must be finite, got {ret_arr[first]} at {ret.index[first]}")
    return X, y.to_numpy(), t1, ret_arr


def _check_target(spec: ForestSpec, y: np.ndarray) -> None:
    values = np.unique(y)
    if spec.kind == "classifier" and values.size < 2:
        raise ValueError(
            f"`y` must hold at least two classes to tune a classifier, got the single class "
            f"{values.tolist()} in {y.size} rows"
        )
    if spec.kind == "regressor" and values.size < 2:
        raise ValueError(f"`y` is constant ({values.tolist()}); R² is undefined, nothing to tune")


def tune_forest(
    spec: ForestSpec,
    X: pd.DataFrame,
    y: pd.Series,
    t1: pd.Series,
    *,
    tuning: TuningConfig,
    purge: timedelta,
    embargo: timedelta,
    seed: int,
    study_name: str,
    storage: str | optuna.storages.BaseStorage | None = None,
    progress: Callable[[int, int], None] | None = None,
    ret: pd.Series | None = None,
    trade_rule: str | None = None,
    cost_bps: float = 0.0,
    events_per_year: float | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    sampler_seed: int | None = None,
) -> TuningResult:
    """Tune a forest's shape by purged CV; Hyperband prunes on the number of trees grown.

    One Optuna study (``study_name``, ``TPESampler(seed=seed)``, maximise) with
    ``HyperbandPruner(min_resource=1, max_resource=spec.n_estimators // tuning.tree_step,
    reduction_factor=tuning.reduction_factor)``. Each trial samples ``max_depth``,
    ``min_samples_split``, ``min_samples_leaf`` and ``max_features`` around the spec, then grows one
    warm-started forest per :class:`~ml_core.validation.PurgedKFold` fold (``tuning.cv_folds``
    folds, ``purge``/``embargo``) ``tuning.tree_step`` trees at a time, reporting the mean fold
    score (ROC AUC for classifiers, balanced accuracy on single-class folds; R² for regressors)
    after each step. A new study first tries the spec's own values (trial 0, first in its Hyperband
    bracket, so never pruned): the best trial scores at least as well as the spec in CV.

    ``tuning.n_trials`` is the number of finished trials the study should hold: with a persistent
    ``storage`` an interrupted study resumes (``load_if_exists=True``) and runs only the missing
    trials; a second call with a larger ``n_trials`` adds trials to the same study.

    Parameters
    ----------
    spec : ForestSpec
        The forest to tune; its ``kind`` decides classifier vs regressor and score.
    X : pandas.DataFrame of shape (n_events, n_features)
        Features indexed by event start time (sorted ``DatetimeIndex``).
    y : pandas.Series of shape (n_events,)
        Target on ``X.index``.
    t1 : pandas.Series of datetime64, shape (n_events,)
        Label end times on ``X.index``, for purging.
    tuning : TuningConfig
        ``n_trials``, ``tree_step``, ``reduction_factor``, ``cv_folds``, ``timeout_seconds`` and
        ``max_rows`` (the most recent rows used). ``tuning.storage``/``enabled`` are the caller's.
    purge, embargo : timedelta
        As in :class:`~ml_core.validation.PurgedKFold`.
    seed : int
        Sampler seed and every forest's ``random_state``.
    study_name : str
        Fixed name, so the same call finds the same study in ``storage``.
    storage : str or optuna.storages.BaseStorage, optional
        Optuna storage (URL or object); None keeps the study in memory.
    progress : callable, optional
        ``progress(finished, n_trials)`` after every finished trial, for long studies.
    ret : pandas.Series, optional
        Realised long return of each event (on ``X.index``); with ``trade_rule`` every complete
        trial records the returns of trading its out-of-fold predictions
        (``TuningResult.trial_returns``, the matrix for the probability of backtest overfitting).
    trade_rule : str, optional
        How the model's prediction becomes a position: a key of
        :data:`~ml_core.tuning.TRADE_RULES` (the model's name).
    cost_bps : float, default 0
        Trading cost charged in those returns, in basis points on entry and exit.
    events_per_year : float, optional
        Annualises the trials' Sharpe ratios (None: per event).
    pruner : optuna.pruners.BasePruner, optional
        Replaces the Hyperband pruner of a NEW study (e.g. ``NopPruner()`` for the unpruned arm
        of the benchmark); None uses Hyperband as described above.
    sampler_seed : int, optional
        Seed of the TPE sampler (None: ``seed``). Workers sharing a study pass different seeds so
        they do not repeat each other's random start-up trials; the forests keep ``seed``.

    Returns
    -------
    TuningResult

    Raises
    ------
    ValueError
        ``y`` with one class (classifier) or constant (regressor), misaligned inputs,
        ``tuning.tree_step > spec.n_estimators``, or folds left without training data.
    """
    n_steps = spec.n_estimators // tuning.tree_step
    if n_steps < 1:
        raise ValueError(
            f"`tuning.tree_step={tuning.tree_step}` must not exceed "
            f"`spec.n_estimators={spec.n_estimators}` (the Hyperband resource is "
            "n_estimators // tree_step steps)"
        )
    if trade_rule is not None and trade_rule not in TRADE_RULES:
        raise ValueError(
            f"`trade_rule` must be one of {sorted(TRADE_RULES)}, got `trade_rule={trade_rule!r}`"
        )
    if trade_rule is not None and ret is None:
        raise ValueError(f"`trade_rule={trade_rule!r}` needs the events' returns `ret`")
    X, y_arr, t1, ret_arr = _window(X, y, t1, ret, tuning.max_rows)
    _check_target(spec, y_arr)
    folds = list(
        PurgedKFold(n_splits=tuning.cv_folds, purge=purge, embargo=embargo).split(X, t1=t1)
    )
    objective = ForestObjective(
        spec, X, y_arr, folds, tree_step=tuning.tree_step, n_steps=n_steps, seed=seed,
        space=tuning.forest_space, weights=tuning.objective_weights, ret=ret_arr,
        rule=trade_rule, cost_bps=cost_bps, events_per_year=events_per_year,
    )
    with _quiet_optuna():
        study = optuna.create_study(
            study_name=study_name,
            storage=_storage(storage),
            sampler=_sampler(seed if sampler_seed is None else sampler_seed),
            pruner=pruner or optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=n_steps, reduction_factor=tuning.reduction_factor
            ),
            direction="maximize",
            load_if_exists=True,
        )
        if not study.trials:
            # skip_if_exists: a second worker starting on the same new study does not add it twice
            study.enqueue_trial(spec_params(spec, tuning.forest_space), skip_if_exists=True)
            study.set_user_attr("score", "roc_auc" if spec.kind == "classifier" else "r2")
        done = len(study.get_trials(deepcopy=False, states=_FINISHED))
        if tuning.n_trials > done:
            # every worker stops once the STUDY holds n_trials finished trials, whoever ran them
            callbacks: list[Callable[..., None]] = [
                optuna.study.MaxTrialsCallback(tuning.n_trials, states=_FINISHED)]
            if progress is not None:
                callbacks.append(lambda study, _trial: progress(
                    len(study.get_trials(deepcopy=False, states=_FINISHED)), tuning.n_trials))
            study.optimize(
                _WorkerTagged(objective), n_trials=tuning.n_trials - done,
                timeout=tuning.timeout_seconds, callbacks=callbacks,
            )
    tested = X.index[np.concatenate([test for _, test in folds])]
    return _result(study, tested)


def _sampler(seed: int) -> optuna.samplers.TPESampler:
    """TPE with the constant liar: a trial still running elsewhere counts as a poor result, so
    parallel workers spread out instead of sampling next to each other (no effect on a
    single-process study, which never samples while a trial runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


class _WorkerTagged:
    """The objective, recording which process ran each trial (``worker`` user attribute), so a
    study tuned by several workers shows who contributed what."""

    def __init__(self, objective: Callable[[optuna.Trial], float]) -> None:
        self.objective = objective
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", self.worker)
        return self.objective(trial)


def _trial_returns(trials: list[optuna.trial.FrozenTrial], index: pd.Index) -> pd.DataFrame:
    columns = {}
    for t in trials:
        text = t.user_attrs.get("oos_returns")
        if t.state == optuna.trial.TrialState.COMPLETE and text is not None:
            values = decode_returns(text)
            if values.size == len(index):  # a study resumed on other rows cannot be mixed in
                columns[t.number] = values
    frame = pd.DataFrame(columns, index=index)
    frame.columns.name = "trial"
    return frame.sort_index()


def _result(study: optuna.Study, tested: pd.Index) -> TuningResult:
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    n_complete = states.count(optuna.trial.TrialState.COMPLETE)
    if n_complete == 0:
        raise RuntimeError(
            f"study {study.study_name!r} has no complete trial ({len(trials)} trials, all pruned "
            "or failed); raise `tuning.n_trials` or `tuning.timeout_seconds`"
        )
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs"))
    frame = frame.drop(columns=["user_attrs_oos_returns"], errors="ignore")
    best = dict(study.best_params)
    if best.get("bootstrap") is False or best.get("max_samples") == 1.0:
        best["max_samples"] = None  # not sampled without bootstrap; 1.0 draws every row anyway
    return TuningResult(
        best_params=best,
        best_value=float(study.best_value),
        n_trials=sum(state in _FINISHED for state in states),
        n_pruned=states.count(optuna.trial.TrialState.PRUNED),
        n_complete=n_complete,
        trees_fitted=int(sum(t.user_attrs.get("trees_fitted", 0) for t in trials)),
        trials=frame,
        study_name=study.study_name,
        trial_returns=_trial_returns(trials, tested),
        pareto=_pareto(trials),
    )


def _pareto(trials: list[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    rows = [{"number": t.number, "value": t.value,
             **{k: t.user_attrs[k] for k in ("accuracy", "sharpe", "max_drawdown")
                if k in t.user_attrs}}
            for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    frame = pd.DataFrame(rows).set_index("number")
    measured = frame.dropna(axis=1, how="all").drop(columns="value")
    frame["pareto"] = pareto_front(measured) if measured.shape[1] else True
    return frame
