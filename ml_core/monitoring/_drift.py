"""Distribution shift between a reference sample and a live window: PSI on reference-quantile bins,
the two-sample Kolmogorov-Smirnov test, and the total-variation distance of two discrete mixes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["PSI_FLOOR", "bin_fractions", "ks_pvalue", "psi", "quantile_edges", "total_variation",
           "window_psi"]

PSI_FLOOR: float = 1e-4
"""Smallest bin fraction :func:`psi` uses. An empty bin would make ``ln(live / reference)``
infinite; flooring both sides at 1e-4 (the usual choice, e.g. evidently's) keeps it finite while a
live window that empties a 10% reference bin still adds ``0.1 * ln(0.1 / 1e-4) ~ 0.69``, more than
the usual 0.25 alarm level on its own: an empty bin that should hold a tenth of the window is
drift. A bin empty on both sides adds nothing."""


def _finite(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-d float array without its NaN (warm-up rows, missing values)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-dimensional, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"`{name}` must not hold infinite values, got {arr[np.isinf(arr)][0]}")
    return arr[~np.isnan(arr)]


def quantile_edges(reference: Any, n_bins: int = 10) -> np.ndarray:
    """Interior bin edges at the quantiles ``1/n_bins, ..., (n_bins-1)/n_bins`` of ``reference``.

    Equal-mass bins on the reference make PSI comparable across features of any scale. The
    quantiles are reference values (``inverted_cdf``: no edge falls between two values of a
    discrete feature), repeated ones are merged and one at the maximum is dropped (its bin above
    would always be empty), so a constant feature has no edge and a single bin, and its PSI is 0
    whatever the live values: it carries no information.

    Parameters
    ----------
    reference : array-like of float, shape (n,)
        The reference values; NaN are ignored.
    n_bins : int, default 10
        Bins wanted, at least 2.

    Returns
    -------
    numpy.ndarray of float, shape (n_edges,)
        Sorted unique edges, ``n_edges <= n_bins - 1``. Bin ``i`` is ``(edges[i-1], edges[i]]``;
        the first and last bins are open to -inf and +inf, so no live value falls outside.

    Raises
    ------
    ValueError
        If ``n_bins < 2`` or ``reference`` holds no finite value.

    Examples
    --------
    >>> quantile_edges(np.arange(1.0, 11.0), n_bins=4).tolist()
    [3.0, 5.0, 8.0]
    >>> quantile_edges([3.0, 3.0, 3.0]).tolist()
    []
    """
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 2):
        raise ValueError(f"`n_bins` must be an integer >= 2, got `n_bins={n_bins!r}`")
    ref = _finite(reference, "reference")
    if ref.size == 0:
        raise ValueError("`reference` must hold at least one non-NaN value, got none")
    edges = np.unique(np.quantile(ref, np.arange(1, n_bins) / n_bins, method="inverted_cdf"))
    return edges[edges < ref.max()]


def bin_fractions(edges: Any, values: Any) -> np.ndarray:
    """Share of the non-NaN ``values`` in each bin of ``edges`` (:func:`quantile_edges`).

    Returns
    -------
    numpy.ndarray of float, shape (len(edges) + 1,)
        Fractions summing to 1; all NaN when ``values`` has no non-NaN value.
    """
    edges = np.asarray(edges, dtype=np.float64)
    x = _finite(values, "values")
    if x.size == 0:
        return np.full(edges.size + 1, np.nan)
    counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=edges.size + 1)
    return counts / x.size


def psi(reference_fractions: Any, edges: Any, live: Any) -> float:
    """Population stability index of ``live`` against the reference's bin fractions.

    ``PSI = sum_i (l_i - r_i) * ln(l_i / r_i)`` over the bins of ``edges``, with ``r_i`` the
    reference fraction and ``l_i`` the live fraction of bin ``i``, both floored at
    :data:`PSI_FLOOR`. It is the symmetrised Kullback-Leibler divergence of the two binned
    distributions: 0 for identical ones; by convention < 0.1 is stable and > 0.25 a major shift.
    With ``m`` live values in ``k`` bins a sample of the reference's own law scores about
    ``(k - 1) / m`` (0.03 for 10 bins and 336 bars), so small windows read a little high.

    Parameters
    ----------
    reference_fractions : array-like of float, shape (len(edges) + 1,)
        Share of the reference in each bin (:func:`bin_fractions` of the reference).
    edges : array-like of float
        Interior edges (:func:`quantile_edges` of the reference).
    live : array-like of float
        The live values; NaN are ignored.

    Returns
    -------
    float
        The index, >= 0; NaN when ``live`` has no non-NaN value.

    Raises
    ------
    ValueError
        If ``reference_fractions`` does not have one entry more than ``edges`` or does not sum
        to 1.

    Examples
    --------
    >>> psi([0.5, 0.5], [0.0], [-1.0, 1.0, 2.0, 3.0])  # live 25% / 75%
    0.274653...
    """
    ref = np.asarray(reference_fractions, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if ref.shape != (edges.size + 1,):
        raise ValueError(f"`reference_fractions` must hold len(edges) + 1 = {edges.size + 1} "
                         f"values, got shape {ref.shape}")
    if not (np.all(ref >= 0) and abs(ref.sum() - 1.0) < 1e-9):
        raise ValueError(f"`reference_fractions` must be non-negative and sum to 1, got sum "
                         f"{ref.sum()}")
    live_fractions = bin_fractions(edges, live)
    if np.isnan(live_fractions).any():
        return float("nan")
    r = np.maximum(ref, PSI_FLOOR)
    q = np.maximum(live_fractions, PSI_FLOOR)
    return float(np.sum((q - r) * np.log(q / r)))


def window_psi(reference_fractions: Any, edges: Any, values: Any, window: int,
               step: int) -> np.ndarray:
    """:func:`psi` of every ``window`` consecutive values of ``values``, sliding by ``step``.

    Run on the reference column itself, it shows how far windows of the live size stray from the
    whole by chance and by the series' own persistence: a feature of rolling statistics (or of a
    higher timeframe, constant for hours) fills a week with a few neighbouring values, so its
    weekly PSI is large even when nothing changed. :func:`~ml_core.monitoring.build_reference`
    keeps the largest as the feature's own PSI limit.

    Parameters
    ----------
    reference_fractions, edges : array-like of float
        The reference's bins, as for :func:`psi`.
    values : array-like of float, shape (n,)
        Consecutive values (e.g. the reference rows, in time order); NaN ignored per window.
    window, step : int
        Window length and stride, in values.

    Returns
    -------
    numpy.ndarray of float, shape (n_windows,)
        One PSI per window that holds a non-NaN value, in order; empty if ``n < window``.
    """
    for name, v in (("window", window), ("step", step)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"`{name}` must be a positive integer, got `{name}={v!r}`")
    ref = np.maximum(np.asarray(reference_fractions, dtype=np.float64), PSI_FLOOR)
    x = np.asarray(values, dtype=np.float64)
    rows = np.flatnonzero(~np.isnan(x))
    counts = np.zeros((x.size + 1, ref.size))
    counts[rows + 1, np.searchsorted(np.asarray(edges, dtype=np.float64), x[rows], side="left")] = 1
    counts = np.cumsum(counts, axis=0)
    starts = np.arange(0, x.size - window + 1, step)
    in_window = counts[starts + window] - counts[starts]
    in_window = in_window[in_window.sum(axis=1) > 0]
    q = np.maximum(in_window / in_window.sum(axis=1, keepdims=True), PSI_FLOOR)
    return np.sum((q - ref) * np.log(q / ref), axis=1)


def ks_pvalue(reference_sample: Any, live: Any) -> float:
    """p-value of the two-sample Kolmogorov-Smirnov test (:func:`scipy.stats.ks_2samp`, two-sided).

    The test assumes independent draws. Features of consecutive bars are autocorrelated (rolling
    windows), which makes the p-value too small: it is a screen next to PSI, not a calibrated test
    on its own (``benchmarks/monitor.py`` measures the false alarms that follow).

    Parameters
    ----------
    reference_sample, live : array-like of float
        The two samples; NaN are ignored.

    Returns
    -------
    float
        The p-value; NaN when either sample has no non-NaN value.
    """
    from scipy.stats import ks_2samp

    ref = _finite(reference_sample, "reference_sample")
    x = _finite(live, "live")
    if ref.size == 0 or x.size == 0:
        return float("nan")
    return float(ks_2samp(ref, x).pvalue)


def total_variation(reference: Mapping[str, float], live: Mapping[str, float]) -> float:
    """Total-variation distance ``0.5 * sum |live - reference|`` of two discrete distributions.

    Keys missing on one side count as 0 there. 0 for identical mixes, 1 for disjoint ones: the
    largest difference in probability the two give any set of outcomes.

    Examples
    --------
    >>> total_variation({"buy": 0.5, "hold": 0.5}, {"buy": 0.2, "sell": 0.3, "hold": 0.5})
    0.3
    """
    keys = sorted(set(reference) | set(live))
    return float(0.5 * sum(abs(live.get(k, 0.0) - reference.get(k, 0.0)) for k in keys))
