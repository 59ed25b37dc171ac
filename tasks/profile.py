"""The profile with the command line's overrides applied: no Prefect, no MLflow.

``regimeforest history``, ``promote`` and ``rollback`` read the profile and touch only the
registry; importing Prefect (about 1 s) just to read a YAML file would double their time.
"""

from __future__ import annotations

from pathlib import Path

from ml_core.config import Config, load_config

__all__ = ["resolve_profile"]


def resolve_profile(
    config_path: str | Path,
    data: str | Path | None = None,
    tracking_uri: str | None = None,
    columns: dict[str, str] | None = None,
) -> Config:
    """Load a profile and apply the command-line overrides (data file, store, column mapping)."""
    overrides: dict[str, dict[str, object]] = {}
    if data is not None:
        overrides.setdefault("data", {}).update(path=str(data), symbol=None)  # a file, not the store
    if columns:
        overrides.setdefault("data", {})["columns"] = dict(columns)
    if tracking_uri is not None:
        overrides.setdefault("registry", {})["tracking_uri"] = tracking_uri
    return load_config(config_path, overrides)
