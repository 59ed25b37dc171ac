"""The live side of a registered version: paper books on new bars, and the rollout stages.

Each run scores the bars that arrived since the last one with the champion and with the version
in rollout (the holder of a stage alias, ``shadow`` then ``partial`` by default), each in its own
paper book of the ledger (:mod:`tasks.ledger`, :mod:`tasks.shadow`), then decides the candidate's
next stage on its paper record against the champion's (:func:`ml_core.lifecycle.rollout_decision`)
and moves the aliases under the alias lock. A book starts at its version's ``as_of`` (the end of
the data it was trained on): the bars before that are in-sample and only warm its stream up.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from tasks.ledger import Ledger
from tasks.promotion import stage_aliases
from tasks.registry import CHALLENGER, CHAMPION, AliasConflict, Tracker

__all__ = ["LiveVersions", "RolloutMove", "ledger_for", "live_bars", "live_versions",
           "rollout_step", "score_live_bars"]


@dataclass(frozen=True)
class LiveVersions:
    """Who is live: the champion and the version in rollout (with its stage alias)."""

    champion: str | None
    candidate: str | None
    stage: str | None

    @property
    def all(self) -> list[str]:
        return [v for v in dict.fromkeys([self.champion, self.candidate]) if v is not None]


@dataclass(frozen=True)
class RolloutMove:
    """What one rollout decision did (``action`` of :data:`~ml_core.lifecycle.ROLLOUT_ACTIONS`,
    or ``"enter"`` when the candidate's record in its stage starts)."""

    version: str
    action: str
    stage: str | None
    next_stage: str | None
    reason: str


def live_versions(tracker: Tracker, config: Config) -> LiveVersions:
    """The champion and the holder of the first stage alias found (one rollout at a time)."""
    name = config.registry.model_name
    for stage in stage_aliases(config):
        holder = tracker.alias_version(name, stage)
        if holder is not None:
            return LiveVersions(tracker.alias_version(name, CHAMPION), holder, stage)
    return LiveVersions(tracker.alias_version(name, CHAMPION), None, None)


@task(name="live-bars", cache_policy=NO_CACHE)
def live_bars(config: Config, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every bar closed by ``as_of`` (the profile's file, or its store series as known then):
    what a live process has seen at that moment."""
    from ml_core.data import bars_window
    from tasks.backfill import read_history

    bars, _ = read_history.fn(config, as_of)
    return bars_window(bars, config.data.timeframe, as_of)


def ledger_for(config: Config) -> Ledger:
    """The profile's paper ledger (``promotion.rollout.ledger``, else the default)."""
    return Ledger(config.promotion.rollout.ledger)


@task(name="score-live-bars", cache_policy=NO_CACHE)
def score_live_bars(tracker: Tracker, config: Config, ledger: Ledger, bars: pd.DataFrame,
                    versions: list[str]) -> dict[str, int]:
    """Score the bars each live version's book has not recorded yet; returns marks recorded per
    version. Each version's stream is fed the profile's warm-up history before its first new
    bar; a new book starts after its version's ``as_of``."""
    from ml_core.pipeline import load_pipeline
    from tasks.backfill import warmup_span
    from tasks.shadow import shadow_score

    name = config.registry.model_name
    logger = get_run_logger()
    recorded: dict[str, int] = {}
    for version in versions:
        marks = ledger.marks(name, version)
        start = (marks.index[-1] if len(marks) else
                 pd.Timestamp(tracker.version_tags(name, version).get("as_of") or bars.index[0]))
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        fed = bars.loc[start - pd.Timedelta(warmup_span(config)):]
        new = int((fed.index > start).sum())
        if new == 0:
            recorded[version] = 0
            continue
        with tempfile.TemporaryDirectory() as tmp:
            pipeline = load_pipeline(tracker.download_pipeline(f"models:/{name}/{version}",
                                                               Path(tmp) / "model"))
        result = shadow_score(fed, {version: pipeline.stream()}, ledger, name,
                              config.validation.transaction_cost_bps, warmup=len(fed) - new,
                              max_holding=pipeline.config.labels.max_holding_bars)
        recorded[version] = result.marks[version]
        for when, rule, _ in result.refused:
            logger.warning("v%s: bar %s refused (%s): skipped", version, when, rule)
        logger.info("v%s: %d new bars scored, %d trades resolved", version,
                    result.marks[version], result.trades[version])
    return recorded


@task(name="rollout-step", cache_policy=NO_CACHE)
def rollout_step(tracker: Tracker, config: Config, ledger: Ledger,
                 as_of: pd.Timestamp) -> RolloutMove | None:
    """Decide the candidate's next stage from its paper record in its current stage, and move
    its alias: the next stage's (advance), ``champion`` (promote, from the last stage), or none
    (reject: it becomes a challenger). None when no version is in rollout."""
    from ml_core.lifecycle import rollout_decision

    name, rollout = config.registry.model_name, config.promotion.rollout
    live = live_versions(tracker, config)
    if live.candidate is None:
        return None
    version, stage = live.candidate, live.stage
    entry = ledger.current_stage(name, version)
    if entry is None or entry.stage != stage:  # its record in this stage starts now
        reason = f"v{version} enters stage {stage!r}: its paper record starts at {as_of}"
        ledger.record_stage(name, version, "advance", entry.stage if entry else None, stage,
                            reason, who="rollout", at=as_of)
        return RolloutMove(version, "enter", stage, stage, reason)
    aligned = ledger.aligned_returns(name, version, live.champion, since=entry.since)
    trades = len(ledger.trades(name, version, since=entry.since))
    step = rollout_decision(rollout.stages, stage, aligned["a"],
                            None if live.champion is None else aligned["b"], trades,
                            alpha=rollout.alpha, method=config.promotion.gate.test,
                            random_state=config.seed)
    if step.action == "stay":
        return RolloutMove(version, "stay", stage, None, step.reason)
    try:
        _move_stage(tracker, name, version, stage, step.action, step.next_stage, step.reason,
                    live.champion)
    except AliasConflict as exc:
        get_run_logger().warning("rollout of v%s not moved: %s", version, exc)
        return RolloutMove(version, "conflict", stage, None, str(exc))
    ledger.record_stage(name, version, step.action, stage, step.next_stage, step.reason,
                        who="rollout", at=as_of)
    get_run_logger().info("v%s: %s", version, step.reason)
    return RolloutMove(version, step.action, stage, step.next_stage, step.reason)


def _move_stage(tracker: Tracker, name: str, version: str, stage: str, action: str,
                next_stage: str | None, reason: str, champion: str | None) -> None:
    who = "rollout"
    if action == "promote":
        tracker.move_alias(name, CHAMPION, version, reason, expected=champion, who=who)
        tracker.remove_alias(name, stage, reason, expected=version, who=who)
    elif action == "advance" and next_stage is not None:
        tracker.remove_alias(name, stage, reason, expected=version, who=who)
        tracker.move_alias(name, next_stage, version, reason, expected=None, who=who)
    elif action == "reject":
        tracker.remove_alias(name, stage, reason, expected=version, who=who)
        tracker.move_alias(name, CHALLENGER, version, reason, who=who)
        tracker.client.set_model_version_tag(name, version, "decision", "rejected in rollout")
        tracker.client.set_model_version_tag(name, version, "decision_reason", reason)
