"""The final holdout: score the served ensemble once on the most recent events, and log it.

The holdout (``ml_core.pipeline.holdout_start``, cut on the bars) is read by no fit: feature
settings, HMM, tuning, selection, forests, meta-learner and calibration all end before it, so its figures are logged apart from the cross-validation's:
metrics ``holdout_*`` and the run's ``holdout/`` folder (tables, figures, ``report.md``), plus
the Prefect artifact ``holdout-report``.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.evaluation import HoldoutReport, evaluate_holdout
from ml_core.pipeline import RegimeForestPipeline, TrainingSet
from tasks import plots
from tasks.publish import markdown_table
from tasks.registry import Tracker
from tasks.training import events_per_year

TOP_IMPORTANCES = 20
"""Features in the importance figure; the markdown lists the first 10 of them."""


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


def _fold_name(fold: object) -> str:
    return str(fold) if str(fold).startswith("fold") else f"fold_{fold}"


def meta_weight_table(ensemble: Any) -> pd.DataFrame | None:
    """The meta-learner's weights per meta feature (index ``feature``): ``coef`` (the final fit,
    ``meta_coef_``) and, when the ensemble kept one fit per fold (``meta_coef_folds_``, fold x
    feature), ``fold_mean``, ``fold_std`` (ddof=1) and ``fold_<k>``. None with neither."""
    coef = getattr(ensemble, "meta_coef_", None)
    folds = getattr(ensemble, "meta_coef_folds_", None)
    parts: list[pd.Series | pd.DataFrame] = []
    if coef is not None:
        parts.append(pd.Series(coef, dtype=float).rename("coef"))
    if folds is not None and len(folds):
        values = pd.DataFrame(folds).astype(float)
        parts += [values.mean(axis=0).rename("fold_mean"),
                  values.std(axis=0, ddof=1).rename("fold_std"),
                  values.T.rename(columns=_fold_name)]
    if not parts:
        return None
    return pd.concat(parts, axis=1).rename_axis("feature")


def holdout_figures(report: HoldoutReport, ensemble: Any) -> dict[str, Figure]:
    """The holdout's figures by name (the caller closes them): ``confusion``, ``reliability``
    (Brier in the title), ``importances`` (permutation on the holdout vs impurity, top 20),
    ``regime_sharpe`` and, when the ensemble has meta weights, ``meta_weights`` (mean ± std
    over folds from ``meta_coef_folds_``, else the single ``meta_coef_``)."""
    figures = {
        "confusion": plots.confusion_matrices(report.confusion),
        "reliability": plots.reliability_diagram(report.reliability, report.brier),
        "importances": plots.permutation_vs_impurity(report.importances, TOP_IMPORTANCES,
                                                     report.importance_reason),
        "regime_sharpe": plots.regime_sharpe(report.per_regime, report.per_regime_reason),
    }
    coef = getattr(ensemble, "meta_coef_", None)
    folds = getattr(ensemble, "meta_coef_folds_", None)
    if coef is not None or folds is not None:
        figures["meta_weights"] = plots.meta_weights(
            pd.Series(coef if coef is not None else {}, dtype=float), folds)
    return figures


def _counts_as_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """``n_*`` columns as whole numbers (``-`` where empty) for the markdown tables."""
    out = frame.copy()
    for column in [c for c in out.columns if str(c).startswith("n_")]:
        out[column] = [("-" if pd.isna(v) else int(v)) for v in out[column]]
    return out


def _confusion_markdown(name: str, frame: pd.DataFrame) -> str:
    table = frame.rename(columns=lambda c: f"{frame.columns.name} {c}").reset_index()
    return f"*{name}*\n\n{markdown_table(table)}"


def _calibration_line(report: HoldoutReport, ensemble: Any) -> str:
    line = (f"- Meta probability `p_long` vs `entry`: ROC AUC "
            f"**{report.metrics.loc['ensemble', 'roc_auc']:.3f}**, Brier **{report.brier:.4f}** "
            "(0.25 for a constant 0.5).")
    before = getattr(ensemble, "brier_uncalibrated_", None)
    after = getattr(ensemble, "brier_calibrated_", None)
    if getattr(ensemble, "calibration", None) == "none":
        line += " Not calibrated (`calibration: none`): `p_long` is the meta-learner's own"
        line += (f" probability, Brier {float(before):.4f} on the training folds."
                 if before is not None else " probability.")
    elif before is not None and after is not None:
        line += (f" On the training folds calibration took the Brier from {float(before):.4f} "
                 f"to {float(after):.4f}.")
    return line


# Below this many trades a holdout Sharpe says little: the headline says so in words.
FEW_TRADES = 30


def _verdict_line(report: HoldoutReport) -> str:
    """The headline: what the ensemble did beside holding the asset, in words."""
    m = report.metrics
    market = m.loc["buy_and_hold", "sharpe"]
    held = ("buy and hold of the asset: not measured (no close prices)" if not
            math.isfinite(market) else
            f"buy and hold of the asset over the same span: Sharpe {market:.3f}, return "
            f"{report.buy_and_hold_return:+.1%}")
    if report.n_trades == 0:
        return (f"- Ensemble: **no trades**: the model held on all {report.n_events} events, so "
                f"its Sharpe, drawdown and hit rate are undefined; {held}.")
    sharpe = m.loc["ensemble", "sharpe"]
    if math.isfinite(market):
        verdict = "beats" if sharpe > market else "does not beat"
        head = f"Sharpe **{sharpe:.3f}** {verdict} buy and hold's {market:.3f}"
    else:
        head = f"Sharpe **{sharpe:.3f}** ({held})"
    few = (f" Only {report.n_trades} trades: too few to tell skill from luck (fewer than "
           f"{FEW_TRADES})." if report.n_trades < FEW_TRADES else "")
    return (f"- Ensemble: {head}; {report.n_trades} trades, hit rate "
            f"{m.loc['ensemble', 'hit_rate']:.3f}, max drawdown "
            f"{m.loc['ensemble', 'max_drawdown']:.3f}.{few}")


def holdout_markdown(report: HoldoutReport, ensemble: Any) -> str:
    """The holdout report as one markdown page: a headline in plain words, the metrics per
    model, per regime, the confusion matrices, the reliability bins, the top importances and
    the meta-learner's weights."""
    m = report.metrics
    lines = [
        "## Final holdout", "",
        f"**{report.n_events}** events from {report.start:%Y-%m-%d %H:%M} to "
        f"{report.end:%Y-%m-%d %H:%M}, after every bar any fit read (features, HMM, tuning, "
        "selection, forests, meta-learner, calibration); scored once.", "",
        _verdict_line(report),
        _calibration_line(report, ensemble), "",
        "### Metrics per model", "",
        "Classifiers at probability 0.5; `ensemble` accuracy: signal direction vs the sign of "
        "the realised return on traded events (`-`: undefined, e.g. without trades); "
        "`buy_and_hold`: the asset held over the holdout's span; `long_every_event`: long on "
        "every event with its barrier exit.", "",
        markdown_table(_counts_as_integers(m).reset_index()), "",
        "### Per regime (dominant regime at t0)", ""]
    if report.per_regime.empty:
        lines += [f"*Per-regime metrics missing*: {report.per_regime_reason}.", ""]
    else:
        lines += [markdown_table(_counts_as_integers(report.per_regime).reset_index()), ""]
    lines += ["### Confusion matrices", ""]
    for name, frame in report.confusion.items():
        lines += [_confusion_markdown(name, frame), ""]
    filled = report.reliability[report.reliability["count"] > 0]
    lines += ["### Calibration of p_long (non-empty bins)", "",
              markdown_table(filled.reset_index()), "",
              "### Feature importances (entry forest)", ""]
    if report.importance_reason:
        lines += [f"*Permutation importance missing*: {report.importance_reason}.", ""]
        ranked = report.importances.sort_values("impurity_entry", ascending=False)
    else:
        lines += ["Permutation: drop in ROC AUC on the holdout when the column is shuffled; "
                  "impurity: from the training rows.", ""]
        ranked = report.importances.sort_values("permutation_mean", ascending=False)
    columns = ["permutation_mean", "permutation_std", "impurity_entry"]
    lines += [markdown_table(ranked[columns].head(10).reset_index()), ""]
    if not report.smoothing.empty:
        lines += ["### Signal smoothing: turnover against Sharpe", "",
                  "The same fitted model traded with each smoother on these events "
                  "(`ensemble.smoothing` chooses the one served).", "",
                  markdown_table(report.smoothing.reset_index()), ""]
    weights = meta_weight_table(ensemble)
    if weights is not None:
        lines += ["### Meta-learner weights (standardised inputs)", "",
                  markdown_table(weights.reset_index()), ""]
    return "\n".join(lines).rstrip() + "\n"


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
    :func:`holdout_figures` as ``<name>.png``. Tags ``holdout.first_event`` and
    ``holdout.last_event`` (first and last event start; ``holdout.start`` is the first holdout
    bar, tagged where the bars are cut). Returns the metrics logged.
    """
    metrics = holdout_metrics(report)
    tracker.log_metrics(run_id, metrics)
    tracker.set_tags(run_id, {"holdout.first_event": report.start,
                              "holdout.last_event": report.end})
    text = holdout_markdown(report, ensemble)
    figures = holdout_figures(report, ensemble)
    images = plots.render_png(figures)
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
