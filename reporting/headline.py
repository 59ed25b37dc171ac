"""The headline set: the dozen figures that say whether a retrain is better than the last one and
whether it is overfit, under one naming scheme (``headline/<figure>``).

They are the default columns of the MLflow runs table, the first charts and the first lines of a
run's description. Each is a copy of a figure logged in full elsewhere in the run (its source
key in :data:`SOURCES`), named once here so that the table, the charts, the description and
``regimeforest compare`` agree."""

from __future__ import annotations

import math
from collections.abc import Mapping

PREFIX = "headline/"

#: name -> what it means, in the order the columns and the description show them.
HEADLINE: dict[str, str] = {
    "score": "promotion score (the profile's promotion metric)",
    "gate_passed": "1 if the version passed the absolute gate, else 0",
    "gate_failed_checks": "number of absolute gate checks failed",
    "paired_sharpe_diff": "Sharpe of this version minus the champion's on the same newest bars",
    "paired_p_value": "one-sided p-value of the paired Sharpe test against the champion",
    "cv_sharpe_median": "median CPCV path Sharpe",
    "cv_buy_hold_sharpe": "median CPCV path Sharpe of buy-and-hold (long on every event)",
    "pbo": "probability of backtest overfitting (0.5 is a random pick)",
    "dsr": "deflated Sharpe probability at the true trial count",
    "holdout_sharpe": "Sharpe on the untouched final holdout",
    "holdout_trades": "trades on the untouched final holdout",
    "wf_consistency": "share of walk-forward windows above the Sharpe threshold",
    "drift_share": "share of monitored features drifting (logged by the daily monitor)",
}

#: headline name -> the run metric it copies (the gate's counts are derived, see
#: :func:`headline_figures`; ``drift_share`` is logged by the monitor).
SOURCES: dict[str, str] = {
    "score": "promotion_score",
    "gate_passed": "gate_trustworthy",
    "paired_sharpe_diff": "gate_test_sharpe_difference",
    "paired_p_value": "gate_test_p_value",
    "cv_sharpe_median": "cv_sharpe_median",
    "cv_buy_hold_sharpe": "cv_baseline_long_every_event_sharpe_median",
    "pbo": "pbo",
    "dsr": "dsr_median",
    "holdout_sharpe": "holdout_ensemble_sharpe",
    "holdout_trades": "holdout_ensemble_n_trades",
    "wf_consistency": "wf_sharpe_consistency",
}

#: significant digits of a headline figure: it is read in a table column, and the full value
#: stays in its source metric
DIGITS = 4

#: the absolute gate's checks, as ``gate_<check>`` metrics (1 pass, 0 fail)
GATE_CHECKS: tuple[str, ...] = ("cpcv_trades", "holdout_trades", "pbo", "dsr", "buy_and_hold")


def headline_key(name: str) -> str:
    """The MLflow metric key of a headline figure, e.g. ``headline/pbo``."""
    if name not in HEADLINE:
        raise ValueError(f"name={name!r} is not a headline figure; expected one of {list(HEADLINE)}")
    return PREFIX + name


HEADLINE_KEYS: tuple[str, ...] = tuple(PREFIX + name for name in HEADLINE)


def _rounded(value: float) -> float:
    """``value`` to :data:`DIGITS` significant digits; counts (whole numbers) as they are."""
    return value if value.is_integer() else float(f"{value:.{DIGITS}g}")


def headline_figures(metrics: Mapping[str, float]) -> dict[str, float]:
    """The headline figures of a run from its logged metrics, keyed ``headline/<figure>``.

    Each fraction is rounded to :data:`DIGITS` significant digits. Figures whose source was not logged (no champion to test against, a profile without a
    holdout) or is not finite are left out: a missing column reads as "not measured", never as
    a made-up zero.
    """
    out: dict[str, float] = {}
    for name, source in SOURCES.items():
        value = metrics.get(source)
        if value is not None and math.isfinite(float(value)):
            out[PREFIX + name] = _rounded(float(value))
    checks = [metrics[f"gate_{c}"] for c in GATE_CHECKS if f"gate_{c}" in metrics]
    if checks:
        out[PREFIX + "gate_failed_checks"] = float(sum(1 for passed in checks if passed < 0.5))
    return {key: out[key] for key in HEADLINE_KEYS if key in out}
