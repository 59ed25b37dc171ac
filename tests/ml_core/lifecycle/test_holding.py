"""A paper book holds each signal up to the labels' vertical barrier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.lifecycle import SignalHolder, hold_targets


def test_a_hold_keeps_the_bet_until_the_barrier_and_a_new_bet_replaces_it() -> None:
    decisions = [0.0, 0.4, 0.0, None, 0.0, 0.0, 0.7, 0.0, -0.5, float("nan"), 0.0, 0.0]
    holder = SignalHolder(max_bars=3)
    held = [holder.update(x) for x in decisions]
    assert held == [0.0, 0.4, 0.4, 0.4, 0.0, 0.0, 0.7, 0.7, -0.5, -0.5, -0.5, 0.0]


def test_one_bar_holding_is_the_decision_itself() -> None:
    decisions = pd.Series([0.0, 1.0, 0.0, -1.0, 0.0])
    assert hold_targets(decisions, 1).tolist() == [0.0, 1.0, 0.0, -1.0, 0.0]


def test_batch_equals_streaming_and_a_resumed_holder() -> None:
    rng = np.random.default_rng(3)
    raw = np.where(rng.random(500) < 0.15, rng.choice([-1.0, 1.0], 500) * rng.random(500), 0.0)
    index = pd.date_range("2024", periods=500, freq="h", tz="UTC")
    batch = hold_targets(pd.Series(raw, index=index), 24)
    first = SignalHolder(24)
    head = [first.update(x) for x in raw[:200]]
    resumed = SignalHolder.from_state(first.state())
    tail = [resumed.update(x) for x in raw[200:]]
    assert batch.tolist() == head + tail
    assert batch.index.equals(index)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_max_bars_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match=f"max_bars must be a positive integer, got "
                                         f"max_bars={bad!r}"):
        SignalHolder(bad)  # type: ignore[arg-type]
