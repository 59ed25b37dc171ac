"""One daily monitor run: every check against the champion's reference, the rollback decision,
flat metrics for the tracker and a markdown summary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml_core.config import MonitorConfig
from ml_core.monitoring._checks import (
    FeatureDrift,
    PredictionDrift,
    RegimeCheck,
    feature_drift,
    prediction_drift,
    regime_check,
)
from ml_core.monitoring._importance import ImportanceStability, importance_stability
from ml_core.monitoring._performance import LivePerformance, live_performance, recent_trades
from ml_core.monitoring._reference import ReferenceStatistics

__all__ = ["MONITOR_METRICS", "MonitorReport", "assess"]

MONITOR_METRICS: tuple[str, ...] = (
    "drift_share", "drift_psi_max", "drift_n_features", "drift_n_drifted", "drift",
    "prediction_psi", "prediction_ks_pvalue", "signal_mix_tv", "prediction_drift",
    "regime_occupancy_tv", "regime_agreement", "regime_agreement_reference", "regime_shift",
    "importance_spearman", "importance_top_k_overlap", "importance_unstable",
    "live_hit_rate", "live_hit_rate_upper", "live_sharpe", "live_n_trades", "live_threshold",
    "live_degraded", "rollback",
)
"""Keys of :meth:`MonitorReport.metrics`, always all present (NaN for a skipped check); flags are
0/1."""

_CHECKS = ("feature drift", "prediction drift", "regimes", "importance", "live performance")


def _empty(x: Any) -> bool:
    return x is None or len(x) == 0


@dataclass(frozen=True, eq=False)
class MonitorReport:
    """Result of :func:`assess`."""

    as_of: pd.Timestamp
    features: FeatureDrift | None
    predictions: PredictionDrift | None
    regimes: RegimeCheck | None
    importance: ImportanceStability | None
    performance: LivePerformance | None
    should_rollback: bool
    """Performance degraded or the features drifted, and ``monitor.rollback`` is on."""
    reasons: tuple[str, ...]
    """Why the champion should roll back, one line each; empty when nothing triggered. With
    ``monitor.rollback`` off the triggers are still listed, with a last line saying so."""
    notes: tuple[str, ...]
    """One line per check, in :data:`_CHECKS` order: its figures, or why it was skipped."""

    def _results(self) -> tuple[Any, ...]:
        return (self.features, self.predictions, self.regimes, self.importance, self.performance)

    def metrics(self) -> dict[str, float]:
        """Every :data:`MONITOR_METRICS` key as a float (NaN where the check was skipped)."""
        out = dict.fromkeys(MONITOR_METRICS, float("nan"))
        for result in self._results():
            if result is not None:
                out.update(result.metrics())
        out["rollback"] = float(self.should_rollback)
        return out

    def markdown(self) -> str:
        """A short summary: the decision, one row per check, the most drifted features."""
        verdict = "**roll back**" if self.should_rollback else "keep the champion"
        lines = [f"### Monitor as of {self.as_of}: {verdict}", ""]
        lines += [f"- {r}" for r in self.reasons]
        lines += ["", "| check | status | figures |", "|---|---|---|"]
        flags = (("drifted", "rollback"), ("drifted", "warning"), ("shifted", "warning"),
                 ("unstable", "warning"), ("degraded", "rollback"))
        for name, result, note, (flag, alarm) in zip(_CHECKS, self._results(), self.notes, flags,
                                                     strict=True):
            status = "skipped" if result is None else alarm if getattr(result, flag) else "ok"
            lines.append(f"| {name} | {status} | {note.replace('|', '/')} |")
        if self.features is not None:
            top = self.features.table.sort_values("psi", ascending=False).head(5)
            lines += ["", "| feature | PSI | limit | KS p | drifted |", "|---|---:|---:|---:|---|"]
            lines += [f"| {name} | {row.psi:.3f} | {row.psi_limit:.3f} | {row.ks_pvalue:.2g} | "
                      f"{'yes' if row.drifted else 'no'} |" for name, row in top.iterrows()]
        return "\n".join(lines) + "\n"


def assess(
    reference: ReferenceStatistics,
    *,
    live_features: pd.DataFrame | None = None,
    live_p_long: pd.Series | None = None,
    live_signals: pd.Series | None = None,
    live_filtered: pd.Series | None = None,
    live_smoothed: pd.Series | None = None,
    live_importances: pd.Series | None = None,
    trade_returns: pd.Series | None = None,
    config: MonitorConfig,
    as_of: Any,
) -> MonitorReport:
    """Run every check of the daily monitor whose inputs are there, and decide on a rollback.

    Rollback (when ``config.rollback``): the live hit rate of the champion's last
    ``config.recent_trades`` resolved trades is degraded (:func:`live_performance`), or the features
    drifted (:func:`feature_drift`). Prediction drift, regime shift and importance instability
    only warn: the model's outputs and regimes move with the market, and permutation importance
    on a few hundred events is noisy.

    Parameters
    ----------
    reference : ReferenceStatistics
        The champion's, stored at registration. Build it with ``window_rows`` = the live window
        in bars: held to the fixed ``psi_max`` alone, real features drift every week
        (``benchmarks/results/monitor.md``) and the drift rule would roll back daily.
    live_features : pandas.DataFrame, optional
        Feature rows of the live window (``config.window``).
    live_p_long, live_signals : pandas.Series, optional
        The champion's live long probabilities and signals over the window.
    live_filtered, live_smoothed : pandas.Series, optional
        Filtered and smoothed regime label per live bar.
    live_importances : pandas.Series, optional
        Permutation importance on recent labelled events.
    trade_returns : pandas.Series, optional
        The champion's resolved trade returns, indexed by resolution time; the last
        ``config.recent_trades`` resolved at or before ``as_of`` are judged
        (:func:`recent_trades`; :data:`~ml_core.monitoring.RECENT_TRADES` says why 200).
    config : MonitorConfig
        Thresholds.
    as_of : timestamp
        Time of the check.

    Returns
    -------
    MonitorReport
        A check with no input (None or empty) is skipped and its note says so.
    """
    as_of = pd.Timestamp(as_of)
    features = predictions = regimes = importance = performance = None
    notes = []
    if _empty(live_features) or not reference.features:
        notes.append("feature drift: skipped, no live features" if _empty(live_features)
                     else "feature drift: skipped, no reference features")
    else:
        features = feature_drift(reference, live_features, config.psi_max, config.ks_alpha,
                                 config.drift_share_max)
        notes.append(features.reason)
    if _empty(live_p_long) and _empty(live_signals):
        notes.append("prediction drift: skipped, no live predictions")
    else:
        predictions = prediction_drift(reference, live_p_long, live_signals,
                                       config.prediction_psi_max)
        notes.append(predictions.reason)
    if _empty(live_filtered) or not reference.regime_occupancy:
        notes.append("regimes: skipped, no live regime labels" if _empty(live_filtered)
                     else "regimes: skipped, no reference occupancy")
    else:
        regimes = regime_check(reference, live_filtered, live_smoothed)
        notes.append(regimes.reason)
    if _empty(live_importances) or not reference.importances:
        notes.append("importance: skipped, no live importances" if _empty(live_importances)
                     else "importance: skipped, no reference importances")
    else:
        importance = importance_stability(reference.importances, live_importances)
        notes.append(importance.reason)
    validated = reference.validated.get("hit_rate")
    if trade_returns is None or validated is None or math.isnan(validated):
        notes.append("live performance: skipped, no resolved trades" if trade_returns is None
                     else "live performance: skipped, no validated hit rate in the reference")
    else:
        recent = recent_trades(trade_returns, as_of, config.recent_trades)
        performance = live_performance(
            recent, validated, accuracy_drop_max=config.accuracy_drop_max,
            confidence=config.confidence, min_trades=config.min_resolved_trades,
            validated_sharpe=reference.validated.get("sharpe_per_trade"))
        notes.append(performance.reason)
    triggers = [r.reason for r in (performance, features)
                if r is not None and (getattr(r, "degraded", False) or getattr(r, "drifted",
                                                                              False))]
    rollback = bool(triggers) and config.rollback
    if triggers and not config.rollback:
        triggers.append("automatic rollback is off (monitor.rollback = false): nothing moves")
    return MonitorReport(as_of, features, predictions, regimes, importance, performance,
                         rollback, tuple(triggers), tuple(notes))
