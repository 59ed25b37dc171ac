"""The headline set: the dozen figures that say whether a retrain is better than the last one and
whether it is overfit, under one naming scheme (``headline/<figure>``).

They are the default columns of the MLflow runs table, the first charts and the first lines of a
run's description. Each is a copy of a figure logged in full elsewhere in the run, named once here
so that the table, the charts, the description and ``regimeforest compare`` agree."""

from __future__ import annotations

PREFIX = "headline/"

#: name -> what it means, in the order the columns and the description show them.
HEADLINE: dict[str, str] = {
    "score": "promotion score (the profile's promotion metric)",
    "gate_passed": "1 if the version passed the absolute gate, else 0",
    "gate_failed_checks": "number of absolute gate checks failed",
    "paired_sharpe_diff": "Sharpe of this version minus the champion's on the same newest bars",
    "paired_p_value": "one-sided p-value of the paired Sharpe test against the champion",
    "cv_sharpe_median": "median CPCV path Sharpe",
    "cv_buy_hold_sharpe": "median CPCV path Sharpe of buy-and-hold on the same events",
    "pbo": "probability of backtest overfitting (0.5 is a random pick)",
    "dsr": "deflated Sharpe probability at the true trial count",
    "holdout_sharpe": "Sharpe on the untouched final holdout",
    "holdout_trades": "trades on the untouched final holdout",
    "wf_consistency": "share of walk-forward windows above the Sharpe threshold",
    "drift_share": "share of monitored features drifting (logged by the daily monitor)",
}


def headline_key(name: str) -> str:
    """The MLflow metric key of a headline figure, e.g. ``headline/pbo``."""
    if name not in HEADLINE:
        raise ValueError(f"name={name!r} is not a headline figure; expected one of {list(HEADLINE)}")
    return PREFIX + name


HEADLINE_KEYS: tuple[str, ...] = tuple(PREFIX + name for name in HEADLINE)
