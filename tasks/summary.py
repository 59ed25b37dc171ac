"""The short summary a retrain prints when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_core.config import Config

_MODEL_METRICS = {
    "entry": ("entry_precision", "entry_recall", "entry_accuracy"),
    "position": ("position_r2", "position_rmse"),
    "exit": ("exit_precision", "exit_recall", "exit_accuracy"),
    "profit": ("profit_r2", "profit_rmse"),
    "ensemble": ("ensemble_accuracy", "sharpe_median", "max_drawdown_median"),
}


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

    @classmethod
    def collect(cls, config: Config, tracker: Any, run_id: str, report: Any, dataset: Any,
                persistence: Any, cv_summary: dict[str, float], decision: Any) -> RetrainSummary:
        scores = {
            model: {m: float(cv_summary[f"cv_{m}"]) for m in names if f"cv_{m}" in cv_summary}
            for model, names in _MODEL_METRICS.items()
        }
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
        )

    def ui_hint(self) -> str:
        store = self.tracking_uri
        return (f"regimeforest ui   (or: mlflow ui --backend-store-uri {store}) then open "
                f"http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs")
