"""The OHLCV rules: derived columns (pure pandas) and the Great Expectations suite built from them.

Every rule is one or more built-in GX expectations. Rules that compare columns or look at time
(``high >= max(open, close)``, the bar grid, gaps) run on derived columns that
:func:`prepare_frame` adds, so the suite itself stays made of stock expectations that Data Docs
can render. Each expectation carries ``meta = {"rule", "column", "broken", "show"}``: the human
rule name, the column(s) it is about as people would say it, what a failing row is, and which
columns of a failing row the report quotes.

"Strictly increasing timestamps" is checked as two rules, ``timestamps unique`` and
``timestamps increasing (file order)`` (non-strict), so that a repeated stamp is named once, by
the uniqueness rule, and an out-of-order row once, by the order rule.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover - typing only; GX is imported lazily (it costs ~3 s)
    import great_expectations as gx

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", *PRICE_COLUMNS, "volume")

# Derived columns added by prepare_frame.
MAX_OPEN_CLOSE = "max_open_close"
MIN_OPEN_CLOSE = "min_open_close"
ON_GRID = "on_grid"
MISSING_BARS_BEFORE = "missing_bars_before"
DERIVED_COLUMNS: tuple[str, ...] = (MAX_OPEN_CLOSE, MIN_OPEN_CLOSE, ON_GRID, MISSING_BARS_BEFORE)

# Human rule names, in report order.
RULE_HAS_ROWS = "at least one bar"
RULE_COLUMNS = "required columns exist"
RULE_NOT_NULL = "no nulls"
RULE_POSITIVE_PRICES = "prices > 0"
RULE_HIGH = "high >= max(open, close)"
RULE_LOW = "low <= min(open, close) and low <= high"
RULE_VOLUME = "volume >= 0"
RULE_UNIQUE = "timestamps unique"
RULE_INCREASING = "timestamps increasing (file order)"
RULE_GRID = "timestamps on the bar grid"
RULE_GAPS = "gap ratio <= max_gap_ratio"

RULES: tuple[str, ...] = (
    RULE_HAS_ROWS, RULE_COLUMNS, RULE_NOT_NULL, RULE_POSITIVE_PRICES, RULE_HIGH, RULE_LOW,
    RULE_VOLUME, RULE_UNIQUE, RULE_INCREASING, RULE_GRID, RULE_GAPS,
)

SUITE_NAME = "ohlcv_bars"


@dataclass(frozen=True)
class _Spec:
    """One expectation of the suite, described without importing GX."""

    rule: str
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    column: str  # what the report calls the column(s)
    broken: str  # what failing rows are, "{s}" marking the plural: "null value{s}"
    show: tuple[str, ...] = field(default=())  # columns quoted for a failing row


def _specs(max_gap_ratio: float) -> list[_Spec]:
    specs = [_Spec(RULE_HAS_ROWS, "ExpectTableRowCountToBeBetween", {"min_value": 1}, "(table)",
                   "the frame has no rows")]
    specs += [
        _Spec(RULE_COLUMNS, "ExpectColumnToExist", {"column": c}, c, "the column is missing")
        for c in REQUIRED_COLUMNS
    ]
    specs += [
        _Spec(RULE_NOT_NULL, "ExpectColumnValuesToNotBeNull", {"column": c}, c, "null value{s}",
              (c,))
        for c in REQUIRED_COLUMNS
    ]
    specs += [
        _Spec(RULE_POSITIVE_PRICES, "ExpectColumnValuesToBeBetween",
              {"column": c, "min_value": 0.0, "strict_min": True}, c, "price{s} <= 0", (c,))
        for c in PRICE_COLUMNS
    ]
    pair = {"or_equal": True, "ignore_row_if": "either_value_is_missing"}
    specs += [
        _Spec(RULE_HIGH, "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "high", "column_B": MAX_OPEN_CLOSE, **pair},
              "high vs max(open, close)", "row{s} with high < max(open, close)",
              ("high", "open", "close")),
        _Spec(RULE_LOW, "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": MIN_OPEN_CLOSE, "column_B": "low", **pair},
              "low vs min(open, close)", "row{s} with low > min(open, close)",
              ("low", "open", "close")),
        _Spec(RULE_LOW, "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "high", "column_B": "low", **pair}, "low vs high",
              "row{s} with low > high", ("low", "high")),
        _Spec(RULE_VOLUME, "ExpectColumnValuesToBeBetween", {"column": "volume", "min_value": 0.0},
              "volume", "negative volume{s}", ("volume",)),
        _Spec(RULE_UNIQUE, "ExpectColumnValuesToBeUnique", {"column": "timestamp"}, "timestamp",
              "row{s} whose timestamp another row also has", ("timestamp",)),
        # Non-strict on purpose: "unique" and "non-decreasing" together are "strictly increasing",
        # and a repeated stamp is then named once (by RULE_UNIQUE), not twice.
        _Spec(RULE_INCREASING, "ExpectColumnValuesToBeIncreasing",
              {"column": "timestamp", "strictly": False}, "timestamp",
              "row{s} stamped earlier than the row before", ("timestamp",)),
        _Spec(RULE_GRID, "ExpectColumnValuesToBeInSet", {"column": ON_GRID, "value_set": [True]},
              "timestamp", "stamp{s} off the bar grid (partial bars)", ("timestamp",)),
        # mean(missing bars before each row) = missing bars / present bars.
        _Spec(RULE_GAPS, "ExpectColumnMeanToBeBetween",
              {"column": MISSING_BARS_BEFORE, "min_value": 0.0, "max_value": float(max_gap_ratio)},
              "timestamp", "row{s} after a gap", ("timestamp", MISSING_BARS_BEFORE)),
    ]
    return specs


def import_gx() -> Any:
    """Import Great Expectations with its usage analytics off (it costs ~3 s, so only on use)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with warnings.catch_warnings():
        # GX 1.24 imports the deprecated sre_constants/sre_parse modules: noise, not news.
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx

    return gx


def build_ohlcv_suite(max_gap_ratio: float) -> gx.ExpectationSuite:
    """Build the GX expectation suite of the OHLCV quality gate.

    Parameters
    ----------
    max_gap_ratio : float
        Largest accepted ratio of missing bars to present bars, in ``[0, 1]``.

    Returns
    -------
    great_expectations.ExpectationSuite
        An unsaved suite named ``"ohlcv_bars"`` of built-in expectations over the columns of a
        frame from :func:`prepare_frame`; each expectation's ``meta["rule"]`` is one of
        :data:`RULES`.
    """
    if not 0.0 <= max_gap_ratio <= 1.0:
        raise ValueError(f"`max_gap_ratio` must be in [0, 1], got `max_gap_ratio={max_gap_ratio}`")
    gx = import_gx()
    import great_expectations.expectations as gxe

    expectations = [
        getattr(gxe, spec.expectation)(
            **spec.kwargs,
            meta={"rule": spec.rule, "column": spec.column, "broken": spec.broken,
                  "show": list(spec.show)},
            notes=f"Rule: {spec.rule} ({spec.column}).",
        )
        for spec in _specs(max_gap_ratio)
    ]
    # Passing the list to the constructor (not add_expectation) needs no active data context.
    suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
    return suite


def prepare_frame(frame: pd.DataFrame, timeframe: timedelta) -> pd.DataFrame:
    """Add the derived columns the suite checks, leaving the frame's rows and columns untouched.

    Parameters
    ----------
    frame : pandas.DataFrame
        Bars as :func:`ml_core.data.load_bars` gives them: RangeIndex in file row order, some or
        all of ``timestamp`` (UTC datetime64), ``open, high, low, close, volume``.
    timeframe : timedelta
        Bar length; the grid is ``1970-01-01 00:00 UTC + k * timeframe``.

    Returns
    -------
    pandas.DataFrame
        A copy with, where the inputs exist:

        - ``max_open_close``, ``min_open_close`` (NaN when open or close is missing),
        - ``on_grid``: the timestamp is a multiple of ``timeframe`` (True for a missing
          timestamp, which the null rule reports),
        - ``missing_bars_before``: grid slots missing between this bar's slot and the previous
          occupied slot in time (not file) order, counted once, on the first row holding the
          slot; so its sum is the number of missing bars and its mean the gap ratio.
    """
    td = pd.Timedelta(timeframe)
    if td <= pd.Timedelta(0):
        raise ValueError(f"`timeframe` must be positive, got `timeframe={timeframe!r}`")
    out = frame.copy()
    if "open" in out.columns and "close" in out.columns:
        pair = out[["open", "close"]]
        out[MAX_OPEN_CLOSE] = pair.max(axis=1, skipna=False)
        out[MIN_OPEN_CLOSE] = pair.min(axis=1, skipna=False)
    if "timestamp" in out.columns:
        stamps = out["timestamp"]
        if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
            raise TypeError(
                f"`frame['timestamp']` must be a UTC datetime64 column, got dtype {stamps.dtype}"
            )
        since_epoch = stamps - pd.Timestamp(0, tz="UTC")
        out[ON_GRID] = ((since_epoch % td) == pd.Timedelta(0)) | stamps.isna()
        out[MISSING_BARS_BEFORE] = _missing_bars_before(since_epoch // td)
    return out


def _missing_bars_before(slot: pd.Series) -> pd.Series:
    """Missing grid slots before each row's slot; 0 for repeats of a slot and for missing stamps."""
    missing = pd.Series(0, index=slot.index, dtype="int64")
    first = slot.notna() & ~slot.duplicated(keep="first")
    occupied = slot[first].sort_values(kind="stable")
    if len(occupied) > 1:
        steps = occupied.diff().iloc[1:].astype("int64") - 1
        missing.loc[steps.index] = steps.to_numpy()
    return missing
