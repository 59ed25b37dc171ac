"""The promotion step of a retrain: the gate on evidence, its record, and the alias it earns.

``ml_core.lifecycle`` decides (absolute gates, the paired Sharpe test, the verdict); this module
gathers the evidence, scores the new version and the champion on the newest bars, records every
statistic on the version and its run, writes the version's trust into the logged model (the
served model reads it), and moves the alias under the alias lock.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.lifecycle import GateVerdict, absolute_gate, gate_decision
from reporting.gate_report import gate_markdown
from tasks.registry import (CHALLENGER, CHAMPION, AliasConflict, PromotionDecision, Tracker)

__all__ = ["GATE_FILE", "compare_with_champion", "held_targets", "newest_span_start", "paired_test",
           "promote_model", "stage_aliases", "version_returns"]

GATE_FILE = "gate.json"
"""Written beside a registered model's ``MLmodel``: whether the gate found it trustworthy (read by
``tasks/pyfunc_model.py``: an untrustworthy model signals HOLD and says why)."""


def stage_aliases(config: Config) -> list[str]:
    """The rollout's stage names in order, each an alias while a version is in that stage; a
    version that completes the last becomes champion."""
    return [stage.name for stage in config.promotion.rollout.stages]


def newest_span_start(bars: pd.DataFrame, config: Config,
                      holdout_start: pd.Timestamp | None) -> pd.Timestamp | None:
    """First bar of the span both versions are scored on: the newest ``promotion.gate
    .compare_bars`` when set, else the final holdout (None when there is neither)."""
    span = config.promotion.gate.compare_bars
    if span is not None:
        return bars.index[-1] - pd.Timedelta(span)
    return holdout_start


def held_targets(pipeline: Any, fed: pd.DataFrame, index: pd.DatetimeIndex) -> pd.Series:
    """The positions a paper book takes on the bars of ``index``: ``pipeline``'s signals on
    ``fed`` (warm-up history first), each held up to the labels' ``max_holding`` bars
    (:func:`ml_core.lifecycle.hold_targets`), as the live books hold them."""
    from ml_core.evaluation import exposure
    from ml_core.lifecycle import hold_targets

    signals = exposure(pipeline.predict(fed)).reindex(fed.index)
    held = hold_targets(signals, pipeline.config.labels.max_holding_bars)
    return held.reindex(index)


def version_returns(config: Config, pipeline: Any, bars: pd.DataFrame,
                    start: pd.Timestamp) -> pd.Series:
    """One version's per-bar net returns on the bars from ``start``: its signals (fed the
    profile's warm-up history first) become paper positions filled at the next bar's open with
    the profile's costs (:func:`ml_core.lifecycle._paper.paper_returns`)."""
    from ml_core.lifecycle import paper_returns
    from tasks.backfill import warmup_span

    fed = bars.loc[start - pd.Timedelta(warmup_span(config)):]
    span = bars.loc[start:, ["open", "close"]]
    marks, _ = paper_returns(span, held_targets(pipeline, fed, span.index),
                             config.validation.transaction_cost_bps)
    return marks["ret"]


def paired_test(config: Config, new: pd.Series, champion: pd.Series) -> Any:
    """The gate's one-sided test that ``new``'s Sharpe ratio beats ``champion``'s on the same
    bars (:func:`ml_core.lifecycle._sharpe_test.sharpe_difference_test`, the gate's method and
    the profile's seed)."""
    from ml_core.lifecycle import sharpe_difference_test

    return sharpe_difference_test(new.to_numpy(dtype="float64"),
                                  champion.to_numpy(dtype="float64"),
                                  method=config.promotion.gate.test, alternative="greater",
                                  random_state=config.seed)


def compare_with_champion(tracker: Tracker, config: Config, champion: str, pipeline: Any,
                          bars: pd.DataFrame, start: pd.Timestamp) -> Any:
    """The new version (``pipeline``) against the champion on the bars from ``start``: both
    versions' :func:`version_returns`, aligned bar by bar, go to :func:`paired_test`."""
    from ml_core.pipeline import load_pipeline

    name = config.registry.model_name
    with tempfile.TemporaryDirectory() as tmp:
        champion_pipeline = load_pipeline(
            tracker.download_pipeline(f"models:/{name}/{champion}", Path(tmp) / "champion"))
    return paired_test(config, version_returns(config, pipeline, bars, start),
                       version_returns(config, champion_pipeline, bars, start))


@task(name="promote", cache_policy=NO_CACHE)
def promote_model(tracker: Tracker, run_id: str, version: str, score: float, config: Config,
                  move_aliases: bool = True, *, evidence: dict[str, float] | None = None,
                  pipeline: Any = None, bars: pd.DataFrame | None = None,
                  compare_start: pd.Timestamp | None = None) -> PromotionDecision:
    """Hold a freshly registered version to the gate and give it the alias it earned.

    Only from a FINISHED run. With ``promotion.gate.enabled`` false, the old rule (beat the
    champion's score). Otherwise: the absolute gates on ``evidence`` (the run's validation and
    holdout figures), then, when a champion exists and ``pipeline``/``bars``/``compare_start``
    are given, the paired test on the bars from ``compare_start``. The verdict, every
    statistic and the failed gates go on the version (``gate.*`` tags, description) and the
    run; the version's trust goes into the model (:data:`GATE_FILE`). Then, with
    ``move_aliases``: ``champion`` (rollout off), the rollout's first stage alias
    (``candidate``: any other version in rollout is replaced), ``challenger``, or nothing
    (rejected). Without (a backfill), the verdict is recorded as ``decision_would_be``.
    """
    status = tracker.run_status(run_id)
    if status != "FINISHED":
        raise RuntimeError(f"run {run_id} is {status}: a model from a failed or partial run is "
                           f"never promoted")
    if not config.promotion.gate.enabled:
        return _legacy(tracker, run_id, version, score, config, move_aliases)
    logger = get_run_logger()
    name, gate = config.registry.model_name, config.promotion.gate
    if evidence is None:  # a reused version (backfill): the figures its run logged
        evidence = dict(tracker.client.get_run(run_id).data.metrics)
    checks = absolute_gate(evidence, min_trades=gate.min_trades, pbo_max=gate.pbo_max,
                           dsr_min=gate.dsr_min, beat_buy_and_hold=gate.beat_buy_and_hold)
    champion = tracker.alias_version(name, CHAMPION)
    comparison = None
    if champion is not None and all(c.passed for c in checks):
        if pipeline is None or bars is None or compare_start is None:
            logger.warning("no newest bars to score v%s and champion v%s on", version, champion)
        else:
            try:
                comparison = compare_with_champion(tracker, config, champion, pipeline, bars,
                                                   compare_start)
            except (ValueError, OSError) as exc:  # a champion that cannot be scored loses
                logger.warning("champion v%s could not be scored on the newest bars: %s",
                               champion, exc)
    verdict = gate_decision(checks, comparison, alpha=gate.alpha,
                            has_champion=champion is not None,
                            rollout=config.promotion.rollout.enabled)
    champion_score = tracker.version_score(name, champion) if champion else None
    tracker.log_metrics(run_id, {"promotion_score": score,
                                 "promotion_champion_score": champion_score})
    alias = _record(tracker, run_id, name, version, verdict, champion, move_aliases)
    if move_aliases:
        alias, verdict = _move(tracker, config, version, verdict, champion, score,
                               champion_score, alias)
    reason = verdict.reason if move_aliases else (
        f"aliases not moved (promote=False); the gate says: {verdict.reason}")
    logger.info("version %s: %s", version, reason)
    create_markdown_artifact(key="promotion-decision", markdown=gate_markdown(
        name, version, verdict, alias), description="the promotion gate's verdict")
    return PromotionDecision(version, alias, score, champion, champion_score, reason)


def _record(tracker: Tracker, run_id: str, name: str, version: str, verdict: GateVerdict,
            champion: str | None, moved: bool) -> str | None:
    """Tags, description, metrics and the model's trust file; returns the alias to set."""
    alias = {"champion": CHAMPION, "challenger": CHALLENGER}.get(verdict.verdict)
    if verdict.verdict == "candidate":
        alias = "candidate"
    decision = verdict.verdict if moved else "not moved"
    tags = {**verdict.tags(), "decision": decision, "decision_reason": verdict.reason,
            "decision_would_be": verdict.verdict}
    if champion is not None:
        tags["champion_at_decision"] = champion
    for key, value in tags.items():
        tracker.client.set_model_version_tag(name, version, key, str(value)[:5000])
    tracker.client.update_model_version(name, version, description=(
        f"{verdict.verdict}: {verdict.reason}"))
    tracker.set_tags(run_id, {**{f"promotion.{k.removeprefix('gate.')}": v
                                 for k, v in verdict.tags().items()},
                              "promotion.decision": decision, "promotion.version": version,
                              "promotion.champion_version": champion or "none"})
    tracker.log_metrics(run_id, verdict.metrics())
    tracker.write_model_file(name, version, GATE_FILE, json.dumps({
        "trustworthy": verdict.trustworthy, "verdict": verdict.verdict,
        "failed": list(verdict.failed), "reason": verdict.reason}))
    return alias if moved else None


def _move(tracker: Tracker, config: Config, version: str, verdict: GateVerdict,
          champion: str | None, score: float, champion_score: float | None,
          alias: str | None) -> tuple[str | None, GateVerdict]:
    """Set the earned alias, expecting the champion seen at the decision; a conflict (another
    process moved it meanwhile) leaves this version a challenger, saying so."""
    name = config.registry.model_name
    try:
        if alias == CHAMPION:
            tracker.move_alias(name, CHAMPION, version, verdict.reason, score, champion_score,
                               expected=champion)
        elif alias == "candidate":
            first, *later = stage_aliases(config)
            for stage in later:
                tracker.remove_alias(name, stage, f"replaced by v{version}, which passed the "
                                     "gate and starts the rollout")
            tracker.move_alias(name, first, version, verdict.reason, score, champion_score)
            return first, verdict
        elif alias == CHALLENGER:
            tracker.move_alias(name, CHALLENGER, version, verdict.reason, score, champion_score)
    except AliasConflict as exc:
        reason = f"{verdict.reason} — but {exc}: challenger"
        tracker.move_alias(name, CHALLENGER, version, reason, score, champion_score)
        tracker.client.set_model_version_tag(name, version, "decision", "challenger")
        tracker.client.set_model_version_tag(name, version, "decision_reason", reason)
        return CHALLENGER, GateVerdict("challenger", verdict.checks, verdict.comparison, reason,
                                       verdict.alpha, (*verdict.failed, "conflict"))
    return alias, verdict


def _legacy(tracker: Tracker, run_id: str, version: str, score: float, config: Config,
            move_aliases: bool) -> PromotionDecision:
    """The rule before the gate: champion if the CV score beats the champion's."""
    name = config.registry.model_name
    decision = tracker.promote_new_version(name, version, score, config.registry.min_improvement,
                                           move=move_aliases)
    tracker.set_tags(run_id, {
        "promotion.decision": decision.alias or ("rejected" if move_aliases else "not moved"),
        "promotion.reason": decision.reason, "promotion.version": version,
        "promotion.champion_version": decision.champion_version})
    tracker.log_metrics(run_id, {"promotion_score": score,
                                 "promotion_champion_score": decision.champion_score})
    get_run_logger().info("version %s: %s", version, decision.reason)
    return decision
