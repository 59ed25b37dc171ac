"""Run the OHLCV suite on a frame with a real, in-memory Great Expectations context."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from expectations._report import QualityReport, RuleResult
from expectations._rules import (
    MAX_OPEN_CLOSE,
    MIN_OPEN_CLOSE,
    MISSING_BARS_BEFORE,
    ON_GRID,
    RULE_GAPS,
    RULE_INCREASING,
    SUITE_NAME,
    build_ohlcv_suite,
    import_gx,
    prepare_frame,
)

_SITE_NAME = "ohlcv_quality"
_N_EXAMPLES = 5
# Which input columns a derived column is computed from (to say why a check was skipped).
_SOURCES = {MAX_OPEN_CLOSE: ("open", "close"), MIN_OPEN_CLOSE: ("open", "close"),
            ON_GRID: ("timestamp",), MISSING_BARS_BEFORE: ("timestamp",)}
# SUMMARY keeps Data Docs small on bad files; the first rows are all the report quotes.
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": _N_EXAMPLES}


def run_quality_gate(
    frame: pd.DataFrame,
    *,
    timeframe: timedelta,
    max_gap_ratio: float,
    source: str = "",
    docs_dir: Path | None = None,
) -> QualityReport:
    """Validate bars with the OHLCV expectation suite and say, row by row, what is wrong.

    The frame is never repaired or reordered: row numbers in the report are file rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        Bars from :func:`ml_core.data.load_bars` (RangeIndex in file order; some or all of
        ``timestamp, open, high, low, close, volume``). A missing column is reported, and checks
        that need it are marked skipped.
    timeframe : timedelta
        Bar length, defining the grid and the gaps.
    max_gap_ratio : float
        Largest accepted missing bars / present bars.
    source : str
        File name or label shown in the report.
    docs_dir : Path, optional
        When given, a GX Data Docs site is written there and ``report.data_docs`` is its
        ``index.html``. Building it costs ~0.2 s, so it is skipped otherwise.

    Returns
    -------
    QualityReport
    """
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.step != 1:
        raise ValueError(
            "`frame` must have a step-1 RangeIndex of file row numbers (as load_bars gives), "
            f"got `{frame.index!r}`"
        )
    prepared = prepare_frame(frame, timeframe)
    suite = build_ohlcv_suite(max_gap_ratio)
    runnable, skipped = [], []
    for expectation in suite.expectations:
        absent = _absent_inputs(expectation, prepared.columns)
        (skipped if absent else runnable).append((expectation, absent))

    gx = import_gx()
    context = _ephemeral_context(gx, docs_dir)
    batch = (context.data_sources.add_pandas("bars")
             .add_dataframe_asset("frame")
             .add_batch_definition_whole_dataframe("whole_frame"))
    run_suite = context.suites.add(
        gx.ExpectationSuite(name=SUITE_NAME, expectations=[e for e, _ in runnable])
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="ohlcv_validation", data=batch, suite=run_suite)
    )
    actions = []
    if docs_dir is not None:
        from great_expectations.checkpoint import UpdateDataDocsAction

        actions.append(UpdateDataDocsAction(name="update_data_docs", site_names=[_SITE_NAME]))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name="ohlcv_gate", validation_definitions=[validation], actions=actions,
                      result_format=_RESULT_FORMAT)
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": prepared})
    (suite_result,) = outcome.run_results.values()

    by_rule: dict[tuple[str, str], RuleResult] = {}
    for result in suite_result.results:
        meta = result.expectation_config.meta
        by_rule[(meta["rule"], meta["column"])] = _rule_result(result, prepared, timeframe)
    for expectation, absent in skipped:
        meta = expectation.meta
        by_rule[(meta["rule"], meta["column"])] = RuleResult(
            rule=meta["rule"], column=meta["column"], success=False, unexpected_count=0,
            example_rows=[], example_values=[],
            detail=f"not checked: needs missing column(s) {', '.join(absent)}", skipped=True,
        )
    # Suite order, whatever GX's result order is.
    rules = [by_rule[(e.meta["rule"], e.meta["column"])] for e in suite.expectations]
    index_html = Path(docs_dir) / "index.html" if docs_dir is not None else None
    return QualityReport(
        source=source or str(frame.attrs.get("source", "")),
        n_rows=len(frame),
        success=all(r.success for r in rules),
        rules=rules,
        data_docs=index_html if index_html is not None and index_html.is_file() else None,
    )


def _ephemeral_context(gx: Any, docs_dir: Path | None) -> Any:
    """In-memory context: analytics and progress bars off, Data Docs only where asked."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        Path(docs_dir).mkdir(parents=True, exist_ok=True)
        sites[_SITE_NAME] = {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(docs_dir).resolve())},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _absent_inputs(expectation: Any, columns: pd.Index) -> list[str]:
    """Input columns an expectation needs that the frame lacks ([] for column-existence checks)."""
    if expectation.expectation_type == "expect_column_to_exist":
        return []
    kwargs = expectation.configuration.kwargs
    needed = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    absent: list[str] = []
    for name in needed:
        if name not in columns:
            for source in _SOURCES.get(name, (name,)):
                if source not in columns and source not in absent:
                    absent.append(source)
    return absent


def _rule_result(result: Any, prepared: pd.DataFrame, timeframe: timedelta) -> RuleResult:
    """Turn one GX ExpectationValidationResult into a RuleResult quoting file rows."""
    config = result.expectation_config
    meta = config.meta
    rule, column, broken, show = meta["rule"], meta["column"], meta["broken"], meta["show"]
    info = result.result or {}
    exception = result.exception_info or {}
    if exception.get("raised_exception"):
        return RuleResult(rule, column, False, 0, [], [],
                          f"could not be checked: {exception.get('exception_message')}")
    if config.type == "expect_column_to_exist":
        detail = "present" if result.success else (
            f"column {config.kwargs['column']!r} is missing (found: "
            f"{', '.join(c for c in prepared.columns if not _derived(c)) or 'none'})")
        return RuleResult(rule, column, bool(result.success), 0 if result.success else 1, [], [],
                          detail)
    if config.type == "expect_table_row_count_to_be_between":
        n = int(info.get("observed_value") or 0)
        return RuleResult(rule, column, bool(result.success), 0 if result.success else 1, [], [],
                          f"{n} rows")
    if rule == RULE_GAPS:
        return _gap_result(result, prepared, timeframe)
    count = int(info.get("unexpected_count") or 0)
    rows = [int(i) for i in (info.get("partial_unexpected_index_list") or [])][:_N_EXAMPLES]
    n = max(int(info.get("element_count") or len(prepared)), 1)
    detail = (f"{count} {broken.format(s='' if count == 1 else 's')} "
              f"({100.0 * count / n:.3g}% of rows)") if count else "held"
    if rule == RULE_INCREASING:
        stamps = prepared["timestamp"]
        values = [{"timestamp": _plain(stamps.loc[i]),
                   "previous_row": _plain(stamps.loc[i - 1]) if i - 1 in stamps.index else None}
                  for i in rows]
    else:
        values = [_row_values(prepared, i, show) for i in rows]
    return RuleResult(rule, column, bool(result.success), count, rows, values, detail)


def _gap_result(result: Any, prepared: pd.DataFrame, timeframe: timedelta) -> RuleResult:
    """The gap rule measures a mean; the rows quoted are the bars after the largest gaps."""
    missing = prepared[MISSING_BARS_BEFORE]
    after_gap = missing[missing > 0]
    largest = after_gap.sort_values(ascending=False, kind="stable").index[:_N_EXAMPLES]
    rows = sorted(int(i) for i in largest)
    values = [{"timestamp": _plain(prepared["timestamp"].loc[i]),
               "missing_bars_before": int(missing.loc[i])} for i in rows]
    ratio = result.result.get("observed_value")
    ratio = float(ratio) if ratio is not None and not _isnan(ratio) else None
    limit = result.expectation_config.kwargs["max_value"]
    broken = result.expectation_config.meta["broken"].format(s="" if len(after_gap) == 1 else "s")
    shown = "n/a" if ratio is None else f"{ratio:.4g}"
    detail = (f"{len(after_gap)} {broken}: {int(after_gap.sum())} missing {_duration(timeframe)} "
              f"bars over {len(prepared)} present bars, ratio {shown} "
              f"{'<=' if result.success else '>'} max_gap_ratio {limit:g}")
    if len(after_gap) > _N_EXAMPLES:
        detail += f" (examples: the {_N_EXAMPLES} largest gaps)"
    return RuleResult(RULE_GAPS, result.expectation_config.meta["column"], bool(result.success),
                      len(after_gap), rows, values, detail, observed_value=ratio)


def _row_values(prepared: pd.DataFrame, row: int, show: list[str]) -> Any:
    if len(show) == 1:
        return _plain(prepared[show[0]].loc[row])
    return {c: _plain(prepared[c].loc[row]) for c in show}


def _plain(value: Any) -> Any:
    """JSON-friendly scalar: ISO strings for stamps, None for missing, Python numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _isnan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _duration(timeframe: timedelta) -> str:
    """``"15m"``, ``"4h"``, ``"1d"``: the spelling the configs use."""
    seconds = int(pd.Timedelta(timeframe).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _derived(column: str) -> bool:
    return column in _SOURCES
