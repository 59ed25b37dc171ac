"""tune_pipeline: the profile is trial 0, datasets are built once per barrier width, studies
reproduce and resume, parts add up, and no fitted ensemble ever sees a test row."""

import numpy as np
import optuna
import pandas as pd
import pytest

from ml_core._search_space import ParamRange
from ml_core.config import (
    Config,
    ConfigError,
    EnsembleConfig,
    FeatureConfig,
    ForestSpec,
    LabelConfig,
    SelectionConfig,
    TuningConfig,
    ValidationConfig,
)
from ml_core.ensemble import RegimeForestEnsemble
from ml_core.labeling import triple_barrier_events
from ml_core.metrics import sharpe_ratio
from ml_core.pipeline import assemble_training_set
from ml_core.tuning._objective import scalarise
from ml_core.tuning._pipeline import (
    _decode_times,
    apply_pipeline_params,
    pipeline_params,
    tune_pipeline,
)
from ml_core.tuning._trial_returns import decode_returns

pytestmark = pytest.mark.slow  # ensemble studies of 2-4 trials: ~60 s for the module

EVENTS_PER_YEAR = 17520.0  # one event per 30 min bar
SPACE = {
    "barrier_width": ParamRange(type="categorical", choices=[1.5, 2.5]),  # + the profile's 2.0
    "corr_threshold": ParamRange(type="float", low=0.5, high=0.95),
    "importance_threshold": ParamRange(type="float", low=0.0, high=0.2),
    "meta_C": ParamRange(type="float", low=0.01, high=10.0, log=True),
}


def _tree(kind):
    return ForestSpec(kind=kind, n_estimators=5, max_depth=3)


CONFIG = Config(
    profile="test",
    seed=7,
    labels=LabelConfig(volatility_span=20, take_profit=2.0, stop_loss=2.0, max_holding_bars=12),
    features=FeatureConfig(selection=SelectionConfig(corr_threshold=0.9,
                                                     importance_threshold=0.01,
                                                     min_features=2, n_estimators=10)),
    ensemble=EnsembleConfig(entry=_tree("classifier"), position=_tree("regressor"),
                            exit=_tree("classifier"), profit=_tree("regressor"), meta_C=1.0,
                            meta_folds=2, n_jobs=1),
    validation=ValidationConfig(purge="2h", embargo="1h", transaction_cost_bps=5.0),
    tuning=TuningConfig(cv_folds=2, reduction_factor=2, max_rows=300, pipeline_trials=4,
                        pipeline_space=SPACE),
)
TREES_PER_FIT = (2 + 1) * 4 * 5  # (meta folds + final refit) x four forests x 5 trees


def _bars(n=520, seed=3):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC", name="timestamp")
    close = 100 * np.exp(np.cumsum(rng.normal(scale=0.004, size=n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(scale=0.002, size=(2, n)))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
                         "low": np.minimum(open_, close) * (1 - wick[1]), "close": close,
                         "volume": rng.uniform(1, 2, n)}, index=idx)


BARS = _bars()


def _features(bars):
    """Causal features (bars up to t0), one pair nearly collinear so corr_threshold matters."""
    c = bars["close"]
    r4 = c.pct_change(4)
    return pd.DataFrame({"r1": c.pct_change(), "r4": r4, "r4_twin": r4 * 1.01,
                         "vol": c.pct_change().rolling(10).std(),
                         "gap": c / c.rolling(20).mean() - 1,
                         "range": (bars["high"] - bars["low"]) / c})


FEATURES = _features(BARS)


class _Datasets:
    """``make_dataset`` through the real labelling; records the barrier width of every build."""

    def __init__(self):
        self.widths = []

    def __call__(self, config):
        assert config.labels.take_profit == config.labels.stop_loss
        self.widths.append(config.labels.take_profit)
        events = triple_barrier_events(BARS, config.labels)
        return assemble_training_set(FEATURES, events, config.labels)


def _tune(config=CONFIG, make=None, **kwargs):
    args = {"study_name": "pipeline", "events_per_year": EVENTS_PER_YEAR, **kwargs}
    return tune_pipeline(config, make or _Datasets(), **args)


def _with_tuning(**update):
    return CONFIG.model_copy(update={"tuning": CONFIG.tuning.model_copy(update=update)})


@pytest.fixture(scope="module")
def run():
    make, storage = _Datasets(), optuna.storages.InMemoryStorage()
    result = _tune(make=make, storage=storage)
    return result, make, optuna.load_study(study_name="pipeline", storage=storage)


# ------------------------------------------------------------------- apply_pipeline_params


def test_apply_sets_exactly_the_pipeline_fields():
    params = {"barrier_width": 1.5, "corr_threshold": 0.8, "importance_threshold": 0.05,
              "meta_C": 0.1}
    tuned = apply_pipeline_params(CONFIG, params)
    assert (tuned.labels.take_profit, tuned.labels.stop_loss) == (1.5, 1.5)
    assert tuned.features.selection.corr_threshold == 0.8
    assert tuned.features.selection.importance_threshold == 0.05
    assert tuned.ensemble.meta_C == 0.1
    restored = apply_pipeline_params(tuned, {"barrier_width": 2.0, "corr_threshold": 0.9,
                                             "importance_threshold": 0.01, "meta_C": 1.0})
    assert restored == CONFIG  # nothing else moved
    assert CONFIG.labels.take_profit == 2.0  # the input is untouched


def test_apply_leaves_absent_keys_alone():
    tuned = apply_pipeline_params(CONFIG, {"meta_C": 3.0})
    assert tuned.ensemble.meta_C == 3.0
    assert tuned.model_dump() == {**CONFIG.model_dump(), "ensemble": tuned.ensemble.model_dump()}
    assert apply_pipeline_params(CONFIG, {}) == CONFIG


@pytest.mark.parametrize(("params", "named"), [
    ({"barrier_width": 0.0}, r"`barrier_width=0.0` is invalid for labels\.take_profit"),
    ({"corr_threshold": 1.5},
     r"`corr_threshold=1.5` is invalid for features\.selection\.corr_threshold"),
    ({"meta_C": -1.0}, r"`meta_C=-1.0` is invalid for ensemble\.meta_C"),
    ({"tree_step": 3}, r"\['tree_step'\], which are not pipeline parameters"),
])
def test_apply_rejects_invalid_values_naming_the_field(params, named):
    with pytest.raises(ConfigError, match=named):
        apply_pipeline_params(CONFIG, params)


def test_profile_point():
    assert pipeline_params(CONFIG) == {"barrier_width": 2.0, "corr_threshold": 0.9,
                                       "importance_threshold": 0.01, "meta_C": 1.0}
    skewed = CONFIG.model_copy(update={"labels": LabelConfig(take_profit=2.0, stop_loss=1.0)})
    assert "barrier_width" not in pipeline_params(skewed)


# ------------------------------------------------------------------------- tune_pipeline


def test_trial_zero_is_the_profile(run):
    result, _, _ = run
    first = result.trials.iloc[0]
    assert first["state"] == "COMPLETE"  # first in its Hyperband bracket: never pruned
    assert {k: first[f"params_{k}"] for k in SPACE} == pipeline_params(CONFIG)
    assert result.best_value >= first["value"]
    assert set(result.best_params) == set(SPACE)
    apply_pipeline_params(CONFIG, result.best_params)  # the best point is a valid profile


def test_counts_and_trees(run):
    result, _, study = run
    assert (result.n_trials, result.study_name) == (4, "pipeline")
    assert result.n_pruned + result.n_complete == 4
    # Whether Hyperband prunes any of 4 trials depends on the trials' first-fold values, i.e. on
    # the machine's floating point; what it guarantees: trial 0 runs to the end, and a trial is
    # pruned after its first fold only if an earlier trial scored at least as well there.
    assert result.n_pruned <= 3
    first_fold = [t.intermediate_values[1] for t in study.trials]  # steps count folds from 1
    for t in study.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.number > 0 and max(first_fold[:t.number]) >= first_fold[t.number]
            assert list(t.intermediate_values) == [1]
    fits = result.trials["user_attrs_ensemble_fits"]
    complete = result.trials["state"] == "COMPLETE"
    assert (fits[complete] == 2).all() and (fits[~complete] == 1).all()
    assert (result.trials["user_attrs_trees_fitted"] == fits * TREES_PER_FIT).all()
    assert result.trees_fitted == fits.sum() * TREES_PER_FIT


def test_datasets_are_built_once_per_barrier_width(run):
    result, make, _ = run
    tried = result.trials["params_barrier_width"].tolist()
    assert len(set(tried)) < len(tried)  # 4 trials over 3 widths: some width came twice
    assert sorted(make.widths) == sorted(set(tried))


def test_parts_add_up_to_the_value(run):
    result, _, study = run
    weights = CONFIG.tuning.objective_weights
    pareto = result.pareto
    assert list(pareto.index) == result.trials.loc[
        result.trials["state"] == "COMPLETE", "number"].tolist()
    for number, row in pareto.iterrows():
        parts = row[["accuracy", "sharpe", "max_drawdown"]].to_dict()
        assert row["value"] == pytest.approx(scalarise(parts, weights), abs=1e-12)
        assert 0.0 <= parts["accuracy"] <= 1.0 and 0.0 <= parts["max_drawdown"] <= 1.0
        # the stored returns are the ones the Sharpe was measured on (float32 storage) ...
        attrs = study.trials[number].user_attrs
        returns = decode_returns(attrs["oos_returns"])
        assert returns.size == attrs["n_events"] == 300  # every event of the window tested
        assert sharpe_ratio(returns, EVENTS_PER_YEAR) == pytest.approx(parts["sharpe"], rel=1e-5)
        # ... and the PBO column is them on the events every complete trial tested
        own = pd.Series(returns, index=_decode_times(attrs["oos_t0"]))
        pd.testing.assert_series_equal(result.trial_returns[number],
                                       own.loc[result.trial_returns.index], check_names=False)
    assert pareto["pareto"].any()


def test_trial_returns_share_the_tested_events(run):
    result, _, study = run
    frame = result.trial_returns
    assert list(frame.columns) == list(result.pareto.index)
    tested = {n: _decode_times(study.trials[n].user_attrs["oos_t0"]) for n in frame.columns}
    # each trial tested the 300 most recent events labelled with its own barrier width
    width = {n: study.trials[n].params["barrier_width"] for n in frame.columns}
    for n, t0 in tested.items():
        labelled = _Datasets()(apply_pipeline_params(CONFIG, {"barrier_width": width[n]}))
        assert t0.equals(labelled.X.index[-300:])
    # wider barriers leave more events open at the end of the data: only common rows are kept
    common = tested[frame.columns[0]]
    for t0 in tested.values():
        common = common.intersection(t0)
    assert frame.index.equals(common) and len(frame) < 300
    assert frame.notna().all().all()
    assert "user_attrs_oos_returns" not in result.trials
    assert "user_attrs_oos_t0" not in result.trials


def test_same_seed_reproduces(run):
    result, _, _ = run
    again = _tune()
    pd.testing.assert_frame_equal(again.trials, result.trials)
    assert again.best_params == result.best_params
    pd.testing.assert_frame_equal(again.trial_returns, result.trial_returns)


def test_resumes_from_sqlite_without_new_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = _with_tuning(pipeline_trials=2)
    first = _tune(config, storage=url)
    make = _Datasets()
    second = _tune(config, make=make, storage=url)
    assert second.n_trials == first.n_trials == 2
    assert make.widths == []  # nothing left to run: no dataset built
    pd.testing.assert_frame_equal(second.trials, first.trials)
    pd.testing.assert_frame_equal(second.trial_returns, first.trial_returns)


def test_no_fitted_ensemble_sees_a_test_row(monkeypatch):
    fitted, tested = {}, {}
    real_fit, real_proba = RegimeForestEnsemble.fit, RegimeForestEnsemble.predict_proba

    def fit(self, X, targets, t1):
        fitted[id(self)] = pd.DataFrame({"t1": t1}, index=X.index)
        return real_fit(self, X, targets, t1)

    def predict_proba(self, X):
        tested[id(self)] = X.index
        return real_proba(self, X)

    monkeypatch.setattr(RegimeForestEnsemble, "fit", fit)
    monkeypatch.setattr(RegimeForestEnsemble, "predict_proba", predict_proba)
    result = _tune(_with_tuning(pipeline_trials=2))
    assert len(fitted) == result.trials["user_attrs_ensemble_fits"].sum() >= 3
    purge, embargo = CONFIG.validation.purge, CONFIG.validation.embargo
    for key, train in fitted.items():
        test = tested[key]  # every fitted ensemble predicted its fold
        assert train.index.intersection(test).empty
        before = train["t1"] < test.min() - purge  # label ends before the fold, purged
        after = train.index > test.max() + embargo  # starts after the fold, embargoed
        assert (before | after).all()
        assert before.any() or after.any()


def _prune_from(step):
    """A Hyperband pruner that prunes every trial once it has reported fold ``step``."""

    class PruneFrom(optuna.pruners.HyperbandPruner):
        def prune(self, study, trial):
            return trial.last_step is not None and trial.last_step >= step

    return PruneFrom


def test_a_trial_that_fitted_every_fold_is_never_pruned(monkeypatch):
    monkeypatch.setattr(optuna.pruners, "HyperbandPruner", _prune_from(2))
    result = _tune(_with_tuning(pipeline_trials=2))
    assert (result.n_complete, result.n_pruned) == (2, 0)  # pruning at the last fold saves nothing
    assert (result.trials["user_attrs_ensemble_fits"] == 2).all()


def test_all_trials_pruned_is_an_error_naming_the_budget(monkeypatch):
    monkeypatch.setattr(optuna.pruners, "HyperbandPruner", _prune_from(1))
    with pytest.raises(RuntimeError, match=r"no complete trial \(2 trials.*tuning.pipeline_trials"):
        _tune(_with_tuning(pipeline_trials=2))


def test_progress_is_reported_after_every_trial():
    seen = []
    _tune(_with_tuning(pipeline_trials=2), progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 2), (2, 2)]


# ---------------------------------------------------------------------------------- errors


def test_zero_trials_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"`tuning.pipeline_trials=0`"):
        _tune(_with_tuning(pipeline_trials=0))


def test_empty_space_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"`tuning.pipeline_space` has nothing to search"):
        _tune(_with_tuning(pipeline_space={}))
    off = CONFIG.model_copy(update={"features": FeatureConfig(
        selection=SelectionConfig(enabled=False))})
    off = off.model_copy(update={"tuning": off.tuning.model_copy(update={"pipeline_space": {
        "corr_threshold": SPACE["corr_threshold"]}})})
    with pytest.raises(ValueError, match=r"features.selection.enabled=False"):
        _tune(off)  # thresholds of a disabled selection change nothing


def test_asymmetric_barriers_are_refused():
    skewed = CONFIG.model_copy(update={"labels": LabelConfig(
        volatility_span=20, take_profit=2.0, stop_loss=1.0, max_holding_bars=12)})
    with pytest.raises(ValueError, match=r"labels.take_profit=2.0, labels.stop_loss=1.0"):
        _tune(skewed)


def test_folds_without_training_rows_raise_the_splitters_error():
    huge = CONFIG.model_copy(update={"validation": ValidationConfig(purge="4d", embargo="4d")})
    with pytest.raises(ValueError, match=r"split 0 has no training events left after purging"):
        _tune(huge)


def test_the_space_is_widened_to_hold_the_profile():
    narrow = _with_tuning(pipeline_trials=1, pipeline_space={
        "barrier_width": ParamRange(type="float", low=2.5, high=3.0, step=0.5),
        "meta_C": ParamRange(type="float", low=0.1, high=0.5)})
    result = _tune(narrow)
    first = result.trials.iloc[0]
    assert (first["params_barrier_width"], first["params_meta_C"]) == (2.0, 1.0)
    assert "params_corr_threshold" not in result.trials  # not in this space
