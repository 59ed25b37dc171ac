"""Feature-importance stability: permutation importance on recent labelled events against the
importance the champion had on its training events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ImportanceStability", "importance_stability", "permutation_importances"]


def permutation_importances(model: Any, X: pd.DataFrame, y: Any, *, n_repeats: int = 5,
                            random_state: int = 0) -> pd.Series:
    """Mean drop of ``model.score`` when each column of ``X`` is shuffled.

    :func:`sklearn.inspection.permutation_importance` with the model's own score (accuracy for a
    classifier, R² for a regressor) on one core. Unlike the forests' impurity importance it is
    measured on the given events, so the same function scores the training events (reference)
    and the recent labelled ones (live) alike.

    Parameters
    ----------
    model : fitted estimator with ``score(X, y)``
        E.g. the entry forest.
    X : pandas.DataFrame
        Event features, the model's columns.
    y : array-like
        Their labels.
    n_repeats : int, default 5
        Shuffles per column.
    random_state : int, default 0
        Seed of the shuffles.

    Returns
    -------
    pandas.Series of float
        Importance per column of ``X``, named ``"importance"``.
    """
    from sklearn.inspection import permutation_importance

    if not (isinstance(n_repeats, (int, np.integer)) and n_repeats >= 1):
        raise ValueError(f"`n_repeats` must be a positive integer, got `n_repeats={n_repeats!r}`")
    result = permutation_importance(model, X, y, n_repeats=n_repeats, random_state=random_state,
                                    n_jobs=1)
    return pd.Series(result.importances_mean, index=X.columns, name="importance")


@dataclass(frozen=True)
class ImportanceStability:
    """Result of :func:`importance_stability`."""

    spearman: float
    """Rank correlation of the importances over the shared features (NaN under 2 features or a
    constant side)."""
    top_k_overlap: float
    """Share of the reference's top-``k`` features among the live top-``k``."""
    k: int
    n_features: int
    """Features present on both sides."""
    unstable: bool
    """``spearman < min_spearman``."""
    reason: str

    def metrics(self) -> dict[str, float]:
        """``importance_spearman``, ``importance_top_k_overlap``, ``importance_unstable``
        (0/1)."""
        return {"importance_spearman": self.spearman,
                "importance_top_k_overlap": self.top_k_overlap,
                "importance_unstable": float(self.unstable)}


def importance_stability(reference_importances: Any, live_importances: Any, top_k: int = 10, *,
                         min_spearman: float = 0.3) -> ImportanceStability:
    """Whether the features that mattered in training still matter on recent events.

    Spearman's rank correlation of the two importance vectors over the features both have, and
    the overlap of their top ``k``. Permutation importance of a few hundred recent events is
    noisy and the many near-zero features rank at random, so the correlation of a stable model
    sits well below 1; ``min_spearman`` (0.3) flags only a clear reordering, and only warns.

    Parameters
    ----------
    reference_importances, live_importances : mapping or pandas.Series of float
        Importance per feature name.
    top_k : int, default 10
        Size of the top sets (capped at the shared features).
    min_spearman : float, default 0.3
        Correlation below which the importances count as unstable.

    Returns
    -------
    ImportanceStability
    """
    from scipy.stats import spearmanr

    if not (isinstance(top_k, (int, np.integer)) and top_k >= 1):
        raise ValueError(f"`top_k` must be a positive integer, got `top_k={top_k!r}`")
    ref = pd.Series(reference_importances, dtype=np.float64).dropna()
    live = pd.Series(live_importances, dtype=np.float64).dropna()
    shared = [name for name in ref.index if name in live.index]
    ref, live = ref[shared], live[shared]
    rho = float("nan")
    if len(shared) >= 2 and ref.nunique() > 1 and live.nunique() > 1:
        rho = float(spearmanr(ref.to_numpy(), live.to_numpy()).statistic)
    k = min(top_k, len(shared))
    overlap = float("nan")
    if k:
        # stable sort: ties keep the reference's column order on both sides
        top_ref = set(ref.sort_values(ascending=False, kind="stable").index[:k])
        top_live = set(live.sort_values(ascending=False, kind="stable").index[:k])
        overlap = len(top_ref & top_live) / k
    unstable = bool(rho < min_spearman)
    reason = (f"importance: Spearman {rho:.2f} over {len(shared)} features "
              f"({'below' if unstable else 'at or above'} {min_spearman:g}), top-{k} overlap "
              f"{overlap:.0%}")
    return ImportanceStability(rho, overlap, k, len(shared), unstable, reason)
