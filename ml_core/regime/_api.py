"""The regime detector's task-level API: fit, current regime, probabilities, persistence, stability.

Thin, documented entry points over :class:`RegimeHMM` for the flow, the CLI and notebooks.
Probabilities are forward-filtered ``P(state_t | bars <= t)`` unless ``smoothed=True`` is asked
for, and smoothed ones are named as diagnostics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from ml_core.config import RegimeConfig
from ml_core.data import OHLCV
from ml_core.regime._hmm import RegimeHMM, _fmt
from ml_core.regime._labels import REGIME_LABELS
from ml_core.regime._persistence import regime_persistence

SMOOTHED_PREFIX = "smoothed_diagnostic_"


@dataclass(frozen=True)
class RegimeSnapshot:
    """The regime at the latest closed regime bar: its availability time, label, probabilities."""

    timestamp: pd.Timestamp
    label: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class PersistenceReport:
    """Persistence per regime and how well the model predicts the next regime bar.

    ``table``: index regime labels; columns ``p_stay``, ``expected_duration_bars``,
    ``mean_run_length``, ``n_runs``, ``occupancy``. ``next_state_accuracy``: share of regime bars
    whose filtered argmax equals the argmax of the one-step prediction ``filtered_{t-1} @ A`` made
    before the bar (out of sample when ``test_bars`` are given); ``next_state_baseline``: the same
    for "the next state is the current one"; ``n_predictions``: bars scored.
    ``next_state_brier`` / ``next_state_brier_baseline``: mean Brier score (sum over the three
    states of the squared error, 0 best, 2 worst) of the predicted distribution
    ``filtered_{t-1} @ A`` / of ``filtered_{t-1}`` itself against the filtered argmax at ``t``: the
    argmax accuracies hardly differ when ``A`` is strongly diagonal, the probabilities do.
    """

    table: pd.DataFrame
    next_state_accuracy: float
    next_state_baseline: float
    n_predictions: int
    next_state_brier: float = math.nan
    next_state_brier_baseline: float = math.nan


def fit_regime_model(bars: pd.DataFrame | Sequence[pd.DataFrame], config: RegimeConfig,
                     base_timeframe: timedelta, random_state: int | None = None, *,
                     init_model: RegimeHMM | None = None) -> RegimeHMM:
    """Fit the 3-state HMM on the regime bars of ``bars`` (best of ``config.n_restarts``).

    Parameters
    ----------
    bars : pandas.DataFrame or sequence of pandas.DataFrame
        Base bars (canonical schema), the training window only: everything the model learns,
        the observations' standardisation included, comes from them. Several contiguous
        segments (time order, no overlap) are fitted as independent sequences, each with its
        own warm-up (:meth:`RegimeHMM.fit`).
    config : RegimeConfig
        The ``regime`` section of a profile: regime ``timeframe``, ``volatility_window`` (the
        realised-volatility observation), ``covariance_type``, ``n_iter``, ``tol``,
        ``n_restarts``, ``min_state_occupancy``.
    base_timeframe : timedelta
        Length of one bar of ``bars``.
    random_state : int, optional
        Seeds the EM restarts (same seed, same model).
    init_model : RegimeHMM, optional
        A previous fit (e.g. the champion's) to warm-start one extra EM run from, as a weekly
        retrain would; see :meth:`RegimeHMM.fit`.

    Returns
    -------
    RegimeHMM
        Fitted; ``fit_report_`` holds one row per EM start (seed, log-likelihood, iterations,
        convergence, rejection reason) and ``converged_`` whether the kept one really converged.

    Raises
    ------
    ValueError
        Too few bars (the message gives the bars given and needed), constant prices, NaN or
        non-positive prices, or every restart degenerate.
    """
    if not isinstance(config, RegimeConfig):
        raise TypeError(f"`config` must be a RegimeConfig, got {type(config).__name__}")
    model = RegimeHMM.from_config(config, base_timeframe, random_state=random_state)
    return model.fit(bars, init_model=init_model)


def get_regime_probabilities(model: RegimeHMM, bars: pd.DataFrame,
                             smoothed: bool = False) -> pd.DataFrame:
    """Filtered probabilities per closed regime bar (columns bull/bear/sideways); with
    ``smoothed=True`` the forward-backward posteriors, columns prefixed ``smoothed_diagnostic_``.

    Filtered row ``j`` is ``P(regime_j | regime bars <= j)``: it depends on bars up to the
    regime bar's availability time only, so it may feed features and signals. Smoothed rows use
    every bar of ``bars`` (the future included) and are for plots and judging a fit only.

    Returns
    -------
    pandas.DataFrame
        Index ``available_at`` (availability time of each closed regime bar of ``bars``; the
        still-open last bin is left out); the first ``volatility_window`` rows (warm-up) are NaN.
    """
    if smoothed:
        out = model.smoothed_proba(bars)
        out.columns = [f"{SMOOTHED_PREFIX}{label}" for label in REGIME_LABELS]
        return out
    return model.filter_proba(bars)


def predict_current_regime(model: RegimeHMM, bars: pd.DataFrame) -> RegimeSnapshot:
    """The filtered regime at the last closed regime bar of ``bars``.

    ``timestamp`` is that regime bar's availability time (the open time of its last base bar),
    so ``bars`` rows after it (a still-open bin) do not count yet.

    Raises
    ------
    ValueError
        If ``bars`` hold no closed regime bar past the warm-up (the message gives how many they
        hold and how many are needed).
    """
    proba = model.filter_proba(bars)
    valid = proba.dropna()
    if valid.empty:
        raise ValueError(
            f"no regime to report: `bars` has {len(bars)} rows giving {len(proba)} closed "
            f"{_fmt(model.timeframe)} regime bars; the filter needs at least "
            f"{model.volatility_window + 1} (1 for the first return plus "
            f"`volatility_window={model.volatility_window}` for the volatility)"
        )
    last = valid.iloc[-1]
    return RegimeSnapshot(
        timestamp=pd.Timestamp(valid.index[-1]),
        label=REGIME_LABELS[int(np.argmax(last.to_numpy()))],
        probabilities={label: float(last[label]) for label in REGIME_LABELS},
    )


def analyze_regime_persistence(model: RegimeHMM, bars: pd.DataFrame,
                               test_bars: pd.DataFrame | None = None) -> PersistenceReport:
    """Persistence on ``bars``; next-state accuracy on ``test_bars`` if given (out of sample).

    The table compares the persistence the transition matrix implies (``p_stay``, expected
    duration ``1 / (1 - p_stay)`` regime bars) with the runs of the filtered argmax on ``bars``
    (:func:`~ml_core.regime.regime_persistence`). The next-state scores predict each regime bar
    ``t`` from the filtered probabilities at ``t - 1`` (known before bar ``t``).

    Parameters
    ----------
    model : RegimeHMM
        Fitted (on ``bars``, typically).
    bars : pandas.DataFrame
        Base bars for the table (and the scores when ``test_bars`` is None: in sample).
    test_bars : pandas.DataFrame, optional
        Later base bars, starting after ``bars`` ends. The filter runs on over ``bars`` then
        ``test_bars`` (so it starts warm) and only the regime bars available at or after
        ``test_bars.index[0]`` are scored: the model never saw them.

    Raises
    ------
    ValueError
        ``test_bars`` overlapping ``bars``, or no regime bar to score.
    """
    proba = model.filter_proba(bars).dropna()
    states = proba.to_numpy().argmax(axis=1)
    table = regime_persistence(model.transmat_, states=states)
    starts = np.r_[True, states[1:] != states[:-1]] if len(states) else np.zeros(0, bool)
    table.insert(3, "n_runs", np.bincount(states[starts], minlength=len(REGIME_LABELS)))

    if test_bars is None:
        scored, first = proba, None
    else:
        if len(test_bars) == 0 or len(bars) == 0 or test_bars.index[0] <= bars.index[-1]:
            raise ValueError(
                "`test_bars` must be non-empty and start after `bars` ends (out of sample), got "
                f"`test_bars` from {test_bars.index[0] if len(test_bars) else None} and "
                f"`bars` ending {bars.index[-1] if len(bars) else None}"
            )
        both = pd.concat([bars.loc[:, list(OHLCV)], test_bars.loc[:, list(OHLCV)]])
        scored, first = model.filter_proba(both).dropna(), test_bars.index[0]
    p = scored.to_numpy()
    target = p[1:].argmax(axis=1)
    predicted = p[:-1] @ model.transmat_
    keep = np.ones(len(target), bool) if first is None else (scored.index[1:] >= first)
    n = int(keep.sum())
    if n == 0:
        raise ValueError(
            f"no regime bar to score the next-state prediction on: "
            f"{'`test_bars`' if first is not None else '`bars`'} give {len(scored)} filtered "
            f"{_fmt(model.timeframe)} regime bars"
            + ("" if first is None else f", none of them at or after {first}")
        )
    onehot = np.eye(len(REGIME_LABELS))[target[keep]]
    return PersistenceReport(
        table=table,
        next_state_accuracy=float((predicted[keep].argmax(axis=1) == target[keep]).mean()),
        next_state_baseline=float((p[:-1][keep].argmax(axis=1) == target[keep]).mean()),
        n_predictions=n,
        next_state_brier=float(((predicted[keep] - onehot) ** 2).sum(axis=1).mean()),
        next_state_brier_baseline=float(((p[:-1][keep] - onehot) ** 2).sum(axis=1).mean()),
    )


def detection_lag(true_states: np.ndarray, filtered_states: np.ndarray) -> np.ndarray:
    """Bars from each switch of ``true_states`` until ``filtered_states`` first shows the new
    state (NaN if it never does before the next switch).

    Parameters
    ----------
    true_states : ndarray of shape (n,)
        Known state path (integers), e.g. simulated.
    filtered_states : ndarray of shape (n,)
        The detector's path on the same bars, e.g. the filtered argmax; NaN (warm-up) never
        matches.

    Returns
    -------
    ndarray of shape (n_switches,)
        One lag per switch ``t`` (``true_states[t] != true_states[t - 1]``), in bars: 0 when the
        filter shows the new state on the switch bar itself.
    """
    true = np.asarray(true_states, dtype="float64")
    found = np.asarray(filtered_states, dtype="float64")
    if true.ndim != 1 or true.shape != found.shape:
        raise ValueError(
            f"`true_states` and `filtered_states` must be 1-D of equal length, got shapes "
            f"{true.shape} and {found.shape}"
        )
    if np.isnan(true).any():
        raise ValueError(f"`true_states` must not hold NaN, got {int(np.isnan(true).sum())}")
    switches = np.flatnonzero(true[1:] != true[:-1]) + 1
    ends = np.r_[switches[1:], len(true)][: len(switches)]
    lags = np.full(len(switches), np.nan)
    for i, (start, end) in enumerate(zip(switches, ends, strict=True)):
        hits = np.flatnonzero(found[start:end] == true[start])
        if hits.size:
            lags[i] = hits[0]
    return lags


def label_agreement(previous: RegimeHMM, current: RegimeHMM, bars: pd.DataFrame) -> float:
    """Share of the regime bars of ``bars`` on which both models' filtered argmax labels agree.

    Only regime bars past both models' warm-ups count. The models must share ``timeframe`` and
    ``base_timeframe`` (else their regime bars differ).
    """
    for name in ("timeframe", "base_timeframe"):
        if pd.Timedelta(getattr(previous, name)) != pd.Timedelta(getattr(current, name)):
            raise ValueError(
                f"the models' `{name}` must match, got `{name}={getattr(previous, name)}` and "
                f"`{name}={getattr(current, name)}`"
            )
    a, b = previous.filter_proba(bars), current.filter_proba(bars)
    valid = (a.notna().all(axis=1) & b.notna().all(axis=1)).to_numpy()
    if not valid.any():
        raise ValueError(
            f"`bars` ({len(bars)} rows, {len(a)} closed regime bars) hold no regime bar past "
            "both models' warm-up to compare"
        )
    same = a.to_numpy()[valid].argmax(axis=1) == b.to_numpy()[valid].argmax(axis=1)
    return float(same.mean())


def weekly_label_stability(bars: pd.DataFrame, config: RegimeConfig, base_timeframe: timedelta,
                           n_refits: int = 10, step: timedelta = timedelta(days=7),
                           random_state: int | None = None, *,
                           window: timedelta | None = None,
                           warm_start: bool = False) -> pd.DataFrame:
    """Refit as a weekly retrain would (training span ending ``step`` later each time, the last
    ending at ``bars.index[-1]``); one row per refit: ``end``, ``agreement`` with the previous
    fit on their shared history (NaN for the first), ``log_likelihood``, ``converged``,
    ``n_iter``.

    Each refit uses ``config`` and ``random_state`` as the retrain does. Agreement is
    :func:`label_agreement` on the bars both training spans hold: what relabelling a retrain
    brings to history both models saw. Target: 0.95 or more.

    Parameters
    ----------
    n_refits : int, default 10
        Fits, at least 2; the first ends ``(n_refits - 1) * step`` before the last bar.
    window : timedelta, optional
        Training span length (rolling window); None trains on everything up to each end
        (expanding window).
    warm_start : bool, default False
        Start one extra EM run of each refit from the previous fit (``init_model``).

    Returns
    -------
    pandas.DataFrame
        Columns ``end``, ``agreement``, ``log_likelihood``, ``converged``, ``n_iter``,
        ``n_fit_bars``, ``rejected_restarts``, ``kept_init`` (``"random"`` or
        ``"warm_start"``).

    Raises
    ------
    ValueError
        Bad ``n_refits``/``step``, or a refit that cannot be fitted (too few bars for the first
        one, typically); the message names the refit.
    """
    if not isinstance(n_refits, (int, np.integer)) or n_refits < 2:
        raise ValueError(f"`n_refits` must be an integer >= 2, got `n_refits={n_refits}`")
    step = pd.Timedelta(step)
    if step <= pd.Timedelta(0):
        raise ValueError(f"`step` must be positive, got `step={step}`")
    if window is not None and pd.Timedelta(window) <= pd.Timedelta(0):
        raise ValueError(f"`window` must be positive, got `window={pd.Timedelta(window)}`")
    if len(bars) == 0:
        raise ValueError("`bars` is empty")
    last = bars.index[-1]
    ends = [last - step * (n_refits - 1 - i) for i in range(n_refits)]
    if ends[0] <= bars.index[0]:
        raise ValueError(
            f"`bars` spans {last - bars.index[0]}, too short for {n_refits} refits "
            f"{step} apart (the first would end at {ends[0]}, before the first bar)"
        )
    rows = []
    previous: RegimeHMM | None = None
    previous_start: pd.Timestamp | None = None
    for i, end in enumerate(ends):
        start = bars.index[0] if window is None else max(bars.index[0], end - window)
        train = bars.loc[start:end]
        try:
            model = fit_regime_model(train, config, base_timeframe, random_state,
                                     init_model=previous if warm_start else None)
        except ValueError as exc:
            raise ValueError(f"refit {i + 1}/{n_refits} (bars {start} to {end}): {exc}") from exc
        agreement = math.nan
        if previous is not None:
            shared = bars.loc[max(start, previous_start):ends[i - 1]]
            agreement = label_agreement(previous, model, shared)
        report = model.fit_report_
        rows.append({
            "end": end,
            "agreement": agreement,
            "log_likelihood": model.log_likelihood_,
            "converged": model.converged_,
            "n_iter": model.n_iter_,
            "n_fit_bars": model.n_fit_bars_,
            "rejected_restarts": int(report["rejected"].notna().sum()),
            "kept_init": str(report.loc[report["kept"].astype(bool), "init"].iloc[0]),
        })
        previous, previous_start = model, start
    return pd.DataFrame(rows)
