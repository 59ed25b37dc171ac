"""The short summary a retrain prints when it ends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config

_MODEL_METRICS = {
    "entry": ("entry_precision", "entry_recall", "entry_accuracy"),
    "position": ("position_r2", "position_rmse"),
    "exit": ("exit_precision", "exit_recall", "exit_accuracy"),
    "profit": ("profit_r2", "profit_rmse"),
    "ensemble": ("ensemble_accuracy", "sharpe_median", "max_drawdown_median", "n_paths_traded"),
    # the market over the same span, and simple rules on the same paths: is the ensemble better
    # than the market drift?
    "baselines": ("baseline_buy_and_hold_sharpe_median",
                  "baseline_long_every_event_sharpe_median", "baseline_momentum_sharpe_median"),
    "walk-forward": ("wf_sharpe_consistency", "wf_drawdown_control", "wf_sharpe_median",
                     "wf_n_windows_traded"),
    "overfitting": ("pbo", "dsr_median", "psr_median", "dsr_n_trials"),
    # the final holdout: recent events no tuning, selection or meta-learner saw, scored once
    "holdout": ("holdout_ensemble_sharpe", "holdout_ensemble_accuracy",
                "holdout_ensemble_n_trades", "holdout_buy_and_hold_sharpe",
                "holdout_n_events"),
}


_CV_ROWS = ("entry", "position", "exit", "profit", "ensemble", "baselines")


def row_label(group: str) -> str:
    """``CV entry`` for the CPCV figures; walk-forward, overfitting and holdout by name."""
    return f"CV {group}" if group in _CV_ROWS else group


# The count that says whether a row's statistics exist: 0 means the model never traded there.
_TRADE_COUNTS = {"ensemble": ("n_paths_traded", "CPCV path"),
                 "walk-forward": ("wf_n_windows_traded", "walk-forward window"),
                 "holdout": ("holdout_ensemble_n_trades", "holdout event")}


def describe_scores(group: str, scores: dict[str, float]) -> str:
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


@dataclass
class RetrainSummary:
    """Everything a person wants to see after a retrain, as plain values."""

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

    @classmethod
    def collect(cls, config: Config, tracker: Any, run_id: str, report: Any, dataset: Any,
                persistence: Any, cv_summary: dict[str, float], decision: Any,
                data: Any = None) -> RetrainSummary:
        def value(name: str) -> float | None:  # CPCV figures carry the cv_ prefix
            for key in (f"cv_{name}", name):
                if key in cv_summary:
                    return float(cv_summary[key])
            return None

        scores = {model: {m: v for m in names if (v := value(m)) is not None}
                  for model, names in _MODEL_METRICS.items()}
        scores = {model: values for model, values in scores.items() if values}
        return cls(
            run_id=run_id,
            experiment=config.registry.experiment,
            experiment_id=tracker.experiment_id(config.registry.experiment),
            tracking_uri=tracker.tracking_uri,
            data_source=report.source,
            data_rows=report.n_rows,
            rules_passed=sum(r.success for r in report.rules),
            rules_total=len(report.rules),
            n_features=dataset.X.shape[1],
            n_events=len(dataset.X),
            n_dropped_warmup=dataset.n_dropped_warmup,
            regime_persistence={str(k): {c: float(v) for c, v in row.items()}
                                for k, row in persistence.iterrows()},
            cv_scores=scores,
            promotion_metric=config.registry.promotion_metric,
            score=float(decision.score),
            model_name=config.registry.model_name,
            version=decision.version,
            alias=decision.alias,
            decision_reason=decision.reason,
            champion_version=decision.champion_version,
            as_of="" if data is None else str(data.as_of),
            data_span="" if data is None else f"{data.first} .. {data.last} ({data.n_bars:,} bars)",
            data_key="" if data is None else data.key,
        )

    def ui_hint(self) -> str:
        from tasks.registry import DEFAULT_TRACKING_URI

        store = "" if self.tracking_uri == DEFAULT_TRACKING_URI else (
            f" --tracking-uri {self.tracking_uri}")
        return (f"regimeforest ui{store}, then open "
                f"http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs")

    def to_markdown(self) -> str:
        """The summary as a Prefect markdown artifact."""
        rows = [
            ("data checks", f"{self.rules_passed}/{self.rules_total} rules passed on "
                            f"{self.data_rows:,} rows (`{self.data_source}`)"),
            *([("as of", f"{self.as_of}: {self.data_span}, `{self.data_key}`")]
              if self.as_of else []),
            ("features", f"{self.n_features} features, {self.n_events:,} events "
                         f"({self.n_dropped_warmup} dropped in warm-up)"),
            *[(f"regime {label}", f"p_stay {row['p_stay']:.3f}, expected "
                                  f"{row['expected_duration_bars']:.1f} bars")
              for label, row in self.regime_persistence.items()],
            *[(row_label(model), describe_scores(model, scores))
              for model, scores in self.cv_scores.items()],
            ("score", describe_score(f"`{self.promotion_metric}`", self.score)),
            ("registered", f"{self.model_name} v{self.version} → {self.alias or 'no alias'}"),
            ("decision", self.decision_reason),
            ("MLflow run", f"`{self.run_id}` in `{self.experiment}`"),
        ]
        lines = ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]
        return "### Weekly retrain\n\n" + "\n".join(lines)


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish_summary(summary: RetrainSummary) -> RetrainSummary:
    """Show the summary in the Prefect UI beside the flow run."""
    create_markdown_artifact(key="retrain-summary", markdown=summary.to_markdown(),
                             description="what the weekly retrain did and decided")
    return summary
