"""The retrain's validation report: CPCV paths, walk-forward windows and overfitting statistics.

One markdown page (also a Prefect artifact), one self-contained HTML page with the figures embedded
(what a data scientist opens in the MLflow UI), the tables behind them and the headline metrics,
all under the run's ``validation/`` folder. The parts that did not run say why.
"""

from __future__ import annotations

import base64
import html
import math
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.evaluation import CVReport, OverfittingReport, WalkForwardReport
from tasks import plots
from tasks.publish import markdown_table
from tasks.registry import Tracker

PBO_LIMIT = 0.5
"""A PBO at or above this means the in-sample best trial is no better out of sample than a coin."""
DSR_LEVEL = 0.95
"""Confidence a deflated Sharpe ratio must reach for the Sharpe to count as significant."""

_DEFAULT_REASONS = {
    "walk_forward": "not run in this retrain",
    "overfitting": "not assessed in this retrain",
    "pbo": "no tuning trials (tuning disabled, or fewer than two complete trials per model)",
    "baselines": "not computed in this retrain",
}
_MARKER = re.compile(r"<!-- figure:([\w-]+) -->\n?")
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #212121; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #bdbdbd; padding: 0.25em 0.6em; text-align: right; }
th { background: #eeeeee; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
figcaption { color: #616161; font-size: 0.85em; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def _fmt(value: float, spec: str = ".3f") -> str:
    return format(float(value), spec)


def _reason(skipped: Mapping[str, str] | None, part: str) -> str:
    return (skipped or {}).get(part, _DEFAULT_REASONS[part])


def _marker(name: str) -> str:
    """Where :func:`validation_html` puts the figure ``name`` (an HTML comment elsewhere)."""
    return f"<!-- figure:{name} -->"


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
             markdown_table(cv_report.paths.reset_index()), "", _marker("cpcv_paths"), ""]
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
             markdown_table(walk_forward.windows.reset_index()), "", _marker("walk_forward"), ""]
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
                  _marker("pbo_logits"), "", _marker("overfitting_degradation"), ""]
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


def validation_figures(cv_report: CVReport, walk_forward: WalkForwardReport | None,
                       overfitting: OverfittingReport | None) -> dict[str, Figure]:
    """The report's figures by name (the caller closes them): ``cpcv_paths``, then
    ``walk_forward`` when it ran, ``pbo_logits`` when overfitting was assessed (saying "no
    tuning trials" without tuned models) and ``overfitting_degradation`` with tuned models."""
    figures = {"cpcv_paths": plots.cv_paths(cv_report.path_returns, cv_report.paths["sharpe"])}
    if walk_forward is not None:
        figures["walk_forward"] = plots.walk_forward_sharpe(
            walk_forward.windows, walk_forward.sharpe_threshold, walk_forward.drawdown_limit)
    if overfitting is not None:
        figures["pbo_logits"] = plots.pbo_logits(overfitting.pbo)
        if overfitting.pbo:
            figures["overfitting_degradation"] = plots.overfitting_degradation(overfitting.pbo)
    return figures


def _markdown_to_html(text: str) -> str:
    try:
        import markdown
    except ImportError:  # a transitive dependency: fall back to the text as written
        return f"<pre>{html.escape(text)}</pre>"
    return markdown.markdown(text, extensions=["tables"])


def _html_page(markdown_text: str, images: Mapping[str, bytes]) -> str:
    body = _markdown_to_html(markdown_text)
    unplaced = []
    for name, png in images.items():
        encoded = base64.b64encode(png).decode("ascii")
        tag = (f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(name)}">'
               f"<figcaption>{html.escape(name)}</figcaption></figure>")
        if _marker(name) in body:
            body = body.replace(_marker(name), tag, 1)
        else:
            unplaced.append(tag)
    if unplaced:
        body += "\n<h3>Figures</h3>\n" + "\n".join(unplaced)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>Validation report</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


def validation_html(markdown_text: str, figures: Mapping[str, Figure]) -> str:
    """One self-contained HTML page: the markdown rendered (tables included) with every figure
    embedded as a base64 PNG at its ``<!-- figure:<name> -->`` marker, or under a closing
    "Figures" heading when the text has no marker for it. The figures are not closed."""
    return _html_page(markdown_text, plots.render_png(dict(figures)))


def validation_metrics(walk_forward: WalkForwardReport | None,
                       overfitting: OverfittingReport | None) -> dict[str, float]:
    """The walk-forward (``wf_*``) and overfitting (``pbo*``, ``psr_*``, ``dsr_*``) summaries of
    the parts that ran, without the undefined (non-finite) values."""
    metrics: dict[str, float] = {}
    for part in (walk_forward, overfitting):
        if part is not None:
            metrics.update(part.summary())
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


def _pbo_table(overfitting: OverfittingReport) -> pd.DataFrame:
    frames = [pd.DataFrame({"model": name, "combination": np.arange(len(r.logits)),
                            "logit": r.logits, "is_sharpe": r.is_sharpe,
                            "oos_sharpe": r.oos_sharpe})
              for name, r in overfitting.pbo.items()]
    return pd.concat(frames, ignore_index=True).set_index(["model", "combination"])


@task(name="log-validation", cache_policy=NO_CACHE)
def log_validation(tracker: Tracker, run_id: str, cv_report: CVReport,
                   walk_forward: WalkForwardReport | None, overfitting: OverfittingReport | None,
                   *, promotion_metric: str, score: float,
                   skipped: Mapping[str, str] | None = None) -> dict[str, float]:
    """Log the validation report to the run and show it as the Prefect artifact
    ``validation-report``.

    Metrics: :func:`validation_metrics`. Under ``validation/``: ``report.md``, ``report.html``
    (self-contained), the figures of :func:`validation_figures` as ``<name>.png`` and the tables
    ``walk_forward_windows.csv``, ``pbo_logits.csv`` (one row per model and CSCV combination)
    and ``overfitting_paths.csv`` of the parts that ran. Returns the metrics logged.
    """
    metrics = validation_metrics(walk_forward, overfitting)
    tracker.log_metrics(run_id, metrics)
    if walk_forward is not None:
        tracker.log_series(run_id, walk_forward.windows, "wf_window/")
    text = validation_markdown(cv_report, walk_forward, overfitting,
                               promotion_metric=promotion_metric, score=score, skipped=skipped)
    figures = validation_figures(cv_report, walk_forward, overfitting)
    images = plots.render_png(figures)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "report.md").write_text(text, encoding="utf-8")
        (folder / "report.html").write_text(_html_page(text, images), encoding="utf-8")
        for name, png in images.items():
            (folder / f"{name}.png").write_bytes(png)
        if walk_forward is not None:
            walk_forward.windows.to_csv(folder / "walk_forward_windows.csv")
        if overfitting is not None:
            overfitting.paths.to_csv(folder / "overfitting_paths.csv")
            if overfitting.pbo:
                _pbo_table(overfitting).to_csv(folder / "pbo_logits.csv")
        tracker.log_artifact(run_id, folder, "validation")
    create_markdown_artifact(
        key="validation-report",
        markdown=_MARKER.sub("", text),
        description="validation of the weekly retrain: CPCV paths, walk-forward, overfitting",
    )
    return metrics
