"""The daily monitor's statistics: drift, regime and importance checks, live performance and the
rollback rule (pure: the flow reads bars and the ledger, logs and moves aliases).

At registration :func:`build_reference` reduces the champion's training window to
:class:`ReferenceStatistics` (quantile bins and KS samples per feature and for ``p_long``, signal
mix, regime occupancy and filter/smoother agreement, permutation importances, validated figures;
JSON round trip). Each day :func:`assess` compares the live window with it: :func:`feature_drift`
(PSI on the reference's quantile bins and :func:`ks_pvalue`), :func:`prediction_drift`,
:func:`regime_check`, :func:`importance_stability` and :func:`live_performance` of the last
:data:`RECENT_TRADES` resolved trades (a Clopper-Pearson bound on the hit rate), and returns a
:class:`MonitorReport` with the rollback decision, flat metrics and markdown.
"""

from ml_core.monitoring._checks import (
    FeatureDrift,
    PredictionDrift,
    RegimeCheck,
    feature_drift,
    prediction_drift,
    regime_check,
)
from ml_core.monitoring._drift import (
    PSI_FLOOR,
    bin_fractions,
    ks_pvalue,
    psi,
    quantile_edges,
    total_variation,
    window_psi,
)
from ml_core.monitoring._importance import (
    ImportanceStability,
    importance_stability,
    permutation_importances,
)
from ml_core.monitoring._performance import (
    RECENT_TRADES,
    LivePerformance,
    hit_rate_upper_bound,
    live_performance,
    recent_trades,
)
from ml_core.monitoring._reference import (
    SIGNAL_NAMES,
    Distribution,
    ReferenceStatistics,
    build_reference,
)
from ml_core.monitoring._report import MONITOR_METRICS, MonitorReport, assess

__all__ = [
    "MONITOR_METRICS",
    "PSI_FLOOR",
    "RECENT_TRADES",
    "SIGNAL_NAMES",
    "Distribution",
    "FeatureDrift",
    "ImportanceStability",
    "LivePerformance",
    "MonitorReport",
    "PredictionDrift",
    "ReferenceStatistics",
    "RegimeCheck",
    "assess",
    "bin_fractions",
    "build_reference",
    "feature_drift",
    "hit_rate_upper_bound",
    "importance_stability",
    "ks_pvalue",
    "live_performance",
    "permutation_importances",
    "prediction_drift",
    "psi",
    "quantile_edges",
    "recent_trades",
    "regime_check",
    "total_variation",
    "window_psi",
]
