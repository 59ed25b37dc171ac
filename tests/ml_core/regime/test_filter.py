"""Forward filter against brute-force path enumeration; smoother against hmmlearn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from ml_core.regime import forward_backward, forward_filter, gaussian_log_emission

STARTPROB = np.array([0.6, 0.4])
TRANSMAT = np.array([[0.7, 0.3], [0.2, 0.8]])
# p(x_t | k) for 4 steps, 2 states: arbitrary positive numbers.
EMISSION = np.array([[0.5, 0.1], [0.05, 0.4], [0.3, 0.3], [0.9, 0.02]])


def brute_force_filter(emission, startprob, transmat):
    """P(s_t = k | x_0..t) by summing the joint over every state path of length t+1."""
    n_steps, n_states = emission.shape
    out = np.zeros((n_steps, n_states))
    for t in range(n_steps):
        joint = np.zeros(n_states)
        for path in itertools.product(range(n_states), repeat=t + 1):
            p = startprob[path[0]] * emission[0, path[0]]
            for u in range(1, t + 1):
                p *= transmat[path[u - 1], path[u]] * emission[u, path[u]]
            joint[path[-1]] += p
        out[t] = joint / joint.sum()
    return out


def brute_force_smoother(emission, startprob, transmat):
    n_steps, n_states = emission.shape
    out = np.zeros((n_steps, n_states))
    for path in itertools.product(range(n_states), repeat=n_steps):
        p = startprob[path[0]] * emission[0, path[0]]
        for u in range(1, n_steps):
            p *= transmat[path[u - 1], path[u]] * emission[u, path[u]]
        for t, k in enumerate(path):
            out[t, k] += p
    return out / out.sum(axis=1, keepdims=True)


def test_forward_filter_equals_brute_force():
    got = forward_filter(np.log(EMISSION), STARTPROB, TRANSMAT)
    assert_allclose(got, brute_force_filter(EMISSION, STARTPROB, TRANSMAT), rtol=1e-13)


def test_forward_filter_first_steps_by_hand():
    got = forward_filter(np.log(EMISSION), STARTPROB, TRANSMAT)
    # t=0: [0.6*0.5, 0.4*0.1] = [0.30, 0.04] -> [15/17, 2/17]
    assert_allclose(got[0], [15 / 17, 2 / 17], rtol=1e-15)
    # t=1: pred = [15/17*0.7 + 2/17*0.2, 15/17*0.3 + 2/17*0.8] = [10.9/17, 6.1/17]
    #      joint = [10.9*0.05, 6.1*0.4] / 17 = [0.545, 2.44] / 17
    assert_allclose(got[1], [0.545 / 2.985, 2.44 / 2.985], rtol=1e-14)


def test_forward_filter_is_causal():
    rng = np.random.default_rng(42)
    log_em = rng.normal(size=(50, 3))
    start, trans = np.full(3, 1 / 3), np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    full = forward_filter(log_em, start, trans)
    changed = log_em.copy()
    changed[30:] = rng.normal(size=(20, 3)) * 10
    assert np.array_equal(forward_filter(changed, start, trans)[:30], full[:30])
    assert np.array_equal(forward_filter(log_em[:30], start, trans), full[:30])


def test_forward_filter_survives_underflow_with_zero_transitions():
    # alpha_0 = [1, 0] (exp(-1e4) underflows) and state 0 is absorbing, so steps 1 and 2 must be
    # pure state 0 although their emissions favour state 1 by e^1e4: the scaled product is 0 there
    # and the log-space fallback has to take over.
    log_em = np.array([[0.0, -1e4], [-1e4, 0.0], [-2e4, -1e4 - 50]])
    trans = np.array([[1.0, 0.0], [0.5, 0.5]])
    got = forward_filter(log_em, np.array([0.5, 0.5]), trans)
    assert_allclose(got, [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], atol=0)


def test_forward_filter_rejects_impossible_observation():
    trans = np.array([[1.0, 0.0], [0.0, 1.0]])
    log_em = np.array([[0.0, -np.inf], [-np.inf, 0.0]])
    with pytest.raises(ValueError, match="observation 1 has zero probability"):
        forward_filter(log_em, np.array([0.5, 0.5]), trans)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"startprob": np.array([0.5, 0.6])}, "startprob"),
        ({"transmat": np.array([[0.5, 0.6], [0.5, 0.5]])}, "transmat"),
        ({"transmat": np.eye(3)}, "transmat"),
        ({"log_emission": np.array([[0.0, np.nan]])}, "log_emission"),
    ],
)
def test_forward_filter_validates_inputs(kwargs, match):
    args = {"log_emission": np.log(EMISSION), "startprob": STARTPROB, "transmat": TRANSMAT}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        forward_filter(**args)


def test_forward_backward_equals_brute_force_and_differs_from_filter():
    smoothed = forward_backward(np.log(EMISSION), STARTPROB, TRANSMAT)
    assert_allclose(smoothed, brute_force_smoother(EMISSION, STARTPROB, TRANSMAT), rtol=1e-12)
    filtered = forward_filter(np.log(EMISSION), STARTPROB, TRANSMAT)
    assert_allclose(smoothed[-1], filtered[-1], rtol=1e-12)  # same at the last step only
    assert not np.allclose(smoothed[:-1], filtered[:-1])


def test_forward_backward_matches_hmmlearn_predict_proba():
    """hmmlearn's predict_proba is the smoother: our diagnostic equals it, the filter does not."""
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(42)
    means = np.array([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]])
    covars = np.array([np.eye(2) * 0.5, [[1.0, 0.3], [0.3, 0.8]], np.eye(2) * 0.2])
    start, trans = np.array([0.2, 0.3, 0.5]), np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    X = rng.normal(size=(40, 2))
    model = GaussianHMM(n_components=3, covariance_type="full")
    model.startprob_, model.transmat_, model.means_, model.covars_ = start, trans, means, covars
    log_em = gaussian_log_emission(X, means, covars)
    assert_allclose(forward_backward(log_em, start, trans), model.predict_proba(X), atol=1e-10)
    assert not np.allclose(forward_filter(log_em, start, trans), model.predict_proba(X))


def test_gaussian_log_emission_matches_scipy_per_row():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(5, 2))
    means = np.array([[0.0, 0.0], [1.0, -1.0]])
    covars = np.array([np.eye(2), [[2.0, 0.5], [0.5, 1.0]]])
    got = gaussian_log_emission(X, means, covars)
    for t in range(5):
        for k in range(2):
            want = multivariate_normal(means[k], covars[k]).logpdf(X[t])
            assert got[t, k] == pytest.approx(want, rel=1e-12)
    assert gaussian_log_emission(X[:1], means, covars).shape == (1, 2)
