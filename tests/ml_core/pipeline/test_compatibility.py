"""Models saved by earlier releases predict exactly as they did when they were saved.

Each directory under ``tests/fixtures/models/`` was written by ``scripts/make_model_fixture.py``
with the release current at the time: a model, the bars it predicts on and its signals then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.pipeline import load_pipeline

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"
SAVED = sorted(p for p in FIXTURES.iterdir() if (p / "model").is_dir())


def test_every_model_format_has_a_fixture() -> None:
    assert [p.name for p in SAVED][:1] == ["format_1"]


@pytest.mark.parametrize("fixture", SAVED, ids=lambda p: p.name)
def test_saved_model_predicts_its_recorded_signals(fixture: Path) -> None:
    expected = pd.read_parquet(fixture / "signals.parquet")
    got = load_pipeline(fixture / "model").predict(pd.read_parquet(fixture / "bars.parquet"))

    pd.testing.assert_index_equal(got.index, expected.index)
    assert got.columns.tolist() == expected.columns.tolist()
    assert (got["signal"].to_numpy() == expected["signal"].to_numpy()).all()
    np.testing.assert_allclose(got["p_long"], expected["p_long"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(got, expected, rtol=0, atol=1e-9)
