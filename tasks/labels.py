"""Task that labels events with triple barriers and joins them with the features."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import TrainingSet, assemble_training_set


@task(name="make-labels", cache_policy=NO_CACHE)
def make_training_set(bars: pd.DataFrame, features: pd.DataFrame, config: Config) -> TrainingSet:
    """Triple-barrier events (CUSUM-sampled when configured) with complete features."""
    events = triple_barrier_events(bars, config.labels)
    dataset = assemble_training_set(features, events, config.labels)
    get_run_logger().info(
        "%d events labelled (%d dropped in feature warm-up); entry base rate %.3f",
        len(dataset.X), dataset.n_dropped_warmup, dataset.targets["entry"].mean(),
    )
    return dataset
