"""Figures logged with each retrain: where people would rather look than read."""

from __future__ import annotations

import io

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from ml_core.validation import PBOResult

_REGIME_COLOURS = {"bull": "#2e7d32", "bear": "#c62828", "sideways": "#757575"}


def regime_timeline(close: pd.Series, regime: pd.DataFrame) -> Figure:
    """Close price coloured by the filtered regime, with the filtered probabilities below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    state = regime["regime_state"]
    for code, (label, colour) in enumerate(_REGIME_COLOURS.items()):
        mask = state == code
        top.scatter(close.index[mask], close[mask], s=1.5, color=colour, label=label)
    top.set_yscale("log")
    top.set_ylabel("close (log)")
    top.set_title("Price by filtered regime (P(state | bars <= t))")
    top.legend(loc="upper left", markerscale=6)
    probs = regime[[f"regime_prob_{k}" for k in _REGIME_COLOURS]].fillna(0.0)
    bottom.stackplot(probs.index, probs.T.to_numpy(), colors=list(_REGIME_COLOURS.values()),
                     alpha=0.8)
    bottom.set_ylabel("filtered P")
    bottom.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def transition_matrix(transmat: np.ndarray) -> Figure:
    """The HMM's transition matrix in Bull/Bear/Sideways order."""
    labels = list(_REGIME_COLOURS)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(transmat, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(3), labels)
    ax.set_yticks(range(3), labels)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{transmat[i, j]:.3f}", ha="center", va="center",
                    color="white" if transmat[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("Regime transition matrix")
    fig.tight_layout()
    return fig


def regime_probabilities(filtered: pd.DataFrame, smoothed: pd.DataFrame | None = None,
                         last: int | None = None) -> Figure:
    """Filtered ``P(regime | bars <= t)`` per regime bar, one panel per regime.

    ``filtered`` and ``smoothed`` have one row per closed regime bar and the columns ``bull``,
    ``bear``, ``sideways``. The smoothed posteriors (forward-backward, they use later bars) are
    drawn as a thin line for comparison only: where the filled area lags the line, the filter
    needed bars to notice a switch that hindsight places earlier. ``last``: only the most recent
    ``last`` regime bars, so single switches stay visible (the timeline shows the whole span).
    """
    if last is not None:
        filtered = filtered.iloc[-last:]
        smoothed = None if smoothed is None else smoothed.loc[filtered.index]
    labels = list(_REGIME_COLOURS)
    fig, axes = plt.subplots(len(labels), 1, figsize=(12, 6.5), sharex=True, sharey=True)
    for ax, label in zip(axes, labels):
        colour = _REGIME_COLOURS[label]
        values = filtered[label].fillna(0.0)
        ax.fill_between(filtered.index, 0.0, values, color=colour, alpha=0.55, lw=0,
                        step="post", label="filtered (causal)")
        if smoothed is not None:
            ax.plot(smoothed.index, smoothed[label], color="black", lw=0.5, drawstyle="steps-post",
                    label="smoothed (diagnostic, uses later bars)")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"P({label})")
    span = "" if last is None else f", last {len(filtered)}"
    axes[0].set_title(f"Regime probabilities per regime bar{span}")
    axes[0].legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def label_stability(stability: pd.DataFrame, target: float = 0.95) -> Figure:
    """How much each weekly refit relabels the shared history of the previous one.

    ``stability`` has one row per refit with ``end`` (end of its training span), ``agreement``
    (share of regime bars labelled alike by this fit and the previous one; NaN for the first) and
    ``converged``. Refits whose EM did not converge are drawn hollow; ``target`` is a guide line.
    """
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ends = pd.to_datetime(stability["end"])
    agreement = stability["agreement"].astype(float).to_numpy()
    converged = stability["converged"].astype(bool).to_numpy()
    x = np.arange(len(stability))
    ax.plot(x, agreement, color="#1565c0", lw=1)
    ax.scatter(x[converged], agreement[converged], color="#1565c0", zorder=3, label="converged")
    if (~converged).any():
        ax.scatter(x[~converged], agreement[~converged], facecolors="white",
                   edgecolors="#1565c0", zorder=3, label="EM not converged")
    ax.axhline(target, color="#c62828", ls=":", lw=1, label=f"target {target:g}")
    scored = agreement[~np.isnan(agreement)]
    if scored.size:
        ax.axhline(float(scored.mean()), color="black", ls="--", lw=0.8,
                   label=f"mean {scored.mean():.3f}, min {scored.min():.3f}")
    low = min(target, float(scored.min()) if scored.size else target)
    ax.set_ylim(max(0.0, low - 0.05), 1.005)
    ax.set_xticks(x, [f"{e:%Y-%m-%d}" for e in ends], rotation=45, ha="right")
    ax.set_ylabel("label agreement with previous fit")
    ax.set_xlabel("end of training span (the first refit has no predecessor)")
    ax.set_title("Regime label stability across weekly refits")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def feature_importances(importances: pd.DataFrame, top: int = 25) -> Figure:
    """Impurity importances per forest (columns) for the most important features (rows)."""
    order = importances.mean(axis=1).sort_values(ascending=True).index[-top:]
    data = importances.loc[order]
    fig, ax = plt.subplots(figsize=(9, max(4, 0.28 * len(order))))
    left = np.zeros(len(order))
    for column in data.columns:
        ax.barh(order, data[column], left=left, label=column)
        left += data[column].to_numpy()
    ax.set_xlabel("mean decrease in impurity (stacked over the four forests)")
    ax.set_title("Feature importances")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def cv_paths(path_returns: dict[int, pd.Series], path_sharpes: pd.Series) -> Figure:
    """Equity curve of every CPCV backtest path and the distribution of their Sharpe ratios."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5),
                                      gridspec_kw={"width_ratios": [3, 1]})
    for path, returns in path_returns.items():
        left.plot(returns.index, (1.0 + returns).cumprod(), lw=0.9, label=f"path {path}")
    left.axhline(1.0, color="black", lw=0.5)
    left.set_ylabel("equity (out of sample)")
    left.set_title("CPCV backtest paths")
    right.hist(path_sharpes.dropna(), bins=max(3, len(path_sharpes) // 2), color="#1565c0")
    right.axvline(float(path_sharpes.median()), color="black", ls="--", label="median")
    right.set_xlabel("annualised Sharpe")
    right.set_title("Sharpe across paths")
    right.legend()
    fig.tight_layout()
    return fig


def _placeholder(message: str, title: str) -> Figure:
    """A small figure that says why there is nothing to draw, so a report never has a hole."""
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def pbo_logits(pbo: dict[str, PBOResult]) -> Figure:
    """Histogram of the CSCV logits of each tuned model, with its PBO.

    A logit is the out-of-sample relative rank of the in-sample best trial on the logit scale:
    mass left of the line at 0 (the out-of-sample median) is the probability of backtest
    overfitting. With no tuned model the figure says so.
    """
    if not pbo:
        return _placeholder("no tuning trials: PBO needs several tuning trials per model",
                            "PBO: logits of the selected trial")
    fig, axes = plt.subplots(1, len(pbo), figsize=(4.5 * len(pbo), 3.6), squeeze=False)
    for ax, (model, result) in zip(axes[0], pbo.items()):
        logits = np.asarray(result.logits, dtype=float)
        edges = np.histogram_bin_edges(logits, bins=max(3, min(20, logits.size)))
        ax.hist(logits[logits <= 0], bins=edges, color="#c62828", alpha=0.8,
                label="logit <= 0 (overfit)")
        ax.hist(logits[logits > 0], bins=edges, color="#2e7d32", alpha=0.8, label="logit > 0")
        ax.axvline(0.0, color="black", lw=1)
        ax.set_title(f"{model}: PBO {result.pbo:.3f} ({result.n_combinations} combinations)")
        ax.set_xlabel("logit of the OOS rank of the IS-best trial")
        ax.legend(loc="upper left", fontsize="small")
    axes[0][0].set_ylabel("combinations")
    fig.tight_layout()
    return fig


def overfitting_degradation(pbo: dict[str, PBOResult]) -> Figure:
    """In-sample vs out-of-sample Sharpe ratio of the selected trial in each CSCV combination.

    A least-squares line whose slope is far below 1 means in-sample gains do not persist; points
    below 0 are combinations where the selection lost money out of sample.
    """
    if not pbo:
        return _placeholder("no tuning trials: nothing was selected in sample",
                            "Performance degradation of the selected trial")
    fig, axes = plt.subplots(1, len(pbo), figsize=(4.5 * len(pbo), 3.8), squeeze=False)
    for ax, (model, result) in zip(axes[0], pbo.items()):
        is_sr = np.asarray(result.is_sharpe, dtype=float)
        oos_sr = np.asarray(result.oos_sharpe, dtype=float)
        ax.scatter(is_sr, oos_sr, s=12, color="#1565c0", alpha=0.7)
        ax.axhline(0.0, color="black", lw=0.5)
        if np.ptp(is_sr) > 0:
            slope, intercept = np.polyfit(is_sr, oos_sr, 1)
            grid = np.linspace(is_sr.min(), is_sr.max(), 2)
            ax.plot(grid, intercept + slope * grid, color="#c62828", lw=1,
                    label=f"slope {slope:.2f}")
            ax.legend(loc="best", fontsize="small")
        ax.set_title(f"{model}: P(OOS Sharpe < 0) {result.probability_of_loss:.3f}")
        ax.set_xlabel("in-sample Sharpe (per event)")
    axes[0][0].set_ylabel("out-of-sample Sharpe (per event)")
    fig.tight_layout()
    return fig


def walk_forward_sharpe(windows: pd.DataFrame, sharpe_threshold: float,
                        drawdown_limit: float) -> Figure:
    """Sharpe and max drawdown of each walk-forward window against their thresholds.

    Top: one bar per window, green when its Sharpe is above ``sharpe_threshold`` (consistent),
    red otherwise, grey without trades (NaN); buy-and-hold's Sharpe over the same window as a
    marker. Bottom: max drawdown per window, green when below ``drawdown_limit`` (controlled).
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.6 * len(windows) + 3), 6),
                                      sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    x = np.arange(len(windows))
    sharpe = windows["sharpe"].to_numpy(dtype=float)
    top.bar(x, np.nan_to_num(sharpe), color=[
        "#9e9e9e" if np.isnan(s) else "#2e7d32" if s > sharpe_threshold else "#c62828"
        for s in sharpe])
    top.scatter(x, windows["buy_and_hold_sharpe"].to_numpy(dtype=float), marker="D",
                color="black", zorder=3, label="buy and hold")
    top.axhline(sharpe_threshold, color="#1565c0", ls="--", lw=1,
                label=f"threshold {sharpe_threshold:g}")
    top.axhline(0.0, color="black", lw=0.5)
    top.set_ylabel("annualised Sharpe")
    top.set_title(f"Walk-forward windows: Sharpe > {sharpe_threshold:g} in "
                  f"{int((sharpe > sharpe_threshold).sum())} of {len(windows)}")
    top.legend(loc="best", fontsize="small")
    drawdown = windows["max_drawdown"].to_numpy(dtype=float)
    bottom.bar(x, np.nan_to_num(drawdown), color=[
        "#9e9e9e" if np.isnan(d) else "#2e7d32" if d < drawdown_limit else "#c62828"
        for d in drawdown])
    bottom.axhline(drawdown_limit, color="#c62828", ls="--", lw=1,
                   label=f"limit {drawdown_limit:g}")
    bottom.set_ylabel("max drawdown")
    bottom.legend(loc="best", fontsize="small")
    starts = pd.to_datetime(windows["test_start"])
    bottom.set_xticks(x, [f"{s:%Y-%m-%d}" for s in starts], rotation=45, ha="right")
    bottom.set_xlabel("test window start")
    fig.tight_layout()
    return fig


def optimisation_history(trials: pd.DataFrame) -> Figure:
    """The objective of every finished trial in trial order, with the best so far.

    ``trials`` is :attr:`~ml_core.tuning.TuningResult.trials` (``number``, ``state``, ``value``).
    Complete trials are dots; pruned trials are crosses at the value Hyperband last saw (fewer
    trees, so not comparable with a complete trial's); the line is the best complete value up to
    each trial, what the study would have returned had it stopped there. Without a finished
    trial the figure says so.
    """
    title = "Optimisation history"
    if trials.empty or "value" not in trials:
        return _placeholder("no finished trial: nothing to draw", title)
    frame = trials.sort_values("number")
    number = frame["number"].to_numpy()
    value = frame["value"].to_numpy(dtype=float)
    complete = (frame["state"] == "COMPLETE").to_numpy() & np.isfinite(value)
    pruned = (frame["state"] == "PRUNED").to_numpy() & np.isfinite(value)
    if not (complete | pruned).any():
        return _placeholder("no finished trial: nothing to draw", title)
    fig, ax = plt.subplots(figsize=(8, 4))
    if complete.any():
        ax.scatter(number[complete], value[complete], color="#1565c0", zorder=3,
                   label=f"complete ({int(complete.sum())})")
    if pruned.any():
        ax.scatter(number[pruned], value[pruned], marker="x", color="#9e9e9e", zorder=3,
                   label=f"pruned ({int(pruned.sum())}), last reported value")
    if complete.any():
        best = np.fmax.accumulate(np.where(complete, value, np.nan))
        ax.step(number, best, where="post", color="#c62828", lw=1.2, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def param_importances(importances: pd.Series, n_trials: int | None = None) -> Figure:
    """One horizontal bar per tuned parameter, most important on top.

    ``importances`` maps parameter names to importances (see
    :func:`tasks.tuning.param_importances`); ``n_trials`` (the complete trials they come from) goes
    in the title. Empty ``importances`` (fewer than two complete trials, or every trial scored
    the same) draws a placeholder saying so.
    """
    title = "Parameter importances"
    if importances.empty:
        return _placeholder("fewer than two complete trials with different objectives: "
                            "nothing to attribute", title)
    order = importances.sort_values(ascending=True)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(order) + 1)))
    ax.barh([str(name) for name in order.index], order.to_numpy(dtype=float), color="#1565c0")
    ax.set_xlim(0, max(1.0, float(order.max())))
    ax.set_xlabel("share of the objective's variance explained by the parameter alone")
    ax.set_title(title if n_trials is None else f"{title} ({n_trials} complete trials)")
    fig.tight_layout()
    return fig


def pareto_front(pareto: pd.DataFrame) -> Figure:
    """Accuracy against Sharpe of every complete trial, coloured by max drawdown, the Pareto
    front (no trial better on all three at once) ringed and labelled with its trial numbers.

    ``pareto`` is :attr:`~ml_core.tuning.TuningResult.pareto` (index ``number``; ``accuracy``,
    ``sharpe``, ``max_drawdown``, ``pareto``). Without a Sharpe ratio (tuned without returns) the
    figure says so.
    """
    title = "Pareto front: accuracy, Sharpe, drawdown"
    if pareto.empty or not {"accuracy", "sharpe"} <= set(pareto.columns):
        return _placeholder("no Sharpe ratio per trial (tuned without returns): no front to draw",
                            title)
    frame = pareto.dropna(subset=["accuracy", "sharpe"])
    if frame.empty:
        return _placeholder("no complete trial with accuracy and Sharpe: no front to draw", title)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    front = frame.get("pareto", pd.Series(False, index=frame.index)).astype(bool).to_numpy()
    x, y = frame["accuracy"].to_numpy(dtype=float), frame["sharpe"].to_numpy(dtype=float)
    if "max_drawdown" in frame and frame["max_drawdown"].notna().any():
        points = ax.scatter(x, y, c=frame["max_drawdown"].to_numpy(dtype=float), cmap="viridis_r",
                            s=40, zorder=3)
        fig.colorbar(points, ax=ax, label="max drawdown (lower is better)")
    else:
        ax.scatter(x, y, color="#1565c0", s=40, zorder=3)
    if front.any():
        ax.scatter(x[front], y[front], s=160, facecolors="none", edgecolors="#c62828", lw=1.5,
                   zorder=4, label=f"Pareto front ({int(front.sum())} trials)")
        labels: dict[tuple[float, float], list[str]] = {}  # trials that scored alike share one
        for number, xi, yi in zip(frame.index[front], x[front], y[front]):
            labels.setdefault((xi, yi), []).append(str(number))
        for (xi, yi), numbers in labels.items():
            ax.annotate(", ".join(numbers), (xi, yi), textcoords="offset points", xytext=(6, 6),
                        fontsize="small")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("accuracy (ROC AUC or R², higher is better)")
    ax.set_ylabel("Sharpe ratio (higher is better)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def confusion_matrices(confusion: dict[str, pd.DataFrame]) -> Figure:
    """One panel of counts per confusion matrix (e.g. the holdout's ``entry``, ``exit`` and
    ``ensemble``), rows and columns labelled with the frame's axes; each cell also shows its
    share of the row, so a rare class's errors stay visible."""
    fig, axes = plt.subplots(1, len(confusion), figsize=(4.2 * len(confusion), 3.8),
                             squeeze=False)
    for ax, (name, frame) in zip(axes[0], confusion.items()):
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
        ax.set_xlabel(str(frame.columns.name or ""))
        ax.set_ylabel(str(frame.index.name or ""))
        ax.set_title(f"{name} (n={int(counts.sum())})")
    fig.suptitle("Holdout confusion matrices (share of the row in brackets)")
    fig.tight_layout()
    return fig


def reliability_diagram(reliability: pd.DataFrame, brier: float) -> Figure:
    """Calibration of the meta probability: observed frequency against mean predicted
    probability per bin (the diagonal is perfect calibration), and the count per bin below.

    ``reliability`` is :func:`ml_core.evaluation._holdout.reliability_table` (``lower``,
    ``upper``, ``mean_predicted``, ``observed_frequency``, ``count``); empty bins are skipped.
    The Brier score is in the title.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    filled = reliability[reliability["count"] > 0]
    top.plot([0, 1], [0, 1], color="black", ls="--", lw=0.8, label="perfectly calibrated")
    top.plot(filled["mean_predicted"], filled["observed_frequency"], marker="o",
             color="#1565c0", label="holdout")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("observed frequency of entry = 1")
    top.set_title(f"Reliability of p_long on the holdout (Brier {brier:.4f})")
    top.legend(loc="upper left", fontsize="small")
    width = (reliability["upper"] - reliability["lower"]).to_numpy(dtype=float)
    bottom.bar(reliability["lower"], reliability["count"], width=width, align="edge",
               color="#9e9e9e", edgecolor="white")
    bottom.set_xlabel("predicted probability p_long")
    bottom.set_ylabel("events")
    fig.tight_layout()
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, max(3.5, 0.32 * len(order) + 1.5)),
                                      sharey=True)
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
    left.set_title("Permutation (holdout rows)")
    right.barh(labels, importances.loc[order, "impurity_entry"].astype(float), color="#757575")
    right.set_xlabel("mean decrease in impurity")
    right.set_title("Impurity (training rows)")
    fig.suptitle(f"Entry forest: top {len(order)} features")
    fig.tight_layout()
    return fig


def regime_sharpe(per_regime: pd.DataFrame, reason: str = "",
                  title: str = "Holdout Sharpe per regime") -> Figure:
    """One bar per regime: the annualised Sharpe of the trade returns of its events, with the
    events and trades per regime under each bar. Without regimes the figure says why."""
    if per_regime.empty:
        return _placeholder(reason or "no regime probabilities in the features", title)
    labels = [str(r) for r in per_regime.index]
    sharpe = per_regime["sharpe"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(labels) + 2), 4))
    ax.bar(labels, np.nan_to_num(sharpe),
           color=[_REGIME_COLOURS.get(label, "#1565c0") for label in labels])
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xticks(range(len(labels)), [
        f"{label}\n{int(row.n_events)} events, {int(row.n_trades)} trades"
        for label, row in zip(labels, per_regime.itertuples())])
    ax.set_ylabel("annualised Sharpe")
    ax.set_title(title)
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(columns) + 2), 4))
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
    ax.set_ylabel("coefficient (standardised input)")
    fig.tight_layout()
    return fig


def render_png(figures: dict[str, Figure]) -> dict[str, bytes]:
    """PNG bytes of each figure (100 dpi, tight), closing every figure even if one fails."""
    try:
        out = {}
        for name, figure in figures.items():
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            out[name] = buffer.getvalue()
        return out
    finally:
        for figure in figures.values():
            plt.close(figure)
