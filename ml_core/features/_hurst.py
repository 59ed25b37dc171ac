"""Rescaled-range (R/S) Hurst exponent of windows of increments, small-sample corrected.

For a window of ``N`` increments ``x``, ``R/S`` is the range of the cumulated deviations from the
window mean divided by their (population) standard deviation. For a process with Hurst exponent
``H``, ``E[R/S] ~ c N^H``: ``H = 0.5`` for independent increments (random walk), ``H > 0.5`` for
persistent (trending) ones, ``H < 0.5`` for anti-persistent (mean-reverting) ones.

Estimator: ``H = 0.5 + ln(R/S / E_AL[R/S]) / ln N``, where ``E_AL`` is the Anis-Lloyd expectation
of ``R/S`` for ``N`` independent normal increments with Peters' ``(N - 1/2) / N`` factor (Anis &
Lloyd 1976, Biometrika 63; Peters 1994, *Fractal Market Analysis*, eq. 5.4). It solves
``R/S = c N^H`` with the constant ``c`` of independent increments instead of fitting ``c`` by a
regression over sub-block sizes, so one window gives an estimate with half the noise.

Bias and noise (measured on normal AR(1) increments):

* independent increments: mean 0.497 (raw ``ln(R/S) / ln N`` would give ~0.53 for
  ``N = 64 .. 200``, the classical small-sample upward bias the correction removes), standard
  deviation 0.05 at ``N = 96`` and 0.04 at ``N = 200`` (a sub-block regression: 0.11, 0.08);
* R/S cannot tell short-range dependence from long memory (Lo 1991, Econometrica 59), and the
  fixed intercept turns any scale factor of ``R/S`` into an offset: AR(1) increments with
  ``phi = 0.5`` read 0.58, with ``phi = -0.5`` 0.40, with ``phi = 0.8`` 0.67. Volatility
  clustering and bid-ask bounce shift it likewise. Read it as a persistence regime indicator,
  not as a measurement of long memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Smallest window the estimator accepts.
MIN_WINDOW = 8
# A window whose variance is below this fraction of its mean square is treated as constant.
_CONSTANT = 1e-10


def anis_lloyd_expected_rs(n: int) -> float:
    """Expected ``R/S`` of ``n`` independent normal increments (Anis-Lloyd, Peters-corrected).

    ``E[R/S] = (n - 1/2)/n * Gamma((n-1)/2) / (sqrt(pi) Gamma(n/2)) * sum_{i<n} sqrt((n-i)/i)``.
    The gamma ratio is taken through log-gamma, so it needs no large-``n`` approximation (Peters
    switches to ``1 / sqrt(n pi / 2)`` above 340, where the gammas overflow).

    Parameters
    ----------
    n : int
        Number of increments, at least 2.

    Returns
    -------
    float
    """
    if n < 2:
        raise ValueError(f"`n` must be at least 2, got `n={n}`")
    i = np.arange(1, n, dtype=np.float64)
    total = float(np.sqrt((n - i) / i).sum())
    ratio = math.exp(math.lgamma((n - 1) / 2) - math.lgamma(n / 2)) / math.sqrt(math.pi)
    return (n - 0.5) / n * ratio * total


def hurst_rs(window: int) -> Callable[[np.ndarray], np.ndarray]:
    """The row-wise estimator for windows of ``window`` increments (for ``rolling_apply``).

    Parameters
    ----------
    window : int
        Increments per window, at least :data:`MIN_WINDOW`.

    Returns
    -------
    callable
        ``fn(windows)`` mapping an array of shape ``(m, window)`` (oldest first) to the ``(m,)``
        Hurst exponents; 0.5 (no memory to report) for a constant window, e.g. flat prices.
    """
    if window < MIN_WINDOW:
        raise ValueError(f"`window` must be at least {MIN_WINDOW}, got `window={window}`")
    log_expected = math.log(anis_lloyd_expected_rs(window))
    log_window = math.log(window)

    def estimate(windows: np.ndarray) -> np.ndarray:
        mean = windows.mean(axis=1)
        dev = windows - mean[:, None]
        path = np.cumsum(dev, axis=1)
        spread = path.max(axis=1) - path.min(axis=1)
        var = np.einsum("ij,ij->i", dev, dev) / window
        varying = var > _CONSTANT * (var + mean * mean)  # mean square = var + mean^2
        rs = np.where(varying, spread / np.sqrt(np.where(varying, var, 1.0)), 1.0)
        return np.where(varying, 0.5 + (np.log(rs) - log_expected) / log_window, 0.5)

    return estimate
