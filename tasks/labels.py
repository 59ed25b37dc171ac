"""Tasks that label events with triple barriers, join them with the features and keep the final
holdout apart."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import TrainingSet, assemble_training_set, holdout_start, split_holdout


def label_events(bars: pd.DataFrame, features: pd.DataFrame, config: Config) -> TrainingSet:
    """Triple-barrier events (CUSUM-sampled when configured) with complete features."""
    return assemble_training_set(features, triple_barrier_events(bars, config.labels),
                                 config.labels)


def final_holdout_start(bars: pd.DataFrame, config: Config) -> pd.Timestamp | None:
    """First bar of the final holdout (``validation.holdout_span``/``holdout_fraction`` of the
    bars); None when the profile sets neither."""
    v = config.validation
    if v.holdout_span is None and v.holdout_fraction is None:
        return None
    return holdout_start(pd.DatetimeIndex(bars.index), span=v.holdout_span,
                         fraction=v.holdout_fraction)


def holdout_split(dataset: TrainingSet, config: Config,
                  cut: pd.Timestamp | None) -> tuple[TrainingSet, TrainingSet | None]:
    """``(development, holdout)`` at ``cut`` (events from ``cut`` on are the holdout's, and
    development labels end before ``cut - validation.purge``); with no cut, every event is
    development and the holdout is None."""
    if cut is None:
        return dataset, None
    return split_holdout(dataset, cut=cut, purge=config.validation.purge)


def development_set(bars: pd.DataFrame, features: pd.DataFrame, config: Config,
                    cut: pd.Timestamp | None) -> TrainingSet:
    """The events tuning may see: labelled, then without the final holdout."""
    return holdout_split(label_events(bars, features, config), config, cut)[0]


@task(name="cut-holdout", cache_policy=NO_CACHE)
def cut_final_holdout(bars: pd.DataFrame,
                      config: Config) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The bars every fit may read, and the first bar of the final holdout (None without one).

    The cut is made on the bars before anything is fitted, so feature settings, the HMM, the
    studies, selection, forests, meta-learner and calibrator never read a holdout bar; the
    holdout bars are only transformed with that fitted state, as the live path would.
    """
    cut = final_holdout_start(bars, config)
    logger = get_run_logger()
    if cut is None:
        logger.info("no final holdout (validation.holdout_span/holdout_fraction unset)")
        return bars, None
    development = bars[bars.index < cut]
    logger.info("final holdout: %d bars from %s kept out of every fit; %d development bars",
                len(bars) - len(development), cut, len(development))
    return development, cut


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
def split_final_holdout(dataset: TrainingSet, config: Config,
                        cut: pd.Timestamp | None) -> tuple[TrainingSet, TrainingSet | None]:
    """Keep the events from ``cut`` on out of tuning, selection, CV, the meta-learner and
    calibration; they are scored once, by the model trained on the rest."""
    development, holdout = holdout_split(dataset, config, cut)
    logger = get_run_logger()
    if holdout is None:
        logger.info("no final holdout: every event is development")
    else:
        logger.info("final holdout: %d events from %s; %d development events (%d purged "
                    "between them)", len(holdout.X), holdout.X.index[0], len(development.X),
                    len(dataset.X) - len(holdout.X) - len(development.X))
    return development, holdout
