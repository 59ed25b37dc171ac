"""Models saved by earlier releases predict exactly as they did when they were saved.

Each directory under ``tests/fixtures/models/`` was written by ``scripts/make_model_fixture.py``
with the release current at the time: a model, the bars it predicts on and its signals then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core._migrations import MODEL_FORMAT, OLDEST_MODEL_FORMAT
from ml_core.pipeline import load_pipeline

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"
SAVED = sorted(p for p in FIXTURES.iterdir() if (p / "model").is_dir())


def test_every_model_format_has_a_fixture() -> None:
    assert [p.name for p in SAVED] == [f"format_{v}"
                                       for v in range(OLDEST_MODEL_FORMAT, MODEL_FORMAT + 1)]


@pytest.mark.parametrize("engine", ["onnx", "sklearn"])
@pytest.mark.parametrize("fixture", SAVED, ids=lambda p: p.name)
def test_saved_model_predicts_its_recorded_signals(fixture: Path, engine: str) -> None:
    """With either engine; a format without ONNX graphs (1, 2) serves with scikit-learn."""
    expected = pd.read_parquet(fixture / "signals.parquet")
    model = load_pipeline(fixture / "model", engine=engine)
    got = model.predict(pd.read_parquet(fixture / "bars.parquet"))

    has_graphs = (fixture / "model" / "onnx").is_dir()
    assert model.engine == ("onnx" if engine == "onnx" and has_graphs else "sklearn")
    if model.engine == "sklearn":
        assert {forest.n_jobs for forest in model.ensemble.forests_.values()} == {1}

    pd.testing.assert_index_equal(got.index, expected.index)
    assert got.columns.tolist() == expected.columns.tolist()
    assert (got["signal"].to_numpy() == expected["signal"].to_numpy()).all()
    np.testing.assert_allclose(got["p_long"], expected["p_long"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("later", [2, 3])
def test_formats_1_to_3_hold_the_same_model(later: int) -> None:
    """The format-2 fixture is the format-1 profile migrated (bars -> durations) and refitted:
    the same bar counts, so the same signals; the format-3 fixture is the same profile again,
    its signals recorded with the ONNX engine."""
    first, second = (pd.read_parquet(FIXTURES / f"format_{v}" / "signals.parquet")
                     for v in (1, later))
    pd.testing.assert_frame_equal(first, second, rtol=0, atol=1e-12)
