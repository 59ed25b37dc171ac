"""Figures logged with each retrain: where people would rather look than read."""

from __future__ import annotations

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
