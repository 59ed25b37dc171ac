"""Durations as a profile writes them (``"30m"``, ``"4h"``, ``"1d"``) and back.

``"m"`` means minutes, as in pandas ``Timedelta``, never months.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pandas as pd

__all__ = ["format_duration", "parse_duration"]

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(value: Any) -> timedelta:
    """Parse ``"30m"``, ``"4h"``, ``"1d"``, a number of seconds or a timedelta into a timedelta.

    Examples
    --------
    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        try:
            # pandas deprecates a lower-case "d" for days; accept it as users write it.
            text = re.sub(r"(?<=\d)d$", "D", value.strip())
            return pd.Timedelta(text).to_pytimedelta()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a duration: {value!r} (use e.g. '30m', '4h', '1d')") from exc
    raise ValueError(f"not a duration: {value!r}")


def format_duration(value: timedelta) -> str:
    """The shortest whole-unit spelling :func:`parse_duration` reads back: ``1d``, ``50h``, ``90m``.

    Examples
    --------
    >>> format_duration(timedelta(hours=50)), format_duration(timedelta(minutes=90))
    ('50h', '90m')
    """
    seconds = value.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(f"`value` must be a positive whole number of seconds, got `value={value}`")
    for unit, size in _UNITS:
        if int(seconds) % size == 0:
            return f"{int(seconds) // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds is a multiple of 1 s")
