"""Augmented Dickey-Fuller test and minimum fractional-differencing order (AFML ch. 5.6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from ml_core.features._adf import (
    DEFAULT_D_GRID,
    adf_critical_values,
    adf_pvalue,
    adf_test,
    min_frac_diff_order,
)
from ml_core.features._fracdiff import frac_diff_ffd

# Reference series of the statsmodels test suite and docs, with the outputs published there.
# US real GDP and inflation, quarterly 1959Q1-2009Q3 (statsmodels `macrodata`, public domain,
# BEA / BLS via FRED); yearly sunspot numbers 1700-2008 (statsmodels `sunspots`, NGDC).
REALGDP = np.array([
    2710.349, 2778.801, 2775.488, 2785.204, 2847.699, 2834.39, 2839.022, 2802.616,
    2819.264, 2872.005, 2918.419, 2977.83, 3031.241, 3064.709, 3093.047, 3100.563,
    3141.087, 3180.447, 3240.332, 3264.967, 3338.246, 3376.587, 3422.469, 3431.957,
    3516.251, 3563.96, 3636.285, 3724.014, 3815.423, 3828.124, 3853.301, 3884.52,
    3918.74, 3919.556, 3950.826, 3980.97, 4063.013, 4131.998, 4160.267, 4178.293,
    4244.1, 4256.46, 4283.378, 4263.261, 4256.573, 4264.289, 4302.259, 4256.637,
    4374.016, 4398.829, 4433.943, 4446.264, 4525.769, 4633.101, 4677.503, 4754.546,
    4876.166, 4932.571, 4906.252, 4953.05, 4909.617, 4922.188, 4873.52, 4854.34,
    4795.295, 4831.942, 4913.328, 4977.511, 5090.663, 5128.947, 5154.072, 5191.499,
    5251.762, 5356.131, 5451.921, 5450.793, 5469.405, 5684.569, 5740.3, 5816.222,
    5825.949, 5831.418, 5873.335, 5889.495, 5908.467, 5787.373, 5776.617, 5883.46,
    6005.717, 5957.795, 6030.184, 5955.062, 5857.333, 5889.074, 5866.37, 5871.001,
    5944.02, 6077.619, 6197.468, 6325.574, 6448.264, 6559.594, 6623.343, 6677.264,
    6740.275, 6797.344, 6903.523, 6955.918, 7022.757, 7050.969, 7118.95, 7153.359,
    7193.019, 7269.51, 7332.558, 7458.022, 7496.6, 7592.881, 7632.082, 7733.991,
    7806.603, 7865.016, 7927.393, 7944.697, 8027.693, 8059.598, 8059.476, 7988.864,
    7950.164, 8003.822, 8037.538, 8069.046, 8157.616, 8244.294, 8329.361, 8417.016,
    8432.485, 8486.435, 8531.108, 8643.769, 8727.919, 8847.303, 8904.289, 9003.18,
    9025.267, 9044.668, 9120.684, 9184.275, 9247.188, 9407.052, 9488.879, 9592.458,
    9666.235, 9809.551, 9932.672, 10008.874, 10103.425, 10194.277, 10328.787, 10507.575,
    10601.179, 10684.049, 10819.914, 11014.254, 11043.044, 11258.454, 11267.867, 11334.544,
    11297.171, 11371.251, 11340.075, 11380.128, 11477.868, 11538.77, 11596.43, 11598.824,
    11645.819, 11738.706, 11935.461, 12042.817, 12127.623, 12213.818, 12303.533, 12410.282,
    12534.113, 12587.535, 12683.153, 12748.699, 12915.938, 12962.462, 12965.916, 13060.679,
    13099.901, 13203.977, 13321.109, 13391.249, 13366.865, 13415.266, 13324.6, 13141.92,
    12925.41, 12901.504, 12990.341,
])
INFL = np.array([
    0.0, 2.34, 2.74, 0.27, 2.31, 0.14, 2.7, 1.21, -0.4, 1.47, 0.8, 0.8,
    2.26, 0.13, 2.11, 0.79, 0.53, 2.75, 0.78, 2.46, 0.13, 0.9, 1.29, 2.05,
    1.28, 2.54, 0.89, 2.9, 4.99, 2.1, 4.9, 0.61, 2.42, 3.61, 3.58, 4.72,
    3.5, 5.77, 4.56, 4.51, 6.67, 5.47, 5.4, 6.38, 6.28, 4.13, 5.11, 5.04,
    2.0, 4.96, 2.94, 2.92, 2.9, 2.88, 3.81, 4.71, 9.26, 4.55, 12.47, 10.39,
    10.96, 9.86, 13.56, 10.07, 5.32, 7.48, 6.61, 6.5, 2.14, 6.37, 6.27, 5.49,
    8.76, 5.3, 5.23, 7.08, 7.58, 9.89, 9.65, 8.26, 12.08, 13.37, 11.88, 14.62,
    14.6, 8.32, 10.04, 11.64, 8.62, 10.63, 8.22, 4.26, 2.53, 10.39, 2.45, -0.82,
    3.66, 4.03, 3.99, 5.13, 4.67, 3.09, 3.82, 2.28, 4.89, 2.61, 2.96, 5.13,
    -4.39, 2.93, 2.55, 4.33, 4.64, 3.89, 4.2, 3.46, 4.12, 4.41, 4.7, 4.31,
    6.22, 4.52, 2.88, 6.64, 4.37, 4.93, 8.79, 3.88, 1.19, 3.24, 2.93, 3.19,
    3.17, 3.14, 3.4, 3.09, 2.79, 1.94, 3.03, 1.92, 2.45, 3.25, 2.69, 2.93,
    3.44, 2.1, 2.35, 3.11, 3.6, 2.3, 3.05, 3.02, 1.25, 1.25, 2.73, 1.24,
    0.49, 2.46, 1.71, 1.95, 2.9, 1.92, 3.35, 2.85, 3.76, 4.19, 2.77, 3.89,
    1.82, 2.26, 0.45, 0.23, 3.59, 1.56, 2.66, 3.08, 1.31, 1.09, 2.6, 3.02,
    2.35, 3.61, 3.58, 2.09, 4.15, 1.85, 9.14, 0.4, 2.6, 3.97, -1.58, 3.3,
    4.58, 2.75, 3.45, 6.38, 2.82, 8.53, -3.16, -8.79, 0.94, 3.37, 3.56,
])
SUNSPOTS = np.array([
    5, 11, 16, 23, 36, 58, 29, 20, 10, 8, 3, 0, 0, 2, 11, 27, 47, 63, 60, 39, 28, 26, 22, 11,
    21, 40, 78, 122, 103, 73, 47, 35, 11, 5, 16, 34, 70, 81, 111, 101, 73, 40, 20, 16, 5, 11,
    22, 40, 60, 80.9, 83.4, 47.7, 47.8, 30.7, 12.2, 9.6, 10.2, 32.4, 47.6, 54.0, 62.9, 85.9,
    61.2, 45.1, 36.4, 20.9, 11.4, 37.8, 69.8, 106.1, 100.8, 81.6, 66.5, 34.8, 30.6, 7.0, 19.8,
    92.5, 154.4, 125.9, 84.8, 68.1, 38.5, 22.8, 10.2, 24.1, 82.9, 132.0, 130.9, 118.1, 89.9,
    66.6, 60.0, 46.9, 41.0, 21.3, 16.0, 6.4, 4.1, 6.8, 14.5, 34.0, 45.0, 43.1, 47.5, 42.2, 28.1,
    10.1, 8.1, 2.5, 0.0, 1.4, 5.0, 12.2, 13.9, 35.4, 45.8, 41.1, 30.1, 23.9, 15.6, 6.6, 4.0,
    1.8, 8.5, 16.6, 36.3, 49.6, 64.2, 67.0, 70.9, 47.8, 27.5, 8.5, 13.2, 56.9, 121.5, 138.3,
    103.2, 85.7, 64.6, 36.7, 24.2, 10.7, 15.0, 40.1, 61.5, 98.5, 124.7, 96.3, 66.6, 64.5, 54.1,
    39.0, 20.6, 6.7, 4.3, 22.7, 54.8, 93.8, 95.8, 77.2, 59.1, 44.0, 47.0, 30.5, 16.3, 7.3, 37.6,
    74.0, 139.0, 111.2, 101.6, 66.2, 44.7, 17.0, 11.3, 12.4, 3.4, 6.0, 32.3, 54.3, 59.7, 63.7,
    63.5, 52.2, 25.4, 13.1, 6.8, 6.3, 7.1, 35.6, 73.0, 85.1, 78.0, 64.0, 41.8, 26.2, 26.7, 12.1,
    9.5, 2.7, 5.0, 24.4, 42.0, 63.5, 53.8, 62.0, 48.5, 43.9, 18.6, 5.7, 3.6, 1.4, 9.6, 47.4,
    57.1, 103.9, 80.6, 63.6, 37.6, 26.1, 14.2, 5.8, 16.7, 44.3, 63.9, 69.0, 77.8, 64.9, 35.7,
    21.2, 11.1, 5.7, 8.7, 36.1, 79.7, 114.4, 109.6, 88.8, 67.8, 47.5, 30.6, 16.3, 9.6, 33.2,
    92.6, 151.6, 136.3, 134.7, 83.9, 69.4, 31.5, 13.9, 4.4, 38.0, 141.7, 190.2, 184.8, 159.0,
    112.3, 53.9, 37.6, 27.9, 10.2, 15.1, 47.0, 93.8, 105.9, 105.5, 104.5, 66.6, 68.9, 38.0,
    34.5, 15.5, 12.6, 27.5, 92.5, 155.4, 154.6, 140.4, 115.9, 66.6, 45.9, 17.9, 13.4, 29.4,
    100.2, 157.6, 142.6, 145.7, 94.3, 54.6, 29.9, 17.5, 8.6, 21.5, 64.3, 93.3, 119.6, 111.0,
    104.0, 63.7, 40.4, 29.8, 15.2, 7.5, 2.9,
], dtype=float)


def _ols_t_and_ssr(target: np.ndarray, design: np.ndarray, column: int) -> tuple[float, float]:
    """Plain OLS by np.linalg.lstsq: one coefficient's t-value and the residual sum of squares."""
    beta, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ beta
    ssr = float(residual @ residual)
    sigma2 = ssr / (len(target) - design.shape[1])
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    return float(beta[column] / math.sqrt(covariance[column, column])), ssr


def _adf_rows(x: np.ndarray, lags: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``dx_t`` on ``[1, x_{t-1}, dx_{t-1} .. dx_{t-lags}]``, last ``n_rows`` t, row by row."""
    dx = np.diff(x)
    rows, target = [], []
    for t in range(len(dx) - n_rows, len(dx)):
        rows.append([1.0, x[t]] + [dx[t - j] for j in range(1, lags + 1)])
        target.append(dx[t])
    return np.array(target), np.array(rows)


def _reference_adf(x: np.ndarray, max_lags: int) -> tuple[float, int, int]:
    """ADF with AIC lag choice written out independently: (statistic, lags, n_obs)."""
    n_common = len(x) - 1 - max_lags
    aic = []
    for lags in range(max_lags + 1):
        target, design = _adf_rows(x, lags, n_common)
        _, ssr = _ols_t_and_ssr(target, design, 1)
        aic.append(n_common * math.log(ssr / n_common) + 2 * design.shape[1])
    best = int(np.argmin(aic))
    n_obs = len(x) - 1 - best
    target, design = _adf_rows(x, best, n_obs)
    statistic, _ = _ols_t_and_ssr(target, design, 1)
    return statistic, best, n_obs


def _random_walk(seed: int, n: int = 2000) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(0.0, 0.01, n))


# --- adf_test against published numbers ---------------------------------------------------------

def test_reproduces_stata_values_with_fixed_lags():
    # statsmodels' TestADFConstant / TestADFConstant2 (values from Stata, checked there to 5 dp).
    gdp = adf_test(REALGDP, max_lags=4, autolag=None)
    assert gdp.statistic == pytest.approx(0.97505319, abs=1e-5)
    assert gdp.pvalue == pytest.approx(0.99399563, abs=1e-5)
    assert (gdp.n_lags, gdp.n_obs) == (4, 198)
    # Stata's critical values come from older MacKinnon tables; statsmodels checks them to 2 dp.
    assert [gdp.critical_values[k] for k in ("1%", "5%", "10%")] == pytest.approx(
        [-3.476, -2.883, -2.573], abs=0.015)
    inflation = adf_test(INFL, max_lags=1, autolag=None)
    assert inflation.statistic == pytest.approx(-4.3346988, abs=1e-5)
    assert inflation.pvalue == pytest.approx(0.00038661, abs=1e-6)


def test_reproduces_statsmodels_sunspots_example_with_aic():
    # statsmodels notebook "Stationarity and detrending (ADF/KPSS)": adfuller(SUNACTIVITY,
    # autolag="AIC") printed to 6 dp. Exercises the default lag cap (16), the common-sample AIC
    # search and the refit on 300 rows.
    result = adf_test(SUNSPOTS)
    assert result.statistic == pytest.approx(-2.837781, abs=1e-6)
    assert result.pvalue == pytest.approx(0.053076, abs=1e-6)
    assert (result.n_lags, result.n_obs) == (8, 300)
    assert result.critical_values["1%"] == pytest.approx(-3.452337, abs=1e-6)
    assert result.critical_values["5%"] == pytest.approx(-2.871223, abs=1e-6)
    assert result.critical_values["10%"] == pytest.approx(-2.571929, abs=1e-6)


def test_aic_choice_on_log_gdp_equals_the_fixed_lag_fit():
    # statsmodels' test_adf_autolag: AIC picks 2 lags for log real GDP (Stata's DF-GLS agrees),
    # and the refit equals adfuller(maxlag=2, autolag=None) to 12 dp.
    x = np.log(REALGDP)
    chosen = adf_test(x)
    fixed = adf_test(x, max_lags=2, autolag=None)
    assert chosen.n_lags == 2
    assert chosen.statistic == pytest.approx(fixed.statistic, abs=1e-12)
    assert chosen.pvalue == pytest.approx(fixed.pvalue, abs=1e-12)


def test_default_lag_cap_is_schwert_rounded_up_and_capped():
    # ceil(12 * 2.03 ** 0.25) = ceil(14.35) = 15 (statsmodels rounds up; int() would give 14).
    assert adf_test(REALGDP, autolag=None).n_lags == 15
    assert adf_test(REALGDP, autolag=None).n_obs == 203 - 1 - 15
    # n = 10: ceil(12 * 0.1 ** 0.25) = 7, capped at 10 // 2 - 2 = 3.
    assert adf_test(np.random.default_rng(0).normal(size=10), autolag=None).n_lags == 3


@pytest.mark.parametrize(("name", "seed"), [("random_walk", 7), ("white_noise", 11)])
def test_statistic_and_lag_choice_match_an_independent_lstsq(name, seed):
    noise = np.random.default_rng(seed).normal(size=400)
    x = np.cumsum(noise) if name == "random_walk" else noise
    result = adf_test(x, max_lags=8)
    statistic, lags, n_obs = _reference_adf(x, 8)
    assert (result.n_lags, result.n_obs) == (lags, n_obs)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    if name == "white_noise":
        assert result.pvalue < 1e-6
    else:
        assert result.pvalue > 0.05


def test_bic_penalises_lags_more_than_aic():
    assert adf_test(np.log(REALGDP), autolag="bic").n_lags == 1
    assert adf_test(np.log(REALGDP), autolag="AIC").n_lags == 2


# --- MacKinnon p-values and critical values -----------------------------------------------------

@pytest.mark.parametrize(("level", "size"), [("1%", 0.01), ("5%", 0.05), ("10%", 0.10)])
def test_pvalue_at_asymptotic_critical_value_is_the_level(level, size):
    # The 1994 p-value surface and the 2010 critical values are separate fits of the same
    # distribution, so they agree closely but not exactly.
    assert adf_pvalue(adf_critical_values(math.inf)[level]) == pytest.approx(size, abs=0.005)


def test_pvalue_is_monotone_and_clipped():
    grid = np.linspace(-18.8, 2.7, 400)
    pvalues = np.array([adf_pvalue(t) for t in grid])
    assert np.all(np.diff(pvalues) > 0)
    assert adf_pvalue(-18.84) == 0.0 and adf_pvalue(2.75) == 1.0
    # Continuous where the small-p and large-p polynomials meet (tau* = -1.61).
    assert adf_pvalue(-1.61) == pytest.approx(adf_pvalue(-1.6099999), abs=2e-3)


def test_critical_values_tend_to_the_asymptotic_ones():
    assert adf_critical_values(math.inf) == {"1%": -3.43035, "5%": -2.86154, "10%": -2.56677}
    assert adf_critical_values(10**9)["5%"] == pytest.approx(-2.86154, abs=1e-8)
    assert adf_critical_values(50)["5%"] < adf_critical_values(500)["5%"]


# --- adf_test errors ---------------------------------------------------------------------------

def test_adf_errors_name_the_parameter_and_value():
    with pytest.raises(ValueError, match=r"`x` must have at least 4 observations .* got 3"):
        adf_test(np.array([1.0, 2.0, 0.5]))
    with pytest.raises(ValueError, match=r"`x` contains 2 NaN or infinite .*\(first at index 1\)"):
        adf_test(np.array([1.0, np.nan, 2.0, np.inf, 3.0, 1.0]))
    with pytest.raises(ValueError, match="`x` must be 1-D, got shape"):
        adf_test(np.ones((5, 2)))
    with pytest.raises(ValueError, match="`x` is constant"):
        adf_test(np.full(20, 3.0))
    with pytest.raises(ValueError, match="`x` is a straight line"):
        adf_test(np.arange(20.0))
    noise = np.random.default_rng(0).normal(size=20)
    with pytest.raises(ValueError, match=r"and len\(x\) // 2 - 2 = 8 .* got `max_lags=9`"):
        adf_test(noise, max_lags=9)
    with pytest.raises(ValueError, match="got `max_lags=-1`"):
        adf_test(noise, max_lags=-1)
    with pytest.raises(ValueError, match="an integer or None, got `max_lags=2.5`"):
        adf_test(noise, max_lags=2.5)
    with pytest.raises(ValueError, match="'AIC', 'BIC' or None, got `autolag='t-stat'`"):
        adf_test(noise, autolag="t-stat")


# --- min_frac_diff_order -----------------------------------------------------------------------

def _ar1(seed: int, phi: float = 0.5, n: int = 2000) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=n)
    x = np.empty(n)
    x[0] = noise[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_ar1_needs_the_smallest_grid_order(seed):
    result = min_frac_diff_order(_ar1(seed), window=20)
    assert result.passed and result.d == 0.05
    assert len(result.table) == 1 and result.pvalue < 1e-6
    assert result.table["corr_with_price"].iloc[0] > 0.99  # d = 0.05 barely changes the series


def test_random_walk_needs_a_large_order_but_below_one():
    # Measured over 200 walks (n = 2000, window = 20): median d 0.575, 5%-95% 0.05-0.8, none at
    # 0.9 or above; the fixed window leaves S = prod(1 - d / k) of the unit root, 0.13 at d = 0.5
    # and 0.007 at d = 0.9, which the test no longer sees. These ten seeds: 0.5 .. 0.8.
    orders = []
    for seed in range(10):
        result = min_frac_diff_order(_random_walk(seed), window=20)
        assert result.passed
        table = result.table
        assert table["d"].tolist() == list(DEFAULT_D_GRID[: len(table)])
        assert (table["pvalue"].iloc[:-1] >= 0.05).all() and table["pvalue"].iloc[-1] < 0.05
        assert result.d == table["d"].iloc[-1] and result.pvalue == table["pvalue"].iloc[-1]
        orders.append(result.d)
    assert 0.5 <= min(orders) and max(orders) <= 0.8
    assert np.median(orders) == pytest.approx(0.65)


def test_adf_statistic_falls_as_d_rises_on_a_random_walk():
    grid = np.array(DEFAULT_D_GRID)
    for seed in range(5):
        x = _random_walk(seed)
        fixed = np.array([adf_test(frac_diff_ffd(x, d, 20)[19:], max_lags=1, autolag=None).statistic
                          for d in grid])
        # With fixed lags strictly decreasing from d = 0.25 (100 of 100 walks measured); below
        # that the series is nearly the walk itself and the statistic wobbles by ~0.1.
        assert np.all(np.diff(fixed[grid >= 0.25]) < 0)
        assert fixed[-1] < -25 and fixed[0] > -3.5
        # AIC re-picks the lag count per d, so only the trend is monotone (rank correlation
        # <= -0.6 in 100 of 100 walks).
        chosen = [adf_test(frac_diff_ffd(x, d, 20)[19:]).statistic for d in grid]
        assert spearmanr(grid, chosen)[0] < -0.6


def test_unit_root_left_at_every_order_falls_back_to_one():
    # An I(2) series: even d = 1 leaves a random walk.
    x = np.cumsum(_random_walk(0))
    result = min_frac_diff_order(x, window=20)
    assert not result.passed and result.d == 1.0
    assert len(result.table) == len(DEFAULT_D_GRID)
    assert result.statistic == result.table["statistic"].iloc[-1]
    assert result.pvalue == result.table["pvalue"].iloc[-1] >= 0.05
    without_one = min_frac_diff_order(x, window=20, grid=[0.3, 0.1])
    assert without_one.table["d"].tolist() == [0.1, 0.3]
    assert without_one.d == 1.0 and math.isnan(without_one.statistic)


def test_only_the_last_max_obs_differenced_values_are_tested():
    x = _random_walk(3, n=3000)
    result = min_frac_diff_order(x, window=50, max_obs=800, max_lags=2, autolag=None)
    assert result.n_obs == 800
    for d, statistic in zip(result.table["d"], result.table["statistic"], strict=True):
        expected = adf_test(frac_diff_ffd(x, d, 50)[-800:], max_lags=2, autolag=None).statistic
        assert statistic == pytest.approx(expected, rel=1e-12)
    # A series shorter than max_obs uses every differenced value.
    assert min_frac_diff_order(x[:500], window=50, max_lags=2, autolag=None).n_obs == 451


def test_min_frac_diff_order_errors_name_the_parameter_and_value():
    x = _random_walk(0, n=100)
    with pytest.raises(ValueError, match="an integer of at least 2, got `window=1`"):
        min_frac_diff_order(x, window=1)
    with pytest.raises(ValueError, match=r"window \+ 3 = 103 values for `window=100`, got 100"):
        min_frac_diff_order(x, window=100)
    with pytest.raises(ValueError, match=r"`log_price` contains 1 NaN .*index 5"):
        min_frac_diff_order(np.where(np.arange(100) == 5, np.nan, x), window=10)
    with pytest.raises(ValueError, match="`alpha` must be in \\(0, 1\\), got `alpha=0.0`"):
        min_frac_diff_order(x, window=10, alpha=0.0)
    with pytest.raises(ValueError, match="an integer of at least 4, got `max_obs=3`"):
        min_frac_diff_order(x, window=10, max_obs=3)
    with pytest.raises(ValueError, match="`grid` must be a non-empty sequence"):
        min_frac_diff_order(x, window=10, grid=[])
    with pytest.raises(ValueError, match="`grid=\\[0.5, -0.1\\]`"):
        min_frac_diff_order(x, window=10, grid=[0.5, -0.1])
    with pytest.raises(ValueError, match="`log_price` is constant over its last 100 values"):
        min_frac_diff_order(np.full(100, 4.2), window=10)
