"""Synthetic events with a learnable signal, a tiny-ensemble factory, and real-sample events."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import ForestSpec
from ml_core.data import load_sample_bars
from ml_core.ensemble import RegimeForestEnsemble


def _synthetic_events(n: int = 600, seed: int = 42):
    """``(X, targets, events)``: an event every 3 h, labels resolving 1-9 h later (overlapping).

    The realised return is ``0.01 * (x0 + 0.8 * (bull - bear) + 0.7 * noise)``: ``x0`` and the
    regime probabilities carry the signal, ``x1`` and ``x2`` are noise.
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
    return X, targets, pd.DataFrame({"t1": t1, "ret": ret}, index=t0)


def _tiny_ensemble(**overrides: object) -> RegimeForestEnsemble:
    """10 trees of depth 3 per forest, 3 meta folds, purge/embargo 3 h, seed 0, one core, no
    size caps (the profile's Kelly and CVaR caps are the defaults; tests of the caps set them)."""
    params: dict[str, object] = dict(
        entry=ForestSpec(kind="classifier", n_estimators=10, max_depth=3),
        position=ForestSpec(kind="regressor", n_estimators=10, max_depth=3),
        exit=ForestSpec(kind="classifier", n_estimators=10, max_depth=3),
        profit=ForestSpec(kind="regressor", n_estimators=10, max_depth=3),
        meta_folds=3, purge=timedelta(hours=3), embargo=timedelta(hours=3), n_jobs=1,
        kelly_fraction=None, cvar_budget=None, random_state=0,
    )
    params.update(overrides)
    return RegimeForestEnsemble(**params)


def _real_events(n_bars: int = 6000):
    """Triple-barrier CUSUM events on the first ``n_bars`` of the bundled BTC sample, with
    ``ml_core.labeling`` targets and simple causal features (bars up to ``t0`` only)."""
    from ml_core.config import LabelConfig
    from ml_core.labeling import make_targets, triple_barrier_events

    bars = load_sample_bars().iloc[:n_bars]
    config = LabelConfig(cusum_threshold=2.0, max_holding_bars=16, volatility_span=50)
    events = triple_barrier_events(bars, config)
    logret = np.log(bars["close"]).diff()
    feats = pd.DataFrame({
        "ret_1": logret, "ret_4": logret.rolling(4).sum(), "ret_16": logret.rolling(16).sum(),
        "vol_16": logret.rolling(16).std(), "range": (bars["high"] - bars["low"]) / bars["close"],
    })
    events = events.loc[feats.reindex(events.index).notna().all(axis=1)]
    return feats.reindex(events.index), make_targets(events, config), events


@pytest.fixture(scope="session")
def tiny():
    """Factory of small, seeded ensembles; keyword arguments override the defaults."""
    return _tiny_ensemble


@pytest.fixture(scope="session")
def make_synthetic():
    return _synthetic_events


@pytest.fixture(scope="session")
def synthetic():
    return _synthetic_events()


@pytest.fixture(scope="session")
def fitted(synthetic):
    X, targets, events = synthetic
    return _tiny_ensemble().fit(X, targets, events["t1"])


@pytest.fixture(scope="session")
def real_events():
    return _real_events()
