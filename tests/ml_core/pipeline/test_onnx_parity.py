"""The ONNX engine against scikit-learn on the final holdout's bars, after a save and a load.

A small pipeline is fitted on the bundled BTC sample before its final holdout (``conftest.py``'s
recipe, as in ``test_pipeline.py``), saved, and loaded with each engine; every holdout bar with complete
features is predicted by both. The issue's bar: max probability difference <= 1e-5, identical
signals except rows within 1e-5 of a threshold, which are counted and printed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.config import Config
from ml_core.data import load_sample_bars
from ml_core.ensemble import compare_engines
from ml_core.pipeline import RegimeForestPipeline, holdout_start, load_pipeline, save_pipeline

VARIANTS = {
    "sigmoid-global-caps": {"calibration": "sigmoid"},
    "isotonic-models": {"calibration": "isotonic", "regime_mode": "models",
                        "min_regime_events": 20, "kelly_fraction": None, "cvar_budget": None},
    "none-thresholds-hysteresis": {"calibration": "none", "regime_mode": "thresholds",
                                   "regime_thresholds": {"bear": 0.65}, "smoothing": "hysteresis",
                                   "confidence_threshold": 0.55},
}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars().iloc[-6000:]


@pytest.fixture(scope="module")
def fitted_parts(bars: pd.DataFrame, unit_config: Config, unit_training):
    """The HMM and the training set from the bars before the final holdout (15%), and the
    holdout's feature rows."""
    start = holdout_start(bars.index, fraction=0.15)
    regime, dataset = unit_training(bars.loc[bars.index < start])
    features_only = RegimeForestPipeline(config=unit_config, regime=regime)
    features = features_only.features(bars)[list(dataset.X.columns)]
    holdout = features.loc[(features.index >= start) & features.notna().all(axis=1)]
    return regime, dataset, holdout


@pytest.fixture(scope="module", params=list(VARIANTS))
def saved(request: pytest.FixtureRequest, fitted_parts, unit_config: Config, unit_ensemble,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, RegimeForestPipeline]:
    regime, dataset, _ = fitted_parts
    ensemble = unit_ensemble(dataset, **VARIANTS[request.param])
    pipeline = RegimeForestPipeline(config=unit_config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns))
    directory = save_pipeline(pipeline, tmp_path_factory.mktemp(request.param) / "model")
    return request.param, directory, pipeline


def test_holdout_parity(saved, fitted_parts) -> None:
    name, directory, pipeline = saved
    holdout = fitted_parts[2]
    reference = load_pipeline(directory, engine="sklearn").ensemble
    compiled = load_pipeline(directory, engine="onnx").ensemble
    if name == "isotonic-models":
        assert compiled.regime_models_ and compiled.regime_models_ == reference.regime_models_
    assert len(holdout) > 500

    parity = compare_engines(reference, compiled, holdout, tolerance=1e-5)
    print(f"\n{name}: {parity}")
    assert parity.max_p_long_diff <= 1e-5
    assert parity.max_component_diff <= 1e-5
    assert parity.max_size_diff <= 1e-5
    assert parity.n_signal_mismatch == 0  # the rows not within 1e-5 of a threshold
    # the loaded scikit-learn ensemble is the one in memory
    pd.testing.assert_frame_equal(reference.predict(holdout),
                                  pipeline.ensemble.predict(holdout), check_exact=True)


def test_the_live_stream_serves_the_compiled_ensemble(saved, bars: pd.DataFrame) -> None:
    """Bar by bar through ``PipelineStream`` (one row per ``predict_from``) = one batch call."""
    name, directory, _ = saved
    if name != "none-thresholds-hysteresis":  # the smoother carries state from bar to bar
        pytest.skip("one variant is enough")
    loaded = load_pipeline(directory)
    window = bars.iloc[-1500:]
    stream = loaded.stream()
    rows = []
    for t, bar in zip(window.index, window[["open", "high", "low", "close", "volume"]]
                      .to_numpy(), strict=True):
        signal = stream.signal(stream.update(t, *bar))
        if signal is not None:
            rows.append(signal)
    streamed = pd.concat(rows)
    batch = loaded.predict(window).loc[streamed.index[0]:]
    assert len(streamed) > 500
    pd.testing.assert_index_equal(streamed.index, batch.index, check_names=False)
    assert (streamed["signal"].to_numpy() == batch["signal"].to_numpy()).all()
    np.testing.assert_allclose(streamed["p_long"], batch["p_long"], rtol=0, atol=1e-9)
