"""Bull / Bear / Sideways naming of HMM states: by mean return, ties by volatility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml_core.regime import label_order

# rows: [mean return, mean log-vol] of states named bull, bear, sideways
NAMED = np.array([[0.5, 0.0], [-0.7, 1.0], [0.1, -1.0]])


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
def test_any_state_order_gives_the_same_labels(perm):
    means = NAMED[list(perm)]  # state i of the fit is named state perm[i]
    order = label_order(means)
    assert np.array_equal(means[order], NAMED)


def test_ties_in_return_are_broken_by_volatility():
    means = np.array([[0.0, 0.2], [0.0, 0.9], [1.0, 0.0]])
    # equal returns: the more volatile state (1) is the bear, the calmer (0) the sideways
    assert label_order(means).tolist() == [2, 1, 0]


def test_wrong_shape():
    with pytest.raises(ValueError, match="means"):
        label_order(np.zeros((2, 2)))
