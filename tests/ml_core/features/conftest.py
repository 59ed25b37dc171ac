from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from ml_core.config import FeatureConfig
from ml_core.data import load_sample_bars
from ml_core.features import compute_features

THIRTY_MINUTES = timedelta(minutes=30)


@pytest.fixture(scope="session")
def sample_bars() -> pd.DataFrame:
    """The bundled 35,019-bar 30-minute BTC sample."""
    return load_sample_bars()


@pytest.fixture(scope="session")
def sample_features(sample_bars: pd.DataFrame) -> pd.DataFrame:
    """Features of the whole sample with the default configuration."""
    return compute_features(sample_bars, FeatureConfig(), THIRTY_MINUTES)
