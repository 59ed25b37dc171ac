"""Prefect door to the data quality gate: validate, publish the report, stop the flow on failure.

Great Expectations is imported only when the gate runs (see :mod:`expectations`), so importing
this module costs Prefect's import, not GX's.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from expectations import QualityReport, run_quality_gate

__all__ = ["ARTIFACT_KEY", "DataQualityError", "require_passed", "validate_data"]

ARTIFACT_KEY = "data-quality"


class DataQualityError(RuntimeError):
    """The bars broke at least one quality rule; ``report`` says which, and where.

    The message is ``report.to_text()``: one line per failed rule with example file rows.
    """

    def __init__(self, report: QualityReport) -> None:
        super().__init__(report.to_text())
        self.report = report

    def __reduce__(self) -> tuple[type[DataQualityError], tuple[QualityReport]]:
        # Keep the report when Prefect (or multiprocessing) pickles the exception.
        return (type(self), (self.report,))


# NO_CACHE: hashing a 35k-row frame for a cache key costs more than the gate, and a gate
# verdict must never be served from a cache. No retries: bad data stays bad.
@task(name="validate-data", cache_policy=NO_CACHE, retries=0)
def validate_data(
    frame: pd.DataFrame,
    *,
    timeframe: timedelta,
    max_gap_ratio: float,
    source: str = "",
    docs_dir: Path | None = None,
    raise_on_failure: bool = True,
) -> QualityReport:
    """Run the OHLCV quality gate, publish its report, and raise if any rule failed.

    Parameters
    ----------
    frame : pandas.DataFrame
        Bars as :func:`ml_core.data.load_bars` gives them (file row order).
    timeframe : timedelta
        Bar length.
    max_gap_ratio : float
        Largest accepted missing bars / present bars.
    source : str
        File name shown in the report.
    docs_dir : Path, optional
        Where to build the GX Data Docs site.
    raise_on_failure : bool
        False returns a failed report too, so the caller can log it before stopping the flow
        with :func:`require_passed`.

    Returns
    -------
    QualityReport
        When every rule held, or whatever the verdict if ``raise_on_failure`` is False.

    Raises
    ------
    DataQualityError
        When a rule failed; this fails the task and, unless caught, the flow, before any training.
    """
    report = run_quality_gate(frame, timeframe=timeframe, max_gap_ratio=max_gap_ratio,
                              source=source, docs_dir=docs_dir)
    _publish(report)
    if raise_on_failure:
        require_passed(report)
    return report


def require_passed(report: QualityReport) -> None:
    """Stop here, before any training, unless every rule held."""
    if not report.success:
        raise DataQualityError(report)


def _publish(report: QualityReport) -> None:
    """Markdown artifact ``data-quality`` and a log line inside a Prefect run; a log line outside.

    Outside a run (``validate_data.fn(...)``) there is no run to attach an artifact to, and creating
    one would start a temporary Prefect server just for it.
    """
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        _log(logging.getLogger(__name__), report)
        return
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact

    verdict = "passed" if report.success else "failed"
    create_markdown_artifact(
        markdown=report.to_markdown(),
        key=ARTIFACT_KEY,
        description=f"Data quality gate {verdict}: {report.source or 'bars'}",
    )
    _log(get_run_logger(), report)


def _log(logger: logging.Logger | logging.LoggerAdapter, report: QualityReport) -> None:
    # ``quality_report`` marks the record: `regimeforest retrain` prints a failed report itself
    # and keeps this copy off its console (regimeforest/_refusals.py).
    extra = {"quality_report": report.success}
    if report.success:
        logger.info(report.to_text(), extra=extra)
    else:
        logger.error(report.to_text(), extra=extra)
