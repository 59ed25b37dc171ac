"""Bull / Bear / Sideways naming of HMM states: sideways the calmest, then by mean return."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml_core.regime import label_order

# rows: [mean return, mean log-vol] of states named bull, bear, sideways
NAMED = np.array([[0.5, 0.0], [-0.7, 1.0], [0.1, -1.0]])
# BTC 1h (Binance 5m, fit ending 2021-07-17): +2.1 bp at 0.81%, -2.3 bp at 1.51%, +1.8 bp at 0.41%
BTC = np.array([[2.1e-4, np.log(0.0081)], [-2.3e-4, np.log(0.0151)], [1.8e-4, np.log(0.0041)]])


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("named", [NAMED, BTC], ids=["separated", "btc"])
def test_any_state_order_gives_the_same_labels(perm, named):
    means = named[list(perm)]  # state i of the fit is named state perm[i]
    order = label_order(means)
    assert np.array_equal(means[order], named)


def test_the_calmest_state_is_sideways_even_with_the_highest_return():
    # a quiet up-drift next to a volatile one: the quiet state is sideways
    means = np.array([[1.9e-4, -1.0], [2.0e-4, 0.0], [-3.0e-4, 1.0]])
    assert label_order(means).tolist() == [1, 2, 0]


def test_near_equal_returns_do_not_swap_labels():
    # the two upward states' returns cross (2.1 vs 1.8 bp, then 1.8 vs 2.1): labels stay
    crossed = BTC.copy()
    crossed[[0, 2], 0] = crossed[[2, 0], 0]
    assert label_order(BTC).tolist() == label_order(crossed).tolist() == [0, 1, 2]


def test_rescaling_a_column_keeps_the_labels():
    scaled = NAMED * np.array([3.0, 0.5]) + np.array([-1.0, 2.0])
    assert label_order(scaled).tolist() == label_order(NAMED).tolist()


def test_ties_are_broken_deterministically():
    # equal volatility: the smaller absolute return is the sideways one
    means = np.array([[0.3, 0.0], [-0.1, 0.0], [-0.5, 1.0]])
    assert label_order(means).tolist() == [0, 2, 1]
    # equal returns between the active states: the more volatile one is the bear
    means = np.array([[0.0, 0.2], [0.0, 0.9], [1.0, -1.0]])
    assert label_order(means).tolist() == [0, 1, 2]
    # everything equal: lower index first (sideways, then bull, then bear)
    assert label_order(np.zeros((3, 2))).tolist() == [1, 2, 0]


def test_wrong_shape_or_not_finite():
    with pytest.raises(ValueError, match=r"`means` must have shape \(3, >=2\), got \(2, 2\)"):
        label_order(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="`means` must be finite"):
        label_order(np.array([[0.0, 0.0], [np.nan, 0.0], [1.0, 1.0]]))
