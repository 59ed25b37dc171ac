"""Small synthetic bar frames for the feature tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk_bars(
    n: int, freq: str = "30min", start: str = "2024-01-01", seed: int = 42, price: float = 100.0
) -> pd.DataFrame:
    """Canonical bars (UTC open-time index) following a log-normal random walk."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[price], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.004, (2, n)))
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1.0 + spread[0]),
            "low": np.minimum(open_, close) * (1.0 - spread[1]),
            "close": close,
            "volume": rng.lognormal(3.0, 1.0, n),
        },
        index=index,
    )


def bars_from_close(close: list[float] | np.ndarray, freq: str = "30min") -> pd.DataFrame:
    """Bars whose open, high and low all equal the close (flat candles), volume 1."""
    close = np.asarray(close, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(close), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close,
         "volume": np.ones(len(close))},
        index=index,
    )
