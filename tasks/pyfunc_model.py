"""MLflow pyfunc entry point for a regimeforest pipeline (logged as *models from code*).

MLflow copies this file into the model and runs it at load time, so no Python object is pickled:
the fitted state is read by :func:`ml_core.pipeline.load_pipeline` from the logged ``pipeline``
artifact, and ``ml_core`` itself travels in the model's ``code/`` folder (``code_paths``), so the
model serves where regimeforest is not installed.

``predict`` takes canonical bars (a ``timestamp`` column as ISO 8601 text or epoch milliseconds,
or a ``DatetimeIndex``, plus open, high, low, close, volume), as ``mlflow models serve`` hands
over a ``dataframe_split``, ``dataframe_records`` or CSV body, and returns one row per bar whose
features are complete: ``timestamp`` (ISO text, UTC), the signal columns, the regime
probabilities, ``model_name`` and ``model_version``. A payload it cannot use raises an
``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) whose message names the column,
row and rule (:func:`ml_core.data.parse_bars_payload`), without a stack trace.

The version is not known when the model is logged (registration comes after), so the registry
adapter writes ``registration.json`` beside ``MLmodel`` once it has registered the model
(:meth:`tasks.registry.Tracker.register`); every URI of that model (``models:/name@champion``,
``models:/name/3``, ``models:/<model id>``, ``runs:/``) then loads the same file. A model loaded
before it was registered says ``model_version = "unregistered"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

REGISTRATION_FILE = "registration.json"
GATE_FILE = "gate.json"
UNREGISTERED = "unregistered"


class RegimeForestModel(PythonModel):
    """Bars in, signals out, using only the fitted state of the registered pipeline."""

    def load_context(self, context) -> None:  # noqa: ANN001 - MLflow's context type
        from ml_core.pipeline import load_pipeline

        directory = Path(context.artifacts["pipeline"])
        self.pipeline = load_pipeline(directory)
        registration = _registration(directory)
        gate = _registration(directory, GATE_FILE)
        # a version the promotion gate rejected holds (a model registered before the gate: trusted)
        self.hold_reason = (None if gate.get("trustworthy", True)
                            else str(gate.get("reason") or "rejected by the promotion gate"))
        config = context.model_config or {}
        self.model_name = str(registration.get("name") or config.get("model_name")
                              or UNREGISTERED)
        self.model_version = str(registration.get("version") or UNREGISTERED)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        from ml_core.data import parse_bars_payload, signal_rows

        try:
            bars = parse_bars_payload(model_input, self.pipeline.config.data.timeframe)
            signals = self.pipeline.predict(bars)
        except ValueError as exc:  # the payload's fault: name it, without a traceback
            raise MlflowException.invalid_parameter_value(f"bad bars: {exc}") from None
        if signals.empty:
            raise MlflowException.invalid_parameter_value(_warmup_message(self.pipeline, len(bars)))
        return signal_rows(signals, self.model_name, self.model_version, self.hold_reason)


def _registration(pipeline_dir: Path, filename: str = REGISTRATION_FILE) -> dict:
    """``{"name", "version"}`` from ``registration.json`` (or another file the registry adds,
    such as ``gate.json``) at the model's root (the pipeline is ``<root>/artifacts/pipeline``);
    empty before registration."""
    for root in pipeline_dir.parents[:2]:
        path = root / filename
        if path.is_file():
            return json.loads(path.read_text())
    return {}


def _warmup_message(pipeline: object, n_bars: int) -> str:
    """Why no row came out: too few bars, and how many the slowest input feature needs."""
    from ml_core._durations import format_duration, parse_duration
    from ml_core.pipeline import feature_catalogue

    base = pipeline.config.data.timeframe
    specs = feature_catalogue(pipeline.config)
    needs = [(spec.lookback * (parse_duration(spec.timeframe) // base), spec)
             for name, spec in specs.items() if name in set(pipeline.feature_columns)]
    head = (f"too few bars for warm-up: none of the {n_bars:,} bars posted has complete "
            "features")
    if not needs:
        return f"{head}; send a longer history"
    needed, spec = max(needs, key=lambda item: item[0])
    return (f"{head}; this model needs at least {needed:,} consecutive bars of "
            f"{format_duration(base)} before its first signal (its slowest input, "
            f"{spec.name!r}, looks back {spec.lookback} bars of {spec.timeframe})")


mlflow.models.set_model(RegimeForestModel())
