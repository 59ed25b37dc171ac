"""Figures logged with each retrain: where people would rather look than read."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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
