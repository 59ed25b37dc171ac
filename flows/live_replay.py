"""The live loop replayed over past bars, one step per day: shadow scoring and the rollout
stages, then the daily monitor, and a retrain when the monitor rolls the champion back. With
the simulated profile (``configs/simulated.yaml``) one command shows the whole lifecycle: a
version passes the gate, runs in shadow, is rolled out stage by stage, degrades after the planted
break and is rolled back. Only wiring lives here: the steps are the shadow, monitor and weekly
retrain flows."""

import time
from datetime import datetime

import pandas as pd
from prefect import flow

from flows.monitor import monitor
from flows.shadow import shadow
from flows.weekly_retrain import DEFAULT_CONFIG, weekly_retrain
from ml_core._durations import parse_duration
from ml_core.data import utc_timestamp
from tasks.data import resolve_profile
from tasks.live import live_versions
from tasks.live_replay import LiveReplay, publish_live_replay, timeline_row
from tasks.registry import Tracker, tracked_run


@flow(name="live-replay", log_prints=True)
def live_replay(start: datetime | str, end: datetime | str, every: str = "1d",
                config_path: str = DEFAULT_CONFIG, data: str | None = None,
                tracking_uri: str | None = None, retrain_first: bool = True) -> LiveReplay:
    """Replay the live loop from ``start`` to ``end`` every ``every`` (UTC).

    With ``retrain_first`` the loop begins with a weekly retrain as of ``start`` (the version
    the gate judges). Each step then runs :func:`~flows.shadow.shadow` and
    :func:`~flows.monitor.monitor` as of that moment; a rollback triggers a retrain as of the
    same moment (in this process: there is no deployment to ask). Returns the timeline, logged
    to MLflow (run ``live-replay-...``) and to a Prefect artifact.
    """
    config = resolve_profile(config_path, data, tracking_uri, None)
    first, last = utc_timestamp(start, "start"), utc_timestamp(end, "end")
    step = pd.Timedelta(parse_duration(every))
    if last <= first or step <= pd.Timedelta(0):
        raise ValueError(f"need start < end and every > 0, got start={first}, end={last}, "
                         f"every={every!r}")
    tracker = Tracker(config.registry.tracking_uri)
    options = {"config_path": config_path, "data": data, "tracking_uri": tracking_uri}
    rows = []
    retrains = []
    if retrain_first:
        summary = weekly_retrain(as_of=first.to_pydatetime(), **options)
        retrains.append((first, summary.version, summary.alias, summary.decision_reason))
    moment = first + step
    while moment <= last:
        move = shadow(as_of=moment.to_pydatetime(), **options)
        checked = monitor(as_of=moment.to_pydatetime(), trigger=False, **options)
        retrain = None
        if checked.action in ("rollback", "withdrawn") and config.monitor.retrain_on_rollback:
            summary = weekly_retrain(as_of=moment.to_pydatetime(), **options)
            retrain = summary.version
            retrains.append((moment, summary.version, summary.alias, summary.decision_reason))
        rows.append(timeline_row(moment, live_versions(tracker, config), move, checked, retrain))
        moment += step
    name = f"live-replay-{config.profile}-{time.strftime('%Y%m%d-%H%M', time.gmtime())}"
    with tracked_run(tracker, config.registry.experiment, name, {
            "profile": config.profile, "live_replay.start": first.isoformat(),
            "live_replay.end": last.isoformat(), "live_replay.every": every}) as run_id:
        return publish_live_replay(tracker, run_id, config, rows, retrains)
