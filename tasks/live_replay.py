"""The timeline of a replayed live loop (:func:`flows.live_replay.live_replay`): one row per
step, saying who was live, what the rollout and the monitor did, and which retrain followed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from reporting.markdown import markdown_table
from tasks.registry import Tracker

__all__ = ["TIMELINE_COLUMNS", "LiveReplay", "publish_live_replay", "timeline_row"]

TIMELINE_COLUMNS = ("as_of", "champion", "candidate", "stage", "rollout", "monitor",
                    "live_hit_rate", "live_n_trades", "drift_share", "reasons", "retrain")
"""Columns of :attr:`LiveReplay.table`."""


@dataclass(frozen=True)
class LiveReplay:
    """A replayed live loop: its timeline and the retrains it ran."""

    run_id: str
    table: pd.DataFrame
    retrains: list[tuple[pd.Timestamp, str, str | None, str]] = field(default_factory=list)

    def first(self, column: str, value: str) -> pd.Timestamp | None:
        """The first ``as_of`` whose ``column`` equals ``value`` (e.g. monitor == rollback)."""
        hits = self.table.loc[self.table[column] == value, "as_of"]
        return None if hits.empty else hits.iloc[0]


def timeline_row(moment: pd.Timestamp, live: Any, move: Any, checked: Any,
                 retrain: str | None) -> dict[str, Any]:
    """One step of the timeline, after its shadow and monitor runs."""
    metrics = checked.report.metrics() if checked.report is not None else {}

    def figure(key: str) -> float:
        value = metrics.get(key)
        return float("nan") if value is None else float(value)

    return {"as_of": moment, "champion": live.champion, "candidate": live.candidate,
            "stage": live.stage, "rollout": None if move is None else move.action,
            "monitor": checked.action, "live_hit_rate": figure("live_hit_rate"),
            "live_n_trades": figure("live_n_trades"), "drift_share": figure("drift_share"),
            "reasons": "; ".join(checked.report.reasons) if checked.report is not None else "",
            "retrain": retrain}


@task(name="publish-live-replay", cache_policy=NO_CACHE)
def publish_live_replay(tracker: Tracker, run_id: str, config: Config,
                        rows: list[dict[str, Any]],
                        retrains: list[tuple[pd.Timestamp, str, str | None, str]]) -> LiveReplay:
    """Log the timeline (``tables/live_replay.csv``, ``live_replay.md``) and show its events
    as the Prefect artifact ``live-replay``."""
    table = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    tracker.log_table(run_id, table.set_index("as_of"), "live_replay.csv")
    events = table[(table["rollout"].notna() & (table["rollout"] != "stay"))
                   | (table["monitor"] != "none") | table["retrain"].notna()]
    shown = events[["as_of", "champion", "candidate", "stage", "rollout", "monitor", "retrain",
                    "reasons"]].fillna("")
    lines = [f"### Live loop of {config.registry.model_name}: {len(table)} steps, "
             f"{len(retrains)} retrains", ""]
    for when, version, alias, reason in retrains:
        lines.append(f"- retrain as of {when}: v{version} -> {alias or 'no alias'} ({reason})")
    lines += ["", markdown_table(shown) if len(shown) else "no stage change and no rollback"]
    text = "\n".join(lines)
    tracker.log_text(run_id, text, "live_replay.md")
    tracker.log_metrics(run_id, {"live_replay_steps": float(len(table)),
                                 "live_replay_rollbacks": float(
                                     (table["monitor"].isin(["rollback", "withdrawn"])).sum())})
    create_markdown_artifact(key="live-replay", markdown=text,
                             description="the replayed live loop: stages, rollbacks, retrains")
    return LiveReplay(run_id, table, retrains)
