"""ml_core (the pure library) and reporting (the pure report layer) never import the
orchestration engines, and importing them is free."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

FORBIDDEN = ("prefect", "mlflow", "great_expectations")
PURE = ("ml_core", "reporting")


def _all_modules(package: str) -> list[str]:
    path = importlib.import_module(package).__path__
    return sorted(m.name for m in pkgutil.walk_packages(path, f"{package}."))


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_engine(package: str) -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_all_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    assert _run(code) == "", f"{package} pulled in: {_run(code)}"


@pytest.mark.parametrize("package", PURE)
def test_importing_a_pure_package_does_no_work(package: str) -> None:
    heavy = (package, "sklearn", "pandas", "hmmlearn", "matplotlib", "ml_core", "reporting")
    code = (f"import sys; import {package}; "
            f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))")
    assert _run(code) == f"[{package!r}]"


def test_reporting_leaves_matplotlib_as_it_found_it() -> None:
    # figures are made without pyplot: no global figure registry, no backend chosen on import
    code = (
        "import importlib, sys, matplotlib\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        f"for name in {_all_modules('reporting')!r}:\n"
        "    importlib.import_module(name)\n"
        "print('matplotlib.pyplot' in sys.modules, "
        "matplotlib.rcParams._get_backend_or_none() == backend)\n"
    )
    assert _run(code) == "False True"


def test_every_module_is_listed() -> None:
    # the walk must see the subpackages and modules, or the first test would check nothing
    names = _all_modules("ml_core")
    for package in ("ml_core.features", "ml_core.regime", "ml_core.labeling", "ml_core.ensemble",
                    "ml_core.validation", "ml_core.tuning", "ml_core.pipeline", "ml_core.data"):
        assert package in names
    reporting = _all_modules("reporting")
    for module in ("figures", "regime_plots", "training_plots", "validation_plots",
                   "tuning_plots", "holdout_plots", "markdown", "html", "validation_report",
                   "holdout_report", "regime_report", "gate_report", "retrain_summary", "links"):
        assert f"reporting.{module}" in reporting
