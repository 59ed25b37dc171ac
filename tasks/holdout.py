"""The final holdout: score the served ensemble once on the most recent events, and log it.

The holdout (``ml_core.pipeline.holdout_start``, cut on the bars) is read by no fit: feature
settings, HMM, tuning, selection, forests, meta-learner and calibration all end before it, so
its figures are logged apart from the cross-validation's: metrics ``holdout_*`` and the run's
``holdout/`` folder (tables, figures, ``report.md``, written by
:mod:`reporting.holdout_report`), plus the Prefect artifact ``holdout-report``.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.evaluation import HoldoutReport, evaluate_holdout
from ml_core.pipeline import RegimeForestPipeline, TrainingSet
from reporting.figures import render_png
from reporting.holdout_report import holdout_figures, holdout_markdown, meta_weight_table
from tasks.registry import Tracker
from tasks.training import events_per_year


@task(name="evaluate-holdout", cache_policy=NO_CACHE)
def evaluate_final_holdout(pipeline: RegimeForestPipeline, holdout: TrainingSet,
                           config: Config, bars: pd.DataFrame | None = None) -> HoldoutReport:
    """Score the pipeline's ensemble on the final holdout (see
    :func:`ml_core.evaluation._holdout.evaluate_holdout`).

    Costs are ``validation.transaction_cost_bps``; Sharpe and Sortino are annualised at the
    holdout's own event rate (:func:`tasks.training.events_per_year` of the holdout), the pace
    the strategy traded at over that period; the permutation shuffles are seeded with
    ``config.seed``. ``bars["close"]`` (covering the holdout) gives the plain buy-and-hold of
    the asset over the holdout's span; without ``bars`` that row is empty.
    """
    if pipeline.ensemble is None:
        raise ValueError("`pipeline` has no ensemble: a features-only pipeline cannot be scored "
                         "on the holdout")
    report = evaluate_holdout(pipeline.ensemble, holdout,
                              cost_bps=config.validation.transaction_cost_bps,
                              events_per_year=events_per_year(holdout), random_state=config.seed,
                              close=None if bars is None else bars["close"])
    ensemble = report.metrics.loc["ensemble"]
    traded = (f"Sharpe {ensemble['sharpe']:.3f} on {report.n_trades} trades" if report.n_trades
              else "no trades (the model held)")
    get_run_logger().info(
        "holdout: %d events from %s, %s (buy and hold %.3f), ROC AUC %.3f, Brier %.4f",
        report.n_events, report.start, traded, report.metrics.loc["buy_and_hold", "sharpe"],
        ensemble["roc_auc"], report.brier)
    return report


def holdout_metrics(report: HoldoutReport) -> dict[str, float]:
    """:meth:`HoldoutReport.summary` without the undefined (non-finite) values."""
    return {k: v for k, v in report.summary().items() if math.isfinite(v)}


def _write_confusion(frame: pd.DataFrame, path: Path) -> None:
    """The axes' names survive in the CSV's first header cell, e.g. ``predicted\\true``."""
    frame.to_csv(path, index_label=f"{frame.index.name}\\{frame.columns.name}")


@task(name="log-holdout", cache_policy=NO_CACHE)
def log_holdout(tracker: Tracker, run_id: str, report: HoldoutReport,
                ensemble: Any) -> dict[str, float]:
    """Log the holdout report to the run and show it as the Prefect artifact ``holdout-report``.

    Metrics: :func:`holdout_metrics` (``holdout_*``, in their own call, apart from the
    ``cv_*``). Under ``holdout/``: ``report.md``; the tables ``metrics.csv``,
    ``per_regime.csv``, ``confusion_<name>.csv``, ``reliability.csv``, ``importances.csv``,
    ``returns.csv`` and, with meta weights, ``meta_weights.csv``; the figures of
    :func:`reporting.holdout_report.holdout_figures` as ``<name>.png``. Tags
    ``holdout.first_event`` and ``holdout.last_event`` (first and last event start;
    ``holdout.start`` is the first holdout bar, tagged where the bars are cut). Returns the
    metrics logged.
    """
    metrics = holdout_metrics(report)
    tracker.log_metrics(run_id, metrics)
    tracker.set_tags(run_id, {"holdout.first_event": report.start,
                              "holdout.last_event": report.end})
    text = holdout_markdown(report, ensemble)
    figures = holdout_figures(report, ensemble)
    images = render_png(figures)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "report.md").write_text(text, encoding="utf-8")
        for name, png in images.items():
            (folder / f"{name}.png").write_bytes(png)
        report.metrics.to_csv(folder / "metrics.csv")
        report.per_regime.to_csv(folder / "per_regime.csv")
        report.smoothing.to_csv(folder / "smoothing.csv")
        for name, frame in report.confusion.items():
            _write_confusion(frame, folder / f"confusion_{name}.csv")
        report.reliability.to_csv(folder / "reliability.csv")
        report.importances.to_csv(folder / "importances.csv")
        report.returns.to_csv(folder / "returns.csv")
        weights = meta_weight_table(ensemble)
        if weights is not None:
            weights.to_csv(folder / "meta_weights.csv")
        tracker.log_artifact(run_id, folder, "holdout")
    create_markdown_artifact(
        key="holdout-report", markdown=text,
        description="final holdout of the weekly retrain: events no step of it has seen")
    return metrics
