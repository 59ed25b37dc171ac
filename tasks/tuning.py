"""Task that tunes each forest with Optuna and Hyperband (trees grown as the resource)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config, EnsembleConfig, ForestSpec
from ml_core.pipeline import TrainingSet
from tasks.training import events_per_year

MODEL_NAMES = ("entry", "position", "exit", "profit")


def optuna_storage(config: Config) -> str | None:
    """``tuning.storage``, else an SQLite file beside a SQLite tracking store, else in memory."""
    if config.tuning.storage:
        return config.tuning.storage
    uri = config.registry.tracking_uri
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).parent / "optuna.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db}"
    return None


def study_name(config: Config, model: str, data_hash: str) -> str:
    """Fixed per (profile, config, data, model): a rerun resumes the same study."""
    key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:8]
    return f"{config.profile}-{model}-{data_hash[:10]}-{key}"


@task(name="tune", cache_policy=NO_CACHE)
def tune_models(dataset: TrainingSet, config: Config, data_hash: str) -> dict[str, object]:
    """One study per model; returns ``{model: TuningResult}`` (empty when tuning is disabled)."""
    from ml_core.tuning import tune_forest

    logger = get_run_logger()
    if not config.tuning.enabled:
        logger.info("tuning disabled: using the profile's forests as given")
        return {}
    storage = optuna_storage(config)
    X = tuning_features(dataset, config)
    if X.shape[1] < dataset.X.shape[1]:
        logger.info("tuning on the %d of %d features a selector keeps on the tuning window",
                    X.shape[1], dataset.X.shape[1])
    results: dict[str, object] = {}
    for name in MODEL_NAMES:
        # tune_forest keeps the most recent `tuning.max_rows` events when that is set
        result = tune_forest(
            getattr(config.ensemble, name), X, dataset.targets[name], dataset.t1,
            tuning=config.tuning, purge=config.validation.purge,
            embargo=config.validation.embargo, seed=config.seed,
            study_name=study_name(config, name, data_hash), storage=storage,
            progress=_every_tenth(logger, name),
            # every complete trial also records what its rule earned out of fold (PBO matrix)
            ret=dataset.events["ret"], trade_rule=name,
            cost_bps=config.validation.transaction_cost_bps,
            events_per_year=events_per_year(dataset),
        )
        logger.info("tuned %-8s best %.4f over %d trials (%d pruned, %d trees fitted)",
                    name, result.best_value, result.n_trials, result.n_pruned,
                    result.trees_fitted)
        results[name] = result
    return results


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
