"""The ensemble compiled to ONNX: each graph against the scikit-learn object it replaces."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from ml_core.ensemble import (
    COMPONENT_COLUMNS,
    CompiledEnsemble,
    ProbabilityCalibrator,
    RegimeForestEnsemble,
    compare_engines,
    export_onnx,
)
from ml_core.ensemble._onnx import _calibrator_graph, _session, serving_spec


@pytest.fixture(scope="module")
def compiled(fitted) -> CompiledEnsemble:
    return CompiledEnsemble.from_ensemble(fitted)


def _run(model: bytes, name: str, **inputs: np.ndarray) -> np.ndarray:
    return _session(model, name).run(None, inputs)[0]


def test_components_match_the_forests(fitted, compiled, synthetic):
    X = synthetic[0]
    expected = fitted.predict_components(X)
    got = compiled.predict_components(X)
    pd.testing.assert_index_equal(got.index, X.index)
    assert got.columns.tolist() == list(COMPONENT_COLUMNS)
    assert np.abs(got.to_numpy() - expected.to_numpy()).max() <= 1e-12
    assert ((got[["p_entry", "size", "p_exit"]] >= 0) & (got[["p_entry", "size", "p_exit"]] <= 1)
            ).all().all()


def test_predictions_match_and_signals_agree(fitted, compiled, synthetic):
    X = synthetic[0]
    parity = compare_engines(fitted, compiled, X)
    print(parity)
    assert parity.n_rows == len(X)
    assert parity.max_p_long_diff <= 1e-5 and parity.max_component_diff <= 1e-5
    assert parity.n_signal_mismatch == 0 and parity.max_size_diff <= 1e-5
    np.testing.assert_allclose(compiled.predict_proba(X), fitted.predict_proba(X), rtol=0,
                               atol=1e-5)


def test_one_graph_serves_the_four_forests_and_one_session_the_chain(fitted, compiled):
    graphs = export_onnx(fitted)
    assert sorted(graphs) == ["calibrator", "components", "meta"]  # sigmoid, global
    import onnx

    model = onnx.load_from_string(graphs["components"])
    assert [i.name for i in model.graph.input] == ["X"]
    assert [o.name for o in model.graph.output] == ["components"]
    assert [n.op_type for n in model.graph.node].count("TreeEnsemble") == 4
    meta = onnx.load_from_string(graphs["meta"])
    assert [o.name for o in meta.graph.output] == ["p"]
    assert "ArgMax" not in {n.op_type for n in meta.graph.node}  # the label branch is pruned
    # global meta-learner: forests, meta-learner and calibrator chained in one session
    assert compiled._components_session is None and compiled._meta_session is None
    assert [i.name for i in compiled._chain.get_inputs()] == ["X", "R"]  # R: regime columns
    options = compiled._chain.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_export_is_reproducible(fitted):
    assert export_onnx(fitted) == export_onnx(copy.deepcopy(fitted))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrator_graph_equals_the_calibrator(method):
    rng = np.random.default_rng(42)
    p = rng.uniform(0.2, 0.8, 400)
    y = (rng.uniform(size=400) < p).astype(int)
    calibrator = ProbabilityCalibrator(method).fit(p, y)
    # both ends, outside the knots, exactly on knots, and the clip of the logit
    grid = np.concatenate([np.linspace(0.0, 1.0, 1001), [1e-9, 1 - 1e-9],
                           getattr(calibrator, "x_thresholds_", [])])
    model = _calibrator_graph(calibrator).SerializeToString()
    got = _run(model, "calibrator", p=grid)
    np.testing.assert_allclose(got, calibrator.calibrate(grid), rtol=0, atol=1e-12)
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_isotonic_graph_of_a_single_knot_is_constant():
    calibrator = ProbabilityCalibrator("isotonic")
    calibrator.classes_ = np.array([0, 1])
    calibrator.n_features_in_ = 1
    calibrator.x_thresholds_ = np.array([0.4])
    calibrator.y_thresholds_ = np.array([0.3])
    grid = np.array([0.0, 0.4, 0.9])
    got = _run(_calibrator_graph(calibrator).SerializeToString(), "calibrator", p=grid)
    np.testing.assert_array_equal(got, calibrator.calibrate(grid))
    np.testing.assert_array_equal(got, [0.3, 0.3, 0.3])


@pytest.mark.parametrize(
    "params",
    [{"calibration": "isotonic", "regime_mode": "models", "min_regime_events": 10},
     {"calibration": "none", "regime_mode": "thresholds", "regime_thresholds": {"bear": 0.7},
      "smoothing": "hysteresis", "hysteresis_band": 0.1},
     {"calibration": "sigmoid", "smoothing": "ewma", "ewma_span": 4, "kelly_fraction": 0.5,
      "cvar_budget": 0.02}],
    ids=["isotonic-models", "none-thresholds-hysteresis", "sigmoid-ewma-caps"],
)
def test_every_calibration_and_regime_mode_compiles(synthetic, tiny, params):
    X, targets, events = synthetic
    model = tiny(**params).fit(X, targets, events["t1"])
    compiled = CompiledEnsemble.from_ensemble(model)
    graphs = export_onnx(model)
    assert sorted(graphs) == sorted(
        ["components", "meta", *[f"meta_{r}" for r in model.regime_models_],
         *(["calibrator"] if model.calibrator_ is not None else [])])
    if params.get("regime_mode") == "models":
        assert model.regime_models_  # the per-regime meta-learners are exercised
        assert compiled._chain is None and list(compiled._regime_sessions) == model.regime_models_
    else:
        assert compiled._chain is not None and not compiled._regime_sessions
    parity = compare_engines(model, compiled, X)
    print(params, parity)
    assert parity.max_p_long_diff <= 1e-5 and parity.max_component_diff <= 1e-5
    assert parity.n_signal_mismatch == 0
    np.testing.assert_array_equal(compiled.confidence_thresholds(X),
                                  model.confidence_thresholds(X))


def test_one_row_at_a_time_equals_one_call(synthetic, tiny):
    X, targets, events = synthetic
    model = tiny(smoothing="hysteresis", hysteresis_band=0.1).fit(X, targets, events["t1"])
    compiled = CompiledEnsemble.from_ensemble(model)
    batch = compiled.predict(X.iloc[:60])
    state, rows = None, []
    for i in range(60):
        row, state = compiled.predict_from(X.iloc[[i]], state)
        rows.append(row)
    pd.testing.assert_frame_equal(pd.concat(rows), batch)


def test_single_class_forests_give_their_constant_probability(fitted, synthetic):
    """A classifier fitted on one class has no P(class 1) column: 0.0 without class 1, 1.0 with
    class 1 only, as the ensemble's own ``_component`` says."""
    X = synthetic[0]
    values = X[fitted.forest_features_].to_numpy()
    model = copy.copy(fitted)
    model.forests_ = dict(fitted.forests_)
    model.forests_["entry"] = RandomForestClassifier(n_estimators=2, random_state=0).fit(
        values, np.zeros(len(X), dtype=int))
    model.forests_["exit"] = RandomForestClassifier(n_estimators=2, random_state=0).fit(
        values, np.ones(len(X), dtype=int))
    got = CompiledEnsemble.from_ensemble(model).predict_components(X)
    pd.testing.assert_frame_equal(got, model.predict_components(X), rtol=0, atol=1e-6)
    assert (got["p_entry"] == 0.0).all() and (got["p_exit"] == 1.0).all()


def test_empty_rows_and_bad_rows_are_handled_as_by_the_ensemble(fitted, compiled, synthetic):
    X = synthetic[0]
    assert compiled.predict(X.iloc[:0]).shape == (0, 4)
    assert compiled.predict_components(X.iloc[:0]).shape == (0, 4)
    shuffled = X[X.columns[::-1]]  # another column order, and extra columns, are fine
    pd.testing.assert_frame_equal(compiled.predict(shuffled.assign(extra=1.0)),
                                  compiled.predict(X))
    for bad in (X.drop(columns="x1"), X.assign(x0=np.where(np.arange(len(X)) == 3, np.nan, 1.0)),
                X.assign(x2="text")):
        with pytest.raises((TypeError, ValueError)) as expected:
            fitted.predict(bad)
        with pytest.raises(type(expected.value)) as got:
            compiled.predict(bad)
        assert str(got.value) == str(expected.value)


def test_serving_spec_is_what_the_compiled_ensemble_reads(fitted, compiled):
    spec = serving_spec(fitted)
    assert spec["forest_features_"] == fitted.forest_features_
    assert compiled.engine == "onnx" and RegimeForestEnsemble.engine == "sklearn"
    assert compiled.n_features_in_ == fitted.n_features_in_
    np.testing.assert_array_equal(compiled.feature_names_in_, fitted.feature_names_in_)
    assert compiled.smoother().method == fitted.smoother().method
    assert compiled.sizing() == fitted.sizing()
    with pytest.raises(ValueError, match=r"`models` lacks the graphs \['calibrator'\]"):
        CompiledEnsemble({k: v for k, v in export_onnx(fitted).items() if k != "calibrator"},
                         spec)


def test_a_missing_learned_attribute_says_which_engine_has_it(compiled):
    with pytest.raises(AttributeError, match=r"'CompiledEnsemble' has no attribute "
                                             r"'oof_predictions_': a compiled ensemble serves "
                                             r"predictions only .* engine='sklearn'"):
        compiled.oof_predictions_  # noqa: B018
    assert not hasattr(compiled, "forests_")
    assert getattr(compiled, "regime_mode_", None) == "global"


def test_an_ensemble_without_regime_columns_compiles(real_events, tiny):
    X, targets, events = real_events
    model = tiny(calibration="isotonic").fit(X, targets, events["t1"])
    compiled = CompiledEnsemble.from_ensemble(model)
    assert [i.name for i in compiled._chain.get_inputs()] == ["X"]  # no regime input
    parity = compare_engines(model, compiled, X)
    assert parity.max_p_long_diff <= 1e-12 and parity.n_signal_mismatch == 0


def test_parity_counts_the_rows_near_a_threshold(fitted, compiled, synthetic):
    X = synthetic[0]
    tolerance = 0.02  # wide, so that some rows are near: p within 0.02 of 0.6 or 0.4
    parity = compare_engines(fitted, compiled, X, tolerance=tolerance)
    p = fitted.predict(X)["p_long"].to_numpy()
    p_exit = fitted.predict_components(X)["p_exit"].to_numpy()
    near = ((np.abs(p - 0.6) <= tolerance) | (np.abs(p - 0.4) <= tolerance)
            | (np.abs(p_exit - 0.5) <= tolerance))
    assert parity.n_near_threshold == int(near.sum()) > 0
    assert parity.n_signal_mismatch == parity.n_signal_mismatch_near == 0
    assert "rows within 0.02 of a threshold" in str(parity)
