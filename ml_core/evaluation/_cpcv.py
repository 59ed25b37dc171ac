"""Combinatorial purged cross-validation of the ensemble: per-split metrics and backtest paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_core.evaluation._report import CVReport
from ml_core.evaluation._returns import trade_returns

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.validation import CombinatorialPurgedCV

__all__ = ["evaluate_cpcv"]


def _check_inputs(
    X: pd.DataFrame, targets: pd.DataFrame, events: pd.DataFrame, cost_bps: float,
    events_per_year: float,
) -> None:
    for name, frame in (("X", X), ("targets", targets), ("events", events)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__}")
    for name, frame in (("targets", targets), ("events", events)):
        if not frame.index.equals(X.index):
            raise ValueError(
                f"`{name}` must be aligned with `X`: `{name}.index` differs from `X.index`"
            )
    missing = [c for c in ("t1", "ret") if c not in events.columns]
    if missing:
        raise ValueError(f"`events` lacks columns {missing}")
    if not cost_bps >= 0:
        raise ValueError(f"`cost_bps` must be non-negative, got `cost_bps={cost_bps}`")
    if not events_per_year > 0:
        raise ValueError(
            f"`events_per_year` must be positive, got `events_per_year={events_per_year}`"
        )


def _split_metrics(
    components: pd.DataFrame, signal: pd.DataFrame, targets: pd.DataFrame, ret: np.ndarray,
    returns: pd.Series, events_per_year: float,
) -> dict[str, float]:
    from ml_core.metrics import (
        classification_metrics,
        max_drawdown,
        regression_metrics,
        sharpe_ratio,
    )

    row: dict[str, float] = {}
    for name, column, kind in (("entry", "p_entry", "c"), ("position", "size", "r"),
                               ("exit", "p_exit", "c"), ("profit", "profit", "r")):
        if kind == "c":  # classifiers scored at probability 0.5
            y_pred = (components[column].to_numpy() >= 0.5).astype(np.int64)
            scores = classification_metrics(targets[name].to_numpy(dtype=np.int64), y_pred)
            keys = ("accuracy", "precision", "recall")
        else:
            scores = regression_metrics(targets[name].to_numpy(dtype=float), components[column])
            keys = ("r2", "rmse")
        row.update({f"{name}_{key}": scores[key] for key in keys})
    side = signal["signal"].to_numpy()
    active = side != 0
    row["ensemble_accuracy"] = (
        float(np.mean(np.sign(ret[active]) == side[active])) if active.any() else float("nan")
    )
    r = returns.to_numpy()
    row["sharpe"] = sharpe_ratio(r, events_per_year) if r.size >= 2 else 0.0
    row["max_drawdown"] = max_drawdown(r)
    row["n_trades"] = int(active.sum())
    return row


def _path_metrics(returns: pd.Series, n_trades: int, events_per_year: float) -> dict[str, float]:
    from ml_core.metrics import hit_rate, max_drawdown, sharpe_ratio, sortino_ratio

    r = returns.to_numpy()
    return {
        "sharpe": sharpe_ratio(r, events_per_year),
        "sortino": sortino_ratio(r, events_per_year),
        "max_drawdown": max_drawdown(r),
        "hit_rate": hit_rate(r),
        "n_trades": n_trades,
        "n_events": int(r.size),
    }


def evaluate_cpcv(
    make_ensemble: Callable[[], RegimeForestEnsemble],
    X: pd.DataFrame,
    targets: pd.DataFrame,
    events: pd.DataFrame,
    cv: CombinatorialPurgedCV,
    *,
    cost_bps: float,
    events_per_year: float,
    progress: Callable[[int, int], None] | None = None,
    momentum_column: str = "roc_12",
) -> CVReport:
    """Cross-validate the ensemble with CPCV and backtest every recombined path.

    For each of the ``C(N, k)`` splits of ``cv`` (purged by ``events['t1']``): fit a fresh
    ``make_ensemble()`` on the training events, predict the test events, score the four forests
    and the signal (see :class:`CVReport`) and compute the test events' trade returns
    (:func:`trade_returns`). Each test group's returns then go to its backtest path
    (``cv.path_ids()``); every path holds exactly one out-of-sample return per event, in time
    order, and is scored with :mod:`ml_core.metrics` (annualised with ``events_per_year``).

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
    cv : CombinatorialPurgedCV
        The splitter (groups, test groups, purge, embargo).
    cost_bps : float
        Trading cost per unit traded, in basis points, paid on entry and exit.
    events_per_year : float
        Events per year, to annualise Sharpe and Sortino (``n_events / span in years``).
    progress : callable, optional
        Called as ``progress(i, n)`` after split ``i`` of ``n`` (1-based) has been scored.
    momentum_column : str
        Past-return feature whose sign is the ``momentum`` baseline's side (skipped when ``X``
        lacks it). Baselines are scored on the same paths (see :class:`CVReport`).

    Returns
    -------
    CVReport

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §12.4.
    """
    _check_inputs(X, targets, events, cost_bps, events_per_year)
    t1 = events["t1"]
    n_splits = cv.get_n_splits()
    groups = cv.group_indices(len(X))
    test_groups = cv.test_groups()
    path_ids = cv.path_ids()
    ret = events["ret"].to_numpy(dtype=float)
    parts: dict[int, list[pd.Series]] = {p: [] for p in range(cv.n_paths)}
    signals: dict[int, list[np.ndarray]] = {p: [] for p in range(cv.n_paths)}
    baseline_returns = _baseline_returns(X, events, cost_bps, momentum_column)
    rows: list[dict[str, Any]] = []
    for s, (train_idx, test_idx) in enumerate(cv.split(X, t1=t1)):
        expected = np.concatenate([groups[g] for g in test_groups[s]])
        if not np.array_equal(test_idx, expected):
            raise RuntimeError(f"split {s}: test rows do not match test groups {test_groups[s]}")
        model = make_ensemble()
        model.fit(X.iloc[train_idx], targets.iloc[train_idx], t1.iloc[train_idx])
        X_test = X.iloc[test_idx]
        components = model.predict_components(X_test)
        signal = model.predict(X_test)
        returns = trade_returns(signal, events, cost_bps)
        row = _split_metrics(
            components, signal, targets.iloc[test_idx], ret[test_idx], returns, events_per_year
        )
        row.update(n_train=int(train_idx.size), n_test=int(test_idx.size))
        rows.append(row)
        offset = 0
        for j, g in enumerate(test_groups[s]):
            size = groups[g].size
            parts[int(path_ids[s, j])].append(returns.iloc[offset:offset + size])
            signals[int(path_ids[s, j])].append(signal["signal"].to_numpy()[offset:offset + size])
            offset += size
        if progress is not None:
            progress(s + 1, n_splits)

    path_returns: dict[int, pd.Series] = {}
    path_rows: list[dict[str, float]] = []
    for p in range(cv.n_paths):
        series = pd.concat(parts[p]).sort_index()
        path_returns[p] = series
        n_trades = int(sum((sig != 0).sum() for sig in signals[p]))
        path_rows.append(_path_metrics(series, n_trades, events_per_year))
    splits = pd.DataFrame(rows).rename_axis("split")
    paths = pd.DataFrame(path_rows).rename_axis("path")
    baselines = pd.DataFrame([
        {"baseline": name, "path": p, **_path_metrics(
            returns.loc[path_returns[p].index], int((returns.loc[path_returns[p].index] != 0).sum()),
            events_per_year)}
        for name, returns in baseline_returns.items() for p in range(cv.n_paths)
    ])
    if len(baselines):
        baselines = baselines.set_index(["baseline", "path"])
    return CVReport(splits=splits, paths=paths, path_returns=path_returns, baselines=baselines)


def _baseline_returns(X: pd.DataFrame, events: pd.DataFrame, cost_bps: float,
                      momentum_column: str) -> dict[str, pd.Series]:
    """Per-event returns of the simple rules every path is compared with (no fitting involved,
    so each event's value is the same whichever split tests it)."""
    full = pd.Series(1.0, index=X.index)
    out = {"buy_and_hold": trade_returns(
        pd.DataFrame({"signal": 1, "size": full}), events, cost_bps=0.0)}
    if momentum_column in X.columns:
        side = np.sign(X[momentum_column].to_numpy(dtype=float)).astype(int)
        out["momentum"] = trade_returns(
            pd.DataFrame({"signal": side, "size": full}, index=X.index), events, cost_bps)
    return out
