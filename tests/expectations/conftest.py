"""Tiny hand-made bar frames for the quality gate: clean by default, broken one rule at a time."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

THIRTY_MINUTES = timedelta(minutes=30)


def make_bars(n: int = 8, timeframe: timedelta = THIRTY_MINUTES) -> pd.DataFrame:
    """``n`` clean bars as load_bars returns them: RangeIndex, UTC stamps on the grid.

    open = 100 + i, close = 100.5 + i, high = 101 + i, low = 99.5 + i, volume = 10 + i.
    """
    i = np.arange(n, dtype="float64")
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq=timeframe, tz="UTC"),
        "open": 100.0 + i,
        "high": 101.0 + i,
        "low": 99.5 + i,
        "close": 100.5 + i,
        "volume": 10.0 + i,
    })


@pytest.fixture
def bars() -> Callable[..., pd.DataFrame]:
    return make_bars


@pytest.fixture
def dirty_dir(shared_data: Path) -> Path:
    """../shared/data/dirty (``shared_data`` skips when absent, and fails instead under CI=true)."""
    path = shared_data / "dirty"
    if not path.is_dir():
        message = f"{path} is absent"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: this must not be skipped)")
        pytest.skip(message)
    return path
