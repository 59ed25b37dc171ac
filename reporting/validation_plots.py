"""Figures of the validation: CPCV backtest paths, walk-forward windows, backtest overfitting."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from reporting.figures import date_axis, new_figure, panel_grid, placeholder

if TYPE_CHECKING:
    from ml_core.validation import PBOResult

_GREEN, _RED, _GREY, _BLUE = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0"
_PATH_GREY, _MARKET = "#90a4ae", "#ef6c00"
_MAX_TICK_LABELS = 24


def median_path(path_sharpes: pd.Series) -> int | None:
    """The path at the median Sharpe ratio of the paths that have one: the lower of the two
    middle paths when their number is even, the first in path order among equal Sharpes; None
    when no path has a Sharpe ratio (none traded)."""
    sharpe = path_sharpes.astype(float).dropna()
    if sharpe.empty:
        return None
    return int(sharpe.sort_values(kind="stable").index[(len(sharpe) - 1) // 2])


def cv_paths(path_returns: dict[int, pd.Series], path_sharpes: pd.Series,
             buy_and_hold_sharpe: float | None = None) -> Figure:
    """The cumulative out-of-sample return of every CPCV backtest path, and their Sharpe ratios.

    Left: one line per path (compounded trade returns against event time), the
    :func:`median_path` highlighted and named, the others drawn alike as one group. Right: the
    histogram of the path Sharpe ratios with their median and, when given, buy and hold's Sharpe
    over the same span (``buy_and_hold_sharpe``).
    """
    fig, (left, right) = new_figure(5.0, 1, 2, gridspec_kw={"width_ratios": [3, 1]})
    middle = median_path(path_sharpes)
    others = [p for p in path_returns if p != middle]
    for i, path in enumerate(others):
        returns = path_returns[path]
        label = (f"other paths ({len(others)})" if middle is not None else
                 f"paths ({len(others)}, none traded)") if i == 0 else "_nolegend_"
        left.plot(returns.index, (1.0 + returns).cumprod() - 1.0, lw=0.8, color=_PATH_GREY,
                  alpha=0.8, label=label)
    if middle is not None:
        returns = path_returns[middle]
        left.plot(returns.index, (1.0 + returns).cumprod() - 1.0, lw=2.0, color=_BLUE,
                  label=f"median path: {middle} (Sharpe {path_sharpes[middle]:.2f})")
    left.axhline(0.0, color="black", lw=0.5)
    if any(isinstance(r.index, pd.DatetimeIndex) for r in path_returns.values()):
        date_axis(left)
    left.set_xlabel("time (event start)")
    left.set_ylabel("cumulative return (compounded trades)")
    left.set_title(f"CPCV backtest paths, out of sample ({len(path_returns)} paths)")
    left.legend(loc="upper left", fontsize="small")
    sharpe = path_sharpes.astype(float).dropna()
    right.hist(sharpe, bins=max(3, len(path_sharpes) // 2), color=_BLUE, alpha=0.8)
    if not sharpe.empty:
        right.axvline(float(sharpe.median()), color="black", ls="--",
                      label=f"median {sharpe.median():.2f}")
    if buy_and_hold_sharpe is not None and math.isfinite(buy_and_hold_sharpe):
        right.axvline(buy_and_hold_sharpe, color=_MARKET, lw=1.5,
                      label=f"buy and hold {buy_and_hold_sharpe:.2f}")
    right.set_xlabel("annualised Sharpe")
    right.set_ylabel("paths")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_title("Sharpe across paths")
    if right.get_legend_handles_labels()[0]:
        right.legend(loc="upper left", fontsize="small")
    return fig


def pbo_logits(pbo: dict[str, PBOResult]) -> Figure:
    """Histogram of the CSCV logits of each tuned model, with its PBO, two panels to a row.

    A logit is the out-of-sample relative rank of the in-sample best trial on the logit scale:
    mass left of the line at 0 (the out-of-sample median) is the probability of backtest
    overfitting. With no tuned model the figure says so.
    """
    if not pbo:
        return placeholder("no tuning trials: PBO needs several tuning trials per model",
                           "PBO: logits of the selected trial")
    fig, axes = panel_grid(len(pbo))
    for ax, (model, result) in zip(axes, pbo.items()):
        logits = np.asarray(result.logits, dtype=float)
        edges = np.histogram_bin_edges(logits, bins=max(3, min(20, logits.size)))
        ax.hist(logits[logits <= 0], bins=edges, color=_RED, alpha=0.8,
                label="logit <= 0 (overfit)")
        ax.hist(logits[logits > 0], bins=edges, color=_GREEN, alpha=0.8, label="logit > 0")
        ax.axvline(0.0, color="black", lw=1)
        ax.set_title(f"{model}: PBO {result.pbo:.3f} ({result.n_combinations} combinations)")
        ax.set_xlabel("logit of the OOS rank of the IS-best trial")
        ax.set_ylabel("combinations")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle("Probability of backtest overfitting: where the in-sample best trial ranks "
                 "out of sample")
    return fig


def overfitting_degradation(pbo: dict[str, PBOResult]) -> Figure:
    """In-sample vs out-of-sample Sharpe ratio of the selected trial in each CSCV combination,
    one panel per tuned model, two to a row.

    A least-squares line whose slope is far below 1 means in-sample gains do not persist; points
    below 0 are combinations where the selection lost money out of sample.
    """
    if not pbo:
        return placeholder("no tuning trials: nothing was selected in sample",
                           "Performance degradation of the selected trial")
    fig, axes = panel_grid(len(pbo))
    for ax, (model, result) in zip(axes, pbo.items()):
        is_sr = np.asarray(result.is_sharpe, dtype=float)
        oos_sr = np.asarray(result.oos_sharpe, dtype=float)
        ax.scatter(is_sr, oos_sr, s=12, color=_BLUE, alpha=0.7,
                   label=f"combinations ({is_sr.size})")
        ax.axhline(0.0, color="black", lw=0.5)
        if np.ptp(is_sr) > 0:
            slope, intercept = np.polyfit(is_sr, oos_sr, 1)
            grid = np.linspace(is_sr.min(), is_sr.max(), 2)
            ax.plot(grid, intercept + slope * grid, color=_RED, lw=1, label=f"slope {slope:.2f}")
        ax.set_title(f"{model}: P(OOS Sharpe < 0) {result.probability_of_loss:.3f}")
        ax.set_xlabel("in-sample Sharpe (per event)")
        ax.set_ylabel("out-of-sample Sharpe (per event)")
        ax.legend(loc="best", fontsize="small")
    fig.suptitle("Performance degradation: the selected trial in and out of sample")
    return fig


def _pass_colours(values: np.ndarray, passes: np.ndarray) -> list[str]:
    return [_GREY if np.isnan(v) else _GREEN if ok else _RED for v, ok in zip(values, passes)]


def _pass_legend(ax: Axes, values: np.ndarray, passed: str, failed: str) -> None:
    """The bar colours of :func:`_pass_colours` (grey only when a window has no value), then the
    axes' labelled lines and markers."""
    idle = [Patch(color=_GREY, label="no trades")] if np.isnan(values).any() else []
    ax.legend(handles=[Patch(color=_GREEN, label=passed), Patch(color=_RED, label=failed), *idle,
                       *ax.get_legend_handles_labels()[0]], loc="best", fontsize="small")


def walk_forward_sharpe(windows: pd.DataFrame, sharpe_threshold: float,
                        drawdown_limit: float) -> Figure:
    """Sharpe and max drawdown of each walk-forward window against their thresholds.

    Top: one bar per window, green when its Sharpe is above ``sharpe_threshold`` (consistent),
    red otherwise, grey without trades (NaN); buy-and-hold's Sharpe over the same window as a
    marker. Bottom: max drawdown per window, green when below ``drawdown_limit`` (controlled).
    At most 24 windows are named under the bars.
    """
    fig, (top, bottom) = new_figure(6.0, 2, 1, sharex=True,
                                    gridspec_kw={"height_ratios": [3, 2]})
    x = np.arange(len(windows))
    sharpe = windows["sharpe"].to_numpy(dtype=float)
    top.bar(x, np.nan_to_num(sharpe), color=_pass_colours(sharpe, sharpe > sharpe_threshold))
    top.scatter(x, windows["buy_and_hold_sharpe"].to_numpy(dtype=float), marker="D",
                color="black", zorder=3, label="buy and hold")
    top.axhline(sharpe_threshold, color=_BLUE, ls="--", lw=1,
                label=f"threshold {sharpe_threshold:g}")
    top.axhline(0.0, color="black", lw=0.5)
    top.set_ylabel("annualised Sharpe")
    top.set_title(f"Walk-forward windows: Sharpe > {sharpe_threshold:g} in "
                  f"{int((sharpe > sharpe_threshold).sum())} of {len(windows)}")
    _pass_legend(top, sharpe, f"Sharpe > {sharpe_threshold:g}",
                 f"Sharpe <= {sharpe_threshold:g}")
    drawdown = windows["max_drawdown"].to_numpy(dtype=float)
    bottom.bar(x, np.nan_to_num(drawdown),
               color=_pass_colours(drawdown, drawdown < drawdown_limit))
    bottom.axhline(drawdown_limit, color=_RED, ls="--", lw=1, label=f"limit {drawdown_limit:g}")
    bottom.set_ylabel("max drawdown")
    _pass_legend(bottom, drawdown, f"drawdown < {drawdown_limit:g}",
                 f"drawdown >= {drawdown_limit:g}")
    starts = pd.to_datetime(windows["test_start"])
    step = max(1, math.ceil(len(windows) / _MAX_TICK_LABELS))
    bottom.set_xticks(x[::step], [f"{s:%Y-%m-%d}" for s in starts[::step]], rotation=45,
                      ha="right")
    bottom.set_xlabel("test window start")
    return fig
