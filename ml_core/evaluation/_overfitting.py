"""How much to trust the selected model: PBO over the tuning trials, PSR and DSR of the paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_core.validation import (
    PBOResult,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

__all__ = ["OverfittingReport", "assess_overfitting"]

_TINY = 1e-12  # dispersion at or below this is treated as zero (as in ml_core.metrics)


@dataclass
class OverfittingReport:
    """Selection-bias statistics of one retrain.

    Attributes
    ----------
    pbo : dict[str, PBOResult]
        Probability of backtest overfitting by CSCV over each tuned model's matrix of trial
        returns (only models with at least two complete trials and enough rows).
    n_trials : int
        Configurations tried to reach the served model: every finished tuning trial of every
        model, pruned ones included (1 when nothing was tuned).
    sr_variance : float
        Variance (ddof=1) of the complete trials' per-event Sharpe ratios (0.0 with < 2 trials).
    paths : pandas.DataFrame
        One row per CPCV path (index ``path``): ``sharpe`` (per event, not annualised), ``psr``
        (probabilistic Sharpe ratio against 0), ``dsr`` (deflated Sharpe ratio at ``n_trials``);
        a path that never traded gets 0.0 for all three (no evidence of skill).
    expected_max_sharpe : float
        Per-event Sharpe the best of ``n_trials`` skill-less trials reaches by luck.
    """

    pbo: dict[str, PBOResult]
    n_trials: int
    sr_variance: float
    paths: pd.DataFrame
    expected_max_sharpe: float = field(default=0.0)

    def summary(self) -> dict[str, float]:
        """Flat metrics: ``pbo_<model>`` per tuned model and ``pbo`` (their maximum, the most
        pessimistic), ``psr_median``, ``dsr_median``, ``dsr_n_trials``, ``dsr_sr_variance``,
        ``dsr_expected_max_sharpe``."""
        out: dict[str, float] = {f"pbo_{name}": r.pbo for name, r in self.pbo.items()}
        if self.pbo:
            out["pbo"] = max(r.pbo for r in self.pbo.values())
        out["psr_median"] = float(self.paths["psr"].median())
        out["dsr_median"] = float(self.paths["dsr"].median())
        out["dsr_n_trials"] = float(self.n_trials)
        out["dsr_sr_variance"] = float(self.sr_variance)
        out["dsr_expected_max_sharpe"] = float(self.expected_max_sharpe)
        return out


def assess_overfitting(
    trial_returns: Mapping[str, pd.DataFrame],
    path_returns: Mapping[int, pd.Series],
    *,
    n_trials: int,
    n_partitions: int = 16,
) -> OverfittingReport:
    """PBO per tuned model; PSR and DSR of every CPCV path at the true number of trials.

    Parameters
    ----------
    trial_returns : mapping of str to pandas.DataFrame
        Per tuned model, the out-of-fold returns of its complete trials (``TuningResult.
        trial_returns``: rows events in time order, one column per trial). A model gets a PBO
        when it has at least 2 columns and ``n_partitions`` rows; every column's per-event
        Sharpe ratio enters ``sr_variance``.
    path_returns : mapping of int to pandas.Series
        Per CPCV path, its per-event out-of-sample returns (``CVReport.path_returns``).
    n_trials : int
        Configurations tried, pruned tuning trials included; at least 1.
    n_partitions : int, default 16
        CSCV blocks ``S`` (even).

    Returns
    -------
    OverfittingReport

    Notes
    -----
    The DSR compares each path's per-event Sharpe ratio with the best of ``n_trials`` skill-less
    trials whose Sharpe ratios vary like the tuning trials' did. The trials are the four
    forests' configurations traded by fixed rules (:data:`ml_core.tuning.TRADE_RULES`), not the
    whole ensemble, so ``sr_variance`` is a proxy for the spread of ensembles one could have
    built; it is measured, not assumed.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"`n_trials` must be an integer of at least 1, got `n_trials={n_trials}`")
    if not path_returns:
        raise ValueError("`path_returns` is empty: there is no backtest path to assess")
    pbo: dict[str, PBOResult] = {}
    sharpes: list[float] = []
    for name, frame in trial_returns.items():
        matrix = frame.to_numpy(dtype=float)
        if matrix.shape[0] >= 2:
            std = matrix.std(axis=0, ddof=1)
            safe = np.where(std > 0, std, 1.0)
            sharpes.extend(np.where(std > _TINY, matrix.mean(axis=0) / safe, 0.0).tolist())
        if matrix.shape[1] >= 2 and matrix.shape[0] >= n_partitions:
            pbo[name] = probability_of_backtest_overfitting(matrix, n_partitions)
    sr_variance = float(np.var(sharpes, ddof=1)) if len(sharpes) >= 2 else 0.0
    sr_star = expected_max_sharpe(n_trials, sr_variance)
    rows = []
    for path, returns in sorted(path_returns.items()):
        r = returns.to_numpy(dtype=float)
        std = r.std(ddof=1) if r.size >= 3 else 0.0
        if std <= _TINY:  # never traded (or too short): no evidence of skill, as in ml_core.metrics
            rows.append({"path": path, "sharpe": 0.0, "psr": 0.0, "dsr": 0.0})
            continue
        rows.append({
            "path": path,
            "sharpe": float(r.mean() / std),
            "psr": probabilistic_sharpe_ratio(r, 0.0),
            "dsr": probabilistic_sharpe_ratio(r, sr_star),
        })
    return OverfittingReport(pbo=pbo, n_trials=n_trials, sr_variance=sr_variance,
                             paths=pd.DataFrame(rows).set_index("path"),
                             expected_max_sharpe=sr_star)
