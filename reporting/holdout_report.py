"""The final holdout's report: a headline in plain words, the tables behind it, the figures.

The holdout is scored once on events no fit has read; this module only writes up the
:class:`~ml_core.evaluation.HoldoutReport` (and the served ensemble's meta-learner weights).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from reporting import holdout_plots
from reporting.markdown import markdown_table

if TYPE_CHECKING:
    from ml_core.evaluation import HoldoutReport

TOP_IMPORTANCES = 20
"""Features in the importance figure; the markdown lists the first 10 of them."""
FEW_TRADES = 30
"""Below this many trades a holdout Sharpe says little: the headline says so in words."""


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
    """The holdout's figures by name: ``confusion``, ``reliability`` (Brier in the title),
    ``importances`` (permutation on the holdout vs impurity, top 20), ``regime_sharpe`` and,
    when the ensemble has meta weights, ``meta_weights`` (mean ± std over folds from
    ``meta_coef_folds_``, else the single ``meta_coef_``)."""
    figures = {
        "confusion": holdout_plots.confusion_matrices(report.confusion),
        "reliability": holdout_plots.reliability_diagram(report.reliability, report.brier),
        "importances": holdout_plots.permutation_vs_impurity(
            report.importances, TOP_IMPORTANCES, report.importance_reason),
        "regime_sharpe": holdout_plots.regime_sharpe(report.per_regime,
                                                     report.per_regime_reason),
    }
    coef = getattr(ensemble, "meta_coef_", None)
    folds = getattr(ensemble, "meta_coef_folds_", None)
    if coef is not None or folds is not None:
        figures["meta_weights"] = holdout_plots.meta_weights(
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


def verdict_line(report: HoldoutReport) -> str:
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
        verdict_line(report),
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
