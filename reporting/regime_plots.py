"""Figures of the regime model: price by regime, the probabilities, transitions, refit stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.figures import REGIME_COLOURS, new_figure


def regime_timeline(close: pd.Series, regime: pd.DataFrame) -> Figure:
    """Close price coloured by the filtered regime, with the filtered probabilities below.

    ``regime`` has ``regime_state`` (0, 1, 2 in Bull/Bear/Sideways order) and
    ``regime_prob_<label>`` per bar of ``close``.
    """
    fig, (top, bottom) = new_figure(6.0, 2, 1, sharex=True,
                                    gridspec_kw={"height_ratios": [2, 1]})
    state = regime["regime_state"]
    for code, (label, colour) in enumerate(REGIME_COLOURS.items()):
        mask = state == code
        top.scatter(close.index[mask], close[mask], s=1.5, color=colour, label=label)
    top.set_yscale("log")
    top.set_ylabel("close (log scale)")
    top.set_title("Price by filtered regime (P(state | bars <= t))")
    top.legend(loc="upper left", markerscale=6)
    probs = regime[[f"regime_prob_{k}" for k in REGIME_COLOURS]].fillna(0.0)
    bottom.stackplot(probs.index, probs.T.to_numpy(), colors=list(REGIME_COLOURS.values()),
                     alpha=0.8, labels=[f"P({k})" for k in REGIME_COLOURS])
    bottom.set_ylabel("filtered P")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("time (bar close)")
    bottom.legend(loc="upper left", fontsize="small", ncols=3)
    return fig


def transition_matrix(transmat: np.ndarray) -> Figure:
    """The HMM's transition matrix in Bull/Bear/Sideways order and, beside it, the expected stay
    in each regime, ``1 / (1 - P(stay))`` regime bars, that its diagonal implies."""
    labels = list(REGIME_COLOURS)
    fig, (left, right) = new_figure(4.5, 1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    im = left.imshow(transmat, cmap="Blues", vmin=0, vmax=1)
    left.set_xticks(range(3), labels)
    left.set_yticks(range(3), labels)
    left.set_xlabel("to")
    left.set_ylabel("from")
    for i in range(3):
        for j in range(3):
            left.text(j, i, f"{transmat[i, j]:.3f}", ha="center", va="center",
                      color="white" if transmat[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=left, fraction=0.046, label="P(to | from)")
    left.set_title("Regime transition matrix")
    stay = np.diag(np.asarray(transmat, dtype=float))
    expected = np.divide(1.0, 1.0 - stay, out=np.full(3, np.inf), where=stay < 1.0)
    right.bar(labels, np.where(np.isfinite(expected), expected, 0.0),
              color=list(REGIME_COLOURS.values()))
    for x, value in enumerate(expected):
        right.annotate("never leaves" if not np.isfinite(value) else f"{value:.1f}",
                       (x, 0.0 if not np.isfinite(value) else value), ha="center",
                       va="bottom", textcoords="offset points", xytext=(0, 2))
    right.set_xlabel("regime")
    right.set_ylabel("expected stay (regime bars)")
    right.set_title("Expected stay implied by the diagonal")
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
    labels = list(REGIME_COLOURS)
    fig, axes = new_figure(6.5, len(labels), 1, sharex=True, sharey=True)
    for ax, label in zip(axes, labels):
        colour = REGIME_COLOURS[label]
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
    axes[-1].set_xlabel("time (regime bar close)")
    return fig


def label_stability(stability: pd.DataFrame, target: float = 0.95) -> Figure:
    """How much each weekly refit relabels the shared history of the previous one.

    ``stability`` has one row per refit with ``end`` (end of its training span), ``agreement``
    (share of regime bars labelled alike by this fit and the previous one; NaN for the first) and
    ``converged``. Refits whose EM did not converge are drawn hollow; ``target`` is a guide line.
    """
    fig, ax = new_figure(4.5)
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
    return fig
