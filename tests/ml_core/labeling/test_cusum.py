"""CUSUM event sampling on hand-made closes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.labeling import cusum_events


def closes(log_returns) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=len(log_returns) + 1, freq="30min", tz="UTC")
    return pd.Series(100.0 * np.exp(np.r_[0.0, np.cumsum(log_returns)]), index=index)


def test_events_where_drift_exceeds_threshold_then_reset():
    # up-drift of 0.004 per bar crosses 0.01 at the 3rd step (0.012), resets, again at the 6th;
    # then a single -0.02 drop crosses the negative side.
    c = closes([0.004] * 6 + [-0.02])
    got = cusum_events(c, 0.01)
    assert list(got) == [c.index[3], c.index[6], c.index[7]]


def test_causal_and_rejects_non_positive_threshold():
    rng = np.random.default_rng(42)
    c = closes(rng.normal(0, 0.01, 300))
    full = cusum_events(c, 0.02)
    assert list(cusum_events(c.iloc[:150], 0.02)) == [t for t in full if t <= c.index[149]]
    with pytest.raises(ValueError, match="threshold"):
        cusum_events(c, 0.0)
