"""Fixed-width-window fractional differencing (López de Prado, AFML ch. 5.5)."""

from __future__ import annotations

import numpy as np


def frac_diff_weights(d: float, window: int) -> np.ndarray:
    """Weights ``w_k`` of ``(1 - B)^d`` for lags ``k = 0 .. window - 1``.

    ``w_0 = 1`` and ``w_k = -w_{k-1} (d - k + 1) / k`` (AFML eq. 5.2, snippet 5.1). For ``d = 1``
    this is ``[1, -1, 0, 0, ...]`` (the first difference); for ``0 < d < 1`` the weights decay
    like ``k^{-d-1}`` and keep long memory.

    Parameters
    ----------
    d : float
        Differencing order, ``d >= 0``.
    window : int
        Number of weights (lags 0 .. window - 1), ``window >= 1``.

    Returns
    -------
    ndarray of shape (window,)
        ``w[k]`` multiplies the value ``k`` bars back.
    """
    if d < 0:
        raise ValueError(f"`d` must be non-negative, got `d={d}`")
    if window < 1:
        raise ValueError(f"`window` must be at least 1, got `window={window}`")
    k = np.arange(1, window, dtype=np.float64)
    return np.concatenate([[1.0], np.cumprod(-(d - k + 1.0) / k)])


def frac_diff_ffd(x: np.ndarray, d: float, window: int) -> np.ndarray:
    """Fractionally differenced series with a fixed-width window: ``y_t = sum_k w_k x_{t-k}``.

    Causal: ``y_t`` uses ``x_{t-window+1} .. x_t`` only; NaN for ``t < window - 1`` (AFML's FFD
    with the window fixed in bars instead of cut at a weight threshold, so every value uses the
    same weights). Computed as a direct convolution (no FFT), so ``y_t`` does not depend
    numerically on values after ``t`` either.

    Parameters
    ----------
    x : ndarray of shape (n,)
        Series to difference, e.g. log prices.
    d : float
        Differencing order.
    window : int
        Number of weights.

    Returns
    -------
    ndarray of shape (n,)
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) >= window:
        out[window - 1 :] = np.convolve(x, frac_diff_weights(d, window), mode="valid")
    return out
