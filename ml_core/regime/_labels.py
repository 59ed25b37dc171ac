"""Stable names for HMM states: Bull, Bear, Sideways, whatever order EM happened to find them in."""

from __future__ import annotations

import numpy as np

REGIME_LABELS: tuple[str, str, str] = ("bull", "bear", "sideways")


def label_order(means: np.ndarray) -> np.ndarray:
    """Permutation ``perm`` such that fitted state ``perm[i]`` gets label ``REGIME_LABELS[i]``.

    HMM state indices are arbitrary and change between fits (hmmlearn issues #140, #177), so
    states are named by their emission means, deterministically:

    * **bull** = the state with the highest mean log return,
    * **bear** = the state with the lowest mean log return,
    * **sideways** = the remaining state.

    Ties in mean return (practically never exact) are broken by mean log volatility: of two states
    with equal mean return, the more volatile one ranks as the more bearish. Remaining ties keep
    the lower state index first.

    Parameters
    ----------
    means : ndarray of shape (3, n_features)
        Column 0 is the mean return, column 1 the mean log volatility.

    Returns
    -------
    ndarray of shape (3,)
        ``[bull_state, bear_state, sideways_state]``.
    """
    means = np.asarray(means, dtype="float64")
    if means.shape[0] != len(REGIME_LABELS) or means.ndim != 2 or means.shape[1] < 2:
        raise ValueError(f"`means` must have shape (3, >=2), got {means.shape}")
    # lexsort: last key is primary -> ascending return, then descending volatility, then index.
    ranked = np.lexsort((np.arange(3), -means[:, 1], means[:, 0]))
    bear, sideways, bull = ranked
    return np.array([bull, bear, sideways])
