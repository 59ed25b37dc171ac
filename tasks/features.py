"""Tasks that build the causal features and fit the regime model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from tasks.registry import Tracker


@task(name="choose-feature-settings", cache_policy=NO_CACHE)
def choose_feature_settings(bars: pd.DataFrame, config: Config, tracker: Tracker,
                            run_id: str) -> Config:
    """The profile with its data-dependent feature settings fitted on the training bars.

    With ``features.frac_diff_auto`` the fracdiff order becomes the smallest ``d`` whose
    fixed-window differenced log close passes an ADF test (AFML 5.6). Leakage note: like the
    HMM, this label-free choice sees the whole training span, CPCV test groups included; the
    fitted model keeps ``d`` and applies it unchanged to new bars.
    """
    features = config.features
    if not features.frac_diff_auto:
        return config
    from ml_core.features import min_frac_diff_order

    choice = min_frac_diff_order(np.log(bars["close"].to_numpy()), features.frac_diff_window,
                                 alpha=features.frac_diff_adf_alpha)
    d = float(choice.d) if choice.passed else float(features.frac_diff_d)
    tracker.log_params(run_id, {"features.frac_diff_d_chosen": d})
    tracker.log_metrics(run_id, {"frac_diff_d": d, "frac_diff_adf_stat": choice.statistic,
                                 "frac_diff_adf_pvalue": choice.pvalue})
    tracker.log_table(run_id, choice.table, "frac_diff_adf.csv")
    verdict = "passes" if choice.passed else "no order passed; keeping the configured"
    get_run_logger().info("fracdiff order d=%.2f (%s ADF at alpha=%.2f, stat %.2f)", d, verdict,
                          features.frac_diff_adf_alpha, choice.statistic)
    return config.model_copy(update={"features": features.model_copy(update={"frac_diff_d": d})})


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
