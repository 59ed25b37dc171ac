"""RegimeHMM: parameter recovery, causality, stable labels, persistence, bad input."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal
from scipy.stats import entropy as scipy_entropy
from scipy.stats import multivariate_normal
from sklearn.exceptions import NotFittedError

from ml_core.config import RegimeConfig
from ml_core.data import load_sample_bars
from ml_core.regime import REGIME_LABELS, TRANSFORM_COLUMNS, RegimeHMM, regime_observations

from ml_core.regime._simulate import SEPARATED, bars_from_regime_returns

BASE = timedelta(minutes=30)
H4 = timedelta(hours=4)


@pytest.fixture(scope="module")
def simulated(separated):
    bars, states, model, _ = separated
    return bars, states, model


def test_recovers_states_and_transitions_of_a_known_hmm(simulated):
    bars, states, model = simulated
    proba = model.filter_proba(bars)
    assert len(proba) == len(states)  # one row per simulated regime bar
    valid = proba.notna().all(axis=1).to_numpy()
    assert valid.sum() == len(states) - model.volatility_window
    # the true states are in label order (sideways the calmest, bull above bear in return), so
    # true index k (bull, bear, sideways) must match label k
    accuracy = (proba.to_numpy()[valid].argmax(axis=1) == states[valid]).mean()
    assert accuracy >= 0.9, accuracy
    assert_allclose(model.transmat_, SEPARATED.transmat, atol=0.02)
    raw_mean_return = model.obs_mean_[0] + model.means_[:, 0] * model.obs_scale_[0]
    assert_allclose(raw_mean_return, SEPARATED.mean, atol=0.003)
    raw_std_return = np.sqrt(model.covars_[:, 0, 0]) * model.obs_scale_[0]
    assert_allclose(raw_std_return, SEPARATED.std, rtol=0.2)
    assert model.converged_
    assert model.n_fit_bars_ == len(states) - model.volatility_window


def test_segments_are_fitted_as_separate_sequences(simulated):
    bars, _, model = simulated
    one = RegimeHMM(timeframe=timedelta(hours=1), n_restarts=3, random_state=0)
    head, tail = bars.iloc[:3000], bars.iloc[5000:]  # 1,500 regime bars each, 1,000 apart
    split = one.fit([head, tail])
    # each segment has its own warm-up: 1500 - 6 observations each, no return across the gap
    assert split.n_fit_bars_ == 2 * (1500 - model.volatility_window)
    assert (split.fit_start_, split.fit_end_) == (model.fit_start_, model.fit_end_)
    assert_allclose(split.transmat_, SEPARATED.transmat, atol=0.03)
    # one segment is the frame itself, to the last bit
    alone = RegimeHMM(timeframe=timedelta(hours=1), n_restarts=3, random_state=0)
    assert_allclose(alone.fit([bars]).transmat_, model.transmat_, rtol=0, atol=0)
    assert alone.log_likelihood_ == model.log_likelihood_


def test_segments_must_be_in_time_order(simulated):
    bars, _, _ = simulated
    with pytest.raises(ValueError, match=r"segment 1 starting at 2020-01-01 00:00:00\+00:00, "
                                         r"not after segment 0 ends at 2020-03-03 11:30"):
        RegimeHMM(timeframe=timedelta(hours=1)).fit([bars.iloc[:3000], bars.iloc[:3000]])
    with pytest.raises(ValueError, match="got 0 segments"):
        RegimeHMM(timeframe=timedelta(hours=1)).fit([])


def test_transform_columns_and_derived_values(simulated):
    bars, _, model = simulated
    out = model.transform(bars)
    assert list(out.columns) == list(TRANSFORM_COLUMNS)
    assert out.index.equals(bars.index)
    probs = out[[f"regime_prob_{label}" for label in REGIME_LABELS]].dropna()
    assert_allclose(probs.sum(axis=1), 1.0)
    feats = model.regime_features(bars).dropna()
    state = feats["regime_state"].to_numpy().astype(int)
    assert_allclose(state, feats.iloc[:, :3].to_numpy().argmax(axis=1))
    assert_allclose(feats["regime_transition_prob"], 1.0 - np.diag(model.transmat_)[state])
    # duration: 0 where the state changes, +1 per regime bar while it stays
    duration = feats["regime_duration"].to_numpy()
    changed = np.r_[True, state[1:] != state[:-1]]
    assert (duration[changed] == 0).all()
    assert (duration[~changed] == duration[np.flatnonzero(~changed) - 1] + 1).all()
    p = feats.iloc[:, :3].to_numpy()
    assert_allclose(feats["regime_confidence"], p.max(axis=1))
    assert_allclose(feats["regime_entropy"], scipy_entropy(p, axis=1) / np.log(3), atol=1e-12)
    assert_allclose(feats["regime_expected_duration"], 1.0 / feats["regime_transition_prob"])


def test_new_columns_are_appended_after_the_original_ones():
    assert TRANSFORM_COLUMNS[:6] == (
        "regime_prob_bull", "regime_prob_bear", "regime_prob_sideways", "regime_state",
        "regime_duration", "regime_transition_prob",
    )
    assert TRANSFORM_COLUMNS[6:] == (
        "regime_confidence", "regime_entropy", "regime_conditional_vol",
        "regime_expected_duration", "regime_surprise",
    )


def test_surprise_is_minus_the_log_predictive_density(simulated):
    bars, _, model = simulated
    feats = model.regime_features(bars).dropna()
    proba = feats.iloc[:, :3].to_numpy()
    obs = regime_observations(bars, model.timeframe, model.base_timeframe,
                              model.volatility_window).dropna()
    X = (obs.to_numpy() - model.obs_mean_) / model.obs_scale_
    pred = np.vstack([model.startprob_, proba[:-1] @ model.transmat_])
    density = sum(
        pred[:, k] * multivariate_normal(model.means_[k], model.covars_[k]).pdf(X)
        for k in range(3)
    )
    assert_allclose(feats["regime_surprise"], -np.log(density), rtol=1e-10)


# ---------------------------------------------------------------- hand-set models, exact values
def hand_set_model(transmat, means, startprob=(1 / 3, 1 / 3, 1 / 3), covars=None,
                   obs_mean=(0.0, np.log(0.005)), obs_scale=(0.01, 0.5)):
    """A "fitted" 1h model (2 bars of 30m per regime bar, volatility window 2) with known
    parameters, bypassing EM."""
    model = RegimeHMM(timeframe=timedelta(hours=1), base_timeframe=BASE, volatility_window=2)
    model.startprob_ = np.asarray(startprob, dtype="float64")
    model.transmat_ = np.asarray(transmat, dtype="float64")
    model.means_ = np.asarray(means, dtype="float64")
    model.covars_ = np.array([np.eye(2)] * 3) if covars is None else np.asarray(covars)
    model.obs_mean_ = np.asarray(obs_mean, dtype="float64")
    model.obs_scale_ = np.asarray(obs_scale, dtype="float64")
    return model


# regime returns of +-1%: a realised volatility of exactly 1% once the window is full
ALTERNATING = bars_from_regime_returns(np.tile([0.01, -0.01], 20))


def test_indistinguishable_states_give_maximal_entropy():
    model = hand_set_model(np.full((3, 3), 1 / 3), np.zeros((3, 2)))
    feats = model.regime_features(ALTERNATING)
    valid = feats.dropna()
    assert len(valid) == len(feats) - 2  # volatility window 2: two warm-up regime bars
    assert_allclose(valid[[f"regime_prob_{label}" for label in REGIME_LABELS]], 1 / 3)
    assert_allclose(valid["regime_entropy"], 1.0, rtol=1e-12)
    assert_allclose(valid["regime_confidence"], 1 / 3, rtol=1e-12)
    assert (valid["regime_state"] == 0).all()  # ties go to the first label, as argmax
    assert_allclose(valid["regime_duration"], np.arange(len(valid)))
    assert_allclose(valid["regime_expected_duration"], 1.5, rtol=1e-12)  # 1 / (1 - 1/3)
    # x = (+-0.01 / 0.01, (log 0.01 - log 0.005) / 0.5) = (+-1, 2 log 2); standard normal density
    expected = np.log(2 * np.pi) + 0.5 * (1.0 + (2 * np.log(2)) ** 2)
    assert_allclose(valid["regime_surprise"], expected, rtol=1e-12)


def test_conditional_vol_and_expected_duration_from_known_parameters():
    transmat = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.125, 0.125, 0.75]])
    # standardised means: returns +1%, -1%, 0; log-vols giving median vols 0.005, 0.01, 0.0025
    means = np.array([[1.0, 0.0], [-1.0, 2 * np.log(2)], [0.0, -2 * np.log(2)]])
    model = hand_set_model(transmat, means, covars=np.array([np.eye(2) * 0.25] * 3))
    assert_allclose(model.state_log_vol(), np.log([0.005, 0.01, 0.0025]), rtol=1e-12)
    feats = model.regime_features(ALTERNATING).dropna()
    state = feats["regime_state"].to_numpy().astype(int)
    # regime returns alternate +1%, -1% (the first filtered bar, regime bar 2, is a +1% one)
    assert_allclose(state, np.tile([0, 1], len(state) // 2))
    assert_allclose(feats["regime_duration"], 0.0)
    assert_allclose(feats["regime_expected_duration"], np.array([10.0, 5.0, 4.0])[state],
                    rtol=1e-12)
    assert_allclose(feats["regime_transition_prob"], np.array([0.1, 0.2, 0.25])[state],
                    rtol=1e-12)
    # realised volatility 0.01 over the state's median volatility
    assert_allclose(feats["regime_conditional_vol"], np.array([2.0, 1.0, 4.0])[state],
                    rtol=1e-12)


# ---------------------------------------------------------------- the real sample
@pytest.fixture(scope="module")
def sample_bars():
    return load_sample_bars()


@pytest.fixture(scope="module")
def fitted(sample_bars):
    return RegimeHMM(timeframe=H4, base_timeframe=BASE, n_restarts=3, random_state=42).fit(
        sample_bars
    )


def test_labels_follow_volatility_then_mean_return(fitted):
    (bull, bear, sideways), log_vol = fitted.means_[:, 0], fitted.state_log_vol()
    assert log_vol[2] < log_vol[:2].min()  # sideways is the calmest
    assert bull > bear
    assert fitted.transmat_.shape == (3, 3)
    assert_allclose(fitted.transmat_.sum(axis=1), 1.0)
    assert (np.diag(fitted.transmat_) > 0.5).all()  # persistent regimes, not noise switching
    assert (fitted.state_occupancy_ >= fitted.min_state_occupancy).all()
    assert sum(r["kept"] for r in fitted.restarts_) == 1


def test_same_seed_same_fit_and_restarts_differ(sample_bars):
    window = sample_bars.iloc[:12000]
    a = RegimeHMM(n_restarts=2, random_state=7).fit(window)
    b = RegimeHMM(n_restarts=2, random_state=7).fit(window)
    assert a.to_dict() == b.to_dict()
    json.dumps(a.to_dict(), allow_nan=False)  # strict JSON, rejected restarts included
    assert a.restarts_[0]["seed"] != a.restarts_[1]["seed"]


def _ends_inside_open_bin(bars: pd.DataFrame, t: int) -> bool:
    last = bars.index[t - 1]
    return last != last.floor("4h") + pd.Timedelta("3h30min")


# 12006 and 25002 end on a bin's last bar (03:30), 12007 on a new bin's first, 25000 three hours
# into a bin (02:30, nearer the coming close than the last one); the rest inside bins
CAUSAL_CASES = [700, 12006, 12007, 17776, 25000, 25002, 34990]


@pytest.mark.parametrize("t", CAUSAL_CASES)
def test_transform_is_causal(fitted, sample_bars, t):
    full = fitted.transform(sample_bars)
    truncated = fitted.transform(sample_bars.iloc[:t])
    assert_frame_equal(truncated, full.iloc[:t], check_exact=True)

    rng = np.random.default_rng(42)
    perturbed = sample_bars.copy()
    noise = rng.uniform(1_000.0, 20_000.0, size=(len(sample_bars) - t, 5))
    perturbed.iloc[t:] = noise
    changed = fitted.transform(perturbed)
    assert_frame_equal(changed.iloc[:t], full.iloc[:t], check_exact=True)
    assert not changed.iloc[t:].equals(full.iloc[t:])  # the perturbation did change the future
    assert full.iloc[:t]["regime_state"].notna().sum() > 0


def test_causal_cases_include_an_open_bin(sample_bars):
    assert [_ends_inside_open_bin(sample_bars, t) for t in CAUSAL_CASES] == [
        True, False, True, True, True, False, True
    ]


def test_regime_bar_reaches_base_bars_only_after_its_bin_closes(fitted, sample_bars):
    features = fitted.regime_features(sample_bars)
    out = fitted.transform(sample_bars)
    j = 3000
    avail = features.index[j]  # availability time = open time of the bin's last 30m bar
    pos = sample_bars.index.get_loc(avail)
    assert_allclose(out.iloc[pos].to_numpy(), features.iloc[j].to_numpy())
    assert not np.allclose(features.iloc[j].to_numpy(), features.iloc[j - 1].to_numpy())
    # the seven base bars before it (same 4h bin, still open) carry the previous regime bar
    assert (sample_bars.index[pos - 7 : pos + 1] >= avail - pd.Timedelta("3h30min")).all()
    for back in range(1, 8):
        assert_allclose(out.iloc[pos - back].to_numpy(), features.iloc[j - 1].to_numpy())
    # an open bin is never in filter_proba
    truncated = sample_bars.loc[: avail - pd.Timedelta("30min")]
    assert fitted.filter_proba(truncated).index[-1] == features.index[j - 1]


def test_warm_up_is_nan_then_filled(fitted, sample_bars):
    out = fitted.transform(sample_bars)
    first = out["regime_prob_bull"].first_valid_index()
    # first regime bar: no return; returns 1..6 fill the volatility window -> 7th bin, 03:30 + 6*4h
    assert first == pd.Timestamp("2017-10-02 03:30", tz="UTC")
    assert out.loc[:first].iloc[:-1].isna().all().all()
    assert out.loc[first:].notna().all().all()


def test_smoothed_proba_is_diagnostic_and_uses_the_future(fitted, sample_bars):
    smoothed = fitted.smoothed_proba(sample_bars)
    filtered = fitted.filter_proba(sample_bars)
    assert smoothed.index.equals(filtered.index)
    assert_allclose(smoothed.iloc[-1], filtered.iloc[-1], rtol=1e-9)
    head = fitted.smoothed_proba(sample_bars.iloc[:20000])
    assert not np.allclose(head.iloc[-50:], smoothed.loc[head.index[-50:]])


def test_round_trip_through_json(fitted, sample_bars):
    text = json.dumps(fitted.to_dict(), allow_nan=False)
    restored = RegimeHMM.from_dict(json.loads(text))
    assert restored.get_params() == fitted.get_params()
    for name in ("startprob_", "transmat_", "means_", "covars_", "obs_mean_", "obs_scale_"):
        assert np.array_equal(getattr(restored, name), getattr(fitted, name))
    head = sample_bars.iloc[:8000]
    assert_frame_equal(restored.transform(head), fitted.transform(head), check_exact=True)
    assert restored.fit_end_ == fitted.fit_end_
    with pytest.raises(ValueError, match="format"):
        RegimeHMM.from_dict({"format": "something else"})


def test_from_config():
    cfg = RegimeConfig(timeframe="1h", n_restarts=2, volatility_window=4, tol=1e-3)
    model = RegimeHMM.from_config(cfg, base_timeframe=BASE, random_state=3)
    assert model.timeframe == timedelta(hours=1)
    assert (model.n_restarts, model.volatility_window, model.tol) == (2, 4, 1e-3)
    assert model.random_state == 3 and model.base_timeframe == BASE


# ---------------------------------------------------------------- bad input
def test_too_few_bars_names_how_many_are_needed(sample_bars):
    # full covariance: 2 + 6 + 6 + 9 = 23 parameters -> 230 observations -> (230 + 7) * 8 bars
    expected = r"too few bars.*`bars` has 400 rows.*needs at least 230.*about 1896 bars of 30min"
    with pytest.raises(ValueError, match=expected):
        RegimeHMM().fit(sample_bars.iloc[:400])


def test_constant_prices_are_rejected(sample_bars):
    flat = sample_bars.iloc[:3000].copy()
    flat[["open", "high", "low", "close"]] = 100.0
    with pytest.raises(ValueError, match="constant"):
        RegimeHMM().fit(flat)


def test_nan_is_rejected_with_its_place(sample_bars):
    bad = sample_bars.iloc[:3000].copy()
    bad.iloc[123, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*'close' at 2017-10-03 13:30"):
        RegimeHMM().fit(bad)


def test_unfitted_and_invalid_parameters(sample_bars):
    with pytest.raises(NotFittedError):
        RegimeHMM().transform(sample_bars)
    with pytest.raises(ValueError, match="`timeframe` must be a whole multiple"):
        RegimeHMM(timeframe=timedelta(minutes=45)).fit(sample_bars)
    with pytest.raises(ValueError, match="`n_restarts=0`"):
        RegimeHMM(n_restarts=0).fit(sample_bars)


def test_all_degenerate_restarts_raise(sample_bars):
    # an occupancy floor no 3-state fit of this sample can meet
    with pytest.raises(ValueError, match="all 1 HMM restarts are degenerate.*min_state_occupancy"):
        RegimeHMM(n_restarts=1, min_state_occupancy=0.333, random_state=0).fit(
            sample_bars.iloc[:8000]
        )


# ---------------------------------------------------------------- degenerate fits
class FakeEM:
    """What RegimeHMM._assess reads from a fitted hmmlearn model."""

    def __init__(self, means, covars, transmat, history=(-10.0, -10.0 + 1e-6), n_iter=20):
        self.means_, self.covars_, self.transmat_ = means, covars, transmat
        self.startprob_ = np.full(3, 1 / 3)
        self.monitor_ = type("Monitor", (), {"history": list(history), "iter": n_iter})()

    def score(self, X, lengths=None):
        return -1.0


GOOD_MEANS = np.array([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]])
GOOD_COVARS = np.array([np.eye(2) * 0.3] * 3)
GOOD_TRANS = np.full((3, 3), 0.05) + 0.85 * np.eye(3)


def _x_from(means, n=300):
    rng = np.random.default_rng(42)
    return np.concatenate([rng.normal(m, 0.3, size=(n // 3, 2)) for m in means])


def test_assess_accepts_a_good_fit_and_relabels_it():
    model = RegimeHMM(min_state_occupancy=0.02)
    perm = [2, 0, 1]  # EM found them as sideways, bull, bear
    fake = FakeEM(GOOD_MEANS[perm], GOOD_COVARS, GOOD_TRANS)
    out = model._assess(fake, _x_from(GOOD_MEANS), seed=1)
    assert out["rejected"] is None and out["converged"]
    assert np.array_equal(out["means"], GOOD_MEANS)
    assert_allclose(out["occupancy"], [1 / 3] * 3, atol=0.05)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"covars": np.array([np.eye(2) * 0.3, np.eye(2) * 1e-3, np.eye(2) * 0.3])},
         "'bear' has near-zero variance"),
        ({"transmat": np.array([[0.9, 0.05, 0.05], [0.45, 0.1, 0.45], [0.05, 0.05, 0.9]])},
         "'bear' has self-transition probability 0.100"),
        ({"means": np.array([[1.0, 0.0], [-9.0, 9.0], [0.0, -1.0]])},
         r"'bear' holds 0.0000 of the bars < `min_state_occupancy=0.02`"),
    ],
)
def test_assess_rejects_degenerate_fits(change, match):
    args = {"means": GOOD_MEANS, "covars": GOOD_COVARS, "transmat": GOOD_TRANS} | change
    out = RegimeHMM()._assess(FakeEM(**args), _x_from(GOOD_MEANS), seed=1)
    assert out["rejected"] is not None
    assert re.search(match, out["rejected"]), out["rejected"]


def test_assess_does_not_trust_monitor_converged():
    # stopped at n_iter with the log-likelihood still rising by 0.5 per iteration
    fake = FakeEM(GOOD_MEANS, GOOD_COVARS, GOOD_TRANS, history=(-100.5, -100.0), n_iter=1000)
    out = RegimeHMM(n_iter=1000, tol=1e-4)._assess(fake, _x_from(GOOD_MEANS), seed=1)
    assert out["converged"] is False and out["rejected"] is None


def test_degenerate_best_restart_falls_back_to_the_next_best(monkeypatch, sample_bars):
    original = RegimeHMM._assess
    calls = []

    def assess(self, model, X, seed, lengths=None):
        out = original(self, model, X, seed, lengths)
        calls.append(seed)
        if len(calls) == 1:
            out["rejected"] = "forced for the test"
        return out

    monkeypatch.setattr(RegimeHMM, "_assess", assess)
    model = RegimeHMM(n_restarts=3, random_state=5).fit(sample_bars.iloc[:12000])
    first, *rest = model.restarts_
    assert first["rejected"] == "forced for the test" and not first["kept"]
    best = max(rest, key=lambda r: r["log_likelihood"])
    assert best["kept"] and model.log_likelihood_ == best["log_likelihood"]
