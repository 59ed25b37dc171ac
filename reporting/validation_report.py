"""The retrain's validation report: CPCV paths, walk-forward windows and overfitting statistics.

One markdown page (a headline in plain words, then a section per check with its table and the
place of its figure), the figures by name, and the self-contained HTML page of both. The parts
that did not run say why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting import validation_plots
from reporting.figures import render_png
from reporting.html import figure_marker, html_page
from reporting.markdown import markdown_table

if TYPE_CHECKING:
    from ml_core.evaluation import CVReport, OverfittingReport, WalkForwardReport

PBO_LIMIT = 0.5
"""A PBO at or above this means the in-sample best trial is no better out of sample than a coin."""
DSR_LEVEL = 0.95
"""Confidence a deflated Sharpe ratio must reach for the Sharpe to count as significant."""
TITLE = "Validation report"

_DEFAULT_REASONS = {
    "walk_forward": "not run in this retrain",
    "overfitting": "not assessed in this retrain",
    "pbo": "no tuning trials (tuning disabled, or fewer than two complete trials per model)",
    "baselines": "not computed in this retrain",
}


def _fmt(value: float, spec: str = ".3f") -> str:
    return format(float(value), spec)


def _reason(skipped: Mapping[str, str] | None, part: str) -> str:
    return (skipped or {}).get(part, _DEFAULT_REASONS[part])


def _count(share: float, n: int) -> str:
    return "-" if not math.isfinite(share) else str(round(share * n))


def _cpcv_reading(cv_report: CVReport) -> str:
    """Median, min and max path Sharpe over the paths that traded, and how many did; or "no
    trades" in words."""
    paths = cv_report.paths
    sharpe = paths.loc[paths["n_trades"] > 0, "sharpe"].astype(float)
    if sharpe.empty:
        return (f"no trades on any of the {len(paths)} paths: the model held throughout, so "
                "there is no Sharpe ratio")
    over = (f"over {len(paths)} paths" if len(sharpe) == len(paths) else
            f"over the {len(sharpe)} of {len(paths)} paths that traded; "
            f"{len(paths) - len(sharpe)} made no trades")
    return (f"median path Sharpe {_fmt(sharpe.median())} (min {_fmt(sharpe.min())}, max "
            f"{_fmt(sharpe.max())} {over})")


def _cpcv_section(cv_report: CVReport, skipped: Mapping[str, str] | None) -> list[str]:
    reading = _cpcv_reading(cv_report)
    lines = ["### CPCV backtest paths", "",
             f"{reading[0].upper()}{reading[1:]}; annualised, out of sample.", "",
             markdown_table(cv_report.paths.reset_index()), "", figure_marker("cpcv_paths"), ""]
    if not len(cv_report.baselines):
        return lines + [f"*Baselines missing*: {_reason(skipped, 'baselines')}.", ""]
    columns = [c for c in ("sharpe", "sortino", "max_drawdown", "hit_rate")
               if c in cv_report.paths.columns]
    rows = {"ensemble": cv_report.paths[columns].astype(float).median()}
    for name, frame in cv_report.baselines.groupby(level="baseline", sort=False):
        rows[str(name)] = frame[columns].astype(float).median()
    table = pd.DataFrame(rows).T.rename_axis("strategy").reset_index()
    return lines + ["Baselines (median over paths; `-`: undefined): `buy_and_hold` holds the "
                    "asset from the first event to the last, the same on every path; "
                    "`long_every_event` goes long on every labelled event with its barrier exit; "
                    "`momentum` trades the sign of a past return.", "",
                    markdown_table(table), ""]


def _baseline_reading(cv_report: CVReport) -> list[str]:
    if not len(cv_report.baselines):
        return []
    paths = cv_report.paths
    median = float(paths.loc[paths["n_trades"] > 0, "sharpe"].median())
    out = []
    for name, frame in cv_report.baselines.groupby(level="baseline", sort=False):
        other = float(frame["sharpe"].median())
        if not math.isfinite(median):
            out.append(f"- No trades, so no comparison with {name}'s median Sharpe "
                       f"{_fmt(other)}.")
        elif median > other:
            out.append(f"- Median path Sharpe {_fmt(median)} beats {name}'s {_fmt(other)}.")
        else:
            out.append(f"- Median path Sharpe {_fmt(median)} does not beat {name}'s "
                       f"{_fmt(other)}: the baseline explains the result.")
    return out


def _walk_forward_section(walk_forward: WalkForwardReport | None,
                          skipped: Mapping[str, str] | None) -> tuple[list[str], list[str]]:
    if walk_forward is None:
        reason = _reason(skipped, "walk_forward")
        return (["### Walk-forward", "", f"*Walk-forward missing*: {reason}.", ""],
                [f"- Walk-forward missing: {reason}."])
    s = walk_forward.summary()
    n = int(s["wf_n_windows"])
    traded = int(s["wf_n_windows_traded"])
    market = (f"buy and hold's median window Sharpe {_fmt(s['wf_buy_and_hold_sharpe_median'])}"
              if math.isfinite(s["wf_buy_and_hold_sharpe_median"]) else
              "buy and hold not measured (no close prices)")
    if traded == 0:
        reading = (f"no trades in any of the {n} windows: the model held throughout, so there "
                   "is no Sharpe or drawdown to judge")
        body = f"{reading}; {market}."
    else:
        of = f"{traded} windows that traded" if traded < n else f"{n} windows"
        consistency = (f"Sharpe > {walk_forward.sharpe_threshold:g} in "
                       f"{_count(s['wf_sharpe_consistency'], traded)} of {of} (consistency "
                       f"{_fmt(s['wf_sharpe_consistency'])})")
        control = (f"max drawdown < {walk_forward.drawdown_limit:g} in "
                   f"{_count(s['wf_drawdown_control'], traded)} of {traded} (drawdown control "
                   f"{_fmt(s['wf_drawdown_control'])})")
        idle = f"; {n - traded} of {n} windows made no trades" if traded < n else ""
        reading = f"{consistency}; {control}{idle}"
        body = (f"{reading}. Median window Sharpe {_fmt(s['wf_sharpe_median'])} vs {market}; "
                f"median max drawdown {_fmt(s['wf_max_drawdown_median'])}.")
    lines = ["### Walk-forward", "",
             f"**{n}** windows, each traded out of sample by an ensemble fitted on the events "
             f"before it: {body}", "",
             markdown_table(walk_forward.windows.reset_index()), "",
             figure_marker("walk_forward"), ""]
    return lines, [f"- Walk-forward: {reading}."]


def _pbo_reading(overfitting: OverfittingReport) -> str:
    if not overfitting.pbo:
        return "- PBO undefined: " + "; ".join(
            f"{name}: {reason}" for name, reason in overfitting.pbo_undefined.items()) + "."
    model, worst = max(overfitting.pbo.items(), key=lambda item: item[1].pbo)
    which = model if len(overfitting.pbo) == 1 else \
        f"{model}, the worst of {len(overfitting.pbo)} tuned models"
    if worst.pbo >= PBO_LIMIT:
        return (f"- PBO {_fmt(worst.pbo)} ≥ {PBO_LIMIT:g} ({which}): the tuning selection is not "
                "better than a random pick.")
    return (f"- PBO {_fmt(worst.pbo)} < {PBO_LIMIT:g} ({which}): the in-sample best trial "
            "usually stays above the out-of-sample median.")


def _dsr_reading(dsr: float, n_trials: int) -> str:
    if not math.isfinite(dsr):
        return "- DSR undefined: no path traded, so there is no Sharpe ratio to deflate."
    if dsr < DSR_LEVEL:
        return (f"- DSR {_fmt(dsr)} < {DSR_LEVEL:g}: the Sharpe is not significant after "
                f"{n_trials} trials.")
    return (f"- DSR {_fmt(dsr)} ≥ {DSR_LEVEL:g}: the Sharpe stays significant after "
            f"{n_trials} trials.")


def _overfitting_section(overfitting: OverfittingReport | None,
                         skipped: Mapping[str, str] | None) -> tuple[list[str], list[str]]:
    if overfitting is None:
        reason = _reason(skipped, "overfitting")
        return (["### Overfitting", "", f"*Overfitting statistics missing*: {reason}.", ""],
                [f"- Overfitting statistics missing: {reason}."])
    s = overfitting.summary()
    lines = ["### Overfitting", "",
             f"Configurations tried: **{overfitting.n_trials}** (every finished tuning trial, "
             f"pruned ones included); variance of the trial Sharpe ratios "
             f"{_fmt(overfitting.sr_variance, '.3g')}; the best of {overfitting.n_trials} "
             f"skill-less trials reaches a per-event Sharpe of "
             f"{_fmt(overfitting.expected_max_sharpe)} by luck.", "",
             f"PSR median **{_fmt(s['psr_median'])}**, DSR median **{_fmt(s['dsr_median'])}** "
             f"over {len(overfitting.paths)} paths (Sharpe per event, not annualised):", "",
             markdown_table(overfitting.paths.reset_index()), ""]
    readings = []
    undefined = [f"*PBO undefined for {name}*: {reason}."
                 for name, reason in overfitting.pbo_undefined.items()]
    if overfitting.pbo:
        table = pd.DataFrame([
            {"model": name, "pbo": r.pbo, "n_trials": overfitting.pbo_trials.get(name, np.nan),
             "n_combinations": r.n_combinations, "p_oos_loss": r.probability_of_loss,
             "median_logit": float(np.median(r.logits))}
            for name, r in overfitting.pbo.items()])
        lines += ["Probability of backtest overfitting per tuned model (CSCV over the returns of "
                  "its trials, each distinct return series once; p_oos_loss: share of "
                  "combinations where the selected trial lost out of sample):", "",
                  markdown_table(table), "", *[x for u in undefined for x in (u, "")],
                  figure_marker("pbo_logits"), "", figure_marker("overfitting_degradation"), ""]
        readings.append(_pbo_reading(overfitting))
    elif undefined:
        lines += [x for u in undefined for x in (u, "")]
        readings.append(_pbo_reading(overfitting))
    else:
        reason = _reason(skipped, "pbo")
        lines += [f"*PBO missing*: {reason}.", ""]
        readings.append(f"- PBO missing: {reason}.")
    readings.append(_dsr_reading(s["dsr_median"], overfitting.n_trials))
    return lines, readings


def validation_markdown(cv_report: CVReport, walk_forward: WalkForwardReport | None,
                        overfitting: OverfittingReport | None, *, promotion_metric: str,
                        score: float, skipped: Mapping[str, str] | None = None) -> str:
    """The validation report as one markdown page.

    A headline (the promotion metric and score, then one plain-language line per check), the
    CPCV paths with the baselines side by side, the walk-forward windows against their
    thresholds, and PBO, PSR and DSR. A part that is ``None`` (or a PBO without tuned models, or
    a CV report without baselines) gets a line saying why it is missing: ``skipped`` maps
    ``walk_forward``, ``overfitting``, ``pbo`` or ``baselines`` to the reason the retrain
    recorded; otherwise a generic one is used. Lines ``<!-- figure:<name> -->`` mark where
    :func:`validation_html` places the figures of :func:`validation_figures`.
    """
    wf_lines, wf_reading = _walk_forward_section(walk_forward, skipped)
    of_lines, of_reading = _overfitting_section(overfitting, skipped)
    value = (f"**{_fmt(score)}**" if math.isfinite(score) else
             "**undefined** (no trades behind it: such a version is never promoted)")
    headline = [
        "## Validation report", "",
        f"Promotion metric `{promotion_metric}` = {value}.", "",
        f"- CPCV: {_cpcv_reading(cv_report)}.",
        *_baseline_reading(cv_report), *wf_reading, *of_reading, ""]
    lines = headline + _cpcv_section(cv_report, skipped) + wf_lines + of_lines
    return "\n".join(lines).rstrip() + "\n"


def buy_and_hold_sharpe(cv_report: CVReport) -> float | None:
    """Buy and hold's median Sharpe over the CPCV paths (the same on every path); None when the
    report has no ``buy_and_hold`` baseline (no close prices, or no baselines computed)."""
    baselines = cv_report.baselines
    if not len(baselines) or "buy_and_hold" not in baselines.index.get_level_values("baseline"):
        return None
    return float(baselines.xs("buy_and_hold", level="baseline")["sharpe"].median())


def cpcv_figure(cv_report: CVReport) -> Figure:
    """:func:`reporting.validation_plots.cv_paths` of the report, buy and hold included when the
    report has it."""
    return validation_plots.cv_paths(cv_report.path_returns, cv_report.paths["sharpe"],
                                     buy_and_hold_sharpe(cv_report))


def validation_figures(cv_report: CVReport, walk_forward: WalkForwardReport | None,
                       overfitting: OverfittingReport | None) -> dict[str, Figure]:
    """The report's figures by name: ``cpcv_paths``, then ``walk_forward`` when it ran,
    ``pbo_logits`` when overfitting was assessed (saying "no tuning trials" without tuned
    models) and ``overfitting_degradation`` with tuned models."""
    figures = {"cpcv_paths": cpcv_figure(cv_report)}
    if walk_forward is not None:
        figures["walk_forward"] = validation_plots.walk_forward_sharpe(
            walk_forward.windows, walk_forward.sharpe_threshold, walk_forward.drawdown_limit)
    if overfitting is not None:
        figures["pbo_logits"] = validation_plots.pbo_logits(overfitting.pbo)
        if overfitting.pbo:
            figures["overfitting_degradation"] = validation_plots.overfitting_degradation(
                overfitting.pbo)
    return figures


def validation_html(markdown_text: str, figures: Mapping[str, Figure]) -> str:
    """One self-contained HTML page (:func:`reporting.html.html_page`): the markdown rendered,
    tables included, with every figure embedded as a PNG at its ``<!-- figure:<name> -->``
    marker, or under a closing "Figures" heading when the text has no marker for it."""
    return html_page(markdown_text, render_png(figures), TITLE)
