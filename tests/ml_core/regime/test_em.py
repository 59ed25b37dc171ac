"""EM bookkeeping: a convergence check hmmlearn's monitor cannot fool, warm starts, the report."""

from __future__ import annotations

import json
import math
from collections import deque
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml_core.regime._em import (
    FIT_REPORT_COLUMNS,
    em_convergence,
    fit_report,
    warm_start_parameters,
)


def monitor(history, n_iter_run):
    return SimpleNamespace(history=deque(history, maxlen=2), iter=n_iter_run)


@pytest.mark.parametrize(
    ("history", "iters", "expected"),
    [
        ((-100.0, -100.00005), 12, (True, -5e-5, "tol")),  # tiny fall, within tol: converged
        ((-100.00005, -100.0), 12, (True, 5e-5, "tol")),
        ((-100.00005, -100.0), 1000, (True, 5e-5, "tol")),  # converged on the last allowed one
        ((-100.5, -100.0), 1000, (False, 0.5, "n_iter")),  # capped while still climbing
        ((-100.0, -100.5), 7, (False, -0.5, "decrease")),  # hmmlearn stops and calls it converged
        ((-100.0,), 1, (False, math.nan, "too_few")),
    ],
)
def test_em_convergence(history, iters, expected):
    converged, gain, stop = em_convergence(monitor(history, iters), tol=1e-4)
    assert (converged, stop) == (expected[0], expected[2])
    assert_allclose(gain, expected[1], rtol=1e-6)


def test_em_convergence_on_a_capped_hmmlearn_run():
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-2, 1, (200, 2)), rng.normal(2, 1, (200, 2))]
    model = GaussianHMM(n_components=3, n_iter=2, tol=1e-4, random_state=0).fit(X)
    assert model.monitor_.converged  # hmmlearn: "converged" merely because n_iter was hit
    converged, gain, stop = em_convergence(model.monitor_, tol=1e-4)
    assert (converged, stop) == (False, "n_iter") and gain > 1e-4


class Fitted(SimpleNamespace):
    """The attributes warm_start_parameters reads from a fitted RegimeHMM."""


def fitted():
    return Fitted(
        startprob_=np.array([0.2, 0.3, 0.5]),
        transmat_=np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.0, 0.25, 0.75]]),
        means_=np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]]),
        covars_=np.array([[[1.0, 0.3], [0.3, 2.0]], [[0.5, 0.0], [0.0, 0.5]], np.eye(2)]),
        obs_mean_=np.array([0.001, -5.0]),
        obs_scale_=np.array([0.01, 0.5]),
    )


def test_warm_start_keeps_the_raw_units_parameters():
    old = fitted()
    new_mean, new_scale = np.array([0.002, -4.5]), np.array([0.02, 0.25])
    got = warm_start_parameters(old, new_mean, new_scale, "full")
    # the same Gaussians in raw units
    raw_means = old.obs_mean_ + old.means_ * old.obs_scale_
    assert_allclose(new_mean + got["means_"] * new_scale, raw_means, rtol=1e-14)
    raw_old = old.covars_ * np.outer(old.obs_scale_, old.obs_scale_)
    assert_allclose(got["covars_"] * np.outer(new_scale, new_scale), raw_old, rtol=1e-14)
    # by hand: state 0 return mean (0.001 + 1.0 * 0.01 - 0.002) / 0.02 = 0.45; its return
    # variance 1.0 * (0.01 / 0.02)^2 = 0.25, log-vol variance 2.0 * (0.5 / 0.25)^2 = 8
    assert_allclose(got["means_"][0, 0], 0.45, rtol=1e-14)
    assert_allclose(np.diag(got["covars_"][0]), [0.25, 8.0], rtol=1e-14)
    assert_allclose(got["transmat_"], old.transmat_, rtol=0)
    got["transmat_"][0, 0] = 0.0
    assert old.transmat_[0, 0] == 0.9  # copies, not views


def test_warm_start_shapes_per_covariance_type():
    old = fitted()
    same = (old.obs_mean_, old.obs_scale_)
    assert_allclose(warm_start_parameters(old, *same, "diag")["covars_"],
                    [[1.0, 2.0], [0.5, 0.5], [1.0, 1.0]])
    assert_allclose(warm_start_parameters(old, *same, "spherical")["covars_"], [1.5, 0.5, 1.0])


def test_fit_report_from_records_old_and_new():
    new = {"seed": 7, "init": "random", "log_likelihood": -10.5, "n_iter": 12, "converged": True,
           "last_gain": 1e-5, "stop": "tol", "rejected": None, "kept": True,
           "occupancy": [0.5, 0.25, 0.25]}
    old = {"seed": 8, "log_likelihood": -11.0, "converged": False, "n_iter": 1000,
           "rejected": "state 'bear' has ...", "kept": False, "occupancy": None}
    report = fit_report(json.loads(json.dumps([new, old])))
    assert tuple(report.columns) == FIT_REPORT_COLUMNS
    assert report["init"].tolist() == ["random", "random"]
    assert report["rejected"].tolist() == [None, "state 'bear' has ..."]
    assert_allclose(report["occupancy_bear"], [0.25, np.nan])
    assert np.isnan(report.loc[1, "last_gain"]) and pd.isna(report.loc[1, "stop"])
