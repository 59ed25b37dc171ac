"""PSR, expected maximum Sharpe, DSR and CSCV's PBO: hand formulas, edges, brute force, noise."""

import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.stats import norm

from ml_core.validation._overfitting import (
    PBOResult,
    SharpeSignificance,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_significance,
)

EULER_GAMMA = 0.5772156649015329
PHI = NormalDist()
RETURNS = np.array(
    [0.02, -0.01, 0.035, 0.004, -0.022, 0.013, 0.05, -0.008, 0.011, 0.0, -0.04, 0.027]
)


def _psr_by_hand(r, sr_star):
    n = len(r)
    mean = sum(r) / n
    dev = [x - mean for x in r]
    sr = mean / math.sqrt(sum(d * d for d in dev) / (n - 1))
    m2 = sum(d**2 for d in dev) / n
    g3 = sum(d**3 for d in dev) / n / m2**1.5
    g4 = sum(d**4 for d in dev) / n / m2**2
    z = (sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return PHI.cdf(z), sr, g3, g4


# --- probabilistic Sharpe ratio ---------------------------------------------------------------


@pytest.mark.parametrize("sr_star", [0.0, 0.05, -0.1, 0.3])
def test_psr_matches_direct_formula(sr_star):
    expected, *_ = _psr_by_hand(RETURNS.tolist(), sr_star)
    assert probabilistic_sharpe_ratio(RETURNS, sr_star) == pytest.approx(expected, abs=1e-12)


def test_sharpe_significance_reports_its_ingredients():
    prob, sr, g3, g4 = _psr_by_hand(RETURNS.tolist(), 0.0)
    got = sharpe_significance(pd.Series(RETURNS))
    assert isinstance(got, SharpeSignificance)
    assert got.n_observations == 12 and got.sharpe_benchmark == 0.0
    assert got.sharpe == pytest.approx(sr, abs=1e-14)
    assert got.skewness == pytest.approx(g3, abs=1e-12)
    assert got.kurtosis == pytest.approx(g4, abs=1e-12)
    assert got.probability == pytest.approx(prob, abs=1e-12)
    with pytest.raises(AttributeError):
        got.probability = 1.0  # frozen


def test_psr_is_one_half_at_the_observed_sharpe():
    sr = RETURNS.mean() / RETURNS.std(ddof=1)
    assert probabilistic_sharpe_ratio(RETURNS, sr) == pytest.approx(0.5, abs=1e-12)


def test_psr_falls_as_the_benchmark_rises_and_grows_with_the_sample():
    probs = [probabilistic_sharpe_ratio(RETURNS, b) for b in (-0.2, 0.0, 0.1, 0.2, 0.5)]
    assert np.all(np.diff(probs) < 0)
    # the same returns observed four times over: same SR, skew and kurtosis, smaller error
    longer = probabilistic_sharpe_ratio(np.tile(RETURNS, 4))
    assert longer > probabilistic_sharpe_ratio(RETURNS) > 0.5


def test_psr_penalises_negative_skew():
    # a rare crash (negative skew) and its mirror image (positive skew), same drift added
    crash = np.array([0.0] * 9 + [-0.09])
    base = crash - crash.mean()
    neg, pos = base + 0.002, -base + 0.002
    assert sharpe_significance(neg).skewness < 0 < sharpe_significance(pos).skewness
    assert probabilistic_sharpe_ratio(neg) < probabilistic_sharpe_ratio(pos)


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ([0.01, 0.02], "at least 3"),
        ([0.01, 0.01, 0.01, 0.01], "must not be constant"),
        ([0.01, np.nan, 0.02], "finite"),
        ([[0.01, 0.02, 0.03]], "1-dimensional"),
    ],
)
def test_psr_rejects_bad_returns(returns, message):
    with pytest.raises(ValueError, match=message):
        probabilistic_sharpe_ratio(returns)


def test_psr_rejects_non_finite_benchmark():
    with pytest.raises(ValueError, match="`sr_benchmark=inf`"):
        probabilistic_sharpe_ratio(RETURNS, math.inf)


# --- expected maximum Sharpe ratio ------------------------------------------------------------


def test_expected_max_sharpe_hand_values():
    assert expected_max_sharpe(1, 0.04) == 0.0  # one trial: E[one null draw] = 0, not -inf
    # N = 2: Phi^-1(1/2) = 0 leaves only the Euler-Mascheroni term
    assert expected_max_sharpe(2, 1.0) == pytest.approx(
        EULER_GAMMA * PHI.inv_cdf(1 - 1 / (2 * math.e)), abs=1e-12
    )
    n = 100
    z = (1 - EULER_GAMMA) * PHI.inv_cdf(1 - 1 / n) + EULER_GAMMA * PHI.inv_cdf(1 - 1 / (n * math.e))
    assert expected_max_sharpe(n, 0.25) == pytest.approx(0.5 * z, abs=1e-12)
    assert expected_max_sharpe(n, 0.0) == 0.0


def test_expected_max_sharpe_is_increasing_in_trials_and_scales_with_sd():
    values = [expected_max_sharpe(n, 1.0) for n in (1, 2, 3, 5, 10, 100, 1_000, 10**6)]
    assert np.all(np.diff(values) > 0)
    doubled = 2 * expected_max_sharpe(50, 1.0)
    assert expected_max_sharpe(50, 4.0) == pytest.approx(doubled, rel=1e-14)


@pytest.mark.parametrize(("n", "rel"), [(10, 0.03), (100, 0.02), (1000, 0.01)])
def test_expected_max_sharpe_approximates_exact_normal_maximum(n, rel):
    # E[max of n standard normals] = int x n phi(x) Phi(x)^(n-1) dx
    exact, _ = integrate.quad(lambda x: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1), -10, 10)
    assert expected_max_sharpe(n, 1.0) == pytest.approx(exact, rel=rel)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": 0, "sr_variance": 1.0}, "`n_trials=0`"),
        ({"n_trials": 2.5, "sr_variance": 1.0}, "`n_trials=2.5`"),
        ({"n_trials": True, "sr_variance": 1.0}, "`n_trials=True`"),
        ({"n_trials": 5, "sr_variance": -0.1}, "`sr_variance=-0.1`"),
        ({"n_trials": 5, "sr_variance": math.nan}, "`sr_variance=nan`"),
    ],
)
def test_expected_max_sharpe_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        expected_max_sharpe(**kwargs)


# --- deflated Sharpe ratio --------------------------------------------------------------------


def test_dsr_is_psr_against_the_expected_maximum():
    sr0 = expected_max_sharpe(20, 0.01)
    assert deflated_sharpe_ratio(RETURNS, 20, 0.01) == probabilistic_sharpe_ratio(RETURNS, sr0)
    assert deflated_sharpe_ratio(RETURNS, 1, 0.01) == probabilistic_sharpe_ratio(RETURNS, 0.0)
    dsrs = [deflated_sharpe_ratio(RETURNS, n, 0.01) for n in (2, 10, 100)]
    assert probabilistic_sharpe_ratio(RETURNS) > dsrs[0] > dsrs[1] > dsrs[2]


def test_dsr_of_best_noise_trial_is_not_significant():
    rng = np.random.default_rng(0)
    trials = rng.normal(0.0, 0.01, size=(1000, 50))
    srs = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    best = trials[:, np.argmax(srs)]
    # measured: PSR(0) = 0.9931 looks significant; deflated for 50 trials DSR = 0.4562
    assert probabilistic_sharpe_ratio(best) > 0.95
    dsr = deflated_sharpe_ratio(best, 50, float(np.var(srs, ddof=1)))
    assert dsr == pytest.approx(0.4562, abs=5e-4)
    assert dsr < 0.95


# --- probability of backtest overfitting (CSCV) ------------------------------------------------


def _naive_logits(m, s):
    """Literal CSCV: slice rows, Sharpe per trial, rank with average ties."""
    from scipy.stats import rankdata

    t, n = m.shape
    blocks = np.array_split(np.arange(t), s)
    out = []
    for combo in itertools.combinations(range(s), s // 2):
        ins = np.concatenate([blocks[k] for k in combo])
        oos = np.setdiff1d(np.arange(t), ins)
        sr_is = m[ins].mean(0) / m[ins].std(0, ddof=1)
        sr_oos = m[oos].mean(0) / m[oos].std(0, ddof=1)
        w = rankdata(sr_oos)[np.argmax(sr_is)] / (n + 1)
        out.append(math.log(w / (1 - w)))
    return np.array(out)


@pytest.mark.parametrize(("t", "n", "s"), [(103, 7, 8), (40, 3, 4), (61, 12, 6)])
def test_pbo_matches_brute_force(t, n, s):
    m = np.random.default_rng(t).normal(0.001, 0.02, size=(t, n))
    got = probability_of_backtest_overfitting(m, n_partitions=s)
    expected = _naive_logits(m, s)
    np.testing.assert_allclose(got.logits, expected, rtol=0, atol=1e-9)
    assert got.pbo == np.mean(expected <= 0)


@pytest.mark.parametrize("s", [2, 4, 6, 8, 10, 16])
def test_pbo_counts_combinations_exactly(s):
    m = np.random.default_rng(s).normal(size=(64, 3))
    got = probability_of_backtest_overfitting(m, n_partitions=s)
    assert got.n_combinations == math.comb(s, s // 2) == got.logits.size
    assert got.is_sharpe.shape == got.oos_sharpe.shape == (math.comb(s, s // 2),)


def test_dominant_trial_gives_zero_pbo_and_logit_ln_n():
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, size=(320, 6))
    noise[:, 2] += 0.05  # trial 2 dominates in every block
    got = probability_of_backtest_overfitting(noise, n_partitions=8)
    assert isinstance(got, PBOResult)
    assert got.pbo == 0.0
    # always best out of sample: w = N / (N + 1), logit = ln N
    np.testing.assert_allclose(got.logits, math.log(6), rtol=0, atol=1e-12)
    assert got.probability_of_loss == 0.0
    assert np.all(got.is_sharpe > 1) and np.all(got.oos_sharpe > 1)


def test_in_sample_winner_always_worst_out_of_sample_gives_pbo_one():
    # S = 2: block A rows 0-3, block B rows 4-7
    a_good_b_bad = [0.03, 0.01, 0.02, 0.04, -0.03, -0.01, -0.02, -0.04]
    b_good_a_bad = [-0.03, -0.01, -0.02, -0.04, 0.03, 0.01, 0.02, 0.04]
    middling = [0.001, -0.001, 0.002, -0.0015, 0.001, -0.001, 0.002, -0.0015]
    m = np.column_stack([a_good_b_bad, b_good_a_bad, middling])
    got = probability_of_backtest_overfitting(m, n_partitions=2)
    assert got.n_combinations == 2 and got.pbo == 1.0
    # rank 1 of 3: w = 1/4, logit = ln(1/3)
    np.testing.assert_allclose(got.logits, math.log(1 / 3), rtol=0, atol=1e-12)
    assert got.probability_of_loss == 1.0


def test_pbo_is_invariant_to_trial_order_scale_and_dataframes():
    m = np.random.default_rng(5).normal(0.0, 0.01, size=(200, 9))
    base = probability_of_backtest_overfitting(m, n_partitions=8)
    perm = np.random.default_rng(6).permutation(9)
    scaled = m[:, perm] * np.linspace(0.5, 3.0, 9)  # Sharpe ratios are scale-free
    frame = pd.DataFrame(scaled, columns=[f"trial_{i}" for i in range(9)])
    other = probability_of_backtest_overfitting(frame, n_partitions=8)
    np.testing.assert_allclose(other.logits, base.logits, rtol=0, atol=1e-12)
    assert other.pbo == base.pbo


def test_pbo_of_pure_noise_is_around_one_half():
    # T=1000, N=50, S=16. Per seed PBO is very dispersed (measured over seeds 0-39: min 0.08,
    # 5%-95% 0.24-0.73, sd 0.16) because all 12,870 combinations reuse one data set; the mean over
    # 20 seeds is the stable quantity: measured 0.480 (seeds 0-19) and 0.473 (seeds 20-39), so
    # with sd/sqrt(20) = 0.036 the bracket [0.35, 0.62] is about +-3.5 standard errors around 1/2.
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 0.01, size=(1000, 50)), n_partitions=16
        ).pbo
        for seed in range(20)
    ]
    assert pbos[0] == pytest.approx(0.3274, abs=1e-4)
    assert 0.35 <= np.mean(pbos) <= 0.62
    assert np.mean(pbos) == pytest.approx(0.4802, abs=1e-4)


@pytest.mark.parametrize(
    ("m", "s", "message"),
    [
        (np.zeros((20, 3)), 5, "`n_partitions=5`"),
        (np.zeros((20, 3)), 0, "`n_partitions=0`"),
        (np.zeros((20, 3)), True, "`n_partitions=True`"),
        (np.zeros((20, 3)), 4.0, "`n_partitions=4.0`"),
        (np.zeros((7, 3)), 8, "at least `n_partitions=8` rows, got 7"),
        (np.zeros((20, 1)), 4, "at least 2 trials .* got 1"),
        (np.zeros(20), 4, "2-dimensional"),
    ],
)
def test_pbo_rejects_bad_parameters(m, s, message):
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(m, n_partitions=s)


def test_pbo_rejects_nan_naming_its_position():
    m = np.zeros((20, 3))
    m[11, 2] = np.nan
    with pytest.raises(ValueError, match="nan at row 11, column 2"):
        probability_of_backtest_overfitting(m, n_partitions=4)
