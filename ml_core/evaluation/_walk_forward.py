"""Walk-forward evaluation of the ensemble: one fresh fit per window, scored on the next window."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics, check_close, event_span
from ml_core.evaluation._cpcv import _baseline_returns, _check_inputs, _path_metrics
from ml_core.evaluation._jobs import MapJobs, SplitJob, run_jobs
from ml_core.evaluation._returns import trade_returns

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.validation import WalkForwardCV

__all__ = ["WalkForwardReport", "evaluate_walk_forward", "fit_window"]

WINDOW_COLUMNS = (
    "test_start", "test_end", "n_train", "n_test", "n_trades", "sharpe", "sortino",
    "max_drawdown", "hit_rate", "total_return", "buy_and_hold_sharpe", "long_every_event_sharpe",
)


def _check_thresholds(sharpe_threshold: float, drawdown_limit: float) -> None:
    if not (isinstance(sharpe_threshold, numbers.Real) and math.isfinite(sharpe_threshold)):
        raise ValueError(
            f"`sharpe_threshold` must be a finite number, got `sharpe_threshold={sharpe_threshold}`"
        )
    if not (isinstance(drawdown_limit, numbers.Real) and 0 < drawdown_limit <= 1):
        raise ValueError(
            f"`drawdown_limit` must lie in (0, 1], got `drawdown_limit={drawdown_limit}`"
        )


@dataclass
class WalkForwardReport:
    """Per-window out-of-sample results of :func:`evaluate_walk_forward`.

    Where CPCV (:class:`CVReport`) asks "how good is this model on average over many
    recombined histories?", walk-forward asks "would retraining it on the past and trading the
    next window have kept working, window after window?": the share of windows that clear a
    Sharpe bar and stay under a drawdown limit measures that consistency.

    Attributes
    ----------
    windows : pandas.DataFrame
        One row per test window (index ``window``, 0-based, in time order): ``test_start``,
        ``test_end`` (first and last event start ``t0`` of the window), ``n_train`` (training
        events after purging), ``n_test``, ``n_trades`` (non-HOLD signals), ``sharpe``,
        ``sortino`` (annualised), ``max_drawdown`` (positive fraction), ``hit_rate`` (these four
        NaN in a window without trades), ``total_return`` (compounded, ``prod(1 + r) - 1``; 0
        without trades), ``buy_and_hold_sharpe`` (holding the asset from the window's first
        event start to its last label end, annualised at the bars' rate: what the market gave;
        NaN without close prices), ``long_every_event_sharpe`` (long on every event of the
        window with its barrier exit, full size, no costs).
    window_returns : dict[int, pandas.Series]
        Trade returns of each window's events (:func:`trade_returns`), in time order.
    sharpe_threshold : float, default 1.0
        Annualised Sharpe a window must strictly exceed to count as consistent; finite.
    drawdown_limit : float, default 0.15
        Max drawdown (fraction) a window must stay strictly below to count as controlled; in
        ``(0, 1]``.

    Raises
    ------
    ValueError
        If ``sharpe_threshold`` is not finite or ``drawdown_limit`` is outside ``(0, 1]``.
    """

    windows: pd.DataFrame
    window_returns: dict[int, pd.Series] = field(repr=False)
    sharpe_threshold: float = 1.0
    drawdown_limit: float = 0.15

    def __post_init__(self) -> None:
        _check_thresholds(self.sharpe_threshold, self.drawdown_limit)

    def summary(self) -> dict[str, float]:
        """Flat metrics for logging and promotion, all floats.

        - ``wf_sharpe_consistency``: share of the windows that traded with
          ``sharpe > sharpe_threshold``;
        - ``wf_drawdown_control``: share of the windows that traded with
          ``max_drawdown < drawdown_limit``;
        - ``wf_sharpe_median``, ``wf_sharpe_mean``, ``wf_max_drawdown_median`` over the windows
          that traded; ``wf_buy_and_hold_sharpe_median`` and
          ``wf_long_every_event_sharpe_median`` over all windows;
        - ``wf_n_windows`` and ``wf_n_windows_traded``.

        Both comparisons are strict, so a window exactly at the bar does not count. A window
        without trades has no Sharpe or drawdown, so it counts in neither share; when no window
        traded the shares and the Sharpe and drawdown figures are NaN (undefined, not perfect).

        Raises
        ------
        ValueError
            If there are no windows, or the thresholds were changed to invalid values.
        """
        _check_thresholds(self.sharpe_threshold, self.drawdown_limit)
        if len(self.windows) == 0:
            raise ValueError("`windows` is empty: a walk-forward summary needs at least 1 window")
        traded = self.windows[self.windows["n_trades"] > 0]
        sharpe = traded["sharpe"].to_numpy(dtype=float)
        drawdown = traded["max_drawdown"].to_numpy(dtype=float)
        some = len(traded) > 0
        nan = float("nan")
        return {
            "wf_sharpe_consistency": float(np.mean(sharpe > self.sharpe_threshold)) if some
            else nan,
            "wf_drawdown_control": float(np.mean(drawdown < self.drawdown_limit)) if some
            else nan,
            "wf_sharpe_median": float(np.median(sharpe)) if some else nan,
            "wf_sharpe_mean": float(np.mean(sharpe)) if some else nan,
            "wf_max_drawdown_median": float(np.median(drawdown)) if some else nan,
            "wf_buy_and_hold_sharpe_median": float(self.windows["buy_and_hold_sharpe"].median()),
            "wf_long_every_event_sharpe_median": float(
                self.windows["long_every_event_sharpe"].median()),
            "wf_n_windows": float(len(self.windows)),
            "wf_n_windows_traded": float(len(traded)),
        }


def fit_window(make_ensemble: Callable[[], RegimeForestEnsemble], X: pd.DataFrame,
               targets: pd.DataFrame, events: pd.DataFrame, cost_bps: float,
               events_per_year: float, close: pd.Series | None,
               job: SplitJob) -> tuple[dict[str, Any], pd.Series]:
    """Fit a fresh ensemble on one window's training events and trade the window: its row of
    :data:`WINDOW_COLUMNS` and its trade returns. Depends on its arguments only (see
    :func:`ml_core.evaluation.fit_split`); see :func:`evaluate_walk_forward` for each."""
    from ml_core.metrics import sharpe_ratio

    _, train_idx, test_idx = job
    t1 = events["t1"]
    # Only the long rule is reported per window (the momentum rule, if computed, is not used).
    every_event = _baseline_returns(X, events, cost_bps, momentum_column="roc_12")[
        "long_every_event"]
    model = make_ensemble()
    model.fit(X.iloc[train_idx], targets.iloc[train_idx], t1.iloc[train_idx])
    X_test = X.iloc[test_idx]
    signal = model.predict(X_test)
    returns = trade_returns(signal, events, cost_bps)
    metrics = _path_metrics(
        returns, int((signal["signal"].to_numpy() != 0).sum()), events_per_year
    )
    metrics.pop("n_events")  # equals n_test
    row: dict[str, Any] = {
        "test_start": X_test.index[0], "test_end": X_test.index[-1],
        "n_train": int(train_idx.size), "n_test": int(test_idx.size), **metrics,
        "total_return": float(np.prod(1.0 + returns.to_numpy()) - 1.0),
        "buy_and_hold_sharpe": float("nan") if close is None else buy_and_hold_metrics(
            close, *event_span(events.iloc[test_idx]))["sharpe"],
        "long_every_event_sharpe": sharpe_ratio(
            every_event.iloc[test_idx].to_numpy(), events_per_year),
    }
    return {c: row[c] for c in WINDOW_COLUMNS}, returns


def evaluate_walk_forward(
    make_ensemble: Callable[[], RegimeForestEnsemble],
    X: pd.DataFrame,
    targets: pd.DataFrame,
    events: pd.DataFrame,
    cv: WalkForwardCV,
    *,
    cost_bps: float,
    events_per_year: float,
    sharpe_threshold: float = 1.0,
    drawdown_limit: float = 0.15,
    progress: Callable[[int, int], None] | None = None,
    close: pd.Series | None = None,
    map_windows: MapJobs | None = None,
) -> WalkForwardReport:
    """Fit a fresh ensemble on each walk-forward split's (purged) training events and trade the
    next window out of sample.

    For each split of ``cv`` (purged by ``events['t1']``), in time order: fit a new
    ``make_ensemble()`` on the training events only, predict the window's events, and score the
    window's trade returns (:func:`trade_returns`) with the same :mod:`ml_core.metrics` as the
    CPCV paths (annualised with ``events_per_year``), beside the Sharpe of holding the asset
    over the window's span and of going long on every one of its events. This is the
    deployment-like check CPCV lacks: each model sees only the past, as the
    retrained production model would.

    Parameters
    ----------
    make_ensemble : callable
        Returns a new, unfitted :class:`~ml_core.ensemble.RegimeForestEnsemble` (fixed
        ``random_state`` for reproducible reports). Its own meta folds purge within the training
        events only; nothing it fits sees a test event.
    X : pandas.DataFrame of shape (n_events, n_features)
        Features, indexed by sorted event starts ``t0``.
    targets : pandas.DataFrame of shape (n_events, 4)
        ``entry, position, exit, profit`` on ``X.index`` (``ml_core.labeling.make_targets``).
    events : pandas.DataFrame of shape (n_events, >= 2)
        Columns ``t1`` (label end) and ``ret`` (realised long return), on ``X.index``.
    cv : WalkForwardCV
        The splitter (windows, expanding or sliding training span, purge). Every window must
        hold at least 2 events, the fewest a Sharpe ratio needs.
    cost_bps : float
        Trading cost per unit traded, in basis points, paid on entry and exit.
    events_per_year : float
        Events per year, to annualise Sharpe and Sortino (``n_events / span in years``).
    sharpe_threshold : float, default 1.0
        Annualised Sharpe a window must exceed to count as consistent (stored in the report).
    drawdown_limit : float, default 0.15
        Max drawdown a window must stay below to count as controlled, in ``(0, 1]``.
    progress : callable, optional
        Called as ``progress(i, n)`` after window ``i`` of ``n`` (1-based) has been scored.
    close : pandas.Series, optional
        The asset's close prices on a DatetimeIndex covering the events' span, for each window's
        ``buy_and_hold_sharpe`` (:func:`buy_and_hold_metrics`); NaN without it.
    map_windows : callable, optional
        Runs the windows, as ``map_splits`` runs CPCV's splits in
        :func:`~ml_core.evaluation.evaluate_cpcv` (with :func:`fit_window`); the report is the
        same either way.

    Returns
    -------
    WalkForwardReport

    Raises
    ------
    ValueError
        On misaligned inputs, a negative ``cost_bps``, a non-positive ``events_per_year``,
        invalid thresholds, or a window of fewer than 2 events -- all before any fitting.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §12.2.
    """
    _check_inputs(X, targets, events, cost_bps, events_per_year)
    _check_thresholds(sharpe_threshold, drawdown_limit)
    n_windows = cv.get_n_splits()
    for k, window in enumerate(cv.test_windows(len(X))):
        if window.size < 2:
            raise ValueError(
                f"window {k} holds {window.size} event, fewer than the 2 a Sharpe ratio needs; "
                f"reduce `n_windows` or the initial training block, got `n_windows={n_windows}` "
                f"for {len(X)} events"
            )
    if close is not None:
        close = check_close(close)
        buy_and_hold_metrics(close, *event_span(events))  # covers the span: fail before fitting
    jobs = [SplitJob(k, train_idx, test_idx)
            for k, (train_idx, test_idx) in enumerate(cv.split(X, t1=events["t1"]))]
    fit = functools.partial(fit_window, make_ensemble, X, targets, events, cost_bps,
                            events_per_year, close)
    outcomes = run_jobs(fit, jobs, map_windows, progress)
    rows = [row for row, _ in outcomes]
    window_returns = {k: returns for k, (_, returns) in enumerate(outcomes)}
    windows = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS)).rename_axis("window")
    return WalkForwardReport(windows=windows, window_returns=window_returns,
                             sharpe_threshold=sharpe_threshold, drawdown_limit=drawdown_limit)
