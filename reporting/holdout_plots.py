"""Figures of the final holdout: errors, calibration, importances, regimes, meta-learner."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.figures import REGIME_COLOURS, new_figure, panel_grid, placeholder


def confusion_matrices(confusion: dict[str, pd.DataFrame]) -> Figure:
    """One panel of counts per confusion matrix (e.g. the holdout's ``entry``, ``exit`` and
    ``ensemble``), three to a row, rows and columns labelled with the frame's axes; each cell
    also shows its share of the row, so a rare class's errors stay visible."""
    fig, axes = panel_grid(len(confusion), columns=3)
    for ax, (name, frame) in zip(axes, confusion.items()):
        counts = frame.to_numpy(dtype=float)
        rows = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(j, i, f"{int(counts[i, j])}\n({share[i, j]:.0%})", ha="center",
                        va="center", color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(counts.shape[1]), [str(c) for c in frame.columns])
        ax.set_yticks(range(counts.shape[0]), [str(i) for i in frame.index])
        ax.set_xlabel(str(frame.columns.name or "column"))
        ax.set_ylabel(str(frame.index.name or "row"))
        ax.set_title(f"{name} (n={int(counts.sum())})")
    fig.suptitle("Holdout confusion matrices (share of the row in brackets)")
    return fig


def reliability_diagram(reliability: pd.DataFrame, brier: float) -> Figure:
    """Calibration of the meta probability: observed frequency against mean predicted
    probability per bin (the diagonal is perfect calibration) and, beside it, the events per bin.

    ``reliability`` is :func:`ml_core.evaluation._holdout.reliability_table` (``lower``,
    ``upper``, ``mean_predicted``, ``observed_frequency``, ``count``); empty bins are skipped.
    The Brier score is in the title.
    """
    fig, (left, right) = new_figure(4.8, 1, 2, sharex=True)
    filled = reliability[reliability["count"] > 0]
    left.plot([0, 1], [0, 1], color="black", ls="--", lw=0.8, label="perfectly calibrated")
    left.plot(filled["mean_predicted"], filled["observed_frequency"], marker="o",
              color="#1565c0", label="holdout")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_xlabel("mean predicted probability p_long (per bin)")
    left.set_ylabel("observed frequency of entry = 1")
    left.set_title(f"Reliability of p_long on the holdout (Brier {brier:.4f})")
    left.legend(loc="upper left", fontsize="small")
    width = (reliability["upper"] - reliability["lower"]).to_numpy(dtype=float)
    right.bar(reliability["lower"], reliability["count"], width=width, align="edge",
              color="#9e9e9e", edgecolor="white")
    right.set_xlabel("predicted probability p_long")
    right.set_ylabel("events")
    right.set_title("Events per probability bin")
    return fig


def permutation_vs_impurity(importances: pd.DataFrame, top: int = 20,
                            reason: str = "") -> Figure:
    """The entry forest's permutation importance on the holdout (mean ± std over shuffles)
    beside its impurity importance from training, for the ``top`` features by permutation.

    ``importances`` has ``permutation_mean``, ``permutation_std`` and ``impurity_entry`` per
    feature. A feature high on the right but near 0 on the left helped fit the training rows
    and does nothing on unseen events. Without permutation values (``reason`` says why) the
    features are ranked by impurity and the left panel says so.
    """
    permutation = importances["permutation_mean"].astype(float)
    has_permutation = bool(permutation.notna().any())
    key = permutation if has_permutation else importances["impurity_entry"].astype(float)
    order = key.sort_values(ascending=True).index[-top:]
    fig, (left, right) = new_figure(max(4.0, 0.32 * len(order) + 1.5), 1, 2, sharey=True)
    labels = [str(name) for name in order]
    if has_permutation:
        left.barh(labels, permutation.loc[order],
                  xerr=importances.loc[order, "permutation_std"].astype(float),
                  color="#1565c0", capsize=2)
        left.axvline(0.0, color="black", lw=0.5)
    else:
        left.barh(labels, np.zeros(len(order)), color="#1565c0")
        left.text(0.5, 0.5, reason or "no permutation importance", ha="center", va="center",
                  wrap=True, transform=left.transAxes)
    left.set_xlabel("drop in holdout ROC AUC when shuffled")
    left.set_ylabel("feature")
    left.set_title("Permutation (holdout rows)")
    right.barh(labels, importances.loc[order, "impurity_entry"].astype(float), color="#757575")
    right.set_xlabel("mean decrease in impurity")
    right.set_title("Impurity (training rows)")
    fig.suptitle(f"Entry forest: top {len(order)} features")
    return fig


def regime_sharpe(per_regime: pd.DataFrame, reason: str = "",
                  title: str = "Holdout Sharpe per regime") -> Figure:
    """One bar per regime: the annualised Sharpe of the trade returns of its events, with the
    events and trades per regime under each bar. Without regimes the figure says why."""
    if per_regime.empty:
        return placeholder(reason or "no regime probabilities in the features", title)
    labels = [str(r) for r in per_regime.index]
    sharpe = per_regime["sharpe"].to_numpy(dtype=float)
    fig, ax = new_figure(4.5)
    ax.bar(labels, np.nan_to_num(sharpe),
           color=[REGIME_COLOURS.get(label, "#1565c0") for label in labels])
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xticks(range(len(labels)), [
        f"{label}\n{int(row.n_events)} events, {int(row.n_trades)} trades"
        for label, row in zip(labels, per_regime.itertuples())])
    ax.set_xlabel("dominant regime at the event's start")
    ax.set_ylabel("annualised Sharpe")
    ax.set_title(title)
    return fig


def meta_weights(coef: pd.Series, folds: pd.DataFrame | None = None) -> Figure:
    """The meta-learner's weight on each (standardised) meta feature.

    With ``folds`` (one row per fold, one column per meta feature, e.g. the ensemble's
    ``meta_coef_folds_``): bars at the mean over folds with ± one standard deviation, the
    folds as dots, so a weight whose sign flips between folds is not read as a finding, and
    ``coef`` (the final fit on all rows) as red diamonds. Otherwise the bars are ``coef``.
    """
    stable = folds is not None and len(folds) > 0
    columns = folds.columns if stable else coef.index  # the folds' own features if given
    fig, ax = new_figure(4.5)
    names = [str(n) for n in columns]
    x = np.arange(len(names))
    if stable:
        values = folds.astype(float)
        mean, std = values.mean(axis=0), values.std(axis=0, ddof=1).fillna(0.0)
        ax.bar(x, mean, yerr=std, color="#1565c0", capsize=3, alpha=0.8,
               label=f"mean ± std over {len(values)} folds")
        for _, row in values.iterrows():
            ax.scatter(x, row.to_numpy(), color="black", s=10, zorder=3)
        ax.scatter([], [], color="black", s=10, label="one fold")
        if len(coef):
            ax.scatter(x, coef.reindex(columns).to_numpy(dtype=float), marker="D",
                       color="#c62828", s=22, zorder=4, label="final fit")
        ax.set_title("Meta-learner weights and their stability across folds")
        ax.legend(loc="best", fontsize="small")
    else:
        ax.bar(x, coef.to_numpy(dtype=float), color="#1565c0")
        ax.set_title("Meta-learner weights (final fit)")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_xlabel("meta feature")
    ax.set_ylabel("coefficient (standardised input)")
    return fig
