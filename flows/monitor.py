"""The daily monitor: the champion's live window against its reference statistics -> report to
MLflow and Prefect -> rollback (and a retrain) when a check fails. Only wiring lives here; the
steps are tasks in ``tasks/monitoring.py``."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefect import flow

from flows.weekly_retrain import DEFAULT_CONFIG
from tasks.data import resolve_as_of, resolve_profile
from tasks.live import ledger_for, live_bars
from tasks.monitoring import act_on_report, monitor_champion, publish_monitoring, trigger_retrain
from tasks.registry import Tracker


@dataclass(frozen=True)
class MonitorResult:
    """What one monitor run found and did."""

    version: str | None
    report: Any
    action: str  # "none", "rollback", "withdrawn", or "no champion"
    retrain: str | None


@flow(name="monitor", log_prints=True)
def monitor(config_path: str = DEFAULT_CONFIG, as_of: datetime | str | None = None,
            data: str | None = None, tracking_uri: str | None = None,
            trigger: bool = True) -> MonitorResult:
    """Compare the champion's live window up to ``as_of`` (default: the run's scheduled start)
    with what it was trained and validated on; log the figures; roll back and, with
    ``trigger`` and ``monitor.retrain_on_rollback``, ask for a retrain when a check fails."""
    config = resolve_profile(config_path, data, tracking_uri, None)
    as_of = resolve_as_of(as_of)
    tracker = Tracker(config.registry.tracking_uri)
    ledger = ledger_for(config)
    try:
        bars = live_bars(config, as_of)
        found = monitor_champion(tracker, config, ledger, bars, as_of)
    finally:
        ledger.dispose()
    if found is None:
        return MonitorResult(None, None, "no champion", None)
    version, report = found
    if report is None:
        return MonitorResult(version, None, "none", None)
    publish_monitoring(tracker, config, version, report, as_of)
    action = act_on_report(tracker, config, version, report)
    print(f"monitor of v{version} as of {as_of}: {action}; " + "; ".join(report.notes))
    retrain = None
    if action != "none" and trigger and config.monitor.retrain_on_rollback:
        retrain = trigger_retrain(config)
        print(retrain)
    return MonitorResult(version, report, action, retrain)
