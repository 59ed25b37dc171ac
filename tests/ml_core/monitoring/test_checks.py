"""feature_drift, prediction_drift, regime_check and the importance checks."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from ml_core.monitoring import (
    build_reference,
    feature_drift,
    importance_stability,
    permutation_importances,
    prediction_drift,
    regime_check,
)

N_REF, N_LIVE = 5000, 336


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(42)
    features = pd.DataFrame(rng.normal(size=(N_REF, 4)), columns=["a", "b", "c", "d"])
    p_long = pd.Series(rng.beta(5, 5, size=N_REF))
    signals = pd.Series(rng.choice([1, -1, 0], size=N_REF, p=[0.3, 0.2, 0.5]))
    labels = pd.Series(rng.choice(["bull", "bear", "sideways"], size=N_REF, p=[0.4, 0.3, 0.3]))
    smoothed = labels.where(rng.uniform(size=N_REF) < 0.9, "bull")
    return build_reference(features, p_long, signals, labels, smoothed,
                           validated={"hit_rate": 0.55})


def _live(shift: dict[str, tuple[float, float]], seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    live = pd.DataFrame(rng.normal(size=(N_LIVE, 4)), columns=["a", "b", "c", "d"])
    for name, (loc, scale) in shift.items():
        live[name] = loc + scale * live[name]
    return live


def test_a_sample_of_the_reference_law_does_not_drift(reference):
    result = feature_drift(reference, _live({}), 0.25, 0.001, 0.5)
    assert not result.drifted and result.share == 0.0
    assert (result.table["psi"] < 0.1).all() and (result.table["ks_pvalue"] > 0.001).all()
    assert result.metrics()["drift_n_features"] == 4.0 and result.metrics()["drift"] == 0.0


def test_half_the_features_shifted_is_drift(reference):
    result = feature_drift(reference, _live({"a": (1.0, 1.0), "b": (0.0, 2.5)}), 0.25, 0.001,
                           0.5)
    assert result.table["drifted"].tolist() == [True, True, False, False]
    assert result.share == 0.5 and result.drifted
    assert result.reason.startswith("feature drift: 2 of 4 features drifted (50%")
    assert "at or above the 50% limit" in result.reason
    m = result.metrics()
    assert m["drift_n_drifted"] == 2.0 and m["drift_psi_max"] == result.table["psi"].max() > 0.5


def test_one_feature_of_four_is_below_the_share(reference):
    result = feature_drift(reference, _live({"a": (1.0, 1.0)}), 0.25, 0.001, 0.5)
    assert result.share == 0.25 and not result.drifted


def test_psi_alone_is_not_drift(reference):
    # a PSI above the limit with a KS p-value above alpha (a tiny window) does not count
    live = _live({"a": (1.0, 1.0)}).iloc[:6]
    result = feature_drift(reference, live, 0.25, 0.001, 0.25)
    assert result.table.at["a", "psi"] > 0.25 and result.table.at["a", "ks_pvalue"] > 0.001
    assert not result.table.at["a", "drifted"]


def test_ks_only_where_psi_exceeds_gives_the_same_decision(reference):
    live = _live({"a": (1.0, 1.0), "b": (0.0, 2.5)})
    full = feature_drift(reference, live, 0.25, 0.001, 0.5)
    lazy = feature_drift(reference, live, 0.25, 0.001, 0.5, ks_all=False)
    assert lazy.table["drifted"].tolist() == full.table["drifted"].tolist()
    assert lazy.table["ks_pvalue"].isna().tolist() == [False, False, True, True]


def test_a_missing_feature_is_an_error(reference):
    with pytest.raises(ValueError, match=r"must hold every reference feature, missing \['d'\]"):
        feature_drift(reference, _live({}).drop(columns="d"), 0.25, 0.001, 0.5)


def test_prediction_drift(reference):
    rng = np.random.default_rng(3)
    same = prediction_drift(reference, pd.Series(rng.beta(5, 5, 336)),
                            pd.Series([1] * 100 + [-1] * 68 + [0] * 168), 0.25)
    assert not same.drifted and same.psi < 0.1
    # reference mix ~ 30/20/50, live 29.8/20.2/50: a distance of ~0.01
    assert same.signal_mix_tv == pytest.approx(0.0, abs=0.02)
    moved = prediction_drift(reference, pd.Series(rng.beta(8, 3, 336)),
                             pd.Series([1] * 336), 0.25)
    assert moved.drifted and moved.psi > 1.0
    assert moved.signal_mix_tv == pytest.approx(1 - reference.signal_mix["buy"], abs=1e-12)
    assert dict(moved.live_signal_mix) == {"buy": 1.0, "sell": 0.0, "hold": 0.0}
    assert set(moved.metrics()) == {"prediction_psi", "prediction_ks_pvalue", "signal_mix_tv",
                                    "prediction_drift"}
    assert np.isnan(prediction_drift(reference, None, None, 0.25).psi)


def test_regime_check_exact_values(reference):
    live_f = pd.Series(["bull"] * 6 + ["bear"] * 2 + ["sideways"] * 2)
    live_s = pd.Series(["bull"] * 5 + ["bear"] * 3 + ["sideways"] * 2)
    result = regime_check(reference, live_f, live_s)
    occ = reference.regime_occupancy
    expected_tv = 0.5 * (abs(0.6 - occ["bull"]) + abs(0.2 - occ["bear"])
                         + abs(0.2 - occ["sideways"]))
    assert result.occupancy_tv == pytest.approx(expected_tv, abs=1e-12)
    assert result.agreement == 0.9
    assert result.reference_agreement == reference.regime_agreement
    assert not result.shifted
    assert regime_check(reference, pd.Series(["bull"] * 10)).shifted  # TV ~0.6 > 0.5
    assert np.isnan(regime_check(reference, live_f).agreement)


def test_importance_stability_exact():
    ref = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.0}
    same = importance_stability(ref, {"a": 0.4, "b": 0.2, "c": 0.05, "d": -0.01}, top_k=2)
    assert same.spearman == 1.0 and same.top_k_overlap == 1.0 and not same.unstable
    flipped = importance_stability(ref, {"a": 0.0, "b": 0.1, "c": 0.3, "d": 0.5, "e": 9.0},
                                   top_k=2)
    assert flipped.spearman == -1.0 and flipped.top_k_overlap == 0.0 and flipped.unstable
    assert flipped.n_features == 4 and flipped.k == 2
    assert "Spearman -1.00 over 4 features (below 0.3), top-2 overlap 0%" in flipped.reason


def test_permutation_importances_rank_the_informative_feature_first():
    rng = np.random.default_rng(42)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["signal", "noise1", "noise2"])
    y = (X["signal"] + 0.3 * rng.normal(size=400) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    imp = permutation_importances(model, X, y, n_repeats=3)
    assert imp.index.tolist() == ["signal", "noise1", "noise2"] and imp.name == "importance"
    assert imp.idxmax() == "signal" and imp["signal"] > 0.3 and abs(imp["noise1"]) < 0.05
    assert imp.equals(permutation_importances(model, X, y, n_repeats=3))
    with pytest.raises(ValueError, match="`n_repeats` must be a positive integer, got "
                                         "`n_repeats=0`"):
        permutation_importances(model, X, y, n_repeats=0)


def _drift_days(seed: int, shift: bool, checks: int = 20) -> list[bool]:
    """Daily drift decisions on 40 independent N(0, 1) features: a 5,000-row reference, 7-day
    windows of 48 bars sliding a day; with ``shift``, from the first check's last day on 10
    features move their mean by 1 sd and 10 double their scale."""
    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(40)]
    ref = build_reference(pd.DataFrame(rng.normal(size=(5000, 40)), columns=names))
    live = rng.normal(size=((checks + 6) * 48, 40))
    if shift:
        live[6 * 48:, :10] += 1.0
        live[6 * 48:, 10:20] *= 2.0
    live = pd.DataFrame(live, columns=names)
    return [feature_drift(ref, live.iloc[d * 48:(d + 7) * 48], 0.25, 0.001, 0.5,
                          ks_all=False).drifted for d in range(checks)]


def test_drift_rule_on_simulated_features():
    # benchmarks/monitor.py, independent bars: no false alarm in 100 runs of 180 checks; a shift
    # in half the features is caught after 6 days (7 at most; the window must be mostly shifted)
    for seed in range(2):
        assert not any(_drift_days(seed, shift=False))
        days = _drift_days(100 + seed, shift=True)
        assert days.index(True) + 1 <= 7


def test_a_feature_is_held_to_its_own_psi_limit():
    rng = np.random.default_rng(42)
    walk = np.cumsum(rng.normal(size=5000 + 336))  # a random walk: weeks stray far by nature
    features = pd.DataFrame({"walk": walk[:5000], "noise": rng.normal(size=5000)})
    live = pd.DataFrame({"walk": walk[5000:], "noise": rng.normal(size=336)})
    fixed = feature_drift(build_reference(features), live, 0.25, 0.001, 0.5)
    own = feature_drift(build_reference(features, window_rows=336), live, 0.25, 0.001, 0.5)
    assert fixed.table.at["walk", "drifted"] and fixed.table.at["walk", "psi_limit"] == 0.25
    assert own.table.at["walk", "psi_limit"] > own.table.at["walk", "psi"] > 0.25
    assert not own.table["drifted"].any()
    assert own.table.at["noise", "psi_limit"] == 0.25  # its own limit is below psi_max
    assert "(1 at their own limit)" in own.reason
