from __future__ import annotations

from pathlib import Path

from deployments.weekly_retrain import build_deployment

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_weekly_schedule_is_sunday_midnight_utc() -> None:
    deployment = build_deployment(str(CONFIGS / "production.yaml"))
    assert deployment.name == "weekly-retrain-production"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 0 * * 0"
    assert schedule.schedule.timezone == "UTC"
    assert deployment.parameters == {"config_path": str(CONFIGS / "production.yaml")}
