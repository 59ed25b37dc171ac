"""Tasks that label events with triple barriers, join them with the features and keep the final
holdout apart."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import TrainingSet, assemble_training_set, split_holdout


def label_events(bars: pd.DataFrame, features: pd.DataFrame, config: Config) -> TrainingSet:
    """Triple-barrier events (CUSUM-sampled when configured) with complete features."""
    return assemble_training_set(features, triple_barrier_events(bars, config.labels),
                                 config.labels)


def holdout_split(dataset: TrainingSet, config: Config) -> tuple[TrainingSet, TrainingSet | None]:
    """``(development, holdout)`` by ``validation.holdout_span``/``holdout_fraction``; without
    either, every event is development and the holdout is None."""
    v = config.validation
    if v.holdout_span is None and v.holdout_fraction is None:
        return dataset, None
    return split_holdout(dataset, span=v.holdout_span, fraction=v.holdout_fraction,
                         purge=v.purge)


def development_set(bars: pd.DataFrame, features: pd.DataFrame, config: Config) -> TrainingSet:
    """The events tuning may see: labelled, then without the final holdout."""
    return holdout_split(label_events(bars, features, config), config)[0]


@task(name="make-labels", cache_policy=NO_CACHE)
def make_training_set(bars: pd.DataFrame, features: pd.DataFrame, config: Config) -> TrainingSet:
    """Triple-barrier events (CUSUM-sampled when configured) with complete features."""
    dataset = label_events(bars, features, config)
    get_run_logger().info(
        "%d events labelled (%d dropped in feature warm-up); entry base rate %.3f",
        len(dataset.X), dataset.n_dropped_warmup, dataset.targets["entry"].mean(),
    )
    return dataset


@task(name="split-holdout", cache_policy=NO_CACHE)
def split_final_holdout(dataset: TrainingSet,
                        config: Config) -> tuple[TrainingSet, TrainingSet | None]:
    """Keep the most recent events out of tuning, selection, CV, the meta-learner and
    calibration; they are scored once, by the model trained on the rest."""
    development, holdout = holdout_split(dataset, config)
    logger = get_run_logger()
    if holdout is None:
        logger.info("no final holdout (validation.holdout_span/holdout_fraction unset)")
    else:
        logger.info("final holdout: %d events from %s; %d development events (%d purged "
                    "between them)", len(holdout.X), holdout.X.index[0], len(development.X),
                    len(dataset.X) - len(holdout.X) - len(development.X))
    return development, holdout
