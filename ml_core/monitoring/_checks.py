"""The distribution checks of the daily monitor: feature drift, prediction drift, regime check.

Each takes the champion's :class:`~ml_core.monitoring.ReferenceStatistics` and the live window and
returns a small frozen result with a flat :meth:`metrics` dict and a one-line ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_core.monitoring._drift import ks_pvalue, psi, total_variation
from ml_core.monitoring._reference import (
    ReferenceStatistics,
    label_agreement,
    label_shares,
    signal_mix,
)

__all__ = ["FeatureDrift", "PredictionDrift", "RegimeCheck", "feature_drift", "prediction_drift",
           "regime_check"]


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"`{name}` must be positive, got `{name}={value}`")


def _nan_or(value: float | None) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True, eq=False)
class FeatureDrift:
    """Result of :func:`feature_drift`."""

    table: pd.DataFrame
    """One row per reference feature: ``psi``, ``psi_limit`` (the limit it was held to),
    ``ks_pvalue``, ``drifted`` (bool)."""
    share: float
    """Share of the features with live values that drifted (NaN when none has a live value)."""
    drifted: bool
    """``share >= share_max``: the drift rule of the rollback."""
    share_max: float
    reason: str

    def metrics(self) -> dict[str, float]:
        """``drift_share``, ``drift_psi_max`` (largest PSI), ``drift_n_features`` (with live
        values), ``drift_n_drifted``, ``drift`` (0/1)."""
        scored = self.table["psi"].dropna()
        return {"drift_share": self.share,
                "drift_psi_max": float(scored.max()) if len(scored) else float("nan"),
                "drift_n_features": float(len(scored)),
                "drift_n_drifted": float(self.table["drifted"].sum()),
                "drift": float(self.drifted)}


def feature_drift(reference: ReferenceStatistics, live_features: pd.DataFrame, psi_max: float,
                  ks_alpha: float, drift_share_max: float, *, ks_all: bool = True) -> FeatureDrift:
    """Which features of the live window left their reference distribution, and how many.

    A feature drifted when BOTH its PSI exceeds its limit (the shift is large) AND the KS test
    rejects at ``ks_alpha`` (it is not sampling noise of a small window). The limit is
    ``psi_max``, or the feature's ``psi_limit`` when the reference measured a larger one (the
    largest PSI a live-sized window of the reference itself reached:
    :func:`~ml_core.monitoring.build_reference` with ``window_rows``). The window drifted when
    the share of drifted features reaches ``drift_share_max`` (``>=``: with the default 0.5, 20 of
    40 features are enough).

    Parameters
    ----------
    reference : ReferenceStatistics
        The champion's reference; every one of its features must be a column of
        ``live_features``.
    live_features : pandas.DataFrame
        The live window's feature rows; NaN ignored per column, extra columns ignored.
    psi_max : float
        PSI above which a feature may count as drifted (``monitor.psi_max``), at least.
    ks_alpha : float
        KS p-value below which it may (``monitor.ks_alpha``).
    drift_share_max : float
        Share of drifted features that makes the window drift (``monitor.drift_share_max``).
    ks_all : bool, default True
        Run the KS test on every feature (the table shows all p-values); False runs it only where
        PSI exceeds ``psi_max`` (NaN elsewhere), the same decision at a fraction of the cost (a
        ``ks_2samp`` call takes ~0.7 ms; the benchmark runs hundreds of thousands).

    Returns
    -------
    FeatureDrift

    Raises
    ------
    ValueError
        If a threshold is out of range or a reference feature is missing from ``live_features``.
    """
    _positive(psi_max, "psi_max")
    if not 0 < ks_alpha < 1:
        raise ValueError(f"`ks_alpha` must be in (0, 1), got `ks_alpha={ks_alpha}`")
    if not 0 < drift_share_max <= 1:
        raise ValueError(f"`drift_share_max` must be in (0, 1], got "
                         f"`drift_share_max={drift_share_max}`")
    missing = [name for name in reference.features if name not in live_features.columns]
    if missing:
        raise ValueError(f"`live_features` must hold every reference feature, missing "
                         f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
    rows = {}
    for name, dist in reference.features.items():
        values = live_features[name].to_numpy(dtype=np.float64)
        p = psi(dist.fractions, dist.edges, values)
        limit = max(psi_max, dist.psi_limit or 0.0)
        ks = ks_pvalue(dist.sample, values) if ks_all or p > psi_max else float("nan")
        rows[name] = (p, limit, ks, bool(p > limit and ks < ks_alpha))
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["psi", "psi_limit", "ks_pvalue", "drifted"])
    table["drifted"] = table["drifted"].astype(bool)
    n_scored = int(table["psi"].notna().sum())
    n_drifted = int(table["drifted"].sum())
    share = n_drifted / n_scored if n_scored else float("nan")
    drifted = bool(n_scored and share >= drift_share_max)
    worst = table["psi"].idxmax() if n_scored else None
    own = int((table["psi_limit"] > psi_max).sum())
    limits = f"PSI > {psi_max:g}" + (f" ({own} at their own limit)" if own else "")
    reason = (f"feature drift: {n_drifted} of {n_scored} features drifted ({share:.0%}; "
              f"{limits} and KS p < {ks_alpha:g}), "
              f"{'at or above' if drifted else 'below'} the {drift_share_max:.0%} limit"
              + (f"; largest PSI {table.at[worst, 'psi']:.3f} ({worst})" if worst else ""))
    return FeatureDrift(table, share, drifted, drift_share_max, reason)


@dataclass(frozen=True)
class PredictionDrift:
    """Result of :func:`prediction_drift`."""

    psi: float
    """PSI of the live ``p_long`` against the reference's (NaN without either)."""
    ks_pvalue: float
    """KS p-value of the same comparison (NaN without either)."""
    signal_mix_tv: float
    """Total-variation distance of the live buy/sell/hold mix from the reference's (NaN without
    either)."""
    live_signal_mix: tuple[tuple[str, float], ...]
    drifted: bool
    """``psi > psi_max``."""
    reason: str

    def metrics(self) -> dict[str, float]:
        """``prediction_psi``, ``prediction_ks_pvalue``, ``signal_mix_tv``, ``prediction_drift``
        (0/1)."""
        return {"prediction_psi": self.psi, "prediction_ks_pvalue": self.ks_pvalue,
                "signal_mix_tv": self.signal_mix_tv, "prediction_drift": float(self.drifted)}


def prediction_drift(reference: ReferenceStatistics, live_p_long: pd.Series | None,
                     live_signals: pd.Series | None, psi_max: float) -> PredictionDrift:
    """How far the model's live outputs moved from the reference ones.

    The ``p_long`` distribution is compared as a feature is (PSI on the reference's quantile
    bins, KS); the signal mix by its total-variation distance (0.1: a tenth of the signals
    changed class). A warning, not a rollback trigger: the outputs move with the market.

    Parameters
    ----------
    reference : ReferenceStatistics
    live_p_long : pandas.Series or None
        Live calibrated long probabilities.
    live_signals : pandas.Series or None
        Live signals -1 / 0 / 1.
    psi_max : float
        PSI above which the predictions drifted (``monitor.prediction_psi_max``).

    Returns
    -------
    PredictionDrift
    """
    _positive(psi_max, "psi_max")
    nan = float("nan")
    p, ks = nan, nan
    if reference.p_long is not None and live_p_long is not None:
        values = pd.Series(live_p_long).to_numpy(dtype=np.float64)
        p = psi(reference.p_long.fractions, reference.p_long.edges, values)
        ks = ks_pvalue(reference.p_long.sample, values)
    live_mix = {} if live_signals is None else signal_mix(live_signals)
    tv = total_variation(reference.signal_mix, live_mix) if (
        live_mix and reference.signal_mix) else nan
    drifted = bool(p > psi_max)
    mix = ", ".join(f"{k} {v:.0%}" for k, v in live_mix.items()) or "none"
    reason = (f"prediction drift: p_long PSI {p:.3f} ({'above' if drifted else 'within'} "
              f"{psi_max:g}), signal mix {mix} (TV {tv:.3f} from the reference)")
    return PredictionDrift(p, ks, tv, tuple(live_mix.items()), drifted, reason)


@dataclass(frozen=True)
class RegimeCheck:
    """Result of :func:`regime_check`."""

    occupancy_tv: float
    """Total-variation distance of the live regime occupancy from the reference's."""
    live_occupancy: tuple[tuple[str, float], ...]
    agreement: float
    """Live share of bars whose filtered label equals the smoothed one (NaN without both)."""
    reference_agreement: float
    shifted: bool
    """``occupancy_tv > occupancy_tv_max``."""
    reason: str

    def metrics(self) -> dict[str, float]:
        """``regime_occupancy_tv``, ``regime_agreement``, ``regime_agreement_reference``,
        ``regime_shift`` (0/1)."""
        return {"regime_occupancy_tv": self.occupancy_tv, "regime_agreement": self.agreement,
                "regime_agreement_reference": self.reference_agreement,
                "regime_shift": float(self.shifted)}


def regime_check(reference: ReferenceStatistics, live_filtered: pd.Series,
                 live_smoothed: pd.Series | None = None, *,
                 occupancy_tv_max: float = 0.5) -> RegimeCheck:
    """Regime occupancy and filter/smoother agreement of the live window against the reference.

    Occupancy: the share of live bars per filtered regime label against the training window's,
    as a total-variation distance. A week holds only ~15 regime runs (they last ~10 hours), so
    distances of 0.2-0.3 are ordinary; ``occupancy_tv_max`` defaults to 0.5 (half the bars in
    regimes the reference did not have in that share) and only warns. Agreement: how often the
    causal filter already named the regime the smoother names with hindsight; a fall against the
    reference means the regimes have become harder to read live.

    Parameters
    ----------
    reference : ReferenceStatistics
    live_filtered : pandas.Series
        Filtered regime label per live bar.
    live_smoothed : pandas.Series, optional
        Smoothed label per live bar (same index); agreement is NaN without it.
    occupancy_tv_max : float, default 0.5
        Distance above which the regimes count as shifted.

    Returns
    -------
    RegimeCheck
    """
    _positive(occupancy_tv_max, "occupancy_tv_max")
    live = label_shares(live_filtered)
    tv = total_variation(reference.regime_occupancy, live) if (
        live and reference.regime_occupancy) else float("nan")
    agreement = _nan_or(None if live_smoothed is None else label_agreement(live_filtered,
                                                                           live_smoothed))
    ref_agreement = _nan_or(reference.regime_agreement)
    shifted = bool(tv > occupancy_tv_max)
    occupancy = ", ".join(f"{k} {v:.0%}" for k, v in live.items()) or "none"
    reason = (f"regimes: occupancy {occupancy} (TV {tv:.3f} from the reference, "
              f"{'above' if shifted else 'within'} {occupancy_tv_max:g}); filtered = smoothed "
              f"on {agreement:.0%} of live bars vs {ref_agreement:.0%} in the reference")
    return RegimeCheck(tv, tuple(live.items()), agreement, ref_agreement, shifted, reason)
