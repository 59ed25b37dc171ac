"""Tune the pipeline around the forests with Optuna: barrier width, feature selection thresholds
and the meta-learner's regularisation, scored by purged CV of the whole ensemble.

Unlike :func:`~ml_core.tuning.tune_forest`, a trial here changes the data (the barrier width
relabels every event) and fits the complete :class:`~ml_core.ensemble.RegimeForestEnsemble`
(selection, four forests, stacking), so the Hyperband resource is the number of purged folds
evaluated rather than trees grown.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import ValidationError
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from ml_core._search_space import PIPELINE_PARAMS, ParamRange
from ml_core.config import Config, ConfigError
from ml_core.ensemble import MODEL_NAMES, RegimeForestEnsemble
from ml_core.evaluation import trade_returns
from ml_core.metrics import max_drawdown, sharpe_ratio
from ml_core.pipeline import TrainingSet
from ml_core.tuning._objective import scalarise
from ml_core.tuning._space import suggest
from ml_core.tuning._trial_returns import decode_returns, encode_returns
from ml_core.tuning._tune import (
    _FINISHED,
    TuningResult,
    _quiet_optuna,
    _result,
    _storage,
    _WorkerTagged,
)
from ml_core.validation import PurgedKFold

__all__ = ["apply_pipeline_params", "pipeline_params", "tune_pipeline"]

_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "barrier_width": (("labels", "take_profit"), ("labels", "stop_loss")),
    "corr_threshold": (("features", "selection", "corr_threshold"),),
    "importance_threshold": (("features", "selection", "importance_threshold"),),
    "meta_C": (("ensemble", "meta_C"),),
}
"""The Config fields each pipeline parameter sets (``PIPELINE_PARAMS`` order)."""

_SELECTION_PARAMS = ("corr_threshold", "importance_threshold")


def apply_pipeline_params(config: Config, params: Mapping[str, Any]) -> Config:
    """A new, validated ``Config`` with the pipeline parameters in ``params`` applied.

    - ``barrier_width`` sets ``labels.take_profit`` and ``labels.stop_loss`` (symmetric barriers);
    - ``corr_threshold`` / ``importance_threshold`` set ``features.selection.<name>``;
    - ``meta_C`` sets ``ensemble.meta_C``.

    Keys that are absent leave their fields as in ``config``; every other field is unchanged.
    The whole profile is re-validated (sections are frozen pydantic models), so an invalid value
    fails here, not inside a trial's fit.

    Raises
    ------
    ConfigError
        A key that is not one of ``PIPELINE_PARAMS``, or a value its field rejects; the message
        names the parameter, its value and the field.

    Examples
    --------
    >>> tuned = apply_pipeline_params(Config(profile="demo"), {"barrier_width": 1.5})
    >>> (tuned.labels.take_profit, tuned.labels.stop_loss)
    (1.5, 1.5)
    """
    unknown = sorted(set(params) - set(PIPELINE_PARAMS))
    if unknown:
        raise ConfigError(f"`params` holds {unknown}, which are not pipeline parameters; choose "
                          f"from {PIPELINE_PARAMS}")
    data = config.model_dump()
    for name, value in params.items():
        for path in _FIELDS[name]:
            section = data
            for key in path[:-1]:
                section = section[key]
            section[path[-1]] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        name = next((n for n, paths in _FIELDS.items() if n in params
                     and tuple(err["loc"]) in paths), None)
        what = f"`{name}={params[name]!r}`" if name else "the pipeline parameters"
        raise ConfigError(f"{what} is invalid for {field}: {err['msg']}") from None


def pipeline_params(config: Config) -> dict[str, Any]:
    """The profile's own value of every pipeline parameter (``barrier_width`` only when
    ``labels.take_profit == labels.stop_loss``: otherwise the profile is not a point of it)."""
    own = {
        "corr_threshold": config.features.selection.corr_threshold,
        "importance_threshold": config.features.selection.importance_threshold,
        "meta_C": config.ensemble.meta_C,
    }
    if config.labels.take_profit == config.labels.stop_loss:
        own["barrier_width"] = config.labels.take_profit
    return {name: own[name] for name in PIPELINE_PARAMS if name in own}


def _widened(name: str, rng: ParamRange, own: Any) -> ParamRange:
    """``rng`` extended to contain the profile's value ``own`` (so the profile can be trial 0 and
    the best trial never scores below it in CV): choices get it appended, bounds move to it, and
    a step it is off is dropped (the range is then searched continuously)."""
    if rng.type == "categorical":
        choices = list(rng.choices or [])
        return rng if own in choices else rng.model_copy(update={"choices": [*choices, own]})
    if rng.log and own <= 0:
        raise ValueError(f"`tuning.pipeline_space.{name}` is a log range, which cannot hold the "
                         f"profile's value {name}={own!r}; use a linear range")
    low, high = min(rng.low, own), max(rng.high, own)
    step = rng.step
    if step and not all(float((v - low) / step).is_integer() for v in (own, high)):
        step = None
    return rng.model_copy(update={"low": low, "high": high, "step": step})


def _space(config: Config) -> dict[str, ParamRange]:
    """The searched parameters, in ``PIPELINE_PARAMS`` order, each containing the profile's
    value; the selection thresholds only when selection is enabled (else they change nothing)."""
    tuning = config.tuning
    if tuning.pipeline_trials == 0:
        raise ValueError("`tuning.pipeline_trials=0` means no pipeline tuning; skip the call "
                         "instead")
    space = {name: rng for name, rng in tuning.pipeline_space.items()
             if config.features.selection.enabled or name not in _SELECTION_PARAMS}
    if not space:
        raise ValueError(
            f"`tuning.pipeline_space` has nothing to search (got {sorted(tuning.pipeline_space)}"
            f", with features.selection.enabled={config.features.selection.enabled}); skip the "
            "call instead"
        )
    own = pipeline_params(config)
    if "barrier_width" in space and "barrier_width" not in own:
        raise ValueError(
            "`tuning.pipeline_space.barrier_width` sets take_profit = stop_loss, but the profile's "
            f"barriers differ (labels.take_profit={config.labels.take_profit}, "
            f"labels.stop_loss={config.labels.stop_loss}); make them equal or drop barrier_width "
            "from the space"
        )
    return {name: _widened(name, space[name], own[name]) for name in PIPELINE_PARAMS
            if name in space}


def _encode_times(index: pd.DatetimeIndex) -> str:
    """Event starts as base64 int64 nanoseconds since the epoch, UTC (naive times taken as UTC)."""
    utc = (index.tz_convert("UTC") if index.tz is not None else index).as_unit("ns")
    return base64.b64encode(np.asarray(utc.asi8, dtype="<i8").tobytes()).decode("ascii")


def _decode_times(text: str) -> pd.DatetimeIndex:
    ns = np.frombuffer(base64.b64decode(text), dtype="<i8")
    return pd.DatetimeIndex(pd.to_datetime(ns, utc=True), name="t0")


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of ``p`` against ``y``; balanced accuracy of ``p >= 0.5`` when ``y`` has one class
    (AUC undefined), as :func:`~ml_core.tuning._objective.fold_score` does."""
    if np.unique(y).size < 2:
        return float(balanced_accuracy_score(y, (p >= 0.5).astype(int)))
    return float(roc_auc_score(y, p))


@dataclasses.dataclass(frozen=True)
class _Window:
    """The most recent ``max_rows`` events of one labelled dataset."""

    X: pd.DataFrame
    targets: pd.DataFrame
    events: pd.DataFrame

    @classmethod
    def of(cls, dataset: TrainingSet, max_rows: int | None) -> _Window:
        rows = slice(-max_rows, None) if max_rows else slice(None)
        return cls(dataset.X.iloc[rows], dataset.targets.iloc[rows], dataset.events.iloc[rows])


class _PipelineObjective:
    """Callable Optuna objective; the resource (Hyperband step) is one purged fold.

    A trial samples the pipeline space, applies it to the profile, labels the events with the
    trial's barrier width (``make_dataset``, cached per width) and, fold by fold, fits a fresh
    ensemble on the fold's purged training rows and predicts its test rows. After fold ``k`` it
    reports the scalarised accuracy (ROC AUC of ``p_long`` against ``entry``), Sharpe and drawdown
    of the trade returns over the ``k`` test folds done so far, on which Hyperband may prune
    (before the last fold only: a trial that has fitted every fold completes).
    """

    def __init__(
        self,
        config: Config,
        make_dataset: Callable[[Config], TrainingSet],
        space: Mapping[str, ParamRange],
        events_per_year: float | None,
    ) -> None:
        self.config = config
        self.make_dataset = make_dataset
        self.space = space
        self.events_per_year = events_per_year
        self.windows: dict[tuple[float, float], _Window] = {}

    def _window(self, trial_config: Config) -> _Window:
        """Only the barriers change the labels: one dataset per (take_profit, stop_loss) within
        this call, so ``make_dataset`` runs once per distinct barrier width."""
        key = (trial_config.labels.take_profit, trial_config.labels.stop_loss)
        if key not in self.windows:
            self.windows[key] = _Window.of(self.make_dataset(trial_config),
                                           self.config.tuning.max_rows)
        return self.windows[key]

    def _parts(self, y: np.ndarray, p: np.ndarray, r: np.ndarray) -> dict[str, float]:
        parts = {"accuracy": _auc(y, p)}
        if r.size >= 2:
            parts["sharpe"] = sharpe_ratio(r, self.events_per_year or 1.0)
            parts["max_drawdown"] = max_drawdown(np.maximum(r, -1.0))
        return parts

    def __call__(self, trial: optuna.Trial) -> float:
        config = self.config
        params = {name: suggest(trial, name, rng) for name, rng in self.space.items()}
        trial_config = apply_pipeline_params(config, params)
        data = self._window(trial_config)
        t1 = data.events["t1"]
        v = trial_config.validation
        # a fold without training rows raises here, before anything is fitted
        folds = list(PurgedKFold(config.tuning.cv_folds, purge=v.purge, embargo=v.embargo)
                     .split(data.X, t1=t1))
        ens = trial_config.ensemble
        trees_per_fit = (ens.meta_folds + 1) * sum(getattr(ens, m).n_estimators
                                                   for m in MODEL_NAMES)
        entry = data.targets["entry"].to_numpy()
        p_long = np.full(len(data.X), np.nan)
        returns = np.full(len(data.X), np.nan)
        scores: list[float] = []
        fits = 0
        try:
            for k, (train, test) in enumerate(folds, start=1):
                model = RegimeForestEnsemble.from_config(
                    ens, v, config.seed, selection=trial_config.features.selection,
                    labels=trial_config.labels)
                # LEAKAGE GUARD: the ensemble (selector, forests, meta-learner) sees only the
                # purged training rows of this fold; the test rows are predicted, never fitted
                model.fit(data.X.iloc[train], data.targets.iloc[train], t1.iloc[train])
                fits += 1
                X_test = data.X.iloc[test]
                p_long[test] = model.predict_proba(X_test)[:, list(model.classes_).index(1)]
                returns[test] = trade_returns(model.predict(X_test), data.events.iloc[test],
                                              cost_bps=v.transaction_cost_bps).to_numpy()
                scores.append(_auc(entry[test], p_long[test]))
                done = np.isfinite(p_long)  # test folds are contiguous: in event order
                parts = self._parts(entry[done], p_long[done], returns[done])
                value = scalarise(parts, config.tuning.objective_weights)
                trial.report(value, k)
                # after the last fold the compute is spent: complete the trial, never prune it
                if k < len(folds) and trial.should_prune():
                    raise optuna.TrialPruned()
        finally:
            trial.set_user_attr("ensemble_fits", fits)
            trial.set_user_attr("trees_fitted", fits * trees_per_fit)
        for key, part in parts.items():
            trial.set_user_attr(key, part)
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("n_events", int(done.sum()))
        trial.set_user_attr("oos_returns", encode_returns(returns[done]))
        trial.set_user_attr("oos_t0", _encode_times(data.X.index[done]))
        return value


def tune_pipeline(
    config: Config,
    make_dataset: Callable[[Config], TrainingSet],
    *,
    study_name: str,
    storage: str | optuna.storages.BaseStorage | None = None,
    progress: Callable[[int, int], None] | None = None,
    events_per_year: float | None = None,
) -> TuningResult:
    """Tune barrier width, selection thresholds and ``meta_C`` by purged CV of the whole ensemble.

    One Optuna study (``study_name``, ``TPESampler(seed=config.seed)``, maximise) with
    ``HyperbandPruner(min_resource=1, max_resource=tuning.cv_folds,
    reduction_factor=tuning.reduction_factor)``: the resource is the number of purged folds
    evaluated. Each trial

    1. samples ``tuning.pipeline_space`` (each range widened to contain the profile's own value;
       the selection thresholds only when ``features.selection.enabled``) and applies it
       (:func:`apply_pipeline_params`);
    2. labels the events with ``make_dataset(trial_config)`` (cached per barrier width within
       this call) and keeps the most recent ``tuning.max_rows`` events;
    3. for each of the ``tuning.cv_folds`` :class:`~ml_core.validation.PurgedKFold` folds
       (``validation.purge``/``embargo``) fits a fresh ensemble
       (``RegimeForestEnsemble.from_config``, the trial's selection and ``meta_C``, seed
       ``config.seed``) on the fold's training rows, predicts its test rows, and reports
       :func:`~ml_core.tuning._objective.scalarise` (``tuning.objective_weights``) of

       - ``accuracy``: ROC AUC of ``predict_proba``'s P(take-profit first) against
         ``targets['entry']`` over the test rows done so far (balanced accuracy when they hold a
         single class);
       - ``sharpe``: annualised Sharpe of :func:`~ml_core.evaluation.trade_returns` of
         ``predict`` on those rows (``validation.transaction_cost_bps``);
       - ``max_drawdown`` of those returns.

    Hyperband may stop a trial after any fold but the last (a trial that fitted every fold is
    kept). A new study first tries the profile's own values (trial 0, never pruned), so the best
    trial scores at least as well as the profile in this CV. ``tuning.pipeline_trials`` is the
    number of finished trials the study should hold: with a persistent ``storage`` a rerun
    resumes (``load_if_exists=True``) and runs only the missing trials;
    ``tuning.timeout_seconds`` bounds the call.

    Parameters
    ----------
    config : Config
        The profile; ``tuning`` and ``validation`` drive the search as above. Its
        ``labels.take_profit`` must equal ``labels.stop_loss`` when ``barrier_width`` is searched.
    make_dataset : callable
        ``make_dataset(config) -> TrainingSet``: features and triple-barrier targets under
        ``config.labels``. It must depend on the config only through ``labels``: one dataset is
        reused for every trial with the same barrier width.
    study_name : str
        Fixed name, so the same call finds the same study in ``storage``.
    storage : str or optuna.storages.BaseStorage, optional
        Optuna storage (URL or object); None keeps the study in memory.
    progress : callable, optional
        ``progress(finished, pipeline_trials)`` after every finished trial.
    events_per_year : float, optional
        Annualises the Sharpe ratios (None: per event).

    Returns
    -------
    TuningResult
        ``best_params``: the pipeline parameters (apply with :func:`apply_pipeline_params`);
        ``trees_fitted``: trees of the four forests grown over all ensemble fits (every fit grows
        each forest ``meta_folds + 1`` times; the selector's ranking trees are not counted),
        beside the ``ensemble_fits`` trial attribute; ``trial_returns``: each complete trial's
        out-of-fold trade returns on the event starts (UTC) that every such trial tested (barrier
        widths can drop a few events at the end of the data); ``pareto`` as for forests.

    Raises
    ------
    ValueError
        ``tuning.pipeline_trials == 0`` or nothing to search (the caller should skip instead),
        asymmetric barriers with ``barrier_width`` searched; from a trial: folds left without
        training rows (the splitter's error) or a fold the ensemble cannot fit.
    RuntimeError
        No trial completed (all pruned, or the timeout came first).
    """
    space = _space(config)
    tuning = config.tuning
    objective = _PipelineObjective(config, make_dataset, space, events_per_year)
    with _quiet_optuna():
        study = optuna.create_study(
            study_name=study_name,
            storage=_storage(storage),
            sampler=optuna.samplers.TPESampler(seed=config.seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=tuning.cv_folds,
                reduction_factor=tuning.reduction_factor,
            ),
            direction="maximize",
            load_if_exists=True,
        )
        if not study.trials:
            own = pipeline_params(config)
            study.enqueue_trial({name: own[name] for name in space}, skip_if_exists=True)
            study.set_user_attr("score", "roc_auc")
        done = len(study.get_trials(deepcopy=False, states=_FINISHED))
        if tuning.pipeline_trials > done:
            callbacks: list[Callable[..., None]] = [
                optuna.study.MaxTrialsCallback(tuning.pipeline_trials, states=_FINISHED)]
            if progress is not None:
                callbacks.append(lambda study, _trial: progress(
                    len(study.get_trials(deepcopy=False, states=_FINISHED)),
                    tuning.pipeline_trials))
            study.optimize(
                _WorkerTagged(objective), n_trials=tuning.pipeline_trials - done,
                timeout=tuning.timeout_seconds, callbacks=callbacks,
            )
    trials = study.get_trials(deepcopy=False)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        raise RuntimeError(
            f"study {study_name!r} has no complete trial ({len(trials)} trials, all pruned or "
            "failed); raise `tuning.pipeline_trials` or `tuning.timeout_seconds`"
        )
    result = _result(study, pd.Index([]))  # returns re-aligned below: rows differ per trial
    return dataclasses.replace(
        result,
        trials=result.trials.drop(columns=["user_attrs_oos_t0"], errors="ignore"),
        trial_returns=_aligned_returns(trials),
    )


def _aligned_returns(trials: list[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    """The PBO matrix: one column per complete trial, on the event starts all of them tested.

    Trials with different barrier widths label slightly different events (an event still open
    when the data ends is dropped), so columns are joined on ``t0`` and only common rows kept.
    """
    columns = {}
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE or "oos_t0" not in t.user_attrs:
            continue
        columns[t.number] = pd.Series(decode_returns(t.user_attrs["oos_returns"]),
                                      index=_decode_times(t.user_attrs["oos_t0"]))
    if not columns:
        frame = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="t0"))
    else:
        frame = pd.concat(columns, axis=1, join="inner")
    frame.columns.name = "trial"
    return frame.sort_index()
