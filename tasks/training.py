"""Tasks that fit the final ensemble and cross-validate it with CPCV."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config, EnsembleConfig
from ml_core.pipeline import RegimeForestPipeline, TrainingSet
from tasks._cache import cached
from tasks.parallel import mapper, piece_threads

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble


def events_per_year(dataset: TrainingSet) -> float:
    """Annualisation factor for trade returns: events per 365-day year over the sample."""
    span = dataset.X.index[-1] - dataset.X.index[0]
    return len(dataset.X) / max(span / timedelta(days=365), 1e-9)


def build_ensemble(ensemble_config: EnsembleConfig, config: Config) -> RegimeForestEnsemble:
    """The unfitted ensemble of a run: forests as tuned, purge/embargo, seed, and the feature
    selection of ``config.features.selection`` (fitted inside every ``fit``, so each CPCV split
    selects on its own training rows). Built on a Dask worker, its forests use
    ``scale.threads_per_worker`` threads (:func:`tasks.parallel.piece_threads`); the fitted
    trees are the same whatever the thread count."""
    from ml_core.ensemble import RegimeForestEnsemble

    threads = piece_threads(config)
    if threads is not None:
        ensemble_config = ensemble_config.model_copy(update={"n_jobs": threads})

    return RegimeForestEnsemble.from_config(ensemble_config, config.validation, config.seed,
                                            selection=config.features.selection,
                                            labels=config.labels)


@cached("fit-ensemble")
def fit_ensemble(dataset: TrainingSet, ensemble_config: EnsembleConfig,
                 config: Config) -> RegimeForestEnsemble:
    """Select features, fit the four forests and the meta-learner on every event of
    ``dataset``. Cached on the events, the tuned forests and the profile
    (:mod:`tasks._cache`): a rerun of the same retrain reuses the fitted ensemble."""
    return build_ensemble(ensemble_config, config).fit(dataset.X, dataset.targets, dataset.t1)


@task(name="train-ensemble", cache_policy=NO_CACHE)
def train_ensemble(dataset: TrainingSet, regime: object, ensemble_config: EnsembleConfig,
                   config: Config, metadata: dict[str, object]) -> RegimeForestPipeline:
    """Select features, fit the four forests and the meta-learner on every event (the cached
    :func:`fit_ensemble`); wrap them as a pipeline with this run's ``metadata`` (its run id:
    never part of the cache key)."""
    ensemble = fit_ensemble(dataset, ensemble_config, config)
    get_run_logger().info("trained the ensemble on %d events x %d features (%d kept by selection)",
                          *dataset.X.shape, len(ensemble.forest_features_))
    return RegimeForestPipeline(config=config, regime=regime, ensemble=ensemble,
                                feature_columns=list(dataset.X.columns), metadata=metadata)


def regime_refit(bars: pd.DataFrame, dataset: TrainingSet,
                 config: Config) -> Callable[[np.ndarray], pd.DataFrame]:
    """``split_features`` for :func:`ml_core.evaluation.evaluate_cpcv`: the regime columns of
    ``dataset.X`` recomputed by an HMM fitted (``config.regime``, ``config.seed``) on the bars of
    one split's training events only (:func:`ml_core.regime.refit_regime_features`).

    A split whose refit fails (too few bars, every restart degenerate: short or quiet training
    spans) keeps the development HMM's columns, with a warning naming the split's training span
    and why, rather than failing the retrain. A partial of a top-level function: it pickles, so
    a split may refit on a Dask worker.
    """
    from ml_core.regime import TRANSFORM_COLUMNS

    columns = [c for c in TRANSFORM_COLUMNS if c in dataset.X.columns]
    return functools.partial(_refit_regime, bars, dataset.t1, dataset.X.loc[:, columns], config)


def _refit_regime(bars: pd.DataFrame, t1: pd.Series, development: pd.DataFrame, config: Config,
                  train_idx: np.ndarray) -> pd.DataFrame:
    from ml_core.regime import refit_regime_features

    logger = get_run_logger()
    span = f"training events {t1.index[train_idx[0]]} to {t1.iloc[train_idx[-1]]}"
    try:
        model, features = refit_regime_features(bars, t1, train_idx, config.regime,
                                                config.data.timeframe, config.seed)
    except ValueError as exc:
        logger.warning("CPCV split on %s: HMM refit failed (%s); this split keeps the "
                       "development HMM's regime columns", span, exc)
        return development
    logger.info("CPCV split on %s: HMM refitted on %d regime bars (%s to %s)", span,
                model.n_fit_bars_, model.fit_start_, model.fit_end_)
    return features.loc[:, development.columns]


@cached("cpcv")
def cross_validate(dataset: TrainingSet, ensemble_config: EnsembleConfig, config: Config,
                   bars: pd.DataFrame | None = None):
    """Combinatorial purged CV of the whole ensemble; returns an ``ml_core.evaluation.CVReport``.

    Cached on its inputs' content (:mod:`tasks._cache`). Every split fits a fresh ensemble,
    feature selection included, on its training rows only.
    With ``validation.cpcv_refit_regime`` every split also refits the HMM on the development
    ``bars`` its training events span (:func:`regime_refit`), so no split's regime columns come
    from parameters that saw its test groups. ``bars["close"]`` also gives the plain
    buy-and-hold baseline over the events' span (left out without ``bars``).
    """
    from ml_core.evaluation import evaluate_cpcv
    from ml_core.validation import CombinatorialPurgedCV

    logger = get_run_logger()
    v = config.validation
    if v.cpcv_refit_regime and bars is None:
        raise ValueError("`validation.cpcv_refit_regime=True` refits the HMM on each split's "
                         "training bars: pass the development `bars`, got `bars=None`")
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    logger.info("CPCV: %d splits, %d backtest paths", cv.get_n_splits(), cv.n_paths)
    report = evaluate_cpcv(
        functools.partial(build_ensemble, ensemble_config, config),
        dataset.X, dataset.targets, dataset.events, cv,
        cost_bps=v.transaction_cost_bps, events_per_year=events_per_year(dataset),
        progress=lambda i, n: logger.info("CPCV split %d/%d done", i, n),
        split_features=regime_refit(bars, dataset, config) if v.cpcv_refit_regime else None,
        close=None if bars is None else bars["close"],
        map_splits=mapper("cpcv-split"),
    )
    summary = report.summary()
    if summary["cv_n_paths_traded"] == 0:
        logger.info("CPCV: no trades on any of the %d paths (Sharpe undefined)", cv.n_paths)
    else:
        logger.info("CPCV median path Sharpe %.3f over the %d of %d paths that traded",
                    summary["cv_sharpe_median"], summary["cv_n_paths_traded"], cv.n_paths)
    return report


@cached("walk-forward")
def walk_forward(dataset: TrainingSet, ensemble_config: EnsembleConfig, config: Config,
                 bars: pd.DataFrame | None = None):
    """Walk-forward backtest of the whole ensemble (``validation.walk_forward_windows`` windows,
    purged like CPCV; cached on its inputs' content, :mod:`tasks._cache`); returns an
    ``ml_core.evaluation.WalkForwardReport``, or None when the
    profile sets 0 windows. ``bars["close"]`` gives each window's plain buy-and-hold Sharpe
    (NaN without ``bars``)."""
    from ml_core.evaluation import evaluate_walk_forward
    from ml_core.validation import WalkForwardCV

    logger = get_run_logger()
    v = config.validation
    if v.walk_forward_windows == 0:
        logger.info("walk-forward skipped: validation.walk_forward_windows is 0")
        return None
    cv = WalkForwardCV(v.walk_forward_windows, v.walk_forward_mode,
                       train_size=v.walk_forward_train_size, purge=v.purge, embargo=v.embargo,
                       min_window_size=v.min_events_per_group)
    report = evaluate_walk_forward(
        functools.partial(build_ensemble, ensemble_config, config),
        dataset.X, dataset.targets, dataset.events, cv,
        cost_bps=v.transaction_cost_bps, events_per_year=events_per_year(dataset),
        sharpe_threshold=v.sharpe_threshold, drawdown_limit=v.drawdown_limit,
        progress=lambda i, n: logger.info("walk-forward window %d/%d done", i, n),
        close=None if bars is None else bars["close"],
        map_windows=mapper("wf-window"),
    )
    summary = report.summary()
    traded = int(summary["wf_n_windows_traded"])
    if traded == 0:
        logger.info("walk-forward: no trades in any of the %d windows", len(report.windows))
    else:
        logger.info("walk-forward: %d of %d windows traded; of those, %.0f%% with Sharpe > %.2f, "
                    "%.0f%% with drawdown < %.0f%%", traded, len(report.windows),
                    100 * summary["wf_sharpe_consistency"], v.sharpe_threshold,
                    100 * summary["wf_drawdown_control"], 100 * v.drawdown_limit)
    return report


@task(name="assess-overfitting", cache_policy=NO_CACHE)
def assess_overfitting(tuned: dict[str, object], cv_report: object, config: Config):
    """PBO over each model's tuning trials, PSR and DSR of the CPCV paths at the number of
    configurations tried; returns an ``ml_core.evaluation.OverfittingReport``."""
    from ml_core.evaluation import assess_overfitting as assess

    n_trials = max(1, sum(result.n_trials for result in tuned.values()))
    report = assess({name: result.trial_returns for name, result in tuned.items()},
                    cv_report.path_returns, n_trials=n_trials,
                    n_partitions=config.validation.pbo_partitions)
    summary = report.summary()
    pbo = summary.get("pbo")
    get_run_logger().info(
        "overfitting: PBO %s, median DSR %.3f at %d trials (median PSR %.3f)",
        "n/a (no tuning trials)" if pbo is None else f"{pbo:.3f}" if math.isfinite(pbo) else
        "undefined (" + "; ".join(f"{k}: {r}" for k, r in report.pbo_undefined.items()) + ")",
        summary["dsr_median"], n_trials, summary["psr_median"])
    return report
