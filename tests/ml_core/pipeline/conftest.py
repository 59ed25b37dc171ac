"""The small pipeline the pipeline tests fit on the bundled sample: its profile, HMM, training
set and ensemble, each built the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from ml_core.config import Config, ForestSpec
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.labeling import triple_barrier_events
from ml_core.pipeline import RegimeForestPipeline, TrainingSet, assemble_training_set
from ml_core.regime import RegimeHMM


@pytest.fixture(scope="session")
def unit_config() -> Config:
    return Config.model_validate({
        "profile": "unit",
        "features": {"higher_timeframes": ["1h", "4h"], "frac_diff_window": 50,
                     "volatility_window": 24},
        "regime": {"n_restarts": 2, "n_iter": 200},
        "labels": {"volatility_span": 50, "max_holding_bars": 24, "cusum_threshold": 1.5},
    })


@pytest.fixture(scope="session")
def unit_training(unit_config: Config
                  ) -> Callable[[pd.DataFrame], tuple[RegimeHMM, TrainingSet]]:
    """``train(bars)``: the HMM fitted on ``bars`` (seed 3) and the training set of ``bars``."""

    def train(bars: pd.DataFrame) -> tuple[RegimeHMM, TrainingSet]:
        regime = RegimeHMM.from_config(unit_config.regime, unit_config.data.timeframe, 3).fit(bars)
        features = RegimeForestPipeline(config=unit_config, regime=regime).features(bars)
        dataset = assemble_training_set(features, triple_barrier_events(bars, unit_config.labels),
                                        unit_config.labels)
        return regime, dataset

    return train


@pytest.fixture(scope="session")
def unit_ensemble() -> Callable[..., RegimeForestEnsemble]:
    """``fit(dataset, **params)``: four 8-tree forests of depth 5, 3 meta folds, seed 3."""

    def fit(dataset: TrainingSet, **params: object) -> RegimeForestEnsemble:
        small = {name: ForestSpec(kind=kind, n_estimators=8, max_depth=5)
                 for name, kind in (("entry", "classifier"), ("position", "regressor"),
                                    ("exit", "classifier"), ("profit", "regressor"))}
        ensemble = RegimeForestEnsemble(**small, meta_folds=3, random_state=3, **params)
        return ensemble.fit(dataset.X, dataset.targets, dataset.t1)

    return fit
