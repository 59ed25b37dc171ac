"""regime_observations: exact log returns and log realised volatility per closed regime bar."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from ml_core.regime import OBSERVATION_NAMES, regime_observations

BASE = timedelta(minutes=30)


def hourly_closes(regime_returns: np.ndarray) -> pd.DataFrame:
    """30m bars whose 1h bins close on ``100 * exp(cumsum(regime_returns))`` (first close 100)."""
    close = np.repeat(100.0 * np.exp(np.r_[0.0, np.cumsum(regime_returns)]), 2)
    index = pd.date_range("2022-01-01", periods=len(close), freq="30min", tz="UTC",
                          name="timestamp")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                         "volume": 1.0}, index=index)


def test_values_warm_up_and_a_large_return_leaving_the_window():
    returns = np.r_[0.5, np.tile([1e-4, -1e-4], 5)]  # one crash-size move, then calm
    obs = regime_observations(hourly_closes(returns), timedelta(hours=1), BASE, 3)
    assert list(obs.columns) == list(OBSERVATION_NAMES)
    assert obs.index[0] == pd.Timestamp("2022-01-01 00:30", tz="UTC")  # available_at
    assert np.isnan(obs["log_return"].iloc[0])
    assert_allclose(obs["log_return"].iloc[1:], returns, rtol=1e-9)
    vol = obs["log_realised_vol"].to_numpy()
    assert np.isnan(vol[:3]).all()  # bar 0 has no return; bars 1, 2 do not fill the window
    assert_allclose(vol[3], 0.5 * np.log((0.25 + 2e-8) / 3), rtol=1e-12)
    # once the 0.5 has left the window, only the 1e-4 moves count: exactly log(1e-4)
    assert_allclose(vol[4:], np.log(1e-4), rtol=1e-9)


def test_unchanged_closes_are_floored_or_minus_inf():
    returns = np.r_[0.01, np.zeros(4)]
    bars = hourly_closes(returns)
    floored = regime_observations(bars, timedelta(hours=1), BASE, 2)["log_realised_vol"]
    raw = regime_observations(bars, timedelta(hours=1), BASE, 2, floor_volatility=False)
    assert_allclose(floored.iloc[-1], 0.5 * np.log(1e-24))
    assert np.isneginf(raw["log_realised_vol"].iloc[-1])
