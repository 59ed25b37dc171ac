"""ml_core is the pure library: it never imports the orchestration engines, and importing it is free."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ml_core

FORBIDDEN = ("prefect", "mlflow", "great_expectations")


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(ml_core.__path__, "ml_core."))


def test_ml_core_imports_no_engine() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_all_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"ml_core pulled in: {out.stdout.strip()}"


def test_importing_ml_core_does_no_work() -> None:
    code = "import sys; import ml_core; print(sorted(m for m in sys.modules if m.startswith(('ml_core', 'sklearn', 'pandas', 'hmmlearn'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ml_core']"


def test_every_ml_core_module_is_listed() -> None:
    # the walk must see the subpackages, or the first test would check nothing
    names = _all_modules()
    for package in ("ml_core.features", "ml_core.regime", "ml_core.labeling", "ml_core.ensemble",
                    "ml_core.validation", "ml_core.tuning", "ml_core.pipeline", "ml_core.data"):
        assert package in names
