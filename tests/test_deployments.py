"""prefect.yaml, the deployments as code: what it declares and what ``serve`` builds from it.

The real server, worker and runs are in tests/regimeforest/test_serve.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.weekly_retrain import build_deployment
from regimeforest._serve import ServeError, deployment_plan, read_prefect_file

ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = ROOT / "prefect.yaml"
ONE_AT_A_TIME = {"limit": 1, "collision_strategy": "ENQUEUE"}


def _entries() -> dict[str, dict]:
    return {e["name"]: e for e in read_prefect_file(PREFECT_FILE)["deployments"]}


def test_the_declared_demo_retrain_is_what_serve_builds_from_the_profile() -> None:
    declared = _entries()["weekly-retrain-demo"]
    built = build_deployment(str(ROOT / "configs" / "demo.yaml"))
    assert built == declared
    assert declared["entrypoint"] == "flows/weekly_retrain.py:weekly_retrain"
    assert declared["parameters"] == {"config_path": "configs/demo.yaml"}
    assert declared["schedules"] == [{"cron": "0 0 * * 0", "timezone": "UTC"}]


def test_every_deployment_runs_one_at_a_time_on_the_process_pool() -> None:
    for name, entry in _entries().items():
        assert entry["concurrency_limit"] == ONE_AT_A_TIME, name
        assert entry["work_pool"] == {"name": "regimeforest"}, name


def test_the_backfill_deployment_has_no_schedule_and_does_not_promote() -> None:
    backfill = _entries()["backfill"]
    assert backfill["entrypoint"] == "flows/backfill.py:backfill"
    assert backfill["parameters"] == {"config_path": "configs/demo.yaml", "every": "7d",
                                      "promote": False}
    assert "schedules" not in backfill


def test_the_live_deployments_run_the_shadow_hourly_and_the_monitor_daily() -> None:
    entries = _entries()
    assert entries["shadow-demo"]["entrypoint"] == "flows/shadow.py:shadow"
    assert entries["monitor-demo"]["entrypoint"] == "flows/monitor.py:monitor"
    assert entries["shadow-demo"]["schedules"] == [{"cron": "5 * * * *", "timezone": "UTC"}]
    assert entries["monitor-demo"]["schedules"] == [{"cron": "0 6 * * *", "timezone": "UTC"}]
    for name in ("shadow-demo", "monitor-demo"):
        assert entries[name]["parameters"] == {"config_path": "configs/demo.yaml"}


def test_the_production_retrain_is_built_from_its_profile() -> None:
    production = build_deployment(str(ROOT / "configs" / "production.yaml"))
    assert production["name"] == "weekly-retrain-production"
    assert production["parameters"] == {"config_path": "configs/production.yaml"}
    assert production["schedules"] == [{"cron": "0 0 * * 0", "timezone": "UTC"}]
    assert production["tags"] == ["regimeforest", "production"]
    assert production["concurrency_limit"] == ONE_AT_A_TIME


def test_the_plan_serves_each_profile_and_skips_flows_not_written_yet(tmp_path: Path) -> None:
    """A copy of the project whose backfill flow is missing: one warning, no failure."""
    (tmp_path / "configs").mkdir()
    for name in ("demo", "production"):
        (tmp_path / "configs" / f"{name}.yaml").write_text(
            (ROOT / "configs" / f"{name}.yaml").read_text())
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(PREFECT_FILE.read_text())
    warnings: list[str] = []
    plan = deployment_plan(prefect_file, ["demo", "configs/production.yaml"], tmp_path,
                           warn=warnings.append)
    assert [e["name"] for e in plan] == ["weekly-retrain-demo", "weekly-retrain-production"]
    assert warnings == [f"warning: not deploying {name!r}: flows/{flow}.py does not exist yet"
                        for name, flow in (("backfill", "backfill"), ("shadow-demo", "shadow"),
                                           ("monitor-demo", "monitor"))]
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "backfill.py").write_text("")
    plan = deployment_plan(prefect_file, [str(tmp_path / "configs" / "demo.yaml")], tmp_path)
    assert [e["name"] for e in plan] == ["weekly-retrain-demo", "backfill"]
    assert plan[0]["parameters"] == {"config_path": "configs/demo.yaml"}


def test_the_plan_refuses_unknown_profiles_and_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="profile 'nosuch' not found"):
        deployment_plan(PREFECT_FILE, ["nosuch"], ROOT)
    with pytest.raises(ServeError, match="two profiles share a deployment name"):
        deployment_plan(PREFECT_FILE, ["demo", "configs/demo.yaml"], ROOT)
    broken = tmp_path / "prefect.yaml"
    broken.write_text(yaml.safe_dump({"name": "x"}))
    with pytest.raises(ServeError, match="has no `deployments:` list"):
        deployment_plan(broken, ["demo"], ROOT)
