"""The daily monitor's wiring: reference statistics at registration, the live window each day,
the report to MLflow and Prefect, and the rollback.

At registration the new version's training features, its out-of-sample predictions, regimes and
permutation importances (the final holdout) and its validated paper record are reduced to
:class:`~ml_core.monitoring.ReferenceStatistics`, logged with its run
(``monitoring/reference.json``). Each day the champion's live window (``monitor.window`` up to
``as_of``) is compared with it (:func:`ml_core.monitoring.assess`); the figures go to the
``<experiment>-monitoring`` experiment (one run per version, metrics stepped by day, so the charts
are time series) and to a Prefect artifact, and a failed check moves the champion back.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from tasks.backfill import warmup_span
from tasks.ledger import Ledger
from tasks.registry import CHAMPION, Tracker

__all__ = ["REFERENCE_ARTIFACT", "act_on_report", "load_reference", "monitor_champion",
           "publish_monitoring", "record_reference", "validated_record"]

REFERENCE_ARTIFACT = "monitoring/reference.json"


def _regime_labels(pipeline: Any, bars: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Filtered (causal) and smoothed (hindsight, diagnostic) regime label per regime bar."""
    filtered = pipeline.regime.filter_proba(bars).dropna()
    smoothed = pipeline.regime.smoothed_proba(bars).dropna()
    return filtered.idxmax(axis=1), smoothed.idxmax(axis=1)


def validated_record(pipeline: Any, bars: pd.DataFrame, start: pd.Timestamp,
                     config: Config) -> dict[str, float]:
    """The version's paper record on the bars from ``start`` (its final holdout: out of
    sample), as the live books keep it: hit rate and mean return of resolved trades, their
    count, and the per-bar Sharpe ratio. The live figures are compared with these."""
    from ml_core.lifecycle import paper_returns
    from tasks.promotion import held_targets

    fed = bars.loc[start - pd.Timedelta(warmup_span(config)):]
    span = bars.loc[start:, ["open", "close"]]
    targets = held_targets(pipeline, fed, span.index)
    marks, trades = paper_returns(span, targets, config.validation.transaction_cost_bps)
    returns = trades["ret"].to_numpy(dtype=float)
    bar = marks["ret"].to_numpy(dtype=float)
    out = {"n_trades": float(len(returns)), "n_bars": float(len(bar))}
    if len(returns):
        out["hit_rate"] = float((returns > 0).mean())
        out["mean_trade_return"] = float(returns.mean())
        if len(returns) > 1 and returns.std(ddof=1) > 0:
            out["sharpe_per_trade"] = float(returns.mean() / returns.std(ddof=1))
    if len(bar) > 1 and bar.std(ddof=1) > 0:
        out["sharpe_per_bar"] = float(bar.mean() / bar.std(ddof=1))
    return out


@task(name="record-reference", cache_policy=NO_CACHE)
def record_reference(tracker: Tracker, run_id: str, version: str, config: Config, pipeline: Any,
                     bars: pd.DataFrame, cut: pd.Timestamp | None,
                     holdout: Any = None) -> dict[str, float]:
    """Reduce what the new version was trained and validated on to its reference statistics
    and log them with its run; tag the version with its validated paper record
    (``validated.*``). Returns that record ({} when there is no holdout to measure it on)."""
    from ml_core.monitoring import build_reference, permutation_importances

    logger = get_run_logger()
    fit = bars if cut is None else bars.loc[:cut - pd.Timedelta(config.data.timeframe)]
    columns = list(pipeline.feature_columns)
    features = pipeline.features(fit)[columns].dropna()
    scored = bars.loc[cut:] if cut is not None else fit.iloc[-max(len(fit) // 5, 1):]
    start = scored.index[0]
    signals = pipeline.predict(bars.loc[start - pd.Timedelta(warmup_span(config)):]).loc[start:]
    filtered, smoothed = _regime_labels(pipeline, fit)
    importances = None
    if holdout is not None and len(holdout.X) >= 30:
        forest = pipeline.ensemble.forests_["entry"]
        X = holdout.X[list(pipeline.ensemble.forest_features_)]
        importances = permutation_importances(forest, X, holdout.targets["entry"],
                                              random_state=config.seed)
    validated = validated_record(pipeline, bars, start, config) if cut is not None else {}
    validated = {k: v for k, v in validated.items() if math.isfinite(v)}
    window_rows = int(pd.Timedelta(config.monitor.window) / pd.Timedelta(config.data.timeframe))
    reference = build_reference(features, signals["p_long"], signals["signal"], filtered,
                                smoothed, importances, validated, random_state=config.seed,
                                window_rows=min(window_rows, max(len(features) // 4, 1)))
    tracker.log_text(run_id, json.dumps(reference.to_dict()), REFERENCE_ARTIFACT)
    name = config.registry.model_name
    for key, value in validated.items():
        tracker.client.set_model_version_tag(name, version, f"validated.{key}", repr(value))
    tracker.log_metrics(run_id, {f"validated_{k}": v for k, v in validated.items()})
    logger.info("reference statistics of v%s: %d features, validated paper record %s",
                version, len(columns), validated)
    return validated


def load_reference(tracker: Tracker, name: str, version: str) -> Any:
    """The reference statistics logged with ``version``'s run; None for a version registered
    before the monitor existed."""
    from mlflow.exceptions import MlflowException

    from ml_core.monitoring import ReferenceStatistics

    run_id = tracker.version_tags(name, version).get("run_id")
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = tracker.client.download_artifacts(run_id, REFERENCE_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return None
        return ReferenceStatistics.from_dict(json.loads(Path(path).read_text()))


@task(name="monitor-champion", cache_policy=NO_CACHE)
def monitor_champion(tracker: Tracker, config: Config, ledger: Ledger, bars: pd.DataFrame,
                     as_of: pd.Timestamp) -> tuple[str, Any] | None:
    """``(version, MonitorReport)`` of the champion on the live window up to ``as_of``; None
    when there is no champion (nothing is live: the system holds)."""
    from ml_core.monitoring import assess, permutation_importances
    from ml_core.pipeline import load_pipeline
    from tasks.labels import label_events

    name = config.registry.model_name
    version = tracker.alias_version(name, CHAMPION)
    if version is None:
        get_run_logger().info("%s has no champion: nothing to monitor (the system holds)", name)
        return None
    reference = load_reference(tracker, name, version)
    if reference is None:
        get_run_logger().warning("v%s has no reference statistics (registered before the "
                                 "monitor): only its live record is judged", version)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = load_pipeline(tracker.download_pipeline(f"models:/{name}/{version}",
                                                           Path(tmp) / "model"),
                                 engine="sklearn")
    window_start = as_of - pd.Timedelta(config.monitor.window)
    fed = bars.loc[window_start - pd.Timedelta(warmup_span(config)):as_of]
    live = fed.loc[window_start:]
    features = pipeline.features(fed)
    live_features = features.loc[live.index, list(pipeline.feature_columns)].dropna()
    signals = pipeline.predict_rows(features).loc[window_start:]
    filtered, smoothed = _regime_labels(pipeline, fed)
    importances = None
    events = label_events(fed, features, pipeline.config)
    recent = events.X.index >= window_start
    if recent.sum() >= 30 and events.targets["entry"][recent].nunique() > 1:
        X = events.X.loc[recent, list(pipeline.ensemble.forest_features_)]
        importances = permutation_importances(pipeline.ensemble.forests_["entry"], X,
                                              events.targets["entry"][recent],
                                              random_state=config.seed)
    trades = ledger.trades(name, version)
    trade_returns = pd.Series(trades["ret"].to_numpy(dtype=float), index=trades["exit"])
    if reference is None:
        return version, None
    report = assess(reference, live_features=live_features, live_p_long=signals["p_long"],
                    live_signals=signals["signal"], live_filtered=filtered.loc[window_start:],
                    live_smoothed=smoothed.loc[window_start:], live_importances=importances,
                    trade_returns=trade_returns, config=config.monitor, as_of=as_of)
    return version, report


@task(name="publish-monitoring", cache_policy=NO_CACHE)
def publish_monitoring(tracker: Tracker, config: Config, version: str, report: Any,
                       as_of: pd.Timestamp) -> str:
    """Log the day's figures to the monitoring experiment (run ``monitor-v<version>``, metrics
    stepped by the day, timestamped ``as_of``) and to the Prefect artifact ``monitor``;
    returns the run id."""
    from mlflow.entities import Metric

    experiment = f"{config.registry.experiment}-monitoring"
    name = f"monitor-v{version}"
    found = tracker.find_runs(experiment, {"monitor.version": version,
                                           "monitor.model": config.registry.model_name},
                              status="RUNNING")
    run_id = found[0] if found else tracker.start_run(experiment, name, {
        "monitor.version": version, "monitor.model": config.registry.model_name,
        "profile": config.profile})
    step = int(as_of.value // (86_400 * 10**9))  # the day: charts read as a time series
    stamp = int(as_of.value // 10**6)
    metrics = [Metric(k, float(v), stamp, step) for k, v in report.metrics().items()
               if v is not None and math.isfinite(float(v))]
    for start in range(0, len(metrics), 500):
        tracker.client.log_batch(run_id, metrics=metrics[start:start + 500])
    tracker.set_tags(run_id, {"monitor.last_as_of": as_of.isoformat(),
                              "monitor.last_decision": "rollback" if report.should_rollback
                              else "ok"})
    _headline_drift(tracker, config.registry.model_name, version, report.metrics(), stamp, step)
    create_markdown_artifact(key="monitor", markdown=report.markdown(),
                             description=f"daily monitor of v{version} as of {as_of}")
    return run_id


def _headline_drift(tracker: Tracker, name: str, version: str, metrics: dict[str, float],
                    stamp: int, step: int) -> None:
    """The day's drift share as ``headline/drift_share`` on the run that trained ``version``,
    so the retrain runs table shows which live model drifts (a series, one step per day)."""
    from mlflow.entities import Metric

    from reporting.headline import headline_key

    value = metrics.get("drift_share")
    run_id = tracker.version_tags(name, version).get("run_id")
    if run_id and value is not None and math.isfinite(float(value)):
        tracker.client.log_batch(run_id, metrics=[
            Metric(headline_key("drift_share"), float(value), stamp, step)])


@task(name="act-on-monitor", cache_policy=NO_CACHE)
def act_on_report(tracker: Tracker, config: Config, version: str, report: Any) -> str:
    """Roll the champion back when the report says so (``who=monitor``): to the previous
    champion, or, when it had none, take the alias away (no trustworthy model: the system
    holds). Returns ``"rollback"``, ``"withdrawn"`` or ``"none"``."""
    from tasks.registry import AliasConflict

    if not report.should_rollback or not config.monitor.rollback:
        return "none"
    name, reason = config.registry.model_name, "; ".join(report.reasons)
    logger = get_run_logger()
    try:
        event = tracker.rollback(name, reason, who="monitor")
        logger.warning("rolled back from v%s to v%s: %s", version, event.version, reason)
        action = "rollback"
    except LookupError:
        tracker.remove_alias(name, CHAMPION, f"withdrawn by the monitor: {reason}",
                             expected=version, who="monitor")
        logger.warning("v%s withdrawn, no earlier champion: the system holds (%s)", version,
                       reason)
        action = "withdrawn"
    except AliasConflict as exc:
        logger.warning("no rollback: %s", exc)
        return "none"
    tracker.client.set_model_version_tag(name, version, "monitor.rolled_back", reason[:5000])
    return action


def trigger_retrain(config: Config) -> str:
    """Ask the profile's weekly-retrain deployment for a run now; says what happened (there is
    no deployment when nothing serves the profile: the next scheduled retrain, or
    ``regimeforest retrain``, picks up)."""
    from prefect.deployments import run_deployment

    name = f"weekly-retrain/weekly-retrain-{config.profile}"
    try:
        run = run_deployment(name, timeout=0, tags=["triggered-by-monitor"])
    except Exception as exc:  # noqa: BLE001 - no server or no deployment: say so, go on
        return f"no retrain triggered ({name}: {str(exc).splitlines()[0][:200]})"
    return f"retrain triggered: flow run {run.name} of {name}"
