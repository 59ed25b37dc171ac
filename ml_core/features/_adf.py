"""Augmented Dickey-Fuller test and the smallest fractional-differencing order that passes it.

:func:`adf_test` is the ADF unit-root test with a constant, in numpy and scipy, built to give the
numbers ``statsmodels.tsa.stattools.adfuller(x, maxlag, regression="c", autolag)`` gives: the
same default lag cap, the same lag selection (every candidate lag fitted on one common sample,
the chosen one refitted on the longest sample it allows), MacKinnon (2010) critical values and
the MacKinnon (1994) approximate p-value. :func:`min_frac_diff_order` uses it to pick the order
``d`` of the fixed-width fractional difference of a log price (AFML ch. 5.6, snippet 5.4).

References
----------
.. [1] Dickey, D. A. and Fuller, W. A. (1979). "Distribution of the estimators for autoregressive
   time series with a unit root." JASA 74(366), 427-431.
.. [2] MacKinnon, J. G. (1994). "Approximate asymptotic distribution functions for unit-root and
   cointegration tests." Journal of Business & Economic Statistics 12(2), 167-176.
.. [3] MacKinnon, J. G. (2010). "Critical values for cointegration tests." Queen's Economics
   Department Working Paper No. 1227, Table 2.
.. [4] Schwert, G. W. (1989). "Tests for unit roots: a Monte Carlo investigation." Journal of
   Business & Economic Statistics 7(2), 147-159.
.. [5] López de Prado, M. (2018). *Advances in Financial Machine Learning*, ch. 5.5-5.6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_core.features._fracdiff import frac_diff_ffd

# --- MacKinnon (1994) approximate p-value of the ADF tau statistic, constant only, N = 1 ---------
# p = Phi(sum_i c_i tau^i), with the "small p" polynomial for tau <= tau*, the "large p" one above
# it; p = 0 below tau_min and p = 1 above tau_max, where the surfaces are not fitted. Constants of
# MacKinnon (1994) as tabulated in statsmodels.tsa.adfvalues (tau_star_c, tau_min_c, tau_max_c,
# tau_c_smallp, tau_c_largep; first row, N = 1), scaling already applied.
_TAU_STAR = -1.61
_TAU_MIN = -18.83
_TAU_MAX = 2.74
_SMALL_P = (2.1659, 1.4412, 3.8269e-2)
_LARGE_P = (1.7339, 9.3202e-1, -1.2745e-1, -1.0368e-2)

# --- MacKinnon (2010), Table 2, "c" (constant, no trend), N = 1 ---------------------------------
# Critical value at sample size T: beta_inf + beta_1 / T + beta_2 / T^2 + beta_3 / T^3.
_CRITICAL_SURFACE = {
    "1%": (-3.43035, -6.5393, -16.786, -79.433),
    "5%": (-2.86154, -2.8903, -4.234, -40.040),
    "10%": (-2.56677, -1.5384, -2.809, 0.0),
}

_AUTOLAG_METHODS = ("aic", "bic")
_MIN_OBS = 4  # n // 2 - 2 >= 0 lags, and >= 1 residual degree of freedom
DEFAULT_D_GRID: tuple[float, ...] = tuple(
    float(d) for d in np.round(np.arange(0.05, 1.0001, 0.05), 2)
)  # 0.05, 0.10, ..., 1.00


@dataclass(frozen=True)
class AdfResult:
    """Outcome of :func:`adf_test`.

    Attributes
    ----------
    statistic : float
        t-statistic of the lagged level in the ADF regression; more negative = more evidence
        against a unit root.
    pvalue : float
        MacKinnon (1994) approximate asymptotic p-value of ``statistic``.
    n_lags : int
        Number of lagged differences in the regression (chosen by ``autolag`` or ``max_lags``).
    n_obs : int
        Observations in the final regression, ``len(x) - 1 - n_lags``.
    critical_values : dict of str to float
        MacKinnon (2010) critical values at ``n_obs`` for the ``"1%"``, ``"5%"``, ``"10%"``
        levels; reject the unit root at a level when ``statistic`` is below its value.
    """

    statistic: float
    pvalue: float
    n_lags: int
    n_obs: int
    critical_values: dict[str, float]


@dataclass(frozen=True, eq=False)
class FracDiffOrder:
    """Outcome of :func:`min_frac_diff_order`.

    Attributes
    ----------
    d : float
        Smallest grid order whose differenced series passes the ADF test, or ``1.0`` when none
        does (then ``passed`` is False).
    statistic, pvalue : float
        ADF statistic and p-value of the series differenced at ``d`` (``nan`` when no grid
        point passed and ``1.0`` is not on the grid).
    passed : bool
        Whether some grid order passed. False means even the largest grid order left a unit
        root at ``alpha``; ``d = 1.0`` (the plain log return) is then the fallback.
    window : int
        Fixed width of the differencing window, in bars.
    n_obs : int
        Length of the differenced series handed to the ADF test (at most ``max_obs``).
    table : pandas.DataFrame
        One row per grid order tried, ascending: ``d``, ``statistic``, ``pvalue``, ``n_lags``,
        ``corr_with_price`` (Pearson correlation of the differenced series with the log price on
        the same bars: how much memory the order keeps, AFML fig. 5.5).
    """

    d: float
    statistic: float
    pvalue: float
    passed: bool
    window: int
    n_obs: int
    table: pd.DataFrame


def adf_pvalue(statistic: float) -> float:
    """MacKinnon (1994) approximate asymptotic p-value of an ADF statistic (constant, N = 1).

    Parameters
    ----------
    statistic : float
        ADF t-statistic.

    Returns
    -------
    float
        ``Phi(c_0 + c_1 tau + c_2 tau^2 [+ c_3 tau^3])``, clipped to 0 below ``tau_min = -18.83``
        and 1 above ``tau_max = 2.74``.
    """
    if statistic > _TAU_MAX:
        return 1.0
    if statistic < _TAU_MIN:
        return 0.0
    from scipy.special import ndtr  # scipy is imported where used: `ml_core.features` stays light

    coefficients = _SMALL_P if statistic <= _TAU_STAR else _LARGE_P
    return float(ndtr(np.polynomial.polynomial.polyval(statistic, coefficients)))


def adf_critical_values(n_obs: int | float) -> dict[str, float]:
    """MacKinnon (2010) finite-sample critical values of the ADF test with a constant.

    Parameters
    ----------
    n_obs : int or float
        Observations in the ADF regression; ``math.inf`` gives the asymptotic values
        (-3.43035, -2.86154, -2.56677).

    Returns
    -------
    dict of str to float
        Keys ``"1%"``, ``"5%"``, ``"10%"``.
    """
    inverse = 0.0 if math.isinf(n_obs) else 1.0 / n_obs
    return {
        level: float(np.polynomial.polynomial.polyval(inverse, beta))
        for level, beta in _CRITICAL_SURFACE.items()
    }


def adf_test(
    x: np.ndarray, max_lags: int | None = None, autolag: str | None = "AIC"
) -> AdfResult:
    """Augmented Dickey-Fuller unit-root test with a constant.

    Regresses ``dx_t = a + g x_{t-1} + sum_{j=1..p} b_j dx_{t-j} + e_t`` by OLS; the statistic is
    the t-value of ``g`` (H0: unit root, ``g = 0``; H1: stationary, ``g < 0``). Lag selection
    mirrors ``statsmodels.tsa.stattools.adfuller(regression="c")``: every ``p`` in
    ``0 .. max_lags`` is fitted on the same ``len(x) - 1 - max_lags`` rows so the information
    criteria compare, the minimiser is kept (ties go to the fewer lags), then refitted on all
    ``len(x) - 1 - p`` rows it allows.

    Parameters
    ----------
    x : ndarray of shape (n,)
        Series to test, ``n >= 4``, finite, not constant.
    max_lags : int or None, default None
        Largest number of lagged differences, ``0 <= max_lags <= n // 2 - 2``. None means
        Schwert's rule as statsmodels applies it, ``ceil(12 (n / 100)^{1/4})``, capped at
        ``n // 2 - 2``.
    autolag : {"AIC", "BIC"} or None, default "AIC"
        Criterion that picks the number of lags (case-insensitive); None uses ``max_lags`` lags.

    Returns
    -------
    AdfResult

    Raises
    ------
    ValueError
        If ``x`` is not 1-D, too short, contains NaN or infinity, is constant or a straight line,
        or ``max_lags`` / ``autolag`` are out of range.
    """
    values = _as_series(x, "x")
    n = len(values)
    if n < _MIN_OBS:
        raise ValueError(
            f"`x` must have at least {_MIN_OBS} observations for an ADF test with a constant, "
            f"got {n}"
        )
    if values.max() == values.min():
        raise ValueError(
            f"`x` is constant (every value is {values[0]!r}); the ADF test is undefined"
        )
    diff = np.diff(values)
    if diff.max() - diff.min() <= 1e-12 * max(abs(diff.max()), abs(diff.min())):
        raise ValueError("`x` is a straight line (constant differences); the ADF test is undefined")
    lag_cap = n // 2 - 2
    if max_lags is None:
        max_lags = min(math.ceil(12.0 * (n / 100.0) ** 0.25), lag_cap)
    elif not _is_int(max_lags):
        raise ValueError(f"`max_lags` must be an integer or None, got `max_lags={max_lags!r}`")
    elif not 0 <= max_lags <= lag_cap:
        raise ValueError(
            f"`max_lags` must be between 0 and len(x) // 2 - 2 = {lag_cap} for `x` of length {n}, "
            f"got `max_lags={max_lags}`"
        )
    if autolag is not None and not (
        isinstance(autolag, str) and autolag.lower() in _AUTOLAG_METHODS
    ):
        raise ValueError(f"`autolag` must be 'AIC', 'BIC' or None, got `autolag={autolag!r}`")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # The regressions are small (at most ~20,000 x 50): one BLAS thread is faster, and threaded
    # BLAS on a busy 2-core machine made min_frac_diff_order 5-10x slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        if autolag is None:
            n_lags = int(max_lags)
        else:
            n_lags = _select_lags(values, diff, int(max_lags), autolag.lower())
        statistic, n_obs = _level_t_value(values, diff, n_lags)
    return AdfResult(
        statistic=statistic,
        pvalue=adf_pvalue(statistic),
        n_lags=n_lags,
        n_obs=n_obs,
        critical_values=adf_critical_values(n_obs),
    )


def min_frac_diff_order(
    log_price: np.ndarray,
    window: int,
    alpha: float = 0.05,
    grid: Sequence[float] = DEFAULT_D_GRID,
    max_obs: int = 20_000,
    max_lags: int | None = None,
    autolag: str | None = "AIC",
) -> FracDiffOrder:
    """Smallest fractional-differencing order whose fixed-width difference is stationary.

    For each ``d`` of ``grid`` in ascending order, differences ``log_price`` with
    :func:`~ml_core.features._fracdiff.frac_diff_ffd` (``window`` weights) and runs
    :func:`adf_test`; returns the first ``d`` whose p-value is below ``alpha`` (AFML snippet 5.4:
    the minimum ``d`` that makes the series stationary keeps the most memory). The search stops
    there; ``table`` holds every order tried. If no grid order passes, ``d = 1.0`` (the log
    return, stationary for any price with independent increments) with ``passed=False``.

    Leakage: pass the *training* window only. Every value of ``log_price`` may inform ``d``.

    Parameters
    ----------
    log_price : ndarray of shape (n,)
        Log prices of the training window, finite, ``n >= window + 3``.
    window : int
        Fixed width of the differencing window in bars, ``window >= 2``.
    alpha : float, default 0.05
        Significance level, ``0 < alpha < 1``.
    grid : sequence of float, default 0.05, 0.10, ..., 1.00
        Candidate orders, each ``>= 0``; sorted and de-duplicated before the search.
    max_obs : int, default 20_000
        Only the last ``max_obs`` values of the differenced series are tested (only the last
        ``max_obs + window - 1`` prices are differenced), which keeps a 525,600-bar year of 1m
        bars fast. The test uses the most recent bars of the training window. ``max_obs >= 4``.
    max_lags, autolag :
        Passed to :func:`adf_test`. AFML's snippet uses ``max_lags=1, autolag=None``.

    Returns
    -------
    FracDiffOrder

    Raises
    ------
    ValueError
        If an argument is out of range or ``log_price`` contains NaN or infinity or is constant.

    Notes
    -----
    "Passes" means ``pvalue < alpha`` with the MacKinnon (1994) p-value; AFML compares the
    statistic with the 95% critical value instead, which agrees to within ~0.005 in p at 5%.

    With a *fixed* window only ``d = 1`` removes a unit root exactly: the weights of order ``d``
    sum to ``S = prod_{k < window} (1 - d / k)``, and ``S x_{t - window + 1}`` stays in the
    differenced series. ``S`` is small long before ``d = 1`` (0.13 at ``d = 0.5``, 0.007 at
    ``d = 0.9`` for ``window = 20``), and the test then rejects. So on a pure Gaussian random walk
    the chosen ``d`` is well below 1 and shrinks as ``window`` grows: median 0.575 (5%-95%:
    0.05-0.8) over 200 walks of 2,000 steps with ``window = 20``; median 0.45 at
    ``window = 100`` and 0.25 at ``window = 1000`` on 20,000 steps (40 walks each). Stopping at
    the first passing ``d`` also makes a spurious early pass likelier than ``alpha`` alone
    (7.5% of those 200 walks stopped at ``d = 0.05``).
    """
    values = _as_series(log_price, "log_price")
    if not _is_int(window) or window < 2:
        raise ValueError(f"`window` must be an integer of at least 2, got `window={window!r}`")
    if len(values) < window + _MIN_OBS - 1:
        raise ValueError(
            f"`log_price` must have at least window + {_MIN_OBS - 1} = {window + _MIN_OBS - 1} "
            f"values for `window={window}`, got {len(values)}"
        )
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got `alpha={alpha}`")
    if not _is_int(max_obs) or max_obs < _MIN_OBS:
        raise ValueError(
            f"`max_obs` must be an integer of at least {_MIN_OBS}, got `max_obs={max_obs!r}`"
        )
    orders = np.asarray(grid, dtype=np.float64)
    if orders.ndim != 1 or orders.size == 0 or not np.isfinite(orders).all() or (orders < 0).any():
        raise ValueError(
            f"`grid` must be a non-empty sequence of finite orders >= 0, got `grid={grid!r}`"
        )
    orders = np.unique(orders)

    tail = values[-(max_obs + window - 1):]
    price = tail[window - 1:]
    if tail.max() == tail.min():
        raise ValueError(f"`log_price` is constant over its last {len(tail)} values")
    rows = []
    chosen: AdfResult | None = None
    chosen_d = 1.0
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # see adf_test
        for d in orders:
            differenced = frac_diff_ffd(tail, float(d), window)[window - 1:]
            result = adf_test(differenced, max_lags=max_lags, autolag=autolag)
            rows.append((float(d), result.statistic, result.pvalue, result.n_lags,
                         _correlation(differenced, price)))
            if result.pvalue < alpha:
                chosen, chosen_d = result, float(d)
                break
    table = pd.DataFrame(rows, columns=["d", "statistic", "pvalue", "n_lags", "corr_with_price"])
    passed = chosen is not None
    if not passed:
        at_one = table.loc[table["d"] == 1.0]
        statistic = float(at_one["statistic"].iloc[0]) if len(at_one) else math.nan
        pvalue = float(at_one["pvalue"].iloc[0]) if len(at_one) else math.nan
    else:
        statistic, pvalue = chosen.statistic, chosen.pvalue
    return FracDiffOrder(d=chosen_d, statistic=statistic, pvalue=pvalue, passed=passed,
                         window=int(window), n_obs=len(price), table=table)


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _as_series(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a finite 1-D float array, or a ValueError naming ``name``."""
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} NaN or infinite values (first at index "
            f"{int(np.argmax(bad))}); drop or fill them first"
        )
    return values


def _design(
    x: np.ndarray, diff: np.ndarray, n_lags: int, n_rows: int, level_last: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Target ``dx_t`` and columns ``[x_{t-1}, dx_{t-1} .. dx_{t-n_lags}]``, last ``n_rows`` t.

    Row ``i`` is ``t = len(diff) - n_rows + i``; ``diff[t] = x[t + 1] - x[t]``, so the lagged level
    of that row is ``x[t]``. ``level_last`` moves the level column to the end. The constant is
    not a column: :func:`_projections` centres instead. Column-major, so each column is one copy.
    """
    start = len(diff) - n_rows
    design = np.empty((n_rows, n_lags + 1), order="F")
    offset = 0 if level_last else 1
    design[:, n_lags if level_last else 0] = x[start: len(diff)]
    for j in range(1, n_lags + 1):
        design[:, j - 1 + offset] = diff[start - j: len(diff) - j]
    return diff[start:], design


def _projections(target: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, float]:
    """OLS of ``target`` on a constant and ``design``, as nested-model projections.

    Centring both sides takes the constant out (Frisch-Waugh-Lovell); scaling the columns to unit
    norm keeps the Gram matrix well conditioned. With its Cholesky factor ``G = L L'`` and
    ``z = L^{-1} X' y``, the model on the first ``k`` columns leaves ``ssr_k = ssr + sum_{j >= k}
    z_j^2``, and the last column's t-value is ``z[-1] / s`` (``L`` plays the role of ``R'`` in a
    QR). About ten times faster than ``numpy.linalg.qr`` (which forms Q) on 20,000 x 47.

    Returns
    -------
    z : ndarray of shape (n_columns,)
    ssr : float
        Residual sum of squares of the full model.
    """
    centred_target = target - target.mean()
    centred = design - design.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    if norms.min() <= 1e-12 * max(norms.max(), 1e-300):
        raise ValueError("the ADF regression is singular: a regressor is constant")
    centred /= norms
    gram = centred.T @ centred
    try:
        lower = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError as error:
        raise ValueError("the ADF regression is singular (collinear regressors)") from error
    if np.diag(lower).min() < 1e-7:
        raise ValueError("the ADF regression is singular (collinear regressors)")
    from scipy.linalg import solve_triangular

    z = solve_triangular(lower, centred.T @ centred_target, lower=True)
    residual = centred_target - centred @ solve_triangular(lower.T, z, lower=False)
    return z, float(residual @ residual)


def _select_lags(x: np.ndarray, diff: np.ndarray, max_lags: int, method: str) -> int:
    """Lag count in ``0 .. max_lags`` minimising AIC/BIC, all fitted on the same rows.

    Information criteria are statsmodels' OLS ones, ``-2 llf + 2 k`` and ``-2 llf + k log n``
    with ``k`` counting the constant, so ties and the chosen lag agree with ``adfuller``.
    """
    n_rows = len(diff) - max_lags
    z, ssr = _projections(*_design(x, diff, max_lags, n_rows))
    n_columns = np.arange(1, max_lags + 2)  # level + 0 .. max_lags lags
    ssr_nested = ssr + np.concatenate([np.cumsum((z ** 2)[::-1])[::-1], [0.0]])[n_columns]
    with np.errstate(divide="ignore"):
        log_ssr = np.log(ssr_nested / n_rows)
    log_likelihood = -0.5 * n_rows * (math.log(2.0 * math.pi) + log_ssr + 1.0)
    penalty = 2.0 if method == "aic" else math.log(n_rows)
    criterion = -2.0 * log_likelihood + penalty * (n_columns + 1)
    return int(np.argmin(criterion))


def _level_t_value(x: np.ndarray, diff: np.ndarray, n_lags: int) -> tuple[float, int]:
    """t-value of the lagged level with ``n_lags`` lagged differences, on all usable rows."""
    n_rows = len(diff) - n_lags
    z, ssr = _projections(*_design(x, diff, n_lags, n_rows, level_last=True))
    if ssr <= 0.0:
        raise ValueError("the ADF regression fits `x` exactly; the test statistic is undefined")
    scale = math.sqrt(ssr / (n_rows - n_lags - 2))
    return float(z[-1] / scale), n_rows


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, ``nan`` when either side is constant."""
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else math.nan
