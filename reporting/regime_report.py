"""The regime model's evaluation as markdown: persistence, next-state accuracy, label stability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from reporting.markdown import markdown_table

if TYPE_CHECKING:
    from ml_core.regime import PersistenceReport


class RegimeEvaluationResult(Protocol):
    """What the report reads of an evaluation (``tasks.features.RegimeEvaluation``): the
    out-of-sample persistence report and its split, the weekly refits' stability table, the EM
    restarts per refit, and why a part was skipped."""

    out_of_sample: PersistenceReport | None
    split: pd.Timestamp | None
    stability: pd.DataFrame | None
    stability_restarts: int
    skipped: Mapping[str, str]


def regime_evaluation_markdown(persistence: pd.DataFrame,
                               evaluation: RegimeEvaluationResult) -> str:
    """Persistence per regime, next-state accuracy and label stability as one markdown page; a
    skipped part is named with its reason at the end."""
    lines = ["### Regime model evaluation", "", "Persistence per regime (HMM fitted on the "
             "training span, filtered argmax path; durations in regime bars):", "",
             markdown_table(persistence.reset_index()), ""]
    report = evaluation.out_of_sample
    if report is not None:
        lines += [f"Next-state accuracy out of sample (fit before {evaluation.split}, scored "
                  f"after it): **{report.next_state_accuracy:.3f}** vs "
                  f"{report.next_state_baseline:.3f} for \"the regime stays\" on "
                  f"{report.n_predictions} regime bars; Brier score {report.next_state_brier:.4f}"
                  f" vs {report.next_state_brier_baseline:.4f} (lower is better).", ""]
    if evaluation.stability is not None:
        table = evaluation.stability
        agreement = table["agreement"].dropna()
        lines += [f"Label agreement across {len(table)} weekly refits "
                  f"({evaluation.stability_restarts} EM restarts each): mean "
                  f"**{agreement.mean():.3f}**, min {agreement.min():.3f}.", "",
                  markdown_table(table), ""]
    for part, reason in evaluation.skipped.items():
        lines.append(f"*{part} skipped*: {reason}")
    return "\n".join(lines)
