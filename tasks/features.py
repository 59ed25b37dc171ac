"""Tasks that build the causal features and fit the regime model."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config


@task(name="build-features", cache_policy=NO_CACHE)
def build_features(bars: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Causal technical/statistical features on the base bars and each higher timeframe."""
    from ml_core.features import compute_features

    features = compute_features(bars, config.features, config.data.timeframe)
    get_run_logger().info("built %d features on %d bars", features.shape[1], len(features))
    return features


@task(name="fit-regime", cache_policy=NO_CACHE)
def fit_regime(bars: pd.DataFrame, config: Config) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """Fit the 3-state HMM and compute its forward-filtered (causal) probabilities on every bar.

    Leakage note: the HMM's parameters are fitted on the whole training span, CPCV test groups
    included (unsupervised, label-free). The probabilities themselves are filtered, so no bar
    after ``t`` reaches the value at ``t``.

    Returns
    -------
    model : RegimeHMM
    regime_features : DataFrame on the base-bar index
    persistence : DataFrame per regime (p_stay, expected duration, occupancy)
    """
    from ml_core.regime import RegimeHMM, regime_persistence

    model = RegimeHMM.from_config(config.regime, config.data.timeframe, config.seed).fit(bars)
    regime_features = model.transform(bars)
    # run lengths in regime bars, the unit of the transition matrix
    states = model.filter_proba(bars).dropna().to_numpy().argmax(axis=1)
    persistence = regime_persistence(model.transmat_, states=states)
    get_run_logger().info("regime persistence (p_stay): %s",
                          persistence["p_stay"].round(3).to_dict())
    return model, regime_features, persistence
