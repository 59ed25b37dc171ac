"""Trial returns: the trade rules, their storage in the study, and the PBO matrix they form."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ml_core.config import ForestSpec, TuningConfig
from ml_core.ensemble import build_forest
from ml_core.tuning import TRADE_RULES, rule_returns, tune_forest
from ml_core.tuning._trial_returns import decode_returns, encode_returns
from ml_core.validation import PurgedKFold

H = timedelta(hours=1)
SPEC = ForestSpec(kind="classifier", n_estimators=12)
TUNING = TuningConfig(n_trials=6, tree_step=4, reduction_factor=3, cv_folds=3)
RET = np.array([0.02, -0.01, 0.0, 0.03])


@pytest.mark.parametrize(
    ("rule", "prediction", "expected"),
    [
        ("entry", [0.7, 0.5, 0.2, 0.49], [0.019, -0.011, 0.0, 0.0]),
        ("exit", [0.7, 0.5, 0.2, 0.49], [0.0, 0.0, -0.001, 0.029]),
        ("position", [1.5, 0.5, -0.2, 0.25], [0.019, -0.0055, 0.0, 0.00725]),
        ("profit", [0.01, -0.02, 0.0, -0.001], [0.019, 0.009, 0.0, -0.031]),
    ],
)
def test_rules_trade_like_the_ensemble_with_costs_on_entry_and_exit(rule, prediction, expected):
    got = rule_returns(rule, np.array(prediction), RET, cost_bps=5)
    np.testing.assert_allclose(got, expected, atol=1e-15)


def test_rules_cover_the_four_models():
    assert sorted(TRADE_RULES) == ["entry", "exit", "position", "profit"]


def test_encoding_round_trips_at_float32_precision():
    values = np.array([0.0123456789, -1e-7, 0.0, 3.5])
    assert np.array_equal(decode_returns(encode_returns(values)), values.astype(np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "size"}, "`rule='size'`"),
        ({"cost_bps": -1.0}, "`cost_bps=-1.0`"),
    ],
)
def test_rule_errors_name_the_parameter(kwargs, message):
    args = {"rule": "entry", "prediction": RET, "ret": RET, "cost_bps": 0.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        rule_returns(**args)


def _data(n=360):
    rng = np.random.default_rng(7)
    idx = pd.date_range("2024-01-01", periods=n, freq="30min", tz="UTC", name="t0")
    X = pd.DataFrame(rng.normal(size=(n, 4)), index=idx, columns=[f"f{i}" for i in range(4)])
    ret = pd.Series(0.01 * (X["f0"] + rng.normal(scale=1.0, size=n)), index=idx)
    y = (ret > 0).astype(int)
    t1 = pd.Series(idx + pd.Timedelta("2h"), index=idx)
    return X, y, t1, ret


def _tune(storage=None, **kwargs):
    X, y, t1, ret = _data()
    args = {"tuning": TUNING, "purge": H, "embargo": H, "seed": 3, "study_name": "s",
            "storage": storage, "ret": ret, "trade_rule": "entry", "cost_bps": 5.0, **kwargs}
    return tune_forest(SPEC, X, y, t1, **args)


@pytest.fixture(scope="module")
def result():
    return _tune()


def test_every_complete_trial_is_a_column_over_every_tuning_event(result):
    X, *_ = _data()
    complete = result.trials.loc[result.trials["state"] == "COMPLETE", "number"].tolist()
    assert result.trial_returns.columns.tolist() == complete
    assert result.trial_returns.index.equals(X.index)  # purged k-fold tests every event once
    assert "user_attrs_oos_returns" not in result.trials.columns


def test_a_column_is_the_rule_traded_on_that_trials_out_of_fold_predictions(result):
    """Trial 0 is the spec itself (never pruned): rebuild its fold forests independently."""
    X, y, t1, ret = _data()
    assert 0 in result.trial_returns.columns
    expected = pd.Series(0.0, index=X.index)
    for train, test in PurgedKFold(n_splits=3, purge=H, embargo=H).split(X, t1=t1):
        forest = build_forest(SPEC, 3, n_jobs=1).fit(X.iloc[train], y.iloc[train])
        p = forest.predict_proba(X.iloc[test])[:, 1]
        expected.iloc[test] = rule_returns("entry", p, ret.iloc[test].to_numpy(), 5.0)
    np.testing.assert_allclose(result.trial_returns[0], expected, atol=1e-8)


def test_a_resumed_study_keeps_the_matrix(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = _tune(storage=storage)
    again = _tune(storage=storage)  # nothing left to run: read back from the storage
    pd.testing.assert_frame_equal(first.trial_returns, again.trial_returns)


def test_without_a_rule_no_returns_are_recorded():
    result = _tune(trade_rule=None, ret=None)
    assert result.trial_returns.shape == (360, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trade_rule": "size"}, "`trade_rule='size'`"),
        ({"ret": None}, "needs the events' returns `ret`"),
    ],
)
def test_bad_trade_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _tune(**kwargs)


def test_the_objective_folds_accuracy_sharpe_and_drawdown_into_one_value(result):
    from ml_core.metrics import max_drawdown, sharpe_ratio
    from ml_core.tuning._objective import scalarise

    complete = result.trials[result.trials["state"] == "COMPLETE"].set_index("number")
    for number, row in complete.iterrows():
        parts = {k: row[f"user_attrs_{k}"] for k in ("accuracy", "sharpe", "max_drawdown")}
        assert row["value"] == pytest.approx(scalarise(parts, TUNING.objective_weights))
        returns = result.trial_returns[number].to_numpy()
        # the stored column is float32; the parts were measured on the float64 returns
        assert parts["sharpe"] == pytest.approx(sharpe_ratio(returns, 1.0), rel=1e-5)
        assert parts["max_drawdown"] == pytest.approx(max_drawdown(returns), rel=1e-5)
    assert result.pareto.index.tolist() == complete.index.tolist()
    assert result.pareto["pareto"].any()
    best = int(complete["value"].idxmax())
    assert result.pareto.loc[best, "pareto"]  # the scalarised optimum is never dominated
