"""The shadow A/B step: new bars -> every live version's paper book -> the candidate's rollout
stage. Run it on each new batch of bars (``regimeforest shadow``; a backfill of the live loop
runs it per day). Only wiring lives here; the steps are tasks in ``tasks/live.py``."""

from datetime import datetime

from prefect import flow

from flows.weekly_retrain import DEFAULT_CONFIG
from tasks.data import resolve_as_of, resolve_profile
from tasks.live import RolloutMove, ledger_for, live_bars, live_versions, rollout_step, score_live_bars
from tasks.registry import Tracker


@flow(name="shadow", log_prints=True)
def shadow(config_path: str = DEFAULT_CONFIG, as_of: datetime | str | None = None,
           data: str | None = None, tracking_uri: str | None = None) -> RolloutMove | None:
    """Score the bars closed by ``as_of`` (default: now) that the champion's and the
    candidate's paper books have not seen, then decide the candidate's rollout stage on its
    record against the champion's. Returns the rollout move (None: nothing in rollout)."""
    config = resolve_profile(config_path, data, tracking_uri, None)
    as_of = resolve_as_of(as_of)
    tracker = Tracker(config.registry.tracking_uri)
    ledger = ledger_for(config)
    try:
        live = live_versions(tracker, config)
        if not live.all:
            print(f"{config.registry.model_name}: no champion and nothing in rollout: "
                  "nothing to score (the system holds)")
            return None
        bars = live_bars(config, as_of)
        score_live_bars(tracker, config, ledger, bars, live.all)
        move = rollout_step(tracker, config, ledger, as_of)
        if move is not None:
            print(f"rollout of v{move.version}: {move.action} ({move.reason})")
        return move
    finally:
        ledger.dispose()
