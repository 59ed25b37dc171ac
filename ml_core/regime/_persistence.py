"""How long regimes last: implied by the transition matrix and, optionally, observed on a path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml_core.regime._labels import REGIME_LABELS


def regime_persistence(
    transmat: np.ndarray,
    labels: Sequence[str] = REGIME_LABELS,
    states: np.ndarray | None = None,
) -> pd.DataFrame:
    """Persistence of each regime.

    For a Markov chain the time spent in state ``k`` per visit is geometric with mean
    ``1 / (1 - p_kk)`` steps, ``p_kk`` the self-transition probability. A fitted HMM whose states
    last one or two bars is switching on noise, not finding regimes.

    Parameters
    ----------
    transmat : ndarray of shape (n_states, n_states)
        Rows are probability vectors, in ``labels`` order.
    labels : sequence of str, default ``REGIME_LABELS``
        One name per state.
    states : ndarray of shape (n_steps,), optional
        A state path (integers ``0..n_states-1``; NaN entries, e.g. warm-up, are ignored), such as
        the filtered argmax ``regime_state``. Adds the empirical mean run length and occupancy.

    Returns
    -------
    pandas.DataFrame
        Index ``labels`` (name ``regime``); columns ``p_stay``, ``expected_duration_bars`` (in the
        HMM's bars, ``inf`` for an absorbing state) and, with ``states``, ``mean_run_length``
        (NaN for a state never visited) and ``occupancy`` (fraction of the non-NaN steps).
    """
    transmat = np.asarray(transmat, dtype="float64")
    labels = list(labels)
    if transmat.ndim != 2 or transmat.shape != (len(labels), len(labels)):
        raise ValueError(
            f"`transmat` must have shape ({len(labels)}, {len(labels)}) to match `labels`, "
            f"got {transmat.shape}"
        )
    p_stay = np.diag(transmat).copy()
    with np.errstate(divide="ignore"):
        expected = 1.0 / (1.0 - p_stay)
    out = pd.DataFrame(
        {"p_stay": p_stay, "expected_duration_bars": expected},
        index=pd.Index(labels, name="regime"),
    )
    if states is None:
        return out
    path = np.asarray(states, dtype="float64")
    path = path[~np.isnan(path)]
    if path.size and (
        (path != np.round(path)).any() or path.min() < 0 or path.max() >= len(labels)
    ):
        raise ValueError(
            f"`states` must hold integers in [0, {len(labels) - 1}] (or NaN), "
            f"got values in [{path.min()}, {path.max()}]"
        )
    path = path.astype(int)
    starts = np.flatnonzero(np.r_[True, path[1:] != path[:-1]]) if path.size else np.array([], int)
    lengths = np.diff(np.r_[starts, path.size])
    run_state = path[starts]
    out["mean_run_length"] = [
        lengths[run_state == k].mean() if (run_state == k).any() else np.nan
        for k in range(len(labels))
    ]
    out["occupancy"] = [
        (path == k).mean() if path.size else np.nan for k in range(len(labels))
    ]
    return out
