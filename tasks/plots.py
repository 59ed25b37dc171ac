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
