"""Reuse the ensemble tests' data and model fixtures (one definition, loaded by path)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "ensemble_test_fixtures", Path(__file__).parents[1] / "ensemble" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

make_synthetic = _fixtures.make_synthetic
real_events = _fixtures.real_events
synthetic = _fixtures.synthetic
tiny = _fixtures.tiny
