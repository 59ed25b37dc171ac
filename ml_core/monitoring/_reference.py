"""What the champion was trained and validated on, reduced to the statistics the daily monitor
compares the live window with; stored with the model at registration (JSON)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_core.monitoring._drift import bin_fractions, quantile_edges, window_psi

__all__ = ["SIGNAL_NAMES", "Distribution", "ReferenceStatistics", "build_reference",
           "label_agreement", "label_shares", "signal_mix"]

SIGNAL_NAMES: Mapping[int, str] = {1: "buy", -1: "sell", 0: "hold"}
"""Keys of a signal mix, by signal value (``ml_core.ensemble.SIGNAL_BUY`` / ``SELL`` / ``HOLD``)."""

REFERENCE_VERSION = 1
"""Layout of :meth:`ReferenceStatistics.to_dict`; raise it when the layout changes."""


@dataclass(frozen=True)
class Distribution:
    """One variable of the reference: its quantile bins and a subsample for the KS test."""

    edges: tuple[float, ...]
    """Interior bin edges (:func:`~ml_core.monitoring.quantile_edges`)."""
    fractions: tuple[float, ...]
    """Share of the whole reference in each bin, ``len(edges) + 1`` values."""
    sample: tuple[float, ...]
    """Sorted subsample of the non-NaN reference values (at most ``sample_size``)."""
    psi_limit: float | None = None
    """Largest PSI a live-sized window of the reference itself reached
    (:func:`~ml_core.monitoring.window_psi`); None when not measured."""

    @classmethod
    def of(cls, values: np.ndarray, order: np.ndarray, n_bins: int, sample_size: int,
           window: tuple[int, int] | None = None) -> Distribution:
        """The distribution of ``values``; the sample is the first ``sample_size`` non-NaN values
        along the row permutation ``order``; ``window`` = (rows, step) measures ``psi_limit``."""
        edges = quantile_edges(values, n_bins)
        fractions = bin_fractions(edges, values)
        shuffled = values[order]
        sample = np.sort(shuffled[~np.isnan(shuffled)][:sample_size])
        limit = None
        if window is not None:
            psis = window_psi(fractions, edges, values, *window)
            limit = float(psis.max()) if psis.size else None
        return cls(tuple(edges.tolist()), tuple(fractions.tolist()), tuple(sample.tolist()),
                    limit)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "fractions": list(self.fractions),
                "sample": list(self.sample), "psi_limit": self.psi_limit}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Distribution:
        limit = data.get("psi_limit")
        return cls(*(tuple(float(v) for v in data[k]) for k in ("edges", "fractions", "sample")),
                   None if limit is None else float(limit))


@dataclass(frozen=True)
class ReferenceStatistics:
    """The champion's reference, built by :func:`build_reference` from its training window.

    Plain floats, tuples and dicts: :meth:`to_dict` is JSON-ready and
    ``ReferenceStatistics.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref`` exactly.
    """

    features: dict[str, Distribution]
    """Per feature column: bins, fractions and KS sample."""
    p_long: Distribution | None = None
    """The calibrated probability of a long trade on the reference bars."""
    signal_mix: dict[str, float] = field(default_factory=dict)
    """Share of ``buy`` / ``sell`` / ``hold`` signals (:data:`SIGNAL_NAMES`)."""
    regime_occupancy: dict[str, float] = field(default_factory=dict)
    """Share of the reference bars per forward-filtered regime label."""
    regime_agreement: float | None = None
    """Share of the reference bars whose filtered label equals the smoothed (hindsight) label."""
    importances: dict[str, float] = field(default_factory=dict)
    """Permutation importance per feature on labelled reference events."""
    validated: dict[str, float] = field(default_factory=dict)
    """The validated figures live performance is compared with: ``hit_rate``,
    ``sharpe_per_trade``, ``n_trades``."""
    n_rows: int = 0
    """Rows of the reference feature frame."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready layout (version :data:`REFERENCE_VERSION`)."""
        return {
            "version": REFERENCE_VERSION,
            "n_rows": self.n_rows,
            "features": {k: d.to_dict() for k, d in self.features.items()},
            "p_long": None if self.p_long is None else self.p_long.to_dict(),
            "signal_mix": dict(self.signal_mix),
            "regime_occupancy": dict(self.regime_occupancy),
            "regime_agreement": self.regime_agreement,
            "importances": dict(self.importances),
            "validated": dict(self.validated),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceStatistics:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data["version"]`` is not :data:`REFERENCE_VERSION`.
        """
        if data.get("version") != REFERENCE_VERSION:
            raise ValueError(f"reference statistics must have version {REFERENCE_VERSION}, got "
                             f"version={data.get('version')!r}")

        def floats(key: str) -> dict[str, float]:
            return {str(k): float(v) for k, v in data[key].items()}

        agreement = data["regime_agreement"]
        return cls(
            features={str(k): Distribution.from_dict(d) for k, d in data["features"].items()},
            p_long=None if data["p_long"] is None else Distribution.from_dict(data["p_long"]),
            signal_mix=floats("signal_mix"), regime_occupancy=floats("regime_occupancy"),
            regime_agreement=None if agreement is None else float(agreement),
            importances=floats("importances"), validated=floats("validated"),
            n_rows=int(data["n_rows"]))


def signal_mix(signals: pd.Series) -> dict[str, float]:
    """Share of each signal (:data:`SIGNAL_NAMES`) among the non-NaN ``signals``; every key is
    present; empty when there is no signal.

    Raises
    ------
    ValueError
        If a signal is not -1, 0 or 1.
    """
    values = pd.Series(signals).dropna()
    if values.empty:
        return {}
    unknown = sorted(set(values.unique()) - set(SIGNAL_NAMES))
    if unknown:
        raise ValueError(f"`signals` must be -1, 0 or 1, got {unknown[0]}")
    counts = values.value_counts()
    return {name: float(counts.get(value, 0)) / len(values) for value, name in SIGNAL_NAMES.items()}


def label_shares(labels: pd.Series) -> dict[str, float]:
    """Share of each label among the non-null ``labels`` (keys as strings, sorted); empty when
    there is no label."""
    values = pd.Series(labels).dropna()
    if values.empty:
        return {}
    counts = values.astype(str).value_counts()
    return {str(k): float(counts[k]) / len(values) for k in sorted(counts.index)}


def label_agreement(filtered: pd.Series, smoothed: pd.Series) -> float | None:
    """Share of the bars labelled by both series (aligned on the index) where the two agree;
    None when no bar is labelled by both."""
    both = pd.concat([pd.Series(filtered), pd.Series(smoothed)], axis=1, join="inner").dropna()
    if both.empty:
        return None
    return float((both.iloc[:, 0].astype(str) == both.iloc[:, 1].astype(str)).mean())


def _check_validated(validated: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in validated.items():
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"`validated` values must be finite, got validated[{key!r}]={value}")
        out[str(key)] = v
    return out


def build_reference(
    features: pd.DataFrame,
    p_long: pd.Series | None = None,
    signals: pd.Series | None = None,
    filtered_labels: pd.Series | None = None,
    smoothed_labels: pd.Series | None = None,
    importances: pd.Series | None = None,
    validated: Mapping[str, float] | None = None,
    *,
    n_bins: int = 10,
    sample_size: int = 1000,
    random_state: int = 0,
    window_rows: int | None = None,
    step_rows: int | None = None,
) -> ReferenceStatistics:
    """Reduce the champion's training window to its :class:`ReferenceStatistics`.

    Parameters
    ----------
    features : pandas.DataFrame
        Feature rows the champion was trained on (bars or events), one column per feature; NaN
        (warm-up) are ignored per column.
    p_long : pandas.Series, optional
        The model's calibrated long probability on the reference rows (out of fold where
        possible: in-sample probabilities are sharper than live ones).
    signals : pandas.Series, optional
        The signals -1 / 0 / 1 on the reference rows.
    filtered_labels, smoothed_labels : pandas.Series, optional
        Regime label per reference bar from the forward filter (what the model saw) and from the
        smoother (hindsight); the caller computes both with the HMM. Agreement needs both.
    importances : pandas.Series, optional
        Permutation importance per feature (:func:`~ml_core.monitoring.permutation_importances`).
    validated : mapping of str to float, optional
        Validated figures live trading is compared with (``hit_rate``, ``sharpe_per_trade``,
        ``n_trades``); finite values.
    n_bins : int, default 10
        Quantile bins per variable.
    sample_size : int, default 1000
        Largest KS subsample per variable; the same rows for every column (a seeded permutation).
    random_state : int, default 0
        Seed of the subsample.
    window_rows : int, optional
        Rows of a live window (``monitor.window`` in bars: 336 for 7 days of 30m bars). When
        given, each feature's ``psi_limit`` is the largest PSI of any such window of ``features``
        (consecutive bars, in time order) against the whole, sliding by ``step_rows``;
        :func:`~ml_core.monitoring.feature_drift` then holds the feature to
        ``max(psi_max, psi_limit)``. On the real 30m BTC features a fixed 0.25 flags most
        features every week (persistent and higher-timeframe features cannot fill a week the way
        they fill months); ``benchmarks/monitor.py`` measures both.
    step_rows : int, optional
        Stride of those windows; default ``window_rows // 7`` (a day of a week).

    Returns
    -------
    ReferenceStatistics

    Raises
    ------
    ValueError
        If ``features`` is empty, has a column without any non-NaN value, ``sample_size < 1``,
        or ``validated`` holds a non-finite value.
    """
    if not isinstance(features, pd.DataFrame) or features.empty:
        raise ValueError("`features` must be a non-empty DataFrame, got "
                         f"{type(features).__name__} of shape {getattr(features, 'shape', None)}")
    if not (isinstance(sample_size, (int, np.integer)) and sample_size >= 1):
        raise ValueError(f"`sample_size` must be a positive integer, got "
                         f"`sample_size={sample_size!r}`")
    order = np.random.default_rng(random_state).permutation(len(features))
    window = None
    if window_rows is not None:
        for key, v in (("window_rows", window_rows), ("step_rows", step_rows)):
            if v is not None and not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"`{key}` must be a positive integer, got `{key}={v!r}`")
        window = (window_rows, step_rows if step_rows is not None else max(1, window_rows // 7))
    dists = {}
    for name in features.columns:
        values = features[name].to_numpy(dtype=np.float64)
        if np.isnan(values).all():
            raise ValueError(f"`features` column {name!r} holds no non-NaN value")
        dists[str(name)] = Distribution.of(values, order, n_bins, sample_size, window)
    long_dist = None
    if p_long is not None and pd.Series(p_long).notna().any():
        p = pd.Series(p_long).to_numpy(dtype=np.float64)
        long_dist = Distribution.of(p, np.random.default_rng(random_state).permutation(len(p)),
                                    n_bins, sample_size)
    agreement = None
    if filtered_labels is not None and smoothed_labels is not None:
        agreement = label_agreement(filtered_labels, smoothed_labels)
    return ReferenceStatistics(
        features=dists, p_long=long_dist,
        signal_mix={} if signals is None else signal_mix(signals),
        regime_occupancy={} if filtered_labels is None else label_shares(filtered_labels),
        regime_agreement=agreement,
        importances={} if importances is None else {
            str(k): float(v) for k, v in pd.Series(importances).dropna().items()},
        validated=_check_validated(validated or {}), n_rows=len(features))
