"""sharpe_difference_test: Ledoit & Wolf's (2008) paired Sharpe-ratio test, checked against a
naive textbook implementation, their own published figures, the Jobson-Korkie-Memmel formula,
and its size and power on simulated returns with known Sharpe ratios."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ml_core.lifecycle._sharpe_test import (
    SharpeDifference,
    _default_block_size,
    _long_run_variance,
    _moment_series,
    _simulate_pairs,
    sharpe_difference_test,
)

RNG_SEED = 42

# Ledoit & Wolf's hedge-fund example (``ret.hedge`` in ``Sharpe.RData`` on Michael Wolf's page;
# also data/ret_hedge.csv of majkee15/RobustSharpeRatioHAC): 120 pairs, row by row.
LW_HEDGE = np.array("""
0.6812972 0.1943571 0.6590867 0.3118182 1.113184 0.79741 0.5253526 -0.06141619
0.8250787 0.5678554 1.209827 0.2104327 0.9580597 0.2946753 0.7780394 0.5506035
1.692381 0.32118 0.6913268 0.1259476 1.639145 0.3275226 0.2832465 0.4815175
0.5421948 0.1553337 1.11027 0.07108152 1.30982 0.3126823 0.2096562 0.1501736
0.6543112 1.127773 1.133846 0.7885659 1.609258 0.6145729 2.566037 0.1698496
1.247054 -0.05948804 1.541927 -0.01964648 0.994488 -0.02591778 1.817061 0.240129
2.101866 0.2412821 1.331784 0.3441884 1.880532 0.08540721 1.607264 -0.06317093
2.703011 0.4778987 1.566412 0.3831296 1.070305 0.0802441 0.8612195 0.6240868
0.8680123 -0.05434315 1.201234 0.2818077 0.9419864 0.298526 0.8329147 0.2285909
1.590724 0.7542084 1.660986 0.300116 0.9035943 0.2301754 1.344896 0.3675995
1.804685 0.177732 1.451666 0.1374963 2.603538 0.09813306 2.236834 0.200423
0.9381944 0.2452992 1.947973 0.2735195 -0.08834136 0.2401688 1.354882 0.3676544
1.932465 0.2083172 0.877896 0.2242618 1.375012 0.189248 0.7309824 0.394233
1.013313 0.1021266 -1.987464 0.1932088 0.8585362 0.2345265 -2.286329 0.2592063
-2.110502 0.1928255 -0.04409754 0.3043636 1.316254 0.1590346 1.002578 0.2699723
1.626264 0.3435174 1.126939 0.345459 1.008629 0.2461398 2.712589 0.417002
2.62778 0.3009782 1.549161 0.4046134 0.8417694 0.3069134 0.6403194 0.2635905
1.156887 0.236958 0.7974892 0.2524431 -1.04404 0.2953638 1.773266 0.2651712
2.5434 0.2060053 1.491014 0.2573521 3.027254 0.1668359 3.299774 0.1990478
2.097768 0.2384473 1.509243 0.1966746 1.634951 0.1753915 0.8581319 0.2347065
1.524086 0.1921152 0.2827904 0.1238467 -1.000094 0.1489801 1.512823 0.2201506
4.973459 0.2194547 3.659623 0.2110882 1.236722 0.1880539 0.7181669 0.2022153
0.4607545 0.212393 -0.01620412 0.1929784 1.663385 0.1913548 1.685307 0.2233333
1.841467 0.1720814 1.487927 0.2011724 1.383737 0.1950076 3.16509 0.1997783
2.20604 0.2030418 0.6141716 0.1765777 0.9461478 0.1716257 2.842833 0.2371794
-0.1229929 0.1665875 -2.099501 0.1690597 -1.782211 0.1706616 1.404185 0.1656167
2.021849 0.1648148 0.8841528 0.1589215 3.086808 0.1578078 2.964086 0.1710534
3.159487 0.1627099 1.73617 0.1427931 1.099206 0.1660376 2.287825 0.156027
1.350948 0.1709827 -2.127188 0.1833439 -1.677494 0.1650404 0.4995302 0.1808825
3.352566 0.241505 2.090021 0.2132809 0.888179 0.1625625 2.686836 0.1750414
""".split(), dtype=float).reshape(120, 2)


# ------------------------------------------------------------------ a naive implementation
def qs_kernel(x):
    """Quadratic-spectral kernel, Andrews (1991) eq. (2.7), written as 3/z² (sin z / z - cos z)."""
    if x == 0:
        return 1.0
    z = 6 * math.pi * x / 5
    return 3 / z**2 * (math.sin(z) / z - math.cos(z))


def ols(design, target):
    """Least squares by the normal equations."""
    return np.linalg.solve(design.T @ design, design.T @ target)


def naive_std_error(columns, signs):
    """LW section 3.1 with loops: standardise, moments, gradient of f(u), VAR(1) prewhitening
    (singular values capped at 0.97), AR(1) bandwidth, QS kernel over all lags, T/(T-p)."""
    r = [np.asarray(c, float) / np.std(c) for c in columns]
    k, T = len(r), len(r[0])
    mu = [sum(x) / T for x in r]
    gamma = [sum(v * v for v in x) / T for x in r]
    # f(u) = sum_i s_i u_i / sqrt(u_{k+i} - u_i²): derivatives taken by hand
    grad = np.zeros(2 * k)
    for i in range(k):
        s2 = gamma[i] - mu[i] ** 2
        grad[i] = signs[i] * (1 / math.sqrt(s2) + mu[i] ** 2 / s2**1.5)
        grad[k + i] = signs[i] * (-0.5 * mu[i] / s2**1.5)
    V = np.array([[r[i][t] - mu[i] for i in range(k)] + [r[i][t] ** 2 - gamma[i]
                                                         for i in range(k)] for t in range(T)])
    p = 2 * k
    A = np.array([ols(V[:-1], V[1:, j]) for j in range(p)])
    U, d, Wt = np.linalg.svd(A)
    A = U @ np.diag([min(x, 0.97) for x in d]) @ Wt
    E = np.array([V[t] - A @ V[t - 1] for t in range(1, T)])
    m = len(E)
    num = den = 0.0
    for j in range(p):
        design = np.column_stack([np.ones(m - 1), E[:-1, j]])
        coef = ols(design, E[1:, j])
        sigma2 = np.mean((E[1:, j] - design @ coef) ** 2)
        rho = coef[1]
        num += 4 * rho**2 * sigma2**2 / (1 - rho) ** 8
        den += sigma2**2 / (1 - rho) ** 4
    bandwidth = 1.3221 * (num / den * m) ** 0.2
    psi = np.zeros((p, p))
    for j in range(m):
        gamma_j = np.zeros((p, p))
        for t in range(j, m):
            gamma_j += np.outer(E[t], E[t - j])
        gamma_j /= m
        psi += gamma_j if j == 0 else qs_kernel(j / bandwidth) * (gamma_j + gamma_j.T)
    psi *= m / (m - p)
    D = np.linalg.inv(np.eye(p) - A)
    psi = D @ psi @ D.T
    return math.sqrt(grad @ psi @ grad / T)


def naive_bootstrap_p_value(a, b, block, n_boot, seed, alternative):
    """LW's boot.time.inference with loops, on the same block starts the module draws."""
    r = np.column_stack([a / np.std(a), b / np.std(b)])
    T = len(r)
    n_blocks = T // block
    starts = np.random.default_rng(seed).integers(0, T, size=(n_boot, n_blocks))

    def diff(x):
        return x[:, 0].mean() / x[:, 0].std(ddof=1) - x[:, 1].mean() / x[:, 1].std(ddof=1)

    delta = diff(r)
    stat = delta / naive_std_error([a, b], [1, -1])
    count = 0
    for row in starts:
        sample = np.array([r[(s + i) % T] for s in row for i in range(block)])
        mu, gamma = sample.mean(axis=0), (sample**2).mean(axis=0)
        grad = np.array([gamma[0] / (gamma[0] - mu[0] ** 2) ** 1.5,
                         -gamma[1] / (gamma[1] - mu[1] ** 2) ** 1.5,
                         -0.5 * mu[0] / (gamma[0] - mu[0] ** 2) ** 1.5,
                         0.5 * mu[1] / (gamma[1] - mu[1] ** 2) ** 1.5])
        y = np.column_stack([sample - mu, sample**2 - gamma])
        psi = np.zeros((4, 4))
        for j in range(n_blocks):
            zeta = math.sqrt(block) * y[j * block:(j + 1) * block].mean(axis=0)
            psi += np.outer(zeta, zeta)
        psi /= n_blocks
        t_star = (diff(sample) - delta) / math.sqrt(grad @ psi @ grad / len(sample))
        if alternative == "greater":
            count += t_star >= stat
        else:
            count += abs(t_star) >= abs(stat)
    return (count + 1) / (n_boot + 1)


@pytest.fixture(scope="module")
def small_pair():
    rng = np.random.default_rng(RNG_SEED)
    e = rng.standard_normal((2, 80))
    return 0.2 + e[0], 0.05 + 0.6 * e[0] + 0.8 * e[1]


@pytest.fixture(scope="module")
def autocorrelated_pair():
    a, b = _simulate_pairs(np.random.default_rng(7), 1, 300, sharpe_a=0.1, sharpe_b=0.0,
                           correlation=0.3, ar=0.5, df=5)
    return a[0], b[0]


# ----------------------------------------------------------------------- agreement with naive
@pytest.mark.parametrize("pair", ["small_pair", "autocorrelated_pair"])
def test_hac_standard_error_equals_the_naive_loops(pair, request):
    a, b = request.getfixturevalue(pair)
    result = sharpe_difference_test(a, b)
    assert result.std_error == pytest.approx(naive_std_error([a, b], [1, -1]), rel=1e-10)
    assert result.sharpe_a == pytest.approx(a.mean() / a.std(ddof=1), rel=1e-14)
    assert result.difference == pytest.approx(result.sharpe_a - result.sharpe_b, rel=1e-14)
    assert result.statistic == pytest.approx(result.difference / result.std_error, rel=1e-14)
    assert result.p_value == pytest.approx(norm.sf(result.statistic), rel=1e-12)
    assert (result.n, result.method, result.alternative) == (len(a), "hac", "greater")


def test_one_sample_case_equals_the_naive_loops(autocorrelated_pair):
    a, _ = autocorrelated_pair
    result = sharpe_difference_test(a, np.zeros_like(a))
    assert result.sharpe_b == 0.0 and result.difference == result.sharpe_a
    assert result.std_error == pytest.approx(naive_std_error([a], [1]), rel=1e-10)


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_bootstrap_p_value_equals_the_naive_loops(small_pair, alternative):
    a, b = small_pair
    result = sharpe_difference_test(a, b, method="bootstrap", alternative=alternative,
                                    block_size=4, n_boot=60, random_state=3)
    assert result.p_value == naive_bootstrap_p_value(a, b, 4, 60, 3, alternative)
    assert result.std_error == sharpe_difference_test(a, b).std_error  # studentised by HAC


# --------------------------------------------------------------- published and closed-form
def test_reproduces_ledoit_wolf_published_hac_figures():
    """LW's hac.inference on their hedge-fund data (Parzen kernel, returns as given), as
    printed by Naibert's 2019 replication of their code: SRs 1.014228 / 1.460547, difference
    -0.4463183, standard errors 0.3176271 (HAC) and 0.3872694 (prewhitened), two-sided
    p-values 0.1599724 and 0.2491259."""
    a, b = LW_HEDGE[:, 0], LW_HEDGE[:, 1]
    v, gradient = _moment_series(LW_HEDGE, np.array([1.0, -1.0]))
    se = math.sqrt(_long_run_variance(v, gradient, kernel="parzen", prewhiten=False) / 120)
    se_pw = math.sqrt(_long_run_variance(v, gradient, kernel="parzen", prewhiten=True) / 120)
    result = sharpe_difference_test(a, b, alternative="two-sided")
    assert (round(result.sharpe_a, 6), round(result.sharpe_b, 6)) == (1.014228, 1.460547)
    assert round(result.difference, 7) == -0.4463183
    assert (round(se, 7), round(se_pw, 7)) == (0.3176271, 0.3872694)
    assert round(2 * norm.sf(abs(result.difference) / se), 7) == 0.1599724
    assert round(2 * norm.sf(abs(result.difference) / se_pw), 7) == 0.2491259
    # ours: QS kernel on standardised series (the same data in other units: the same answer)
    assert result.std_error == pytest.approx(0.3169852234322158, rel=1e-9)
    assert result.p_value == pytest.approx(0.1591281255371606, rel=1e-9)


def jobson_korkie_memmel_se(a, b):
    """Var(SR_a - SR_b) for iid bivariate normal returns (Jobson & Korkie 1981 with Memmel's
    2003 correction, in Sharpe-ratio form): (2 - 2 rho + (SR_a² + SR_b² - 2 SR_a SR_b rho²)/2)/T."""
    sr_a, sr_b = a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)
    rho = np.corrcoef(a, b)[0, 1]
    return math.sqrt((2 - 2 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2))
                     / len(a))


def test_iid_normal_standard_error_matches_jobson_korkie_memmel():
    a, b = _simulate_pairs(np.random.default_rng(RNG_SEED), 1, 20_000, sharpe_a=0.1,
                           sharpe_b=0.05, correlation=0.5)
    ratio = sharpe_difference_test(a[0], b[0]).std_error / jobson_korkie_memmel_se(a[0], b[0])
    assert ratio == pytest.approx(1.0, abs=0.01)
    a, b = _simulate_pairs(np.random.default_rng(RNG_SEED), 300, 1_000, sharpe_a=0.1,
                           sharpe_b=0.05, correlation=0.5)
    ratios = [sharpe_difference_test(x, y).std_error / jobson_korkie_memmel_se(x, y)
              for x, y in zip(a, b)]
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------------------- size and power
def rejection_rate(a, b, **kwargs):
    return np.mean([sharpe_difference_test(x, y, **kwargs).rejects(0.05) for x, y in zip(a, b)])


def test_hac_size_and_power_with_fat_tails_and_autocorrelation():
    """T=1,000, correlation 0.5, AR(1) 0.1, t(5) shocks: 1,000 pairs with equal Sharpe ratios
    (0.05 per period) and 1,000 with SR_a - SR_b = 0.1. Measured: size 0.048, power 0.89."""
    rng = np.random.default_rng(RNG_SEED)
    setting = dict(correlation=0.5, ar=0.1, df=5)
    a, b = _simulate_pairs(rng, 1000, 1000, sharpe_a=0.05, sharpe_b=0.05, **setting)
    assert 0.03 <= rejection_rate(a, b) <= 0.07
    a, b = _simulate_pairs(rng, 1000, 1000, sharpe_a=0.15, sharpe_b=0.05, **setting)
    assert rejection_rate(a, b) > 0.8


def test_bootstrap_size_smoke():
    """100 null pairs, 200 resamples each: a loose band (the benchmark measures 1,000)."""
    a, b = _simulate_pairs(np.random.default_rng(RNG_SEED), 100, 500, sharpe_a=0.05,
                           sharpe_b=0.05, correlation=0.5, ar=0.1, df=5)
    assert 0.0 <= rejection_rate(a, b, method="bootstrap", n_boot=200, random_state=1) <= 0.12


# ----------------------------------------------------------------------- properties and cases
def test_bootstrap_is_reproducible(small_pair):
    a, b = small_pair
    first = sharpe_difference_test(a, b, method="bootstrap", n_boot=300, random_state=11)
    again = sharpe_difference_test(a, b, method="bootstrap", n_boot=300,
                                   random_state=np.random.default_rng(11))
    other = sharpe_difference_test(a, b, method="bootstrap", n_boot=300, random_state=12)
    assert first == again and first.p_value != other.p_value
    assert first.p_value * 301 == pytest.approx(round(first.p_value * 301))  # (count + 1) / 301


def test_bootstrap_resamples_without_variance_count_against_rejection():
    """a holds one non-zero return: a resample whose blocks all miss it has no Sharpe ratio and
    no standard error; it must count as a bootstrap statistic at least as large as the
    observed one (conservative), not be dropped."""
    a = np.zeros(20)
    a[0] = 1.0
    b = np.linspace(-1.0, 0.5, 20) ** 3
    result = sharpe_difference_test(a, b, method="bootstrap", block_size=2, n_boot=400,
                                    random_state=5)
    starts = np.random.default_rng(5).integers(0, 20, size=(400, 10))
    degenerate = int((~np.isin(starts, [19, 0])).all(axis=1).sum())  # no block covers a[0]
    assert degenerate > 100
    assert result.p_value * 401 >= 1 + degenerate


def test_same_answer_in_any_units(autocorrelated_pair):
    a, b = autocorrelated_pair
    base = sharpe_difference_test(a, b)
    scaled = sharpe_difference_test(100 * a, b / 1000)
    assert scaled.p_value == pytest.approx(base.p_value, rel=1e-10)
    assert scaled.std_error == pytest.approx(base.std_error, rel=1e-10)


def test_swapping_the_series_turns_the_statistic(autocorrelated_pair):
    a, b = autocorrelated_pair
    forward, backward = sharpe_difference_test(a, b), sharpe_difference_test(b, a)
    assert backward.statistic == pytest.approx(-forward.statistic, rel=1e-10)
    assert backward.p_value == pytest.approx(1 - forward.p_value, rel=1e-10)


def test_alternatives_are_consistent(small_pair):
    a, b = small_pair
    p = {alt: sharpe_difference_test(a, b, alternative=alt).p_value
         for alt in ("greater", "less", "two-sided")}
    assert p["greater"] + p["less"] == pytest.approx(1.0, abs=1e-14)
    assert p["two-sided"] == pytest.approx(2 * min(p["greater"], p["less"]), rel=1e-12)


def test_flat_champion_is_taken_as_sharpe_zero(autocorrelated_pair):
    a, _ = autocorrelated_pair
    zeros = sharpe_difference_test(a, np.zeros_like(a))
    constant = sharpe_difference_test(a, np.full_like(a, 0.001))
    assert zeros == constant
    assert zeros.statistic == pytest.approx(zeros.sharpe_a / zeros.std_error, rel=1e-14)


def test_flat_challenger_mirrors_the_one_sample_test(autocorrelated_pair):
    a, b = autocorrelated_pair
    flat_a = sharpe_difference_test(np.zeros_like(b), b)
    one_sample = sharpe_difference_test(b, np.zeros_like(b))
    assert flat_a.sharpe_a == 0.0 and flat_a.difference == -one_sample.difference
    assert flat_a.statistic == pytest.approx(-one_sample.statistic, rel=1e-14)
    assert flat_a.p_value == pytest.approx(1 - one_sample.p_value, rel=1e-12)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("method", ["hac", "bootstrap"])
def test_both_flat_shows_nothing(method, alternative):
    result = sharpe_difference_test(np.zeros(20), np.full(20, 0.5), method=method,
                                    alternative=alternative)
    assert (result.sharpe_a, result.sharpe_b, result.difference, result.p_value) == (
        0.0, 0.0, 0.0, 1.0)
    assert math.isnan(result.std_error) and math.isnan(result.statistic)
    assert not result.rejects(0.5)


def test_default_block_size():
    assert [_default_block_size(n) for n in (10, 27, 250, 1000, 8000)] == [2, 3, 6, 10, 20]


def test_rejects_and_as_dict(small_pair):
    result = sharpe_difference_test(*small_pair)
    assert result.rejects(0.5) == (result.p_value < 0.5)
    assert list(result.as_dict()) == ["sharpe_a", "sharpe_b", "difference", "std_error",
                                      "statistic", "p_value", "n", "method", "alternative"]
    assert result.as_dict()["method"] == "hac"
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=rf"`alpha` must be in \(0, 1\), got `alpha={alpha}`"):
            result.rejects(alpha)
    assert isinstance(result, SharpeDifference)


def test_accepts_series_and_lists(small_pair):
    a, b = small_pair
    expected = sharpe_difference_test(a, b)
    assert sharpe_difference_test(pd.Series(a), list(b)) == expected


# --------------------------------------------------------------------------------- validation
GOOD = np.linspace(-1.0, 1.0, 12) ** 3 + 0.1


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        (GOOD, GOOD[:11], {}, r"same length, got len\(a\)=12, len\(b\)=11"),
        (GOOD[:9], GOOD[:9], {}, "at least 10 pairs, got 9"),
        (np.where(np.arange(12) == 4, np.nan, GOOD), GOOD, {},
         r"`a` must be finite, got a\[4\]=nan"),
        (GOOD, pd.Series(np.where(np.arange(12) == 7, np.inf, GOOD), index=range(100, 112)), {},
         r"`b` must be finite, got b\[7\]=inf \(index 107\)"),
        (GOOD.reshape(6, 2), GOOD, {}, r"`a` must be 1-D, got shape \(6, 2\)"),
        (["x"] * 12, GOOD, {}, "`a` must be numeric returns"),
        (GOOD, GOOD, {"method": "jk"}, "`method` must be one of .*got `method='jk'`"),
        (GOOD, GOOD, {"alternative": "bigger"},
         "`alternative` must be one of .*got `alternative='bigger'`"),
        (GOOD, GOOD, {"block_size": 0}, r"\[1, 6\].*got `block_size=0`"),
        (GOOD, GOOD, {"block_size": 7}, r"\[1, 6\].*got `block_size=7`"),
        (GOOD, GOOD, {"block_size": 2.0}, "got `block_size=2.0`"),
        (GOOD, GOOD, {"n_boot": 0}, "`n_boot` must be a positive integer, got `n_boot=0`"),
        (GOOD, GOOD, {"n_boot": True}, "got `n_boot=True`"),
    ],
)
def test_errors_name_the_parameter_and_value(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sharpe_difference_test(a, b, **kwargs)
