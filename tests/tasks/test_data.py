"""Loading a profile's bars inside a real Prefect flow, with and without the safe repairs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect import flow

from ml_core.data import load_bars, sample_bars_path
from tasks.data import data_source, load_data, resolve_profile

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def _load(config):  # noqa: ANN001, ANN202
    return load_data(config)[:2]


def _messy_file(tmp_path: Path) -> Path:
    frame = load_bars(sample_bars_path()).iloc[:50]
    messy = pd.concat([frame.iloc[25:], frame.iloc[:25], frame.iloc[[3]]], ignore_index=True)
    path = tmp_path / "messy.csv"
    messy.to_csv(path, index=False)
    return path


def test_repairs_are_made_only_when_allowed(tmp_path: Path) -> None:
    path = _messy_file(tmp_path)
    as_given, log = _load(resolve_profile(DEMO, data=path))
    assert not log.changed and len(as_given) == 51

    config = resolve_profile(DEMO, data=path)
    allowed = config.model_copy(update={"data": config.data.model_copy(update={"repair": True})})
    repaired, log = _load(allowed)
    assert log.dropped_duplicate_rows == [50]
    assert log.reordered_rows == 50
    assert repaired["timestamp"].is_monotonic_increasing and len(repaired) == 50


def test_profile_overrides_and_sources(tmp_path: Path) -> None:
    config = resolve_profile(DEMO, data=tmp_path / "x.csv", tracking_uri="sqlite:///t.db",
                             columns={"ts": "timestamp"})
    assert data_source(config) == tmp_path / "x.csv"
    assert config.registry.tracking_uri == "sqlite:///t.db"
    assert config.data.columns == {"ts": "timestamp"}
    assert data_source(resolve_profile(DEMO)) == "BTCUSD/30m in sqlite:///mlruns/bars.db"
    assert data_source(resolve_profile(DEMO, data=sample_bars_path())) == sample_bars_path()


def test_a_file_with_other_bars_than_the_profile_is_refused(tmp_path: Path) -> None:
    from ml_core.data import BarsSchemaError

    frame = load_bars(sample_bars_path()).iloc[::2]  # hourly bars
    path = tmp_path / "hourly.parquet"
    frame.to_parquet(path)
    with pytest.raises(BarsSchemaError, match=r"mostly 1h apart, but profile 'demo' "
                                              r"expects data.timeframe=30m"):
        _load(resolve_profile(DEMO, data=path))
