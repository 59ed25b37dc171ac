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
        returns, one column per trial whose returns differ from every earlier trial's (only
        models with at least two such trials and enough rows).
    n_trials : int
        Configurations tried to reach the served model: every finished tuning trial of every
        model, pruned ones included (1 when nothing was tuned).
    sr_variance : float
        Variance (ddof=1) of the complete trials' per-event Sharpe ratios (0.0 with < 2 trials).
    paths : pandas.DataFrame
        One row per CPCV path (index ``path``): ``sharpe`` (per event, not annualised), ``psr``
        (probabilistic Sharpe ratio against 0), ``dsr`` (deflated Sharpe ratio at ``n_trials``);
        NaN for all three on a path that never traded (or is too short): undefined, not 0.
    expected_max_sharpe : float
        Per-event Sharpe the best of ``n_trials`` skill-less trials reaches by luck.
    pbo_trials : dict[str, int]
        Per model with a PBO, the trials it was computed over (those with distinct returns).
    pbo_undefined : dict[str, str]
        Per tuned model without a PBO, why (e.g. every trial returned the same: none traded,
        so the ranks tie and CSCV would report an artefact of 1.0).
    """

    pbo: dict[str, PBOResult]
    n_trials: int
    sr_variance: float
    paths: pd.DataFrame
    expected_max_sharpe: float = field(default=0.0)
    pbo_trials: dict[str, int] = field(default_factory=dict)
    pbo_undefined: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Flat metrics: ``pbo_<model>`` per tuned model (NaN where undefined, see
        :attr:`pbo_undefined`) and ``pbo`` (the maximum of the defined ones, the most
        pessimistic; NaN when none is defined but some model was tuned), ``psr_median``,
        ``dsr_median`` (over the paths that traded; NaN when none did), ``dsr_n_trials``,
        ``dsr_sr_variance``, ``dsr_expected_max_sharpe``."""
        out: dict[str, float] = {f"pbo_{name}": r.pbo for name, r in self.pbo.items()}
        out.update({f"pbo_{name}": float("nan") for name in self.pbo_undefined})
        if self.pbo:
            out["pbo"] = max(r.pbo for r in self.pbo.values())
        elif self.pbo_undefined:
            out["pbo"] = float("nan")
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
        over its distinct columns (a column equal to an earlier one is the same strategy, e.g.
        two trials that never traded) when at least 2 are distinct and there are
        ``n_partitions`` rows; otherwise :attr:`OverfittingReport.pbo_undefined` says why.
        Every column's per-event Sharpe ratio enters ``sr_variance``.
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
    pbo_trials: dict[str, int] = {}
    pbo_undefined: dict[str, str] = {}
    sharpes: list[float] = []
    for name, frame in trial_returns.items():
        matrix = frame.to_numpy(dtype=float)
        if matrix.shape[0] >= 2:
            std = matrix.std(axis=0, ddof=1)
            safe = np.where(std > 0, std, 1.0)
            sharpes.extend(np.where(std > _TINY, matrix.mean(axis=0) / safe, 0.0).tolist())
        distinct, reason = _distinct_trials(matrix, n_partitions)
        if reason:
            pbo_undefined[name] = reason
        else:
            pbo[name] = probability_of_backtest_overfitting(distinct, n_partitions)
            pbo_trials[name] = distinct.shape[1]
    sr_variance = float(np.var(sharpes, ddof=1)) if len(sharpes) >= 2 else 0.0
    sr_star = expected_max_sharpe(n_trials, sr_variance)
    rows = []
    for path, returns in sorted(path_returns.items()):
        r = returns.to_numpy(dtype=float)
        std = r.std(ddof=1) if r.size >= 3 else 0.0
        if std <= _TINY:  # never traded (or too short): undefined, not "no skill"
            rows.append({"path": path, "sharpe": np.nan, "psr": np.nan, "dsr": np.nan})
            continue
        rows.append({
            "path": path,
            "sharpe": float(r.mean() / std),
            "psr": probabilistic_sharpe_ratio(r, 0.0),
            "dsr": probabilistic_sharpe_ratio(r, sr_star),
        })
    return OverfittingReport(pbo=pbo, n_trials=n_trials, sr_variance=sr_variance,
                             paths=pd.DataFrame(rows).set_index("path"),
                             expected_max_sharpe=sr_star, pbo_trials=pbo_trials,
                             pbo_undefined=pbo_undefined)


def _distinct_trials(matrix: np.ndarray, n_partitions: int) -> tuple[np.ndarray, str]:
    """The columns of ``matrix`` unlike every earlier column (in their order), and why a PBO
    cannot be computed over them (empty when it can).

    Identical columns are one strategy counted twice: their out-of-sample ranks tie, and the
    in-sample winner's tied rank sits exactly at the median, which CSCV counts as overfitting.
    Three trials that never traded thus give PBO 1.0, an artefact; dropping the repeats leaves
    one column and no PBO.
    """
    n_rows, n_cols = matrix.shape
    if n_cols < 2:
        return matrix, (f"{n_cols} complete trial{'' if n_cols == 1 else 's'}; a PBO "
                        "compares at least 2")
    _, first = np.unique(matrix, axis=1, return_index=True)
    distinct = matrix[:, np.sort(first)]
    if distinct.shape[1] < 2:
        flat = " (none traded)" if not matrix.any() else ""
        return distinct, (f"the out-of-sample returns of its {n_cols} trials are identical"
                          f"{flat}: their ranks tie, so there is no best trial to test")
    if n_rows < n_partitions:
        return distinct, (f"{n_rows} out-of-sample rows, fewer than the {n_partitions} CSCV "
                          "blocks (`pbo_partitions`)")
    return distinct, ""
