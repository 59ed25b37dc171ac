"""Older profiles and saved models, brought up to what this release reads, in one place.

Profile schema (``schema_version`` in a profile; a profile without it is schema 1):

1. Windows and horizons counted in bars: ``features.frac_diff_window``,
   ``features.volatility_window``, ``labels.volatility_span``, ``labels.max_holding_bars`` (bars
   of ``data.timeframe``) and ``regime.volatility_window`` (bars of ``regime.timeframe``).
2. The same settings written as durations (``"24h"``, ``"50h"``), so that a profile ports to
   another bar length by changing ``data.timeframe``; ``labels.max_holding_bars`` became
   ``labels.max_holding``.

Model format (``format_version`` in a saved model's ``manifest.json``):

1. ``config.json`` in profile schema 1; forests stored with the training ``n_jobs`` (often -1).
2. ``config.json`` in profile schema 2; forests stored with ``n_jobs=1`` (a served model
   predicts a few rows at a time, where starting a worker pool per call costs more than it saves).
3. The ensemble also compiled to ONNX (``onnx/*.onnx``, listed by the manifest's ``onnx``) and the
   sha256 of every file of the model recorded in the manifest's ``files``, checked at load.
   A format-2 model migrates with ``onnx`` and ``files`` set to None: it has no graphs to serve
   with and no hashes to check, so it loads with the scikit-learn engine, unchecked.

Each step ``k -> k + 1`` is one function below, and each has its own test; a migration encodes
what the older version meant (its defaults included), never today's defaults.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ml_core._durations import format_duration, parse_duration

__all__ = [
    "MODEL_FORMAT",
    "OLDEST_MODEL_FORMAT",
    "OLDEST_PROFILE_SCHEMA",
    "PROFILE_SCHEMA",
    "ModelFormatError",
    "migrate_model",
    "migrate_profile",
]

PROFILE_SCHEMA = 2
"""Profile schema this release writes."""
OLDEST_PROFILE_SCHEMA = 1
"""Oldest profile schema this release reads."""
MODEL_FORMAT = 3
"""Model format this release writes."""
OLDEST_MODEL_FORMAT = 1
"""Oldest model format this release reads."""


class ModelFormatError(ValueError):
    """A saved model whose format this release cannot read (one line: its version, the range)."""


Steps = dict[int, Callable[[dict[str, Any]], dict[str, Any]]]


def _upgrade(doc: dict[str, Any], version: Any, steps: Steps, refusal: str) -> dict[str, Any]:
    """Apply ``steps[version]``, ``steps[version + 1]``, ... up to the newest version; raise
    ``ValueError(refusal)`` when ``version`` is not an integer in ``[min(steps), newest]``."""
    newest = max(steps) + 1
    if not (isinstance(version, numbers.Integral) and not isinstance(version, bool)
            and min(steps) <= version <= newest):
        raise ValueError(refusal)
    for step in range(int(version), newest):
        doc = steps[step](doc)
    return doc


# ----------------------------------------------------------------------------- profiles

# Schema 1 as it was: its default bar lengths and, per window, (section, key, whose bars it
# counts, schema-2 key, default in bars).
_V1_TIMEFRAMES = {"data": timedelta(minutes=30), "regime": timedelta(hours=4)}
_V1_WINDOWS = (
    ("features", "frac_diff_window", "data", "frac_diff_window", 100),
    ("features", "volatility_window", "data", "volatility_window", 48),
    ("regime", "volatility_window", "regime", "volatility_window", 6),
    ("labels", "volatility_span", "data", "volatility_span", 100),
    ("labels", "max_holding_bars", "data", "max_holding", 48),
)


def _section_timeframe(raw: dict[str, Any], section: str, default: timedelta) -> timedelta | None:
    """``raw[section].timeframe`` as a timedelta: a dict's key, a built section's attribute, or
    the default when absent; None when it is not a duration (validation reports that)."""
    value = raw.get(section)
    value = value.get("timeframe") if isinstance(value, dict) else getattr(value, "timeframe", None)
    try:
        return default if value is None else parse_duration(value)
    except ValueError:
        return None


def _profile_1_to_2(raw: dict[str, Any]) -> dict[str, Any]:
    """Bar counts -> durations, with schema 1's defaults made explicit (an omitted
    ``regime.volatility_window`` meant 6 regime bars whatever ``regime.timeframe`` was)."""
    out = dict(raw)
    timeframes = {name: _section_timeframe(out, name, default)
                  for name, default in _V1_TIMEFRAMES.items()}
    for section_name, key, per, new_key, default in _V1_WINDOWS:
        section, timeframe = out.get(section_name), timeframes[per]
        if section is not None and not isinstance(section, dict) or timeframe is None:
            continue  # a built section counts bars already; a bad timeframe is reported anyway
        section = out[section_name] = dict(section or {})
        value = section.pop(key, default)
        is_count = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        # anything but a bar count is left for validation to name
        section[new_key] = format_duration(value * timeframe) if is_count and value > 0 else value
    out["schema_version"] = 2
    return out


_PROFILE_STEPS = {1: _profile_1_to_2}
assert (min(_PROFILE_STEPS), max(_PROFILE_STEPS) + 1) == (OLDEST_PROFILE_SCHEMA, PROFILE_SCHEMA)


def migrate_profile(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a profile (a mapping as read from YAML or JSON) to :data:`PROFILE_SCHEMA`.

    Parameters
    ----------
    raw : dict
        The profile; ``schema_version`` absent means 1. Not modified.

    Returns
    -------
    dict
        The same profile in the current schema (``schema_version`` set).

    Raises
    ------
    ValueError
        When ``schema_version`` is not a schema this release reads.

    Examples
    --------
    >>> migrate_profile({"data": {"timeframe": "1h"}, "labels": {"max_holding_bars": 12}})["labels"]
    {'volatility_span': '100h', 'max_holding': '12h'}
    """
    return _upgrade(raw, raw.get("schema_version", 1), _PROFILE_STEPS,
                    f"schema_version={raw.get('schema_version')!r} is not a profile schema this "
                    f"release reads ({OLDEST_PROFILE_SCHEMA} to {PROFILE_SCHEMA})")


# ----------------------------------------------------------------------------- models

def _model_1_to_2(manifest: dict[str, Any]) -> dict[str, Any]:
    """Serve single-threaded: the ensemble's ``n_jobs`` becomes 1 (its forests are set to 1 when
    loaded); ``config.json`` is schema 1, which :func:`migrate_profile` reads."""
    out = copy.deepcopy(manifest)
    if out.get("ensemble") is not None:
        out["ensemble"]["params"]["n_jobs"] = 1
    out["format_version"] = 2
    return out


def _model_2_to_3(manifest: dict[str, Any]) -> dict[str, Any]:
    """No ONNX graphs and no file hashes: ``onnx`` and ``files`` are None, so the model serves
    with scikit-learn (whatever engine is asked) and its files are read unchecked."""
    out = copy.deepcopy(manifest)
    out["onnx"] = None
    out["files"] = None
    out["format_version"] = 3
    return out


_MODEL_STEPS = {1: _model_1_to_2, 2: _model_2_to_3}
assert (min(_MODEL_STEPS), max(_MODEL_STEPS) + 1) == (OLDEST_MODEL_FORMAT, MODEL_FORMAT)


def migrate_model(manifest: dict[str, Any], source: str) -> dict[str, Any]:
    """Bring a saved model's ``manifest.json`` to :data:`MODEL_FORMAT`.

    Parameters
    ----------
    manifest : dict
        The parsed manifest. Not modified.
    source : str
        The model's directory, named in the error.

    Raises
    ------
    ModelFormatError
        One line naming the model's format version and the formats this release reads.
    """
    try:
        return _upgrade(manifest, manifest.get("format_version"), _MODEL_STEPS,
                        f"{source}: model format {manifest.get('format_version')!r} cannot be "
                        f"read; this release reads formats {OLDEST_MODEL_FORMAT} (oldest) to "
                        f"{MODEL_FORMAT}")
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from None
