"""Figures of an Optuna study: its history, what its parameters explain, its Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.figures import new_figure, placeholder


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
        return placeholder("no finished trial: nothing to draw", title)
    frame = trials.sort_values("number")
    number = frame["number"].to_numpy()
    value = frame["value"].to_numpy(dtype=float)
    complete = (frame["state"] == "COMPLETE").to_numpy() & np.isfinite(value)
    pruned = (frame["state"] == "PRUNED").to_numpy() & np.isfinite(value)
    if not (complete | pruned).any():
        return placeholder("no finished trial: nothing to draw", title)
    fig, ax = new_figure(4.5)
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
        return placeholder("fewer than two complete trials with different objectives: "
                           "nothing to attribute", title)
    order = importances.sort_values(ascending=True)
    fig, ax = new_figure(max(4.0, 0.35 * len(order) + 1.5))
    ax.barh([str(name) for name in order.index], order.to_numpy(dtype=float), color="#1565c0")
    ax.set_xlim(0, max(1.0, float(order.max())))
    ax.set_xlabel("share of the objective's variance explained by the parameter alone")
    ax.set_ylabel("parameter")
    ax.set_title(title if n_trials is None else f"{title} ({n_trials} complete trials)")
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
        return placeholder("no Sharpe ratio per trial (tuned without returns): no front to draw",
                           title)
    frame = pareto.dropna(subset=["accuracy", "sharpe"])
    if frame.empty:
        return placeholder("no complete trial with accuracy and Sharpe: no front to draw", title)
    fig, ax = new_figure(6.0)
    front = frame.get("pareto", pd.Series(False, index=frame.index)).astype(bool).to_numpy()
    x, y = frame["accuracy"].to_numpy(dtype=float), frame["sharpe"].to_numpy(dtype=float)
    if "max_drawdown" in frame and frame["max_drawdown"].notna().any():
        points = ax.scatter(x, y, c=frame["max_drawdown"].to_numpy(dtype=float), cmap="viridis_r",
                            s=40, zorder=3, label=f"complete trials ({len(frame)})")
        fig.colorbar(points, ax=ax, label="max drawdown (lower is better)")
    else:
        ax.scatter(x, y, color="#1565c0", s=40, zorder=3, label=f"complete trials ({len(frame)})")
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
    return fig
