"""What a benchmark ran on: CPU, cores, load, Python, package versions, commit, allocator settings."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: Sequence[str]) -> dict[str, Any]:
    """The facts a reader needs to compare a result file with their own run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        # glibc allocator settings change batch times (see benchmarks/README.md)
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "platform": platform.platform(),
        "git_commit": commit,
        "packages": {name: _version(name) for name in packages},
    }


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """The markdown bullets every result file starts with: CPU, load, Python, packages."""
    load = ", ".join(f"{v:.2f}" for v in machine["load_average_at_start"] or [])
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; load average at start {load}",
        f"- Python {machine['python']} ({machine['platform']})",
        "- " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
    ]


def fmt(x: float | None, spec: str) -> str:
    """``x`` formatted with ``spec``; an em dash for a missing or NaN value."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def duration(td: dt.timedelta) -> str:
    """``td`` in its largest whole unit: ``1d``, ``12h``, ``30min`` or seconds."""
    seconds = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
