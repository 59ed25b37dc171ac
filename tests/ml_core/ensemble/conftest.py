"""Synthetic events with a learnable signal, tiny forest specs, and real-sample events."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import ForestSpec
from ml_core.ensemble import RegimeForestEnsemble

CLF = ForestSpec(kind="classifier", n_estimators=10, max_depth=3)
REG = ForestSpec(kind="regressor", n_estimators=10, max_depth=3)
PURGE = timedelta(hours=3)
EMBARGO = timedelta(hours=3)


def synthetic_events(n: int = 600, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(X, targets, events)``: events every 3 h, labels resolving 1-9 h later (overlapping).

    The realised return is ``0.01 * (x0 + 0.8 * (bull - bear) + 0.7 * noise)``: ``x0`` and the
    regime probabilities carry the signal, ``x1``, ``x2`` are noise.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.date_range("2024-01-01", periods=n, freq="3h", tz="UTC", name="t0")
    t1 = pd.Series(t0 + pd.to_timedelta(rng.integers(1, 10, n), unit="h"), index=t0, name="t1")
    probs = rng.dirichlet([1.0, 1.0, 1.0], n)
    x = rng.normal(size=(n, 3))
    latent = x[:, 0] + 0.8 * (probs[:, 0] - probs[:, 1]) + 0.7 * rng.normal(size=n)
    ret = 0.01 * latent
    X = pd.DataFrame(
        {"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "regime_prob_bull": probs[:, 0],
         "regime_prob_bear": probs[:, 1], "regime_prob_sideways": probs[:, 2]},
        index=t0,
    )
    targets = pd.DataFrame(
        {"entry": (ret > 0).astype(np.int64), "position": np.clip(0.5 + latent / 4, 0.0, 1.0),
         "exit": (ret < 0).astype(np.int64), "profit": ret},
        index=t0,
    )
    events = pd.DataFrame({"t1": t1, "ret": ret}, index=t0)
    return X, targets, events


def tiny_ensemble(**overrides: object) -> RegimeForestEnsemble:
    params: dict[str, object] = dict(
        entry=CLF, position=REG, exit=CLF, profit=REG, meta_folds=3, purge=PURGE,
        embargo=EMBARGO, n_jobs=1, random_state=0,
    )
    params.update(overrides)
    return RegimeForestEnsemble(**params)


@pytest.fixture(scope="session")
def synthetic():
    return synthetic_events()


@pytest.fixture(scope="session")
def fitted(synthetic):
    X, targets, events = synthetic
    return tiny_ensemble().fit(X, targets, events["t1"])
