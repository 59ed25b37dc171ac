"""Paired test of two Sharpe ratios (Ledoit & Wolf 2008): does a challenger's per-period Sharpe
ratio beat the champion's on the same bars, allowing for fat tails and autocorrelation?

Two methods of Ledoit, O. and Wolf, M. (2008), "Robust performance hypothesis testing with the
Sharpe ratio", Journal of Empirical Finance 15(5), 850-859:

``"hac"`` (their section 3.1)
    The delta method on ``u = (mean a, mean b, E a², E b²)`` with a HAC estimate of the long-run
    covariance ``Psi`` of the moment series, prewhitened by a VAR(1) (Andrews & Monahan 1992,
    singular values of the VAR matrix capped at 0.97), the quadratic-spectral kernel with the
    automatic bandwidth of Andrews (1991), ``1.3221 (alpha_hat T)^(1/5)`` with ``alpha_hat`` from
    univariate AR(1) fits, and the small-sample factor ``T / (T - 4)``. p-values from N(0, 1).
``"bootstrap"`` (their section 3.2)
    The studentised circular block bootstrap: resample blocks of ``block_size`` pairs, studentise
    each resample's difference with the block estimate of ``Psi`` (their eq. for ``Psi*``), and
    compare with the original difference studentised by the HAC standard error (Remark 3.2).

Ported from Ledoit & Wolf's own R code (``Sharpe.RData`` on Michael Wolf's web page:
``hac.inference``, ``compute.se.Parzen.pw``, ``compute.Psi.hat``, ``compute.alpha.hat``,
``boot.time.inference``, ``cbb.sequence``), as copied in ArdiaD/PeerPerformance
(``R/sharpeTesting.R``: ``se.sharpe.asymptotic``, ``sharpeTestBootstrap``, ``se.sharpe.bootstrap``)
and the Python port majkee15/RobustSharpeRatioHAC (``robustsharpe``). Differences, on purpose:

* kernel: their R code uses the Parzen kernel (``2.6614 (alpha_hat T)^(1/5)``); the paper's text
  and Andrews & Monahan (1992) use the quadratic-spectral one, which is used here (the Parzen
  kernel stays available to :func:`_long_run_variance`, and the tests reproduce their published
  Parzen figures with it);
* units: each series is divided by its standard deviation first. The Sharpe ratios and the
  difference do not change, but the bandwidth rule (it weights the four moment series by their
  variances) and the prewhitening cap do: without this, the same returns in percent and in
  fractions would get different p-values; here they get the same;
* one-sided p-values (the gate asks "is the challenger better?"), and the degenerate cases of
  :func:`sharpe_difference_test`;
* the bootstrap's ``robustsharpe`` port flips the sign of the last gradient component; the
  gradient here is LW's (``+ mean_b / (2 sigma_b^3)``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

__all__ = ["SharpeDifference", "sharpe_difference_test"]

METHODS: tuple[str, ...] = ("hac", "bootstrap")
ALTERNATIVES: tuple[str, ...] = ("greater", "less", "two-sided")
MIN_PAIRS = 10
"""Fewest paired observations tested (PeerPerformance's ``minObs``)."""
SINGULAR_VALUE_CAP = 0.97
"""Largest singular value of the prewhitening VAR(1) matrix (LW's code, Andrews & Monahan 1992)."""
BANDWIDTH_CONSTANT = {"qs": 1.3221, "parzen": 2.6614}
"""Andrews (1991) automatic bandwidth ``c (alpha_hat T)^(1/5)`` per kernel."""
_BOOT_CHUNK = 1_000_000
"""Gathered block sums held at once by the bootstrap (8 MB per array)."""


@dataclass(frozen=True)
class SharpeDifference:
    """Result of :func:`sharpe_difference_test`.

    Attributes
    ----------
    sharpe_a, sharpe_b : float
        Per-period Sharpe ratios, ``mean / std`` (``ddof=1``), not annualised; 0 for a
        constant series.
    difference : float
        ``sharpe_a - sharpe_b``.
    std_error : float
        Standard error of the difference (HAC; the bootstrap studentises with it too); NaN when
        both series are constant.
    statistic : float
        ``difference / std_error``; NaN when ``std_error`` is NaN or 0.
    p_value : float
        For ``alternative``; 1.0 when nothing can be shown (``statistic`` NaN).
    n : int
        Paired observations.
    method : str
        ``"hac"`` or ``"bootstrap"``.
    alternative : str
        ``"greater"`` (H1: SR_a > SR_b), ``"less"`` or ``"two-sided"``.
    """

    sharpe_a: float
    sharpe_b: float
    difference: float
    std_error: float
    statistic: float
    p_value: float
    n: int
    method: str
    alternative: str

    def rejects(self, alpha: float) -> bool:
        """Whether the test rejects H0 at level ``alpha``: ``p_value < alpha``.

        Raises
        ------
        ValueError
            If ``alpha`` is not in (0, 1).
        """
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"`alpha` must be in (0, 1), got `alpha={alpha}`")
        return bool(self.p_value < alpha)

    def as_dict(self) -> dict[str, float | str]:
        """The fields as a flat dict (for MLflow metrics and tags; the caller adds a prefix)."""
        return asdict(self)


def sharpe_difference_test(a: Any, b: Any, *, method: str = "hac", alternative: str = "greater",
                           block_size: int | None = None, n_boot: int = 2000,
                           random_state: int | np.random.Generator | None = None,
                           ) -> SharpeDifference:
    """Test H0: SR_a = SR_b on paired per-period returns (Ledoit & Wolf 2008).

    Parameters
    ----------
    a, b : array-like or pandas.Series of float, shape (n,)
        Paired per-period returns (e.g. the challenger's and the champion's net bar returns on the
        same bars), paired by position, finite, ``n >= 10``.
    method : {"hac", "bootstrap"}
        ``"hac"``: delta method with the prewhitened quadratic-spectral HAC covariance (LW section
        3.1), normal p-value. ``"bootstrap"``: studentised circular block bootstrap (LW 3.2).
    alternative : {"greater", "less", "two-sided"}
        ``"greater"``: H1 SR_a > SR_b (the promotion gate's question).
    block_size : int, optional
        Bootstrap block length, ``1 <= block_size <= n // 2``. Default
        ``max(1, round(n ** (1/3)))`` (the rate of the optimal block length for variance
        estimation; 6 for n=250, 10 for n=1000); LW calibrate it per data set, which costs
        thousands of bootstraps, and their code's fixed default is 5.
    n_boot : int
        Bootstrap resamples (>= 1; the smallest p-value is ``1 / (n_boot + 1)``).
    random_state : int, numpy.random.Generator or None
        Seed of the bootstrap; the same seed gives the same p-value.

    Returns
    -------
    SharpeDifference
        ``std_error`` and ``statistic`` are the HAC ones for both methods (LW studentise the
        bootstrap with the HAC standard error); ``p_value`` is the method's.

    Notes
    -----
    Degenerate cases (a series is "constant" when all its values are equal, e.g. a book that
    held flat; its Sharpe ratio is taken as exactly 0):

    * ``b`` constant, ``a`` not: SR_b = 0 and the test is the one-sample test of SR_a against 0,
      the same machinery on ``a`` alone (moments ``(mean a, E a²)``, factor ``T / (T - 2)``).
    * ``a`` constant, ``b`` not: SR_a = 0, ``difference = -sharpe_b``, the one-sample test of
      SR_b against 0 with the sign turned (H1 "greater" holds when the champion loses money).
    * both constant: ``difference = 0``, ``std_error`` and ``statistic`` NaN, ``p_value = 1.0``
      for every alternative: nothing can be shown.

    The bootstrap resamples ``floor(n / block_size)`` whole blocks (``n`` pairs when the block
    size divides ``n``), as LW's ``cbb.sequence``. One-sided bootstrap p-values follow their
    Remark 3.2 without the absolute values: for "greater",
    ``(1 + #{(d*_m - d) / s*_m >= d / s}) / (n_boot + 1)``; a resample whose statistic is not
    finite counts against rejection.

    Raises
    ------
    ValueError
        Naming the parameter and its value: lengths differ, fewer than 10 pairs, a non-finite
        value (with its position), not 1-D, unknown ``method`` or ``alternative``, bad
        ``block_size`` or ``n_boot``.

    Examples
    --------
    >>> rng = np.random.default_rng(42)
    >>> champion = rng.standard_normal(500)
    >>> challenger = 0.5 * champion + rng.standard_normal(500) + 0.2
    >>> result = sharpe_difference_test(challenger, champion)
    >>> round(result.difference, 4), round(result.p_value, 4), result.rejects(0.05)
    (0.1463, 0.0025, True)
    >>> flat = sharpe_difference_test(challenger, np.zeros(500))  # no champion: held flat
    >>> round(flat.sharpe_b, 4), round(flat.p_value, 4)
    (0.0, 0.0046)
    """
    x = _as_returns(a, "a")
    y = _as_returns(b, "b")
    if x.size != y.size:
        raise ValueError(f"`a` and `b` must have the same length, got len(a)={x.size}, "
                         f"len(b)={y.size}")
    n = int(x.size)
    if n < MIN_PAIRS:
        raise ValueError(f"`a` and `b` must hold at least {MIN_PAIRS} pairs, got {n}")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got `method={method!r}`")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {ALTERNATIVES}, got "
                         f"`alternative={alternative!r}`")
    block = _check_block_size(block_size, n)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"`n_boot` must be a positive integer, got `n_boot={n_boot!r}`")

    flat_a, flat_b = bool(np.ptp(x) == 0.0), bool(np.ptp(y) == 0.0)
    sr_a = 0.0 if flat_a else _sharpe(x)
    sr_b = 0.0 if flat_b else _sharpe(y)
    result = dict(sharpe_a=sr_a, sharpe_b=sr_b, difference=sr_a - sr_b, n=n, method=method,
                  alternative=alternative)
    if flat_a and flat_b:
        return SharpeDifference(std_error=math.nan, statistic=math.nan, p_value=1.0, **result)
    # the series that vary, each in units of its own standard deviation, and their signs in
    # the difference
    if flat_b:
        series, signs = x[:, None], np.array([1.0])
    elif flat_a:
        series, signs = y[:, None], np.array([-1.0])
    else:
        series, signs = np.column_stack((x, y)), np.array([1.0, -1.0])
    series = series / series.std(axis=0)
    v, gradient = _moment_series(series, signs)
    std_error = math.sqrt(max(_long_run_variance(v, gradient), 0.0) / n)
    difference = result["difference"]
    statistic = difference / std_error if std_error > 0.0 else math.nan
    if not math.isfinite(statistic):
        return SharpeDifference(std_error=std_error, statistic=math.nan, p_value=1.0, **result)
    if method == "hac":
        p_value = _normal_p_value(statistic, alternative)
    else:
        p_value = _bootstrap_p_value(series, signs, difference, statistic, alternative, block,
                                     int(n_boot), np.random.default_rng(random_state))
    return SharpeDifference(std_error=std_error, statistic=statistic, p_value=p_value, **result)


def _as_returns(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float array of finite returns, or a ValueError naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`{name}` must be numeric returns, got {type(values).__name__}: "
                         f"{error}") from None
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        index = getattr(values, "index", None)
        label = f" (index {index[position]})" if index is not None else ""
        raise ValueError(f"`{name}` must be finite, got {name}[{position}]={array[position]}"
                         f"{label}")
    return array


def _check_block_size(block_size: int | None, n: int) -> int:
    if block_size is None:
        return _default_block_size(n)
    if (isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer))
            or not 1 <= block_size <= n // 2):
        raise ValueError(f"`block_size` must be an integer in [1, n // 2] = [1, {n // 2}] "
                         f"(at least two blocks), got `block_size={block_size!r}`")
    return int(block_size)


def _default_block_size(n: int) -> int:
    """``max(1, round(n ** (1/3)))``: the bootstrap's block length when none is given."""
    return max(1, min(round(n ** (1.0 / 3.0)), n // 2))


def _sharpe(x: np.ndarray) -> float:
    return float(x.mean() / x.std(ddof=1))


def _moment_series(series: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LW's ``V_hat`` and the gradient of ``sum_i signs_i SR_i`` at the sample moments.

    ``series`` (T, k) -> ``v`` (T, 2k): columns ``x_i - mean_i`` then ``x_i² - E x_i²`` (their
    order ``(mu_1, mu_2, gamma_1, gamma_2)``); with ``SR = mu / sqrt(gamma - mu²)``,
    ``dSR/dmu = gamma / (gamma - mu²)^1.5`` and ``dSR/dgamma = -mu / (2 (gamma - mu²)^1.5)``.
    """
    mu = series.mean(axis=0)
    squares = series * series
    gamma = squares.mean(axis=0)
    scale = (gamma - mu * mu) ** 1.5
    gradient = np.concatenate((signs * gamma / scale, -0.5 * signs * mu / scale))
    return np.hstack((series - mu, squares - gamma)), gradient


def _kernel(x: np.ndarray, kernel: str) -> np.ndarray:
    """Quadratic-spectral or Parzen kernel weights at ``x >= 0`` (Andrews 1991, p. 821)."""
    if kernel == "parzen":
        return np.where(x <= 0.5, 1.0 - 6.0 * x**2 + 6.0 * x**3,
                        np.where(x <= 1.0, 2.0 * (1.0 - x) ** 3, 0.0))
    z = 6.0 * np.pi * x / 5.0
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 25.0 / (12.0 * np.pi**2 * x**2) * (np.sin(z) / z - np.cos(z))
    return np.where(x == 0.0, 1.0, weights)


def _bandwidth_alpha(v: np.ndarray) -> float:
    """Andrews' (1991) ``alpha_hat(2)`` from an AR(1) fit (with intercept, OLS) to each column,
    equal weights: ``sum 4 rho² sigma⁴ / (1-rho)^8 / sum sigma⁴ / (1-rho)^4`` (LW's
    ``compute.alpha.hat``, R's ``ar(x, aic=FALSE, order.max=1, method="ols")``)."""
    lead, lag = v[1:], v[:-1]
    lead = lead - lead.mean(axis=0)
    lag = lag - lag.mean(axis=0)
    sxx = (lag * lag).sum(axis=0)
    varying = sxx > 0.0
    rho = np.where(varying, (lead * lag).sum(axis=0) / np.where(varying, sxx, 1.0), 0.0)
    sigma2 = ((lead - rho * lag) ** 2).mean(axis=0)  # a common scale factor cancels below
    numerator = (4.0 * rho**2 * sigma2**2 / (1.0 - rho) ** 8).sum()
    denominator = (sigma2**2 / (1.0 - rho) ** 4).sum()
    return float(numerator / denominator) if denominator > 0.0 else 0.0


def _long_run_variance(v: np.ndarray, gradient: np.ndarray, *, kernel: str = "qs",
                       prewhiten: bool = True) -> float:
    """``gradient' Psi_hat gradient``: the HAC long-run covariance of the rows of ``v`` (T, p)
    in direction ``gradient``, LW's ``compute.se.Parzen.pw`` (``prewhiten=True``) or
    ``compute.se.Parzen`` (False), with ``kernel`` "qs" or "parzen".

    Prewhitening: OLS VAR(1) without intercept ``v_t = A v_{t-1} + e_t``, singular values of
    ``A`` capped at 0.97, residuals recomputed with the capped ``A``, their kernel estimate
    ``Psi_e`` recoloured as ``D Psi_e D'``, ``D = (I - A)^-1``. The kernel estimate of ``m``
    rows is ``m / (m - p) (Gamma_0 + sum_j k(j / S) (Gamma_j + Gamma_j'))``,
    ``Gamma_j = sum_t e_t e_{t-j}' / m``, ``S = c (alpha_hat m)^(1/5)``; the quadratic-spectral
    kernel sums all lags, Parzen's the lags ``j < S``. Only the scalar series
    ``z_t = (D' gradient) . e_t`` is needed: ``h' Gamma_j h`` is its autocovariance at lag j.
    """
    direction = gradient
    if prewhiten:
        lag, lead = v[:-1], v[1:]
        coefficients = np.linalg.lstsq(lag, lead, rcond=None)[0].T  # lead_t ~ A lag_t
        left, singular, right = np.linalg.svd(coefficients)
        capped = left @ np.diag(np.minimum(singular, SINGULAR_VALUE_CAP)) @ right
        v = lead - lag @ capped.T
        # h = D' gradient, D = (I - A)^-1
        direction = np.linalg.solve((np.eye(capped.shape[0]) - capped).T, gradient)
    m, p = v.shape
    z = v @ direction
    size = 1 << int(2 * m - 1).bit_length()
    spectrum = np.fft.rfft(z, size)
    autocovariance = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[:m] / m
    bandwidth = BANDWIDTH_CONSTANT[kernel] * (_bandwidth_alpha(v) * m) ** 0.2
    if bandwidth > 0.0:
        lags = np.arange(1, m)
        weights = _kernel(lags / bandwidth, kernel)
        if kernel == "parzen":
            weights = np.where(lags < min(bandwidth, m - 1), weights, 0.0)
        tail = 2.0 * float(weights @ autocovariance[1:])
    else:
        tail = 0.0
    return m / (m - p) * (float(autocovariance[0]) + tail)


def _normal_p_value(statistic: float, alternative: str) -> float:
    if alternative == "greater":
        return float(ndtr(-statistic))
    if alternative == "less":
        return float(ndtr(statistic))
    return float(2.0 * ndtr(-abs(statistic)))


def _bootstrap_p_value(series: np.ndarray, signs: np.ndarray, difference: float,
                       statistic: float, alternative: str, block: int, n_boot: int,
                       rng: np.random.Generator) -> float:
    """LW's studentised circular block bootstrap p-value (``boot.time.inference``), vectorised.

    Each resample joins ``l = n // block`` blocks of ``block`` consecutive pairs starting at
    uniform positions, wrapping around the end. Its difference ``d*`` and standard error
    ``s*`` (LW's block estimate ``Psi* = sum_j zeta_j zeta_j' / l``,
    ``zeta_j = sqrt(block) * mean of the moment series over block j``, no small-sample factor)
    give ``t* = (d* - difference) / s*``, compared with ``statistic``. Everything a resample
    needs is a sum over its blocks, so the sums of ``x`` and ``x²`` over the ``n`` circular
    blocks are computed once and each resample gathers ``l`` of them, not ``n`` pairs.
    """
    n, k = series.shape
    n_blocks = n // block
    length = n_blocks * block
    wrapped = np.concatenate((series, series[:block - 1]))
    sums = np.lib.stride_tricks.sliding_window_view(wrapped, block, axis=0).sum(axis=2)
    square_sums = np.lib.stride_tricks.sliding_window_view(wrapped * wrapped, block,
                                                           axis=0).sum(axis=2)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))  # all draws first: chunking-proof
    exceed = 0
    chunk = max(1, _BOOT_CHUNK // (n_blocks * k))
    for first in range(0, n_boot, chunk):
        drawn = starts[first:first + chunk]
        block_sum, block_square_sum = sums[drawn], square_sums[drawn]  # (m, l, k)
        mu = block_sum.sum(axis=1) / length
        gamma = block_square_sum.sum(axis=1) / length
        variance = gamma - mu * mu
        with np.errstate(divide="ignore", invalid="ignore"):
            d_star = (mu / np.sqrt(variance * length / (length - 1))) @ signs
            scale = variance ** 1.5
            grad_mu, grad_gamma = signs * gamma / scale, -0.5 * signs * mu / scale
            projection = ((block_sum / block - mu[:, None, :]) * grad_mu[:, None, :]).sum(axis=2) \
                + ((block_square_sum / block - gamma[:, None, :]) * grad_gamma[:, None, :]
                   ).sum(axis=2)
            se_star = np.sqrt(block * (projection**2).mean(axis=1) / length)
            t_star = (d_star - difference) / se_star
        if alternative == "greater":
            exceed += int(np.count_nonzero(~(t_star < statistic)))
        elif alternative == "less":
            exceed += int(np.count_nonzero(~(t_star > statistic)))
        else:
            exceed += int(np.count_nonzero(~(np.abs(t_star) < abs(statistic))))
    return (exceed + 1) / (n_boot + 1)


def _simulate_pairs(rng: np.random.Generator, n_sims: int, n: int, *, sharpe_a: float,
                    sharpe_b: float, correlation: float = 0.5, ar: float = 0.0,
                    df: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paired returns with known per-period Sharpe ratios, for size and power checks.

    Each series is ``sharpe + e_t`` with ``e_t = ar e_{t-1} + sqrt(1 - ar²) eps_t`` started at
    ``e_0 = eps_0`` (variance exactly 1 at every t, so the Sharpe ratio is ``sharpe``);
    ``eps`` are standard normal or Student t(``df``) scaled to unit variance, with
    ``eps_b = correlation eps_a + sqrt(1 - correlation²) eta`` (correlation of a and b).

    Returns
    -------
    a, b : numpy.ndarray, shape (n_sims, n)
    """
    from scipy.signal import lfilter

    if df is None:
        shocks = rng.standard_normal((2, n_sims, n))
    else:
        shocks = rng.standard_t(df, size=(2, n_sims, n)) / math.sqrt(df / (df - 2.0))
    eps_a = shocks[0]
    eps_b = correlation * shocks[0] + math.sqrt(1.0 - correlation**2) * shocks[1]
    out = []
    for eps, sharpe in ((eps_a, sharpe_a), (eps_b, sharpe_b)):
        scaled = math.sqrt(1.0 - ar**2) * eps
        scaled[:, 0] = eps[:, 0]
        out.append(sharpe + lfilter([1.0], [1.0, -ar], scaled, axis=1))
    return out[0], out[1]
