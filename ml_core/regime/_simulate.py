"""Bars from a known 3-state HMM: the states, regime-bar returns and the base bars they close on.

For tests and benchmarks of the regime model (as hmmlearn's own tests sample from known
parameters): fit on the bars, compare with the true states and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Scenario:
    """A known HMM on regime-bar log returns, states in bull / bear / sideways order."""

    name: str
    transmat: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    description: str = ""


# Persistent states with clearly separated mean returns (3.3 standard deviations apart). Equal
# return volatilities; the realised volatility (about zero) is lowest in the zero-mean sideways
# state, so it is the calmest, as the labels require.
SEPARATED = Scenario(
    name="separated",
    description="means 3.3 sd apart, equal volatility",
    transmat=np.array([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01], [0.01, 0.01, 0.98]]),
    mean=np.array([0.02, -0.02, 0.0]),
    std=np.array([0.006, 0.006, 0.006]),
)
# Like real 1h crypto: mean returns under 0.4 standard deviations apart, the states told apart by
# their volatility (sideways 0.4%, bull 0.8%, bear 1.6% per regime bar).
CRYPTO_LIKE = Scenario(
    name="crypto-like",
    description="means under 0.4 sd apart; the states differ mainly in volatility",
    transmat=np.array([[0.99, 0.004, 0.006], [0.01, 0.98, 0.01], [0.004, 0.004, 0.992]]),
    mean=np.array([0.002, -0.003, 0.0]),
    std=np.array([0.008, 0.016, 0.004]),
)


def bars_from_regime_returns(log_returns: np.ndarray, per_bin: int = 2) -> pd.DataFrame:
    """30m bars whose ``per_bin``-bar bins close exactly on ``exp(cumsum(log_returns))``."""
    n = len(log_returns)
    regime_close = 100.0 * np.exp(np.cumsum(log_returns))
    prev = np.r_[100.0, regime_close[:-1]]
    # inside each bin the price moves in equal log steps to the bin's close
    steps = (np.log(regime_close) - np.log(prev))[:, None] * (np.arange(1, per_bin + 1) / per_bin)
    close = (prev[:, None] * np.exp(steps)).ravel()
    open_ = np.r_[100.0, close[:-1]]
    index = pd.date_range("2020-01-01", periods=n * per_bin, freq="30min", tz="UTC",
                          name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
         "close": close, "volume": 1.0},
        index=index,
    )


def simulate(scenario: Scenario, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` regime bars (1h, two 30m bars each) from ``scenario``, starting in sideways.

    Returns the base bars and the true state of each regime bar.
    """
    rng = np.random.default_rng(seed)
    states = np.empty(n, dtype=int)
    states[0] = 2
    for t in range(1, n):
        states[t] = rng.choice(3, p=scenario.transmat[states[t - 1]])
    log_ret = rng.normal(scenario.mean[states], scenario.std[states])
    return bars_from_regime_returns(log_ret), states
