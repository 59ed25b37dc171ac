"""Tasks that build the causal features and fit the regime model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from tasks._cache import cached
from tasks.registry import Tracker

if TYPE_CHECKING:
    from ml_core.regime import PersistenceReport


@task(name="choose-feature-settings", cache_policy=NO_CACHE)
def choose_feature_settings(bars: pd.DataFrame, config: Config, tracker: Tracker,
                            run_id: str) -> Config:
    """The profile with its data-dependent feature settings fitted on the training bars.

    With ``features.frac_diff_auto`` the fracdiff order becomes the smallest ``d`` whose
    fixed-window differenced log close passes an ADF test (AFML 5.6). Leakage note: pass the
    development bars only, never the final holdout's; like the HMM, this label-free choice sees
    the CPCV test groups among them. The fitted model keeps ``d`` and applies it unchanged to
    new bars.
    """
    features = config.features
    if not features.frac_diff_auto:
        return config
    from ml_core.features import min_frac_diff_order

    choice = min_frac_diff_order(np.log(bars["close"]), features.frac_diff_window,
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


@cached("fit-regime")
def fit_regime(fit_bars: pd.DataFrame, bars: pd.DataFrame,
               config: Config) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """Fit the 3-state HMM on ``fit_bars`` and compute its forward-filtered (causal)
    probabilities on every bar of ``bars``.

    Leakage note: ``fit_bars`` are the development bars, never the final holdout's; the HMM's
    parameters see the CPCV test groups among them (unsupervised, label-free). The
    probabilities are filtered, so no bar after ``t`` reaches the value at ``t``, and the
    holdout bars are transformed exactly as the live stream would transform them. Persistence
    is measured on ``fit_bars``. Cached on its inputs' content (:mod:`tasks._cache`).

    Returns
    -------
    model : RegimeHMM
    regime_features : DataFrame on the base-bar index
    persistence : DataFrame per regime (p_stay, expected duration, mean run length, runs,
        occupancy of the filtered argmax, in regime bars)
    """
    from ml_core.regime import analyze_regime_persistence, fit_regime_model

    model = fit_regime_model(fit_bars, config.regime, config.data.timeframe, config.seed)
    regime_features = model.transform(bars)
    persistence = analyze_regime_persistence(model, fit_bars).table
    get_run_logger().info("regime persistence (p_stay): %s",
                          persistence["p_stay"].round(3).to_dict())
    return model, regime_features, persistence


@dataclass(frozen=True)
class RegimeEvaluation:
    """How well the regime model holds up on the training span, beyond its own fit.

    ``out_of_sample``: persistence and next-state accuracy of an HMM fitted on the first
    ``train_share`` of the regime bars and scored on the rest (None if skipped); ``split`` the
    first base-bar time of the scored part. ``stability``: one row per weekly refit
    (:func:`ml_core.regime.weekly_label_stability`; None if skipped). ``skipped``: part -> why.
    """

    out_of_sample: PersistenceReport | None
    split: pd.Timestamp | None
    stability: pd.DataFrame | None
    stability_restarts: int
    skipped: dict[str, str] = field(default_factory=dict)


# 10 refits x 5 restarts take ~13 s on the demo profile (2 cores; the budget is ~30 s): enough
# for a mean and a minimum. Profiles with more restarts (production: 10) are capped at 5.
STABILITY_REFITS = 10
STABILITY_MAX_RESTARTS = 5
OOS_TRAIN_SHARE = 0.8


def regime_split(bars: pd.DataFrame, regime_timeframe: timedelta,
                 train_share: float = OOS_TRAIN_SHARE) -> pd.Timestamp:
    """The base-bar time at which the last ``1 - train_share`` of the regime bars starts.

    Aligned to a regime-bar boundary (``floor`` of the time to ``regime_timeframe``), so no
    regime bin straddles the split.
    """
    start = bars.index[0].floor(regime_timeframe)
    n_bins = int((bars.index[-1] - start) // regime_timeframe) + 1
    return start + int(np.floor(train_share * n_bins)) * pd.Timedelta(regime_timeframe)


@cached("evaluate-regime")
def evaluate_regime(bars: pd.DataFrame, config: Config) -> RegimeEvaluation:
    """Out-of-sample next-state accuracy and label stability across weekly refits.

    * Out of sample: an HMM fitted (``config.regime``, all its restarts) on the bars before
      :func:`regime_split` predicts each later regime bar from the previous one
      (``filtered_{t-1} @ A``); the baseline says "the next regime is the current one".
    * Stability: ``STABILITY_REFITS`` refits with training spans ending a week apart, each
      compared with the previous one on their shared history. They use at most
      ``STABILITY_MAX_RESTARTS`` EM restarts each, to bound the retrain's time.

    Each part is skipped, with the reason logged and returned, when the span is too short for it
    (or every restart is degenerate); the retrain goes on either way. Cached on its inputs'
    content (:mod:`tasks._cache`).
    """
    from ml_core.regime import (
        analyze_regime_persistence,
        fit_regime_model,
        weekly_label_stability,
    )

    logger = get_run_logger()
    skipped: dict[str, str] = {}
    out_of_sample, split = None, None
    split_at = regime_split(bars, config.regime.timeframe)
    try:
        train, test = bars[bars.index < split_at], bars[bars.index >= split_at]
        oos_model = fit_regime_model(train, config.regime, config.data.timeframe, config.seed)
        out_of_sample = analyze_regime_persistence(oos_model, train, test_bars=test)
        split = split_at
        logger.info("regime next-state accuracy out of sample (from %s): %.3f vs %.3f "
                    "persistence baseline on %d regime bars", split_at,
                    out_of_sample.next_state_accuracy, out_of_sample.next_state_baseline,
                    out_of_sample.n_predictions)
    except ValueError as exc:
        skipped["out_of_sample"] = str(exc)
        logger.warning("regime out-of-sample evaluation skipped: %s", exc)

    restarts = min(config.regime.n_restarts, STABILITY_MAX_RESTARTS)
    stability = None
    try:
        stability = weekly_label_stability(
            bars, config.regime.model_copy(update={"n_restarts": restarts}),
            config.data.timeframe, n_refits=STABILITY_REFITS, random_state=config.seed)
        agreement = stability["agreement"].dropna()
        logger.info("regime labels across %d weekly refits agree on %.3f of bars on average "
                    "(min %.3f)", len(stability), agreement.mean(), agreement.min())
    except ValueError as exc:
        skipped["stability"] = str(exc)
        logger.warning("regime label stability skipped: %s", exc)
    return RegimeEvaluation(
        out_of_sample=out_of_sample, split=split, stability=stability,
        stability_restarts=restarts, skipped=skipped)
