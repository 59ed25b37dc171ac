"""Frames as markdown tables, the one table format of every report and Prefect artifact."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_cell(value: object) -> str:
    """A value as a table cell: floats to 3 decimals, times to the minute, NaN as ``-``."""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return "-" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A frame as a markdown table (its columns, not its index; cells by :func:`markdown_cell`)."""
    header = [str(c) for c in frame.columns]
    rows = [[markdown_cell(v) for v in row] for row in frame.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *["| " + " | ".join(r) + " |" for r in rows]])
