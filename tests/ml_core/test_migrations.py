"""One test per migration step, and the refusals of what this release cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_core._migrations import (MODEL_FORMAT, OLDEST_MODEL_FORMAT, ModelFormatError,
                                 _model_1_to_2, _model_2_to_3, migrate_model, migrate_profile)
from ml_core.config import FeatureConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
FORMAT_1 = FIXTURES / "format_1" / "model"


def test_profile_1_to_2_turns_bar_counts_into_durations() -> None:
    v1 = {"profile": "p", "data": {"timeframe": "5m"}, "regime": {"timeframe": "1h"},
          "features": {"frac_diff_window": 100, "volatility_window": 288},
          "labels": {"volatility_span": 288, "max_holding_bars": 48, "take_profit": 1.5}}
    assert migrate_profile(v1) == {
        "profile": "p", "schema_version": 2, "data": {"timeframe": "5m"},
        "regime": {"timeframe": "1h", "volatility_window": "6h"},  # schema 1's default: 6 bars
        "features": {"frac_diff_window": "500m", "volatility_window": "1d"},
        "labels": {"volatility_span": "1d", "max_holding": "4h", "take_profit": 1.5},
    }
    assert "max_holding_bars" in v1["labels"]  # the input is not modified


def test_profile_1_to_2_makes_schema_1_defaults_explicit() -> None:
    assert migrate_profile({"profile": "p", "features": None}) == {
        "profile": "p", "schema_version": 2,
        "features": {"frac_diff_window": "50h", "volatility_window": "1d"},
        "regime": {"volatility_window": "1d"},
        "labels": {"volatility_span": "50h", "max_holding": "1d"},
    }


def test_profile_1_to_2_leaves_what_it_cannot_read_for_validation() -> None:
    built = FeatureConfig(volatility_window=12)
    out = migrate_profile({"features": built, "labels": {"max_holding_bars": "2h"},
                           "data": {"timeframe": "never"}, "regime": {"volatility_window": 4}})
    assert out["features"] is built  # a built section counts bars already
    assert out["labels"] == {"max_holding_bars": "2h"}  # no data.timeframe to count with
    assert out["regime"] == {"volatility_window": "16h"}


def test_profile_2_is_current() -> None:
    v2 = {"schema_version": 2, "labels": {"max_holding": "1d"}}
    assert migrate_profile(v2) == v2


@pytest.mark.parametrize("version", [0, 3, "2", True])
def test_unknown_profile_schemas_are_refused(version: object) -> None:
    with pytest.raises(ValueError, match=rf"^schema_version={version!r} is not a profile schema "
                                         r"this release reads \(1 to 2\)$"):
        migrate_profile({"schema_version": version})


def test_model_1_to_2_serves_single_threaded() -> None:
    v1 = json.loads((FORMAT_1 / "manifest.json").read_text())
    assert (v1["format_version"], v1["ensemble"]["params"]["n_jobs"]) == (1, -1)
    v2 = _model_1_to_2(v1)
    assert (v2["format_version"], v2["ensemble"]["params"]["n_jobs"]) == (2, 1)
    assert {k: v for k, v in v2.items() if k not in ("format_version", "ensemble")} == \
        {k: v for k, v in v1.items() if k not in ("format_version", "ensemble")}
    assert _model_1_to_2({"format_version": 1, "ensemble": None}) == \
        {"format_version": 2, "ensemble": None}
    assert migrate_model(v1, "m") == _model_2_to_3(v2)  # the steps chain


def test_model_2_to_3_has_no_graphs_and_no_hashes() -> None:
    v2 = json.loads((FIXTURES / "format_2" / "model" / "manifest.json").read_text())
    assert v2["format_version"] == 2 and "onnx" not in v2 and "files" not in v2
    v3 = _model_2_to_3(v2)
    assert (v3["format_version"], v3["onnx"], v3["files"]) == (3, None, None)
    assert {k: v for k, v in v3.items() if k not in ("format_version", "onnx", "files")} == \
        {k: v for k, v in v2.items() if k != "format_version"}
    assert "onnx" not in v2  # the input is not modified
    assert migrate_model({"format_version": 2, "ensemble": None}, "m") == \
        {"format_version": 3, "ensemble": None, "onnx": None, "files": None}
    assert migrate_model(v2, "m") == v3


def test_format_3_is_current() -> None:
    v3 = json.loads((FIXTURES / "format_3" / "model" / "manifest.json").read_text())
    assert MODEL_FORMAT == 3 and migrate_model(v3, "m") == v3
    assert sorted(v3["onnx"]) == ["components", "meta"]  # calibration "none", global regime mode
    listed = sorted(v3["files"])
    on_disk = sorted(p.relative_to(FIXTURES / "format_3" / "model").as_posix()
                     for p in (FIXTURES / "format_3" / "model").rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    assert listed == on_disk and all(len(h) == 64 for h in v3["files"].values())


@pytest.mark.parametrize("version", [None, 0, MODEL_FORMAT + 1])
def test_unknown_model_formats_are_refused_in_one_line(version: object) -> None:
    with pytest.raises(ModelFormatError) as info:
        migrate_model({"format_version": version}, "models/x")
    assert str(info.value) == (f"models/x: model format {version!r} cannot be read; this release "
                               f"reads formats {OLDEST_MODEL_FORMAT} (oldest) to {MODEL_FORMAT}")
