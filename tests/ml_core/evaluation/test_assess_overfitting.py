"""assess_overfitting: PBO per tuned model, PSR and DSR per path at the true trial count."""

import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import OverfittingReport, assess_overfitting
from ml_core.validation import (
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

IDX = pd.date_range("2024-01-01", periods=64, freq="h")


def _noise(n_trials, seed, rows=64):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(0, 0.01, size=(rows, n_trials)), index=IDX[:rows])


def _paths(seed=0):
    rng = np.random.default_rng(seed)
    return {p: pd.Series(rng.normal(0.002, 0.01, 64), index=IDX) for p in range(3)}


def test_hand_computed_sharpe_variance_psr_and_dsr():
    trials = {"entry": pd.DataFrame({0: [0.01, 0.02, -0.01, 0.0], 1: [0.0, 0.01, 0.01, -0.02]})}
    path = pd.Series([0.01, -0.005, 0.02, 0.0, 0.004])
    report = assess_overfitting(trials, {0: path}, n_trials=10, n_partitions=4)
    sr0 = np.mean([0.01, 0.02, -0.01, 0.0]) / np.std([0.01, 0.02, -0.01, 0.0], ddof=1)
    sr1 = np.mean([0.0, 0.01, 0.01, -0.02]) / np.std([0.0, 0.01, 0.01, -0.02], ddof=1)
    variance = np.var([sr0, sr1], ddof=1)
    assert report.sr_variance == pytest.approx(variance, rel=1e-12)
    assert report.expected_max_sharpe == pytest.approx(expected_max_sharpe(10, variance))
    row = report.paths.loc[0]
    assert row["sharpe"] == pytest.approx(path.mean() / path.std(ddof=1), rel=1e-12)
    assert row["psr"] == pytest.approx(probabilistic_sharpe_ratio(path, 0.0))
    assert row["dsr"] == pytest.approx(
        probabilistic_sharpe_ratio(path, expected_max_sharpe(10, variance)))
    assert row["dsr"] < row["psr"]
    assert set(report.pbo) == {"entry"}  # 2 trials, 4 rows, 4 partitions


def test_pbo_is_the_csv_statistic_per_model_and_the_headline_is_the_worst():
    trials = {"entry": _noise(12, 1), "profit": _noise(12, 2)}
    report = assess_overfitting(trials, _paths(), n_trials=30, n_partitions=8)
    for name, frame in trials.items():
        assert report.pbo[name].pbo == probability_of_backtest_overfitting(frame, 8).pbo
    summary = report.summary()
    assert summary["pbo"] == max(summary["pbo_entry"], summary["pbo_profit"])
    assert summary["dsr_n_trials"] == 30.0
    assert set(summary) == {"pbo", "pbo_entry", "pbo_profit", "psr_median", "dsr_median",
                            "dsr_n_trials", "dsr_sr_variance", "dsr_expected_max_sharpe"}


def test_models_without_a_matrix_get_no_pbo_and_say_why():
    trials = {"entry": _noise(1, 1), "exit": _noise(5, 2, rows=6), "profit": _noise(0, 3)}
    report = assess_overfitting(trials, _paths(), n_trials=8, n_partitions=8)
    assert report.pbo == {}
    assert report.pbo_undefined == {
        "entry": "1 complete trial; a PBO compares at least 2",
        "exit": "6 out-of-sample rows, fewer than the 8 CSCV blocks (`pbo_partitions`)",
        "profit": "0 complete trials; a PBO compares at least 2",
    }
    summary = report.summary()
    assert all(np.isnan(summary[k]) for k in ("pbo", "pbo_entry", "pbo_exit", "pbo_profit"))


def test_no_tuned_model_means_no_pbo_key():
    assert "pbo" not in assess_overfitting({}, _paths(), n_trials=1).summary()


def test_pbo_over_trials_that_never_traded_is_undefined_not_one():
    """The 1h market's pipeline study: 3 trials, none traded, every out-of-fold return 0. CSCV
    over the tie ranks the in-sample 'winner' at the median in every combination: PBO 1.0."""
    tied = pd.DataFrame(np.zeros((64, 3)), index=IDX)
    assert probability_of_backtest_overfitting(tied, 16).pbo == 1.0  # the artefact
    report = assess_overfitting({"pipeline": tied}, _paths(), n_trials=3, n_partitions=16)
    assert report.pbo == {}
    assert report.pbo_undefined == {"pipeline": (
        "the out-of-sample returns of its 3 trials are identical (none traded): their ranks "
        "tie, so there is no best trial to test")}
    assert np.isnan(report.summary()["pbo"])


def test_pbo_counts_each_distinct_trial_once():
    noise = _noise(2, 6)
    trials = pd.concat([noise, noise[[0]], pd.DataFrame(0.0, index=IDX, columns=[9])], axis=1)
    report = assess_overfitting({"entry": trials}, _paths(), n_trials=4, n_partitions=8)
    distinct = pd.concat([noise, pd.DataFrame(0.0, index=IDX, columns=[9])], axis=1)
    assert report.pbo_trials == {"entry": 3} and report.pbo_undefined == {}
    assert report.pbo["entry"].pbo == probability_of_backtest_overfitting(distinct, 8).pbo


def test_more_trials_deflate_more_and_one_trial_is_the_plain_psr():
    trials = {"entry": _noise(20, 4)}
    dsr = [assess_overfitting(trials, _paths(), n_trials=n).paths["dsr"].to_numpy()
           for n in (1, 10, 1000)]
    one = assess_overfitting(trials, _paths(), n_trials=1)
    np.testing.assert_allclose(one.paths["dsr"], one.paths["psr"])
    assert (dsr[0] > dsr[1]).all() and (dsr[1] > dsr[2]).all()


def test_no_trials_means_no_variance_and_dsr_equals_psr():
    report = assess_overfitting({}, _paths(), n_trials=1)
    assert report.sr_variance == 0.0 and report.expected_max_sharpe == 0.0
    np.testing.assert_allclose(report.paths["dsr"], report.paths["psr"])


def test_a_path_that_never_traded_has_no_sharpe_psr_or_dsr():
    paths = {0: pd.Series(0.0, index=IDX), 1: _paths()[1]}
    report = assess_overfitting({}, paths, n_trials=1)
    assert report.paths.loc[0].isna().all()
    assert report.summary()["dsr_median"] == report.paths.loc[1, "dsr"]  # the traded path only


def test_selected_noise_strategy_is_not_significant_after_deflation():
    """Pick the best of 50 noise trials and present it as the model: DSR must not be fooled."""
    trials = _noise(50, 5, rows=64)
    best = trials.mean().div(trials.std()).idxmax()
    report = assess_overfitting({"entry": trials}, {0: trials[best]}, n_trials=50,
                                n_partitions=8)
    assert report.paths.loc[0, "dsr"] < 0.95
    assert report.pbo["entry"].pbo >= 0.3  # noise: near or above one half, never near 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_trials": 0}, "`n_trials=0`"), ({"path_returns": {}}, "`path_returns` is empty")],
)
def test_bad_input_is_named(kwargs, message):
    args = {"trial_returns": {}, "path_returns": _paths(), "n_trials": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        assess_overfitting(**args)


def test_report_type():
    assert isinstance(assess_overfitting({}, _paths(), n_trials=1), OverfittingReport)


@pytest.fixture(scope="module")
def noise_studies():
    """Ten real Optuna studies tuning a forest on noise features and a noise target; in each the
    best trial's out-of-fold returns are presented as the model."""
    from datetime import timedelta

    from ml_core.config import ForestSpec, TuningConfig
    from ml_core.tuning import tune_forest

    out = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        idx = pd.date_range("2024-01-01", periods=600, freq="30min", tz="UTC", name="t0")
        X = pd.DataFrame(rng.normal(size=(600, 6)), index=idx, columns=[f"f{i}" for i in range(6)])
        ret = pd.Series(rng.normal(0, 0.01, 600), index=idx)
        t1 = pd.Series(idx + pd.Timedelta("1h"), index=idx)
        result = tune_forest(
            ForestSpec(kind="classifier", n_estimators=8, max_depth=4), X,
            (ret > 0).astype(int), t1, tuning=TuningConfig(n_trials=20, tree_step=8, cv_folds=3),
            purge=timedelta(hours=1), embargo=timedelta(hours=1), seed=seed,
            study_name="noise", ret=ret, trade_rule="entry")
        matrix = result.trial_returns
        best = matrix.columns[np.argmax(matrix.mean() / matrix.std())]
        out.append(assess_overfitting({"entry": matrix}, {0: matrix[best]},
                                      n_trials=result.n_trials))
    return out


@pytest.mark.slow  # 3 studies of 20 trials: ~20 s
def test_a_selection_tuned_on_pure_noise_is_flagged(noise_studies):
    """Measured: PBO 0.40-0.65 per study, mean 0.512 (skill-less trials give 1/2 in expectation);
    PSR > 0.95 in 7 of 10 studies, so the plain Sharpe test is fooled; DSR 0.24-0.90, never
    significant once the 20 trials are counted."""
    pbo = [r.pbo["entry"].pbo for r in noise_studies]
    psr = [r.paths.loc[0, "psr"] for r in noise_studies]
    dsr = [r.paths.loc[0, "dsr"] for r in noise_studies]
    assert np.mean(pbo) == pytest.approx(0.5123, abs=1e-4)
    assert np.mean(pbo) >= 0.5 and min(pbo) > 0.3
    assert sum(p > 0.95 for p in psr) == 7
    assert max(dsr) < 0.95
