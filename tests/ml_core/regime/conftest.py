"""Fitted models on simulated regimes, shared by the regime tests (each fitted once)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import RegimeConfig
from ml_core.regime import RegimeHMM, fit_regime_model

from ml_core.regime._simulate import CRYPTO_LIKE, SEPARATED, Scenario, simulate

BASE = timedelta(minutes=30)
N_REGIME_BARS = 4000


def _fit(scenario: Scenario, seed: int) -> tuple[pd.DataFrame, np.ndarray, RegimeHMM, Scenario]:
    bars, states = simulate(scenario, N_REGIME_BARS, seed)
    model = fit_regime_model(bars, RegimeConfig(timeframe="1h", n_restarts=3), BASE,
                             random_state=0)
    return bars, states, model, scenario


@pytest.fixture(scope="session")
def separated() -> tuple[pd.DataFrame, np.ndarray, RegimeHMM, Scenario]:
    """4000 1h regime bars of :data:`SEPARATED`, their true states, the fitted model."""
    return _fit(SEPARATED, seed=42)


@pytest.fixture(scope="session")
def crypto_like() -> tuple[pd.DataFrame, np.ndarray, RegimeHMM, Scenario]:
    """4000 1h regime bars of :data:`CRYPTO_LIKE`, their true states, the fitted model."""
    return _fit(CRYPTO_LIKE, seed=0)
