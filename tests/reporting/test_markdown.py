"""Markdown tables: floats to 3 decimals, times to the minute, NaN as "-", the index left out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reporting.markdown import markdown_cell, markdown_table


def test_cells_by_type() -> None:
    assert markdown_cell(pd.Timestamp("2024-01-02 03:04:05", tz="UTC")) == "2024-01-02 03:04"
    assert [markdown_cell(v) for v in (True, np.bool_(False))] == ["True", "False"]
    assert [markdown_cell(v) for v in (1.23456, np.float32(0.5), np.nan)] == [
        "1.235", "0.500", "-"]
    assert [markdown_cell(v) for v in (7, np.int64(8), "a|b", None)] == ["7", "8", "a|b", "None"]


def test_a_frame_as_a_table_without_its_index() -> None:
    frame = pd.DataFrame({"model": ["entry", "exit"], "sharpe": [1.0, np.nan],
                          "n_trades": [3, 0]}, index=pd.Index([5, 6], name="ignored"))
    assert markdown_table(frame) == "\n".join([
        "| model | sharpe | n_trades |", "|---|---|---|",
        "| entry | 1.000 | 3 |", "| exit | - | 0 |"])
    assert markdown_table(frame.iloc[:0]) == "| model | sharpe | n_trades |\n|---|---|---|"
