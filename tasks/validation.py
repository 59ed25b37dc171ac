"""The retrain's validation report logged: CPCV paths, walk-forward windows and overfitting
statistics.

The report itself (markdown, figures, HTML) is :mod:`reporting.validation_report`'s; this task
logs it, the tables behind it and the headline metrics under the run's ``validation/`` folder,
and shows the markdown as a Prefect artifact.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.evaluation import CVReport, OverfittingReport, WalkForwardReport
from reporting.figures import render_png
from reporting.html import html_page, strip_figure_markers
from reporting.validation_report import TITLE, validation_figures, validation_markdown
from tasks.registry import Tracker


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
    (self-contained), the figures of :func:`reporting.validation_report.validation_figures` as
    ``<name>.png`` and the tables ``walk_forward_windows.csv``, ``pbo_logits.csv`` (one row per
    model and CSCV combination) and ``overfitting_paths.csv`` of the parts that ran. Returns the
    metrics logged.
    """
    metrics = validation_metrics(walk_forward, overfitting)
    tracker.log_metrics(run_id, metrics)
    if walk_forward is not None:
        tracker.log_series(run_id, walk_forward.windows, "wf_window/")
    text = validation_markdown(cv_report, walk_forward, overfitting,
                               promotion_metric=promotion_metric, score=score, skipped=skipped)
    figures = validation_figures(cv_report, walk_forward, overfitting)
    images = render_png(figures)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "report.md").write_text(text, encoding="utf-8")
        (folder / "report.html").write_text(html_page(text, images, TITLE), encoding="utf-8")
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
        markdown=strip_figure_markers(text),
        description="validation of the weekly retrain: CPCV paths, walk-forward, overfitting",
    )
    return metrics
