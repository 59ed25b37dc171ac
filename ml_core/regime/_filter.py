"""Forward filtering (causal) and forward-backward smoothing (diagnostic) for a discrete-state HMM.

Both work on per-state emission log-likelihoods, so they serve any emission model. The filter at
step ``t`` uses observations ``0..t`` only; the smoother uses the whole sequence and must never
feed features or signals (DESIGN.md section 2: hmmlearn's ``predict``/``predict_proba`` are
smoothers too).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

_STOCHASTIC_ATOL = 1e-8


def _check_hmm_arrays(
    log_emission: np.ndarray, startprob: np.ndarray, transmat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    log_emission = np.asarray(log_emission, dtype="float64")
    startprob = np.asarray(startprob, dtype="float64")
    transmat = np.asarray(transmat, dtype="float64")
    if log_emission.ndim != 2:
        raise ValueError(
            f"`log_emission` must be 2-D (n_steps, n_states), got shape {log_emission.shape}"
        )
    n_states = log_emission.shape[1]
    if startprob.shape != (n_states,):
        raise ValueError(
            f"`startprob` must have shape ({n_states},) to match `log_emission`, "
            f"got {startprob.shape}"
        )
    if transmat.shape != (n_states, n_states):
        raise ValueError(
            f"`transmat` must have shape ({n_states}, {n_states}), got {transmat.shape}"
        )
    if np.isnan(log_emission).any() or np.isposinf(log_emission).any():
        row = int(np.flatnonzero((np.isnan(log_emission) | np.isposinf(log_emission)).any(1))[0])
        raise ValueError(f"`log_emission` must not hold NaN or +inf, got one at row {row}")
    if (startprob < 0).any() or not np.isclose(startprob.sum(), 1.0, atol=_STOCHASTIC_ATOL):
        raise ValueError(f"`startprob` must be a probability vector, got {startprob.tolist()}")
    if (transmat < 0).any() or not np.allclose(transmat.sum(1), 1.0, atol=_STOCHASTIC_ATOL):
        raise ValueError(
            f"`transmat` rows must be probability vectors, got row sums {transmat.sum(1).tolist()}"
        )
    return log_emission, startprob, transmat


def _logsumexp(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis``; plain numpy (scipy's is ~50x slower on tiny arrays)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


def forward_filter(
    log_emission: np.ndarray, startprob: np.ndarray, transmat: np.ndarray
) -> np.ndarray:
    """Filtered state probabilities ``P(s_t = k | x_0..x_t)`` by the normalised forward recursion.

    ``alpha_0 ∝ startprob * p(x_0 | k)`` and ``alpha_t ∝ (alpha_{t-1} @ transmat) * p(x_t | k)``,
    normalised at every step (Rabiner 1989, eq. 19-20 with scaling). Each row of emissions is
    first shifted by its maximum (a per-step constant that cancels in the normalisation), so the
    products neither under- nor overflow; a step that still underflows (possible only with zero
    transition probabilities) is redone in log space. Row ``t`` depends on rows ``0..t`` of
    ``log_emission`` only: causal by construction.

    Parameters
    ----------
    log_emission : ndarray of shape (n_steps, n_states)
        ``log p(x_t | s_t = k)``; ``-inf`` allowed, NaN not.
    startprob : ndarray of shape (n_states,)
        Initial state distribution.
    transmat : ndarray of shape (n_states, n_states)
        ``transmat[i, j] = P(s_{t+1} = j | s_t = i)``.

    Returns
    -------
    ndarray of shape (n_steps, n_states)
        Rows sum to one.

    Raises
    ------
    ValueError
        If an observation has zero probability under every state the chain can be in.
    """
    log_emission, startprob, transmat = _check_hmm_arrays(log_emission, startprob, transmat)
    n_steps, n_states = log_emission.shape
    out = np.empty((n_steps, n_states))
    if n_steps == 0:
        return out
    row_max = log_emission.max(axis=1, keepdims=True)
    if np.isneginf(row_max).any():
        step = int(np.flatnonzero(np.isneginf(row_max[:, 0]))[0])
        raise ValueError(f"observation {step} has zero probability under every state")
    emission = np.exp(log_emission - row_max)
    pred = startprob
    for t in range(n_steps):
        alpha = pred * emission[t]
        total = alpha.sum()
        if not total > 0 or not np.isfinite(total):
            with np.errstate(divide="ignore"):
                log_alpha = np.log(pred) + log_emission[t]
            norm = _logsumexp(log_alpha)
            if not np.isfinite(norm):
                raise ValueError(
                    f"observation {t} has zero probability under every reachable state; the "
                    "filter cannot continue"
                )
            alpha = np.exp(log_alpha - norm)
            total = alpha.sum()
        alpha = alpha / total
        out[t] = alpha
        pred = alpha @ transmat
    return out


def forward_backward(
    log_emission: np.ndarray, startprob: np.ndarray, transmat: np.ndarray
) -> np.ndarray:
    """Smoothed state probabilities ``P(s_t = k | x_0..x_{T-1})``: DIAGNOSTIC ONLY (look-ahead).

    Row ``t`` uses observations after ``t``; never use it for features, labels or signals.

    Parameters
    ----------
    log_emission, startprob, transmat
        As in :func:`forward_filter`.

    Returns
    -------
    ndarray of shape (n_steps, n_states)
    """
    log_emission, startprob, transmat = _check_hmm_arrays(log_emission, startprob, transmat)
    n_steps, n_states = log_emission.shape
    if n_steps == 0:
        return np.empty((0, n_states))
    with np.errstate(divide="ignore"):
        log_start = np.log(startprob)
        log_trans = np.log(transmat)
    log_alpha = np.empty((n_steps, n_states))
    log_alpha[0] = log_start + log_emission[0]
    for t in range(1, n_steps):
        log_alpha[t] = _logsumexp(log_alpha[t - 1][:, None] + log_trans, axis=0) + log_emission[t]
    log_beta = np.zeros((n_steps, n_states))
    for t in range(n_steps - 2, -1, -1):
        log_beta[t] = _logsumexp(log_trans + (log_emission[t + 1] + log_beta[t + 1])[None, :],
                                axis=1)
    log_gamma = log_alpha + log_beta
    norm = _logsumexp(log_gamma, axis=1)[:, None]
    if not np.isfinite(norm).all():
        raise ValueError("the observation sequence has zero probability under the model")
    return np.exp(log_gamma - norm)


def gaussian_log_emission(X: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """Per-state Gaussian log densities ``log N(x_t; means[k], covars[k])``.

    Parameters
    ----------
    X : ndarray of shape (n_steps, n_features)
    means : ndarray of shape (n_states, n_features)
    covars : ndarray of shape (n_states, n_features, n_features)
        Full covariance matrices.

    Returns
    -------
    ndarray of shape (n_steps, n_states)
    """
    X = np.asarray(X, dtype="float64")
    out = np.empty((X.shape[0], len(means)))
    for k, (mean, cov) in enumerate(zip(means, covars, strict=True)):
        out[:, k] = np.atleast_1d(multivariate_normal(mean=mean, cov=cov).logpdf(X))
    return out
