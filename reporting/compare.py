"""Two registered versions side by side: is B better than A, and is either overfit?

Built from plain inputs (each version's run metrics, the per-bar returns of its held positions
on the newest bars, its feature importances) into the tables, the figures, the words of the
paired test and one self-contained HTML page, ``compare/v<B>_vs_v<A>.html``, that the MLflow UI
shows in B's run. ``regimeforest compare`` prints the same tables.

Differences are always B minus A: with A the champion and B the newest version, a positive
Sharpe difference favours the newcomer, a negative PBO difference says it is less overfit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.figures import REGIME_COLOURS, date_axis, new_figure, placeholder, render_png
from reporting.headline import HEADLINE, HEADLINE_KEYS, headline_figures
from reporting.html import figure_marker, html_page
from reporting.markdown import markdown_table

__all__ = ["COLUMNS", "DIFFERENCE", "REGIMES", "TOP_FEATURES", "VersionInputs", "artifact_name",
           "comparison_html", "comparison_markdown", "equity_figure", "format_table",
           "headline_table", "importance_figure", "importance_table", "overfitting_sentence",
           "overfitting_table", "paired_test_sentence", "regime_table", "side_by_side"]

DIFFERENCE = "B−A"
COLUMNS: tuple[str, str, str] = ("A", "B", DIFFERENCE)
"""The columns of every side-by-side table."""
REGIMES: tuple[str, ...] = tuple(REGIME_COLOURS)
"""The regime labels in the regime model's order (bull, bear, sideways)."""
TOP_FEATURES = 15
"""Features shown in the importance comparison."""
DIGITS = 4
"""Significant digits of a table cell (the headline figures' own precision)."""
MISSING = "—"
"""A figure the version's run did not log (not measured, never zero)."""
_OVERFITTING_FIRST = ("pbo", "dsr_median", "psr_median", "dsr_n_trials")
_A_COLOUR, _B_COLOUR, _MARKET = "#1565c0", "#ef6c00", "#757575"


@dataclass(frozen=True)
class VersionInputs:
    """What the comparison page knows of one version.

    Attributes
    ----------
    label : str
        How the page names it, e.g. ``v1 (champion)``.
    metrics : mapping of str to float
        Its training run's latest metrics.
    returns : pandas.Series of float, optional
        Per-bar net returns of its held positions on the newest bars (the paired test's
        input); None when they could not be scored.
    importances : pandas.DataFrame, optional
        Feature importances, one row per feature and one column per forest (the run's
        ``tables/feature_importances.csv``); None when the run has none.
    note : str
        One line about it (its run, the data and moment it was trained on).
    """

    label: str
    metrics: Mapping[str, float]
    returns: pd.Series | None = None
    importances: pd.DataFrame | None = None
    note: str = field(default="")


def artifact_name(a: str, b: str) -> str:
    """The page's path in B's run: ``compare/v<B>_vs_v<A>.html``."""
    return f"compare/v{b}_vs_v{a}.html"


def side_by_side(a: Mapping[str, float], b: Mapping[str, float],
                 keys: Sequence[str]) -> pd.DataFrame:
    """``keys`` of ``a`` and ``b`` in :data:`COLUMNS`: A, B and B−A, indexed by key.

    A figure missing on a side (or not finite) is NaN there, and so is the difference: a
    figure one run did not log is not measured, not zero.
    """
    def value(metrics: Mapping[str, float], key: str) -> float:
        found = metrics.get(key)
        return float(found) if found is not None and math.isfinite(float(found)) else math.nan

    frame = pd.DataFrame({"A": [value(a, k) for k in keys], "B": [value(b, k) for k in keys]},
                         index=pd.Index(list(keys), name="figure"), dtype="float64")
    frame[DIFFERENCE] = frame["B"] - frame["A"]
    return frame


def _headline(metrics: Mapping[str, float]) -> dict[str, float]:
    """The headline figures of a run: copied from their sources (:func:`headline_figures`),
    and those logged as headline figures only (the monitor's drift share)."""
    logged = {key: metrics[key] for key in HEADLINE_KEYS if key in metrics}
    return {**logged, **headline_figures(metrics)}


def headline_table(a: Mapping[str, float], b: Mapping[str, float]) -> pd.DataFrame:
    """Every headline figure (:data:`reporting.headline.HEADLINE`, in its order) of both runs'
    metrics, indexed by the figure's name (``pbo``, not ``headline/pbo``)."""
    table = side_by_side(_headline(a), _headline(b), HEADLINE_KEYS)
    table.index = pd.Index(list(HEADLINE), name="figure")
    return table


def overfitting_table(a: Mapping[str, float], b: Mapping[str, float]) -> pd.DataFrame:
    """The overfitting figures either run logged: PBO (``pbo``, ``pbo_<study>``) and the
    probabilistic and deflated Sharpe (``psr_*``, ``dsr_*``); the headline ones first."""
    found = {k for m in (a, b) for k in m if k.startswith(("pbo", "psr_", "dsr_"))}
    keys = [k for k in _OVERFITTING_FIRST if k in found]
    return side_by_side(a, b, keys + sorted(found - set(keys)))


def regime_table(a: Mapping[str, float], b: Mapping[str, float],
                 regimes: Sequence[str] = REGIMES) -> pd.DataFrame:
    """The regime figures either run logged: the regime model's (``regime_*``: persistence,
    occupancy, out-of-sample accuracy, refit stability), then the CPCV figures per regime
    (``cv_<regime>_*``) in ``regimes`` order."""
    found = {k for m in (a, b) for k in m}
    keys = sorted(k for k in found if k.startswith("regime_"))
    for regime in regimes:
        keys += sorted(k for k in found if k.startswith(f"cv_{regime}_"))
    return side_by_side(a, b, keys)


def importance_table(a: pd.DataFrame | None, b: pd.DataFrame | None,
                     top: int = TOP_FEATURES) -> pd.DataFrame:
    """Each version's importance of a feature (its mean over the forests), for the ``top``
    features by the mean of the two; a feature a version does not read has importance 0
    there. Columns ``A`` and ``B``, most important first."""
    if top < 1:
        raise ValueError(f"`top` must be at least 1, got `top={top}`")
    means = {side: (pd.Series(dtype="float64") if frame is None
                    else frame.astype("float64").mean(axis=1))
             for side, frame in (("A", a), ("B", b))}
    table = pd.DataFrame(means).fillna(0.0)
    if table.empty:
        return pd.DataFrame({"A": [], "B": []}, dtype="float64")
    order = table.mean(axis=1).sort_values(ascending=False, kind="stable")
    table = table.loc[order.index[:top]]
    table.index.name = "feature"
    return table


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """The cells as text: :data:`DIGITS` significant digits (whole numbers as they are), the
    difference signed, a missing figure as :data:`MISSING`."""
    def cell(value: float, signed: bool) -> str:
        if not math.isfinite(value):
            return MISSING
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{value:+.0f}" if signed and value else f"{value:.0f}"
        return f"{value:+.{DIGITS}g}" if signed else f"{value:.{DIGITS}g}"

    return pd.DataFrame({column: [cell(v, column == DIFFERENCE) for v in table[column]]
                         for column in table.columns}, index=table.index)


def paired_test_sentence(test: Any, labels: tuple[str, str], alpha: float) -> str:
    """The paired Sharpe test in words.

    ``test`` is the promotion gate's :class:`~ml_core.lifecycle.SharpeDifference` of B (its
    ``a``) against A (its ``b``) on the same newest bars, one-sided: does B beat A?
    """
    a, b = labels
    outcome = "beats" if test.p_value < alpha else "does not beat"
    error = (f"s.e. {test.std_error:.4f}" if math.isfinite(test.std_error) else
             "no s.e.: both held flat on every bar, nothing can be shown")
    return (f"{b} {outcome} {a} on the newest bars at alpha {alpha:g}: Sharpe per bar "
            f"{test.sharpe_a:.4f} against {test.sharpe_b:.4f}, difference "
            f"{test.difference:+.4f} ({error}, {test.method}, one-sided p = "
            f"{test.p_value:.3g} over {test.n:,} bars).")


def overfitting_sentence(a: Mapping[str, float], b: Mapping[str, float],
                         labels: tuple[str, str]) -> str:
    """PBO and deflated Sharpe of both versions and their change, in one sentence."""
    table = format_table(side_by_side(a, b, ["pbo", "dsr_median"]))

    def part(key: str, name: str) -> str:
        row = table.loc[key]
        return f"{name} {row['A']} for {labels[0]}, {row['B']} for {labels[1]} ({DIFFERENCE} " \
               f"{row[DIFFERENCE]})"

    return (part("pbo", "PBO") + " — 0.5 is a random pick, lower is better; "
            + part("dsr_median", "deflated Sharpe probability") + " — higher is better.")


def equity_figure(returns: Mapping[str, pd.Series], close: pd.Series | None) -> Figure:
    """The compounded net return of each version's held positions on the newest bars (one line
    per entry of ``returns``, by its label), and buy-and-hold of the asset (``close``, from
    the first bar's close) on the same bars."""
    drawn = {label: r for label, r in returns.items() if r is not None and len(r)}
    if not drawn:
        return placeholder("the versions could not be scored on the newest bars",
                           "Equity on the newest bars")
    fig, ax = new_figure(4.8)
    for (label, r), colour in zip(drawn.items(), (_A_COLOUR, _B_COLOUR, None), strict=False):
        ax.plot(r.index, (1.0 + r.astype("float64")).cumprod() - 1.0, lw=1.6, color=colour,
                label=label)
    if close is not None and len(close):
        ax.plot(close.index, close / float(close.iloc[0]) - 1.0, lw=1.0, ls="--",
                color=_MARKET, label="buy-and-hold")
    ax.axhline(0.0, color="black", lw=0.5)
    index = next(iter(drawn.values())).index
    if isinstance(index, pd.DatetimeIndex):
        date_axis(ax)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("cumulative return (compounded, net of costs)")
    ax.set_title(f"Equity on the newest bars, {index[0]:%Y-%m-%d %H:%M} → "
                 f"{index[-1]:%Y-%m-%d %H:%M} ({len(index):,} bars)")
    ax.legend(loc="upper left")
    return fig


def importance_figure(table: pd.DataFrame, labels: tuple[str, str]) -> Figure:
    """:func:`importance_table` as grouped horizontal bars, A beside B for each feature, the
    most important on top."""
    if table.empty:
        return placeholder("neither run logged its feature importances", "Feature importances")
    names = [str(name) for name in table.index[::-1]]
    y = np.arange(len(names))
    height = 0.4
    fig, ax = new_figure(max(4.0, 0.38 * len(names) + 1.4))
    ax.barh(y + height / 2, table["A"].to_numpy()[::-1], height=height, color=_A_COLOUR,
            label=labels[0])
    ax.barh(y - height / 2, table["B"].to_numpy()[::-1], height=height, color=_B_COLOUR,
            label=labels[1])
    ax.set_yticks(y, names)
    ax.set_xlabel("mean decrease in impurity (mean over the forests)")
    ax.set_ylabel("feature")
    ax.set_title(f"Feature importances (top {len(names)} by mean importance)")
    ax.legend(loc="lower right")
    return fig


def _markdown(table: pd.DataFrame, labels: tuple[str, str]) -> str:
    """A side-by-side table in markdown, its columns named after the versions."""
    text = format_table(table).reset_index()
    text.columns = [str(table.index.name or "figure"), f"A: {labels[0]}", f"B: {labels[1]}",
                    DIFFERENCE][:len(text.columns)]
    return markdown_table(text)


def _regime_sections(table: pd.DataFrame, labels: tuple[str, str]) -> list[str]:
    """The regime model's figures and the CPCV figures by regime, as two tables."""
    model = table.index.str.startswith("regime_")
    parts = []
    for title, rows in (("The regime model (persistence, out-of-sample accuracy, refit "
                         "stability)", model), ("CPCV by regime", ~model)):
        if rows.any():
            parts += [f"### {title}", _markdown(table[rows], labels)]
    return parts or ["Neither run logged regime figures."]


def comparison_markdown(title: str, a: VersionInputs, b: VersionInputs, test: str,
                        verdict: str) -> str:
    """The page's text: who is compared, the paired test (``test``, e.g.
    :func:`paired_test_sentence`) and the gate's ``verdict`` in words, then the headline,
    overfitting, regime and importance tables; figures go at their markers (``equity``,
    ``importances``)."""
    labels = (a.label, b.label)
    importances = importance_table(a.importances, b.importances)
    notes = "\n".join(f"- **{side}: {v.label}**" + (f" — {v.note}" if v.note else "")
                      for side, v in (("A", a), ("B", b)))
    sections = [
        f"# {title}", notes,
        "## Is B better than A? The paired test on the newest bars",
        test, f"**The gate's verdict for B, with A in the champion's place:** {verdict}",
        figure_marker("equity"),
        "## Headline figures", _markdown(headline_table(a.metrics, b.metrics), labels),
        "## Is it overfit? PBO and deflated Sharpe",
        overfitting_sentence(a.metrics, b.metrics, labels),
        _markdown(overfitting_table(a.metrics, b.metrics), labels),
        "## Regimes", *_regime_sections(regime_table(a.metrics, b.metrics), labels),
        f"## Feature importances (top {TOP_FEATURES})", figure_marker("importances"),
    ]
    if not importances.empty:
        sections += ["Each version's importance is the mean over its forests; 0: its forests do "
                     "not read the feature (its selection dropped it).",
                     _markdown(importances, labels)]
    return "\n\n".join(sections) + "\n"


def comparison_html(title: str, a: VersionInputs, b: VersionInputs, test: str, verdict: str,
                    close: pd.Series | None) -> str:
    """The self-contained comparison page: :func:`comparison_markdown` with the equity and
    importance figures embedded as PNGs (``close``: the asset on the newest bars, for
    buy-and-hold)."""
    labels = (a.label, b.label)
    figures = {"equity": equity_figure({a.label: a.returns, b.label: b.returns}, close),
               "importances": importance_figure(importance_table(a.importances, b.importances),
                                                labels)}
    return html_page(comparison_markdown(title, a, b, test, verdict), render_png(figures),
                     title)
