"""The short summary a retrain prints when it ends."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from reporting import retrain_summary
from reporting.retrain_summary import RetrainFacts
# the CLI prints the same rows: re-exported for it
from reporting.retrain_summary import describe_score, describe_scores, row_label

__all__ = ["RetrainSummary", "describe_score", "describe_scores", "publish_summary", "row_label"]

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


class RetrainSummary(RetrainFacts):
    """Everything a person wants to see after a retrain, as plain values
    (:class:`reporting.retrain_summary.RetrainFacts`), gathered from the retrain's results."""

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
        """Where to look at the run: :func:`reporting.retrain_summary.ui_hint`."""
        from tasks.registry import DEFAULT_TRACKING_URI

        return retrain_summary.ui_hint(self.tracking_uri, self.experiment_id,
                                       DEFAULT_TRACKING_URI)

    def to_markdown(self) -> str:
        """The summary as a Prefect markdown artifact
        (:func:`reporting.retrain_summary.summary_markdown`: the MLflow run links to its page in
        the UI)."""
        return retrain_summary.summary_markdown(self)


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish_summary(summary: RetrainSummary) -> RetrainSummary:
    """Show the summary in the Prefect UI beside the flow run."""
    create_markdown_artifact(key="retrain-summary", markdown=summary.to_markdown(),
                             description="what the weekly retrain did and decided")
    return summary
