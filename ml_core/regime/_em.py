"""EM bookkeeping for :class:`~ml_core.regime.RegimeHMM`: convergence, warm starts, the fit report.

hmmlearn's ``ConvergenceMonitor.converged`` is ``iter == n_iter or gain < tol``: it reads True when
EM merely ran out of iterations, and also when the log-likelihood *fell* (a negative gain is below
``tol`` too). :func:`em_convergence` asks the question properly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ml_core.regime._labels import REGIME_LABELS

# Columns of RegimeHMM.fit_report_, in order.
FIT_REPORT_COLUMNS: tuple[str, ...] = (
    "seed", "init", "log_likelihood", "n_iter", "converged", "last_gain", "stop", "rejected",
    "kept", *(f"occupancy_{label}" for label in REGIME_LABELS),
)


def em_convergence(monitor: Any, tol: float) -> tuple[bool, float, str]:
    """Whether an EM run really converged, from its hmmlearn ``ConvergenceMonitor``.

    Converged means the last log-likelihood change ``history[-1] - history[-2]`` lies in
    ``(-tol, tol)``. hmmlearn stops on ``change < tol`` or on ``iter == n_iter``, so a run can stop
    (and report ``converged``) while still climbing (cap reached) or after the log-likelihood fell,
    which EM never does on exact arithmetic: a sign of numerical trouble (a collapsing state).

    Parameters
    ----------
    monitor : hmmlearn.base.ConvergenceMonitor
        ``history`` (the last two log-likelihoods) and ``iter`` (EM iterations run).
    tol : float
        The run's tolerance.

    Returns
    -------
    converged : bool
    last_gain : float
        ``history[-1] - history[-2]``; NaN with fewer than two iterations.
    stop : str
        ``"tol"`` (converged), ``"n_iter"`` (stopped by the cap while still gaining at least
        ``tol``), ``"decrease"`` (the log-likelihood fell by ``tol`` or more) or ``"too_few"``
        (fewer than two iterations: nothing to judge).
    """
    history = list(monitor.history)
    if len(history) < 2:
        return False, math.nan, "too_few"
    gain = float(history[-1] - history[-2])
    if abs(gain) < tol:
        return True, gain, "tol"
    if gain <= -tol:
        return False, gain, "decrease"
    # gain >= tol: hmmlearn stops there only when the cap is hit (``iter == n_iter``)
    return False, gain, "n_iter"


def warm_start_parameters(
    init: Any, obs_mean: np.ndarray, obs_scale: np.ndarray, covariance_type: str
) -> dict[str, np.ndarray]:
    """A fitted model's parameters in a new fit's standardised units, shaped for hmmlearn.

    The observations are standardised with each fit's own mean and scale, so the previous
    model's emission parameters are mapped through its raw units: ``raw = m + s * x``, hence
    ``x_new = (m_old - m_new + s_old * x_old) / s_new`` and ``C_new = D C_old D`` with
    ``D = diag(s_old / s_new)``.

    Parameters
    ----------
    init : RegimeHMM
        Fitted; its arrays in label order (any order serves as a start).
    obs_mean, obs_scale : ndarray of shape (n_features,)
        The new fit's standardisation.
    covariance_type : {"full", "diag", "spherical"}
        The new fit's; ``diag`` takes the diagonal, ``spherical`` its mean.

    Returns
    -------
    dict
        ``startprob_``, ``transmat_``, ``means_``, ``covars_`` (new arrays) as hmmlearn's
        ``GaussianHMM`` expects them for ``covariance_type``.
    """
    ratio = np.asarray(init.obs_scale_, dtype="float64") / obs_scale
    means = (np.asarray(init.obs_mean_) - obs_mean + np.asarray(init.means_) * init.obs_scale_)
    covars = np.asarray(init.covars_, dtype="float64") * np.outer(ratio, ratio)[None, :, :]
    diagonal = np.diagonal(covars, axis1=1, axis2=2)
    shaped = {"full": covars, "diag": diagonal, "spherical": diagonal.mean(axis=1)}
    startprob = np.asarray(init.startprob_, dtype="float64")
    transmat = np.asarray(init.transmat_, dtype="float64")
    return {  # renormalised: hmmlearn checks the sums exactly after a JSON round trip
        "startprob_": startprob / startprob.sum(),
        "transmat_": transmat / transmat.sum(axis=1, keepdims=True),
        "means_": means / obs_scale,
        "covars_": shaped[covariance_type].copy(),
    }


def fit_report(restarts: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``restarts_`` records as a frame: one row per EM start, :data:`FIT_REPORT_COLUMNS`.

    Records saved before a field existed (older :meth:`RegimeHMM.to_dict` output) get NaN / None
    there.
    """
    rows = []
    for r in restarts:
        occupancy = r.get("occupancy") or [math.nan] * len(REGIME_LABELS)
        row = {name: r.get(name) for name in FIT_REPORT_COLUMNS[:9]}
        row["init"] = row["init"] or "random"
        row |= {f"occupancy_{label}": float(v) for label, v in zip(REGIME_LABELS, occupancy,
                                                                   strict=True)}
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(FIT_REPORT_COLUMNS))
    for name in ("log_likelihood", "last_gain"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    out["seed"] = out["seed"].astype("Int64")  # None for the warm start
    out["rejected"] = out["rejected"].astype(object).where(out["rejected"].notna(), None)
    return out
