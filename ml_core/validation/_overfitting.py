"""Backtest-overfitting statistics: probabilistic and deflated Sharpe ratios, and CSCV's PBO.

Trying many strategy variants and keeping the best one inflates its Sharpe ratio. These functions
measure by how much:

- :func:`probabilistic_sharpe_ratio` -- probability that the true Sharpe ratio exceeds a benchmark,
  given the sample's length, skewness and kurtosis (Bailey & López de Prado 2012);
- :func:`expected_max_sharpe` -- the Sharpe ratio the best of ``N`` skill-less trials reaches by
  luck alone;
- :func:`deflated_sharpe_ratio` -- PSR against that luck benchmark (Bailey & López de Prado 2014);
- :func:`probability_of_backtest_overfitting` -- combinatorially symmetric cross-validation (CSCV):
  how often the in-sample winner ranks in the bottom half out of sample (Bailey et al. 2014).

Units: every Sharpe ratio here is PER PERIOD (per bar) and NOT annualised -- ``mean / std`` of the
returns as given. The PSR formula's standard error is derived for per-period ratios; to compare
with annualised figures multiply by ``sqrt(periods_per_year)``
(:func:`ml_core.metrics.periods_per_year`).
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from ml_core.metrics import _vector

__all__ = [
    "PBOResult",
    "SharpeSignificance",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probability_of_backtest_overfitting",
    "probabilistic_sharpe_ratio",
    "sharpe_significance",
]

_TINY = 1e-12  # dispersion at or below this is treated as zero (same threshold as ml_core.metrics)
_EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant
_CHUNK_CELLS = 2_000_000  # combinations x trials evaluated at once in CSCV (bounds memory)


@dataclass(frozen=True)
class SharpeSignificance:
    """A Sharpe ratio, the benchmark it was tested against and the probability it beats it.

    Attributes
    ----------
    sharpe : float
        Observed per-period Sharpe ratio ``mean / std`` (``ddof=1``), not annualised.
    sharpe_benchmark : float
        Per-period benchmark ``SR*`` (0 for PSR; the expected maximum of the trials for DSR).
    probability : float
        ``P[true SR > SR*]``: the PSR, or the DSR when the benchmark is a deflation benchmark.
    n_observations : int
        Number of returns ``n``.
    skewness : float
        Sample skewness ``gamma_3`` (biased moment estimator).
    kurtosis : float
        Sample kurtosis ``gamma_4``, NOT excess (3 for a normal distribution).
    """

    sharpe: float
    sharpe_benchmark: float
    probability: float
    n_observations: int
    skewness: float
    kurtosis: float


def sharpe_significance(returns: Any, sr_benchmark: float = 0.0) -> SharpeSignificance:
    """Probabilistic Sharpe ratio with its ingredients (see :func:`probabilistic_sharpe_ratio`).

    Parameters
    ----------
    returns : array-like of float, shape (n_observations,)
        Per-period returns of one strategy, at least 3 and not all equal.
    sr_benchmark : float, default 0
        Benchmark Sharpe ratio ``SR*``, per period (same units as ``returns``), not annualised.

    Returns
    -------
    SharpeSignificance
    """
    r = _vector(returns, "returns", min_size=3)
    if not math.isfinite(sr_benchmark):
        raise ValueError(f"`sr_benchmark` must be finite, got `sr_benchmark={sr_benchmark}`")
    std = r.std(ddof=1)
    if std <= _TINY:
        raise ValueError(
            f"`returns` must not be constant (standard deviation {std:.3g}): "
            "the Sharpe ratio and its standard error are undefined"
        )
    n = r.size
    sr = float(r.mean() / std)
    centred = r - r.mean()
    m2 = np.mean(centred**2)
    skew = float(np.mean(centred**3) / m2**1.5)
    kurt = float(np.mean(centred**4) / m2**2)
    # Pearson's inequality kurt >= 1 + skew**2 makes the variance factor a sum of two non-negative
    # terms, (1 - skew*sr/2)**2 + (kurt - 1 - skew**2)/4 * sr**2, so it is >= 0 for any sample.
    factor = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    excess = (sr - sr_benchmark) * math.sqrt(n - 1)
    if factor <= _TINY:  # degenerate two-point sample: zero standard error
        prob = 0.5 if excess == 0 else float(excess > 0)
    else:
        prob = float(norm.cdf(excess / math.sqrt(factor)))
    return SharpeSignificance(sr, float(sr_benchmark), prob, n, skew, kurt)


def probabilistic_sharpe_ratio(returns: Any, sr_benchmark: float = 0.0) -> float:
    """Probability that the true Sharpe ratio of ``returns`` exceeds ``sr_benchmark``.

    ``PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))`` with ``SR`` the
    observed per-period Sharpe ratio ``mean / std`` (``ddof=1``), ``g3`` the sample skewness and
    ``g4`` the sample kurtosis (non-excess, biased moment estimators) -- the asymptotic standard
    error of ``SR`` under non-normal i.i.d. returns (Mertens 2002). Negative skew and fat tails
    widen it, so the same ``SR`` is less convincing. ``PSR = 0.5`` when ``SR == SR*``.

    Parameters
    ----------
    returns : array-like of float, shape (n_observations,)
        Per-period returns, at least 3 and not all equal (raises ``ValueError`` otherwise).
    sr_benchmark : float, default 0
        Benchmark ``SR*`` PER PERIOD, not annualised (divide an annual figure by
        ``sqrt(periods_per_year)``).

    Returns
    -------
    float
        Probability in ``[0, 1]``; above 0.95 is the usual "significant" threshold.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier", *Journal of Risk*
    15(2), 2012. C. Mertens, "The Sharpe ratio and the information ratio", 2002.
    """
    return sharpe_significance(returns, sr_benchmark).probability


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` independent trials with no skill.

    ``E[max SR] ~ sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant: the extreme-value approximation to the mean of the largest of ``N``
    draws from ``Normal(0, V)`` (within ~1-8 % of the exact value for ``N >= 2``, tightening as
    ``N`` grows). For ``N = 1`` the formula gives ``-inf`` (``Phi^-1(0)``); the exact answer, the
    mean of one null draw, is ``0``, which is returned -- so :func:`deflated_sharpe_ratio` with
    one trial is the plain PSR against 0. The result is increasing in ``N``.

    Parameters
    ----------
    n_trials : int
        Number of (effectively independent) trials ``N``, at least 1.
    sr_variance : float
        Variance ``V`` of the trials' Sharpe ratios, in the same units (per period, squared) as the
        Sharpe ratio it will be compared with; non-negative.

    Returns
    -------
    float
        Per-period Sharpe ratio expected from the best trial by luck alone.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection
    Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio Management* 40(5), 2014.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
        raise ValueError(f"`n_trials` must be an integer of at least 1, got `n_trials={n_trials}`")
    if not (math.isfinite(sr_variance) and sr_variance >= 0):
        raise ValueError(
            f"`sr_variance` must be finite and non-negative, got `sr_variance={sr_variance}`"
        )
    if n_trials == 1:
        return 0.0
    n = float(n_trials)
    z = (1.0 - _EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n) + _EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (n * math.e)
    )
    return float(math.sqrt(sr_variance) * z)


def deflated_sharpe_ratio(returns: Any, n_trials: int, sr_variance: float) -> float:
    """Probability that the best of ``n_trials`` trials has a true Sharpe ratio above luck.

    The PSR of ``returns`` (the selected trial) against ``SR* = expected_max_sharpe(n_trials,
    sr_variance)``: it deflates the observed Sharpe ratio for the selection among many trials as
    well as for short samples and non-normal returns. ``DSR <= PSR(SR*=0)`` for ``n_trials > 1``.

    Parameters
    ----------
    returns : array-like of float, shape (n_observations,)
        Per-period returns of the selected trial.
    n_trials : int
        Number of independent trials tried (cluster correlated trials first if they are not).
    sr_variance : float
        Variance of the trials' PER-PERIOD Sharpe ratios (e.g. ``np.var(srs, ddof=1)``).

    Returns
    -------
    float
        Probability in ``[0, 1]``; use :func:`sharpe_significance` with the same benchmark for the
        ingredients.

    References
    ----------
    D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio", *Journal of Portfolio
    Management* 40(5), 2014.
    """
    return probabilistic_sharpe_ratio(returns, expected_max_sharpe(n_trials, sr_variance))


@dataclass(frozen=True)
class PBOResult:
    """Outcome of combinatorially symmetric cross-validation (CSCV).

    Attributes
    ----------
    pbo : float
        Probability of backtest overfitting: share of combinations with ``logit <= 0``, i.e. where
        the in-sample best trial ranks at or below the out-of-sample median.
    logits : numpy.ndarray of float, shape (n_combinations,)
        ``ln(w / (1 - w))`` with ``w = rank / (N + 1)`` the out-of-sample relative rank of the
        in-sample best trial (rank 1 = worst, ``N`` = best; ties get their average rank).
    n_combinations : int
        ``C(S, S/2)``.
    is_sharpe : numpy.ndarray of float, shape (n_combinations,)
        In-sample per-period Sharpe ratio of the selected trial in each combination.
    oos_sharpe : numpy.ndarray of float, shape (n_combinations,)
        Its out-of-sample per-period Sharpe ratio (pairs with ``is_sharpe`` for the performance
        degradation plot; a slope far below 1 means in-sample gains do not persist).
    """

    pbo: float
    logits: np.ndarray
    n_combinations: int
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray

    @property
    def probability_of_loss(self) -> float:
        """Share of combinations where the selected trial's out-of-sample Sharpe ratio is < 0."""
        return float(np.mean(self.oos_sharpe < 0))


def _trial_matrix(trial_returns: Any) -> np.ndarray:
    values = trial_returns.to_numpy() if hasattr(trial_returns, "to_numpy") else trial_returns
    m = np.asarray(values, dtype=float)
    if m.ndim != 2:
        raise ValueError(
            f"`trial_returns` must be 2-dimensional (n_observations, n_trials), got shape {m.shape}"
        )
    if not np.isfinite(m).all():
        row, col = (int(i[0]) for i in np.nonzero(~np.isfinite(m)))
        raise ValueError(
            f"`trial_returns` must be finite, got {m[row, col]} at row {row}, column {col}"
        )
    return m


def _sharpe_from_sums(
    total: np.ndarray, squares: np.ndarray, count: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Sharpe ratios from sums of shifted returns; 0 where there is no dispersion (< 2 rows)."""
    count = count[:, None]
    mean_shifted = total / count
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (squares - total * mean_shifted) / (count - 1)
        std = np.sqrt(np.maximum(var, 0.0))
        sr = (mean_shifted + shift) / std
    return np.where((count >= 2) & (std > _TINY), sr, 0.0)


def probability_of_backtest_overfitting(
    trial_returns: Any, n_partitions: int = 16
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    The ``T`` rows (time-ordered periods) are cut into ``S = n_partitions`` contiguous blocks
    (sizes as in :func:`numpy.array_split`). For each of the ``C(S, S/2)`` ways to pick half the
    blocks as in-sample (the other half, its complement, is out-of-sample), the trial with the best
    in-sample Sharpe ratio is selected and its out-of-sample rank among the ``N`` trials is turned
    into the logit ``ln(w / (1 - w))``, ``w = rank / (N + 1)``. ``PBO`` is the share of logits
    ``<= 0``: how often picking the in-sample winner yields an out-of-sample below-median trial.
    Skill-less trials give ``PBO`` around 0.5 or above; a genuinely dominant trial gives 0.

    Performance is the per-period Sharpe ratio ``mean / std`` (``ddof=1``; 0 for a constant
    subsample), computed from per-block sums, so the cost is ``O(C(S, S/2) * S * N)``:
    ``S = 16`` gives 12,870 combinations.

    Parameters
    ----------
    trial_returns : array-like or pandas.DataFrame of float, shape (n_observations, n_trials)
        Per-period returns, one column per trial (strategy configuration), rows in time order and
        aligned across trials. Finite, at least 2 trials and ``n_partitions`` rows.
    n_partitions : int, default 16
        Number of blocks ``S``: even and at least 2. More blocks give more combinations but
        shorter, noisier blocks.

    Returns
    -------
    PBOResult

    References
    ----------
    D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of Backtest
    Overfitting", *Journal of Computational Finance* 20(4), 2017 (SSRN 2326253, 2014).
    """
    m = _trial_matrix(trial_returns)
    s = n_partitions
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 2 or s % 2:
        raise ValueError(
            f"`n_partitions` must be an even integer of at least 2, got `n_partitions={s}`"
        )
    n_obs, n_trials = m.shape
    if n_obs < s:
        raise ValueError(
            f"`trial_returns` must have at least `n_partitions={s}` rows, got {n_obs}"
        )
    if n_trials < 2:
        raise ValueError(f"`trial_returns` must have at least 2 trials (columns), got {n_trials}")

    # Shift each trial by its mean so the sum-of-squares variance does not cancel catastrophically.
    shift = m.mean(axis=0)
    shifted = m - shift
    blocks = np.array_split(np.arange(n_obs), s)
    block_sum = np.stack([shifted[b].sum(axis=0) for b in blocks])  # (S, N)
    block_sq = np.stack([(shifted[b] ** 2).sum(axis=0) for b in blocks])  # (S, N)
    block_n = np.array([b.size for b in blocks], dtype=float)  # (S,)

    combos = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.intp)
    n_comb = combos.shape[0]
    logits = np.empty(n_comb)
    is_sharpe = np.empty(n_comb)
    oos_sharpe = np.empty(n_comb)
    chunk = max(1, _CHUNK_CELLS // n_trials)
    for start in range(0, n_comb, chunk):
        picked = np.zeros((min(chunk, n_comb - start), s))
        np.put_along_axis(picked, combos[start : start + chunk], 1.0, axis=1)
        rest = 1.0 - picked
        sr_is = _sharpe_from_sums(picked @ block_sum, picked @ block_sq, picked @ block_n, shift)
        sr_oos = _sharpe_from_sums(rest @ block_sum, rest @ block_sq, rest @ block_n, shift)
        rows = np.arange(picked.shape[0])
        best = np.argmax(sr_is, axis=1)
        chosen_oos = sr_oos[rows, best]
        below = (sr_oos < chosen_oos[:, None]).sum(axis=1)
        tied = (sr_oos == chosen_oos[:, None]).sum(axis=1)  # includes the chosen trial itself
        omega = (below + (tied + 1) / 2.0) / (n_trials + 1)
        sl = slice(start, start + picked.shape[0])
        logits[sl] = np.log(omega / (1.0 - omega))
        is_sharpe[sl] = sr_is[rows, best]
        oos_sharpe[sl] = chosen_oos
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        n_combinations=int(n_comb),
        is_sharpe=is_sharpe,
        oos_sharpe=oos_sharpe,
    )
