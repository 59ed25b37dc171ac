"""THE causality test: no feature value at bar t changes when the bars after t change or vanish.

On the real bundled sample, for several cut points t (mid-hour, hour-completing, day-completing
bars), features computed on ``bars[: t + 1]`` and on bars whose future is replaced by an
unrelated random walk must equal, on every row ``<= t``, the features of the full data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.config import FeatureConfig
from ml_core.features import compute_features

THIRTY_MINUTES = timedelta(minutes=30)

# First sample bar at or after these times: the first half of an hour, the bar completing an
# hour (mid 4-hour bin), the bar completing a day, and one just after a 3-hour gap.
CUTS = ["2017-11-20 13:00", "2018-06-15 07:30", "2019-09-20 23:30", "2019-01-07 13:00"]


def _garbage_future(bars: pd.DataFrame, t: int, seed: int = 42) -> pd.DataFrame:
    """Same index; rows after position ``t`` replaced by a wild random walk."""
    rng = np.random.default_rng(seed)
    n = len(bars) - t - 1
    out = bars.copy()
    close = bars["close"].iloc[t] * np.exp(np.cumsum(rng.normal(0.0, 0.05, n)))
    open_ = np.concatenate([[bars["close"].iloc[t]], close[:-1]]) * np.exp(rng.normal(0, .01, n))
    spread = np.abs(rng.normal(0.0, 0.03, (2, n)))
    out.iloc[t + 1 :, out.columns.get_indexer(["open", "high", "low", "close", "volume"])] = (
        np.column_stack([
            open_,
            np.maximum(open_, close) * (1 + spread[0]),
            np.minimum(open_, close) * (1 - spread[1]),
            close,
            rng.lognormal(8.0, 2.0, n),
        ])
    )
    return out


def assert_causal(
    compute: Callable[[pd.DataFrame], pd.DataFrame], bars: pd.DataFrame, full: pd.DataFrame,
    t: int,
) -> None:
    """Rows ``<= t`` of ``full`` equal those computed without, and with a garbage, future."""
    head = full.iloc[: t + 1]
    truncated = compute(bars.iloc[: t + 1])
    pd.testing.assert_frame_equal(truncated, head, check_exact=False, rtol=1e-12, atol=0)
    perturbed = compute(_garbage_future(bars, t))
    pd.testing.assert_frame_equal(perturbed.iloc[: t + 1], head, check_exact=False, rtol=1e-12,
                                  atol=0)
    # The perturbation is real: the future rows did change.
    assert not np.allclose(perturbed.iloc[t + 1 :].to_numpy(), full.iloc[t + 1 :].to_numpy(),
                           equal_nan=True)


def _positions(bars: pd.DataFrame) -> list[int]:
    return [int(bars.index.searchsorted(pd.Timestamp(c, tz="UTC"))) for c in CUTS]


def test_cut_points_cover_the_bin_phases(sample_bars):
    stamps = sample_bars.index[_positions(sample_bars)]
    assert [s.strftime("%H:%M") for s in stamps] == ["13:00", "07:30", "23:30", "13:00"]
    gap = sample_bars.index[_positions(sample_bars)[3]] - sample_bars.index[
        _positions(sample_bars)[3] - 1]
    assert gap == pd.Timedelta(hours=3)


@pytest.mark.parametrize("cut", range(len(CUTS)), ids=CUTS)
def test_features_are_causal_on_the_sample(sample_bars, sample_features, cut):
    t = _positions(sample_bars)[cut]
    config = FeatureConfig()
    assert_causal(lambda b: compute_features(b, config, THIRTY_MINUTES), sample_bars,
                  sample_features, t)


def test_causal_with_production_timeframes_on_one_minute_bars():
    from ._bars import random_walk_bars

    config = FeatureConfig(
        higher_timeframes=[timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)],
        frac_diff_window=500, volatility_window=60,
    )
    bars = random_walk_bars(4_000, freq="1min", start="2024-01-01 00:00")

    def compute(b: pd.DataFrame) -> pd.DataFrame:
        return compute_features(b, config, timedelta(minutes=1))

    full = compute(bars)
    for t in (2_500, 3_007, 3_599):  # mid-bin, mid-bin, the bar completing an hour
        assert_causal(compute, bars, full, t)


def test_the_check_catches_a_leak(sample_bars, sample_features):
    # Negative control: a feature peeking one bar ahead (shift(-1)) must fail the same check.
    t = _positions(sample_bars)[0]

    def leaky(b: pd.DataFrame) -> pd.DataFrame:
        out = compute_features(b, FeatureConfig(), THIRTY_MINUTES)
        out["rsi_14"] = out["rsi_14"].shift(-1)
        return out

    full = leaky(sample_bars)
    with pytest.raises(AssertionError):
        assert_causal(leaky, sample_bars, full, t)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), cut=st.integers(800, 1_199),
       start_minute=st.sampled_from([0, 30, 90, 210]))
def test_causal_for_any_cut_and_alignment(seed, cut, start_minute):
    """Property: any cut point, any phase of the data start within the 4-hour bins."""
    from ._bars import random_walk_bars

    config = FeatureConfig(higher_timeframes=[timedelta(hours=1), timedelta(hours=4)],
                           volatility_window=10, frac_diff_window=20)
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=start_minute)
    bars = random_walk_bars(1_200, start=str(start.tz_localize(None)), seed=seed)

    def compute(b: pd.DataFrame) -> pd.DataFrame:
        return compute_features(b, config, THIRTY_MINUTES)

    assert_causal(compute, bars, compute(bars), cut)
