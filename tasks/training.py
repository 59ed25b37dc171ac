"""Tasks that fit the final ensemble and cross-validate it with CPCV."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config, EnsembleConfig
from ml_core.pipeline import RegimeForestPipeline, TrainingSet

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble


def events_per_year(dataset: TrainingSet) -> float:
    """Annualisation factor for trade returns: events per 365-day year over the sample."""
    span = dataset.X.index[-1] - dataset.X.index[0]
    return len(dataset.X) / max(span / timedelta(days=365), 1e-9)


def build_ensemble(ensemble_config: EnsembleConfig, config: Config) -> RegimeForestEnsemble:
    """The unfitted ensemble of a run: forests as tuned, purge/embargo, seed, and the feature
    selection of ``config.features.selection`` (fitted inside every ``fit``, so each CPCV split
    selects on its own training rows)."""
    from ml_core.ensemble import RegimeForestEnsemble

    return RegimeForestEnsemble.from_config(ensemble_config, config.validation, config.seed,
                                            selection=config.features.selection)


@task(name="train-ensemble", cache_policy=NO_CACHE)
def train_ensemble(dataset: TrainingSet, regime: object, ensemble_config: EnsembleConfig,
                   config: Config, metadata: dict[str, object]) -> RegimeForestPipeline:
    """Select features, fit the four forests and the meta-learner on every event; wrap them as a
    pipeline."""
    ensemble = build_ensemble(ensemble_config, config).fit(dataset.X, dataset.targets,
                                                           dataset.t1)
    get_run_logger().info("trained the ensemble on %d events x %d features (%d kept by selection)",
                          *dataset.X.shape, len(ensemble.forest_features_))
    return RegimeForestPipeline(config=config, regime=regime, ensemble=ensemble,
                                feature_columns=list(dataset.X.columns), metadata=metadata)


@task(name="cpcv", cache_policy=NO_CACHE)
def cross_validate(dataset: TrainingSet, ensemble_config: EnsembleConfig, config: Config):
    """Combinatorial purged CV of the whole ensemble; returns an ``ml_core.evaluation.CVReport``.

    Every split fits a fresh ensemble, feature selection included, on its training rows only.
    """
    from ml_core.evaluation import evaluate_cpcv
    from ml_core.validation import CombinatorialPurgedCV

    logger = get_run_logger()
    v = config.validation
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo)
    logger.info("CPCV: %d splits, %d backtest paths", cv.get_n_splits(), cv.n_paths)
    report = evaluate_cpcv(
        lambda: build_ensemble(ensemble_config, config),
        dataset.X, dataset.targets, dataset.events, cv,
        cost_bps=v.transaction_cost_bps, events_per_year=events_per_year(dataset),
        progress=lambda i, n: logger.info("CPCV split %d/%d done", i, n),
    )
    summary = report.summary()
    logger.info("CPCV median path Sharpe %.3f", summary["cv_sharpe_median"])
    return report
