"""The live path: streamed feature rows equal the batch pipeline's, bar by bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.config import Config
from ml_core.data import load_sample_bars
from ml_core.pipeline import PipelineStream, RegimeForestPipeline
from ml_core.regime import RegimeHMM

CONFIG = Config.model_validate({
    "profile": "unit",
    "features": {"higher_timeframes": ["1h", "4h", "1d"], "frac_diff_window": 50,
                 "volatility_window": 24},
    "regime": {"n_restarts": 1, "n_iter": 200},
})


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars().iloc[-5000:]


@pytest.fixture(scope="module")
def pipeline(bars: pd.DataFrame) -> RegimeForestPipeline:
    regime = RegimeHMM.from_config(CONFIG.regime, CONFIG.data.timeframe, 3).fit(bars)
    return RegimeForestPipeline(config=CONFIG, regime=regime)


def test_streamed_rows_equal_the_batch_pipeline(pipeline, bars):
    batch = pipeline.features(bars)
    stream = pipeline.stream()
    assert isinstance(stream, PipelineStream)
    assert stream.columns == list(batch.columns)
    streamed = stream.update_frame(bars)
    assert (streamed.isna() == batch.isna()).all().all()
    error = ((streamed - batch).abs() / np.maximum(1.0, batch.abs())).max()
    assert error.max() <= 1e-9, error[error > 1e-9].to_dict()
    assert batch.iloc[-1].notna().all()  # every column was compared past its warm-up
    assert stream.n_bars == len(bars)


def test_one_update_returns_a_labelled_row(pipeline, bars):
    stream = pipeline.stream()
    row = None
    for t, bar in bars.iloc[:3].iterrows():
        row = stream.update(t, *bar[["open", "high", "low", "close", "volume"]])
    assert row.name == bars.index[2]
    assert list(row.index) == stream.columns
    assert row.isna().any()  # still warming up after three bars
    with pytest.raises(ValueError, match="this pipeline has no ensemble"):
        stream.signal(row)
