"""The short summary a retrain ends with, in words: one row per stage, links into the MLflow UI.

The same wording serves the Prefect artifact (markdown) and the command line (the CLI builds its
own table from :func:`row_label`, :func:`describe_scores` and :func:`describe_score`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reporting.links import run_url, runs_url, ui_base

_CV_ROWS = ("entry", "position", "exit", "profit", "ensemble", "baselines")
# The count that says whether a row's statistics exist: 0 means the model never traded there.
_TRADE_COUNTS = {"ensemble": ("n_paths_traded", "CPCV path"),
                 "walk-forward": ("wf_n_windows_traded", "walk-forward window"),
                 "holdout": ("holdout_ensemble_n_trades", "holdout event")}


@dataclass
class RetrainFacts:
    """Everything a person wants to see after a retrain, as plain values (``tasks.summary
    .RetrainSummary`` gathers them from the retrain's results)."""

    run_id: str
    experiment: str
    experiment_id: str
    tracking_uri: str
    data_source: str
    data_rows: int
    rules_passed: int
    rules_total: int
    n_features: int
    n_events: int
    n_dropped_warmup: int
    regime_persistence: dict[str, dict[str, float]]
    cv_scores: dict[str, dict[str, float]]
    promotion_metric: str
    score: float
    model_name: str
    version: str
    alias: str | None
    decision_reason: str
    champion_version: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    as_of: str = ""
    data_span: str = ""
    data_key: str = ""


def row_label(group: str) -> str:
    """``CV entry`` for the CPCV figures; walk-forward, overfitting and holdout by name."""
    return f"CV {group}" if group in _CV_ROWS else group


def describe_scores(group: str, scores: Mapping[str, float]) -> str:
    """One summary row in words: ``name value`` pairs (``undefined`` for NaN), or "no trades"
    when the group's trade count is 0, where its Sharpe, drawdown and shares are undefined."""
    count, unit = _TRADE_COUNTS.get(group, ("", ""))
    if count in scores and scores[count] == 0:
        rest = {k: v for k, v in scores.items() if k != count and math.isfinite(v)
                and ("buy_and_hold" in k or k == "holdout_n_events")}
        return ", ".join([f"no trades on any {unit} (the model held; Sharpe and drawdown "
                          "undefined)", *(f"{k} {v:.3f}" for k, v in rest.items())])
    return ", ".join(f"{k} {v:.3f}" if math.isfinite(v) else f"{k} undefined"
                     for k, v in scores.items())


def describe_score(metric: str, score: float) -> str:
    """``metric = 0.1234``, or that it is undefined (and so never promoted)."""
    if math.isfinite(score):
        return f"{metric} = {score:.4f}"
    return f"{metric} undefined (no trades behind it): never promoted"


def summary_markdown(facts: RetrainFacts) -> str:
    """The summary as a two-column markdown table under ``### Weekly retrain``; the MLflow run
    is a link to its page in the UI (:func:`reporting.links.ui_base` of the tracking URI)."""
    link = run_url(ui_base(facts.tracking_uri), facts.experiment_id, facts.run_id)
    rows = [
        ("data checks", f"{facts.rules_passed}/{facts.rules_total} rules passed on "
                        f"{facts.data_rows:,} rows (`{facts.data_source}`)"),
        *([("as of", f"{facts.as_of}: {facts.data_span}, `{facts.data_key}`")]
          if facts.as_of else []),
        ("features", f"{facts.n_features} features, {facts.n_events:,} events "
                     f"({facts.n_dropped_warmup} dropped in warm-up)"),
        *[(f"regime {label}", f"p_stay {row['p_stay']:.3f}, expected "
                              f"{row['expected_duration_bars']:.1f} bars")
          for label, row in facts.regime_persistence.items()],
        *[(row_label(model), describe_scores(model, scores))
          for model, scores in facts.cv_scores.items()],
        ("score", describe_score(f"`{facts.promotion_metric}`", facts.score)),
        ("registered", f"{facts.model_name} v{facts.version} → {facts.alias or 'no alias'}"),
        ("decision", facts.decision_reason),
        ("MLflow run", f"[`{facts.run_id}`]({link}) in `{facts.experiment}`"),
    ]
    lines = ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]
    return "### Weekly retrain\n\n" + "\n".join(lines)


def ui_hint(tracking_uri: str, experiment_id: str, default_tracking_uri: str) -> str:
    """How to look at the runs: the experiment's runs table on its headline view, served by the
    tracking server itself when the store is one (http or https), else by ``regimeforest ui``
    (with ``--tracking-uri`` unless the store is ``default_tracking_uri``)."""
    url = runs_url(ui_base(tracking_uri), experiment_id)
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {url}"
    store = "" if tracking_uri == default_tracking_uri else f" --tracking-uri {tracking_uri}"
    return f"regimeforest ui{store}, then open {url}"
