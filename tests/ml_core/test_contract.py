"""The profile and the estimators agree, field by field, on defaults and bounds."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from ml_core.config import RegimeConfig
from ml_core.regime import RegimeHMM

SHARED_REGIME = sorted(set(RegimeConfig.model_fields)
                       & set(inspect.signature(RegimeHMM).parameters))


def test_regime_fields_are_all_estimator_parameters() -> None:
    assert set(RegimeConfig.model_fields) - set(SHARED_REGIME) == {"n_states"}


@pytest.mark.parametrize("name", SHARED_REGIME)
def test_regime_defaults_agree(name: str) -> None:
    assert RegimeConfig.model_fields[name].default == \
        inspect.signature(RegimeHMM).parameters[name].default


@pytest.mark.parametrize(("value", "accepted"), [(0.0, True), (0.3333, True), (1 / 3, False),
                                                 (0.335, False), (-0.01, False)])
def test_min_state_occupancy_bounds_agree(value: float, accepted: bool) -> None:
    try:
        RegimeConfig(min_state_occupancy=value)
        profile = True
    except ValidationError:
        profile = False
    try:
        RegimeHMM(min_state_occupancy=value)._check_params()
        estimator = True
    except ValueError:
        estimator = False
    assert (profile, estimator) == (accepted, accepted)
