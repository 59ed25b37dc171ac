"""MLflow pyfunc entry point for a regimeforest pipeline (logged as *models from code*).

MLflow copies this file into the model and runs it at load time, so no Python object is pickled:
the fitted state is read by :func:`ml_core.pipeline.load_pipeline` from the logged ``pipeline``
artifact (JSON, Parquet and skops files).

``predict`` takes canonical bars (a ``timestamp`` column or index, plus open, high, low, close,
volume) and returns one signal row per bar whose features are complete.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class RegimeForestModel(PythonModel):
    """Bars in, signals out, using only the fitted state of the registered pipeline."""

    def load_context(self, context) -> None:  # noqa: ANN001 - MLflow's context type
        from ml_core.pipeline import load_pipeline

        self.pipeline = load_pipeline(context.artifacts["pipeline"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        from ml_core.data import as_bars

        frame = model_input if "timestamp" in model_input.columns else model_input.reset_index()
        bars = as_bars(frame)
        return self.pipeline.predict(bars).reset_index()


mlflow.models.set_model(RegimeForestModel())
