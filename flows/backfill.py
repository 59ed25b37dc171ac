"""The backfill: one point-in-time retrain per ``as_of`` from ``start`` to ``end``, then the
walk-forward of the whole loop (promotion rule included) against buy-and-hold.

schedule -> bars the backfill may see -> per as_of: bars' state -> done already? reuse : weekly
retrain (subflow) -> replay the loop -> log the table and plot (MLflow, Prefect). Only wiring
lives here; the steps are tasks in ``tasks/backfill.py`` and pure functions in ``ml_core``.

On the scale profile (``scale.executor: dask``) a backfill that moves no alias runs its retrains
at once, each a piece on a Dask worker; with ``promote`` they run in ``as_of`` order, as each
promotion is judged against the champion the previous one left.
"""

import functools
import time
from datetime import datetime, timedelta

import pandas as pd
from prefect import flow

from flows.weekly_retrain import DEFAULT_CONFIG, weekly_retrain
from ml_core._durations import format_duration, parse_duration
from ml_core.config import Config
from ml_core.data import utc_timestamp
from ml_core.evaluation import backfill_schedule, schedule_in_span
from tasks.backfill import (BackfillResult, BackfillStep, backfill_key, find_backfill_run,
                            find_done, log_backfill, needs_promotion, publish_backfill,
                            read_history, replay_loop, window_state)
from tasks.concurrency import one_retrain_at_a_time
from tasks.data import DataState, config_hash, resolve_profile
from tasks.parallel import parallel_map, scale_out
from tasks.promotion import promote_model
from tasks.registry import Tracker, tracked_run
from tasks.summary import RetrainSummary


@flow(name="backfill", log_prints=True)
def backfill(start: datetime | str, end: datetime | str, every: str = "7d",
             config_path: str = DEFAULT_CONFIG, data: str | None = None,
             tracking_uri: str | None = None, columns: dict[str, str] | None = None,
             promote: bool = False, known_at: datetime | None = None) -> BackfillResult:
    """Retrain as of ``start``, ``start + every``, ... ``end`` (UTC), reusing every retrain
    already done on the same bars and profile, and replay what the live system would have done.

    Registered versions carry the tag ``as_of``; no alias moves unless ``promote`` (then they
    move in ``as_of`` order, as the live system would have moved them). ``known_at`` (default:
    now) is the bar store's state every retrain reads: the past replayed with what is stored
    today. A range with no bars, ``start`` after ``end`` or ``every <= 0`` is refused first.
    """
    as_ofs = backfill_schedule(start, end, every)  # refuses start > end and every <= 0 first
    step = parse_duration(every)
    config = resolve_profile(config_path, data, tracking_uri, columns)
    known = (pd.Timestamp.now(tz="UTC").floor("s") if known_at is None
             else utc_timestamp(known_at, "known_at"))
    bars, read = read_history(config, known)
    kept = schedule_in_span(as_ofs, bars.index, config.data.timeframe)
    if len(kept) < len(as_ofs):
        print(f"{len(as_ofs) - len(kept)} of {len(as_ofs)} as_of left out: no bars to train on "
              f"before {kept[0]} or to replay after {kept[-1]}")
    profile_hash = config_hash(config)
    tracker = Tracker(config.registry.tracking_uri)

    states = [window_state(bars, config, as_of, read) for as_of in kept]
    done = [find_done(tracker, config, state, profile_hash) for state in states]
    key = backfill_key(profile_hash, step, [(s.as_of, s.sha256) for s in states], promote)
    previous = find_backfill_run(tracker, config, key) if all(done) else None
    if previous is not None and not (promote and any(needs_promotion(d) for d in done)):
        steps = [BackfillStep(s.as_of, s, d.run_id, d.version, d.score, True)
                 for s, d in zip(states, done)]
        for s in steps:
            print(f"as_of {s.as_of}: done in run {s.run_id}, version {s.version} — skipped")
        print(f"backfill: nothing to redo; its table and plot are in run {previous}")
        return _finish(tracker, config, bars, steps, step, previous, promote, log=False)

    tags = {"profile": config.profile, "config.hash": profile_hash, "backfill.key": key,
            "backfill.start": kept[0].isoformat(), "backfill.end": kept[-1].isoformat(),
            "backfill.every": format_duration(step), "backfill.known_at": known.isoformat(),
            "backfill.promote": str(promote), "backfill.as_of_count": str(len(kept))}
    name = f"backfill-{config.profile}-{time.strftime('%Y%m%d-%H%M', time.gmtime())}"
    retrain = functools.partial(retrain_as_of, config_path=config_path, data=data,
                                tracking_uri=tracking_uri, columns=columns,
                                known_at=known.to_pydatetime(), promote=promote)
    pending = [state for state, found in zip(states, done) if found is None]
    # without promotion the retrains are independent: at once, as pieces, on the profile's Dask
    # cluster (scale.executor: dask), holding the profile's retrain slot for all of them
    at_once = not promote and config.scale.executor == "dask" and len(pending) > 1
    with tracked_run(tracker, config.registry.experiment, name, tags) as run_id, \
            one_retrain_at_a_time(config.profile, hold=at_once), scale_out(config):
        retrained = dict(zip(
            [state.as_of for state in pending],
            parallel_map("retrain", functools.partial(retrain, exclusive=False), pending,
                         label=lambda state: state.as_of.strftime("%Y-%m-%dT%H%M")))
        ) if at_once else {}
        steps = []
        for state, found in zip(states, done):
            if found is not None:
                print(f"as_of {state.as_of}: done in run {found.run_id}, version "
                      f"{found.version} — skipped")
                if promote and needs_promotion(found):
                    promote_model(tracker, found.run_id, found.version, found.score, config)
                steps.append(BackfillStep(state.as_of, state, found.run_id, found.version,
                                          found.score, True))
                continue
            summary = retrained[state.as_of] if at_once else retrain(state)
            tracker.set_tags(summary.run_id, {"backfill.run_id": run_id,
                                              "mlflow.parentRunId": run_id})
            steps.append(BackfillStep(state.as_of, state, summary.run_id, summary.version,
                                      summary.score, False))
        return _finish(tracker, config, bars, steps, step, run_id, promote, log=True)


def retrain_as_of(state: DataState, *, config_path: str, data: str | None,
                  tracking_uri: str | None, columns: dict[str, str] | None, known_at: datetime,
                  promote: bool, exclusive: bool = True) -> RetrainSummary:
    """The weekly retrain (a subflow) as of ``state.as_of``: one backfill piece."""
    return weekly_retrain(config_path=config_path, data=data, tracking_uri=tracking_uri,
                          columns=columns, as_of=state.as_of.to_pydatetime(), known_at=known_at,
                          promote=promote, exclusive=exclusive)


def _finish(tracker: Tracker, config: Config, bars: pd.DataFrame, steps: list[BackfillStep],
            every: timedelta, run_id: str, promote: bool, log: bool) -> BackfillResult:
    """Replay the loop, log it on ``run_id`` (when ``log``) and publish it to Prefect."""
    table, equity, _ = replay_loop(tracker, config, bars, steps, every)
    result = BackfillResult(run_id=run_id, experiment=config.registry.experiment, steps=steps,
                            table=table, equity=equity, promoted=promote)
    if log:
        log_backfill(tracker, run_id, result)
    publish_backfill(result)
    return result
