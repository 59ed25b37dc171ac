"""Combinatorial purged cross-validation of the ensemble: per-split metrics and backtest paths."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics, check_close, event_span
from ml_core.evaluation._jobs import MapJobs, SplitJob, run_jobs
from ml_core.evaluation._report import CVReport
from ml_core.evaluation._returns import trade_returns

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.validation import CombinatorialPurgedCV

__all__ = ["REGIME_METRICS", "SplitOutcome", "dominant_regime", "evaluate_cpcv", "fit_split"]


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


def _ensemble_accuracy(side: np.ndarray, ret: np.ndarray) -> float:
    """Share of the traded rows (``side != 0``) whose side is the sign of the realised return;
    NaN without a trade."""
    active = side != 0
    return float(np.mean(np.sign(ret[active]) == side[active])) if active.any() else float("nan")


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
    row["ensemble_accuracy"] = _ensemble_accuracy(side, ret)
    r = returns.to_numpy()
    traded = bool(active.any())  # without a trade the per-trade statistics are undefined
    row["sharpe"] = sharpe_ratio(r, events_per_year) if traded and r.size >= 2 else float("nan")
    row["max_drawdown"] = max_drawdown(r) if traded else float("nan")
    row["n_trades"] = int(active.sum())
    return row


def _path_metrics(returns: pd.Series, n_trades: int, events_per_year: float) -> dict[str, float]:
    """Sharpe, Sortino, max drawdown and hit rate of some trade returns, with ``n_trades`` and
    ``n_events``; the four statistics are NaN when ``n_trades`` is 0 (nothing was traded, so
    there is no risk or return to score -- not a perfect score)."""
    from ml_core.metrics import hit_rate, max_drawdown, sharpe_ratio, sortino_ratio

    r = returns.to_numpy()
    if n_trades == 0:
        nan = float("nan")
        return {"sharpe": nan, "sortino": nan, "max_drawdown": nan, "hit_rate": nan,
                "n_trades": 0, "n_events": int(r.size)}
    return {
        "sharpe": sharpe_ratio(r, events_per_year),
        "sortino": sortino_ratio(r, events_per_year),
        "max_drawdown": max_drawdown(r),
        "hit_rate": hit_rate(r),
        "n_trades": n_trades,
        "n_events": int(r.size),
    }


# ------------------------------------------------------------------ per regime

REGIME_METRICS: tuple[str, ...] = (
    "n_events", "n_trades", "entry_accuracy", "entry_precision", "entry_recall", "roc_auc",
    "brier", "ensemble_accuracy", "sharpe", "sortino", "max_drawdown", "hit_rate",
)
"""Columns of a per-regime table (:attr:`CVReport.per_regime`, ``HoldoutReport.per_regime``)."""

SCORED_COLUMNS: tuple[str, ...] = ("p_entry", "p_long", "signal", "trade_return", "entry", "ret")
"""What :func:`_key_metrics` reads of each out-of-sample event (see :func:`_scored`)."""


def dominant_regime(X: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """The regime with the largest filtered probability on each row, or None and why not.

    Reads the ``regime_prob_<label>`` columns of ``X`` for every label of
    :data:`ml_core.regime.REGIME_LABELS` (``bull``, ``bear``, ``sideways``); a tie goes to the
    label listed first. These are the filtered (causal) probabilities the ensemble was fed, so
    an event is assigned to the regime the model believed it was in at ``t0``.

    Returns
    -------
    regime : pandas.Series of str or None
        Label per row, named ``regime``, on ``X.index``; None when a column is missing.
    reason : str
        Empty, or which columns are missing.
    """
    from ml_core.ensemble import REGIME_PREFIX
    from ml_core.regime import REGIME_LABELS

    columns = [f"{REGIME_PREFIX}{label}" for label in REGIME_LABELS]
    missing = [c for c in columns if c not in X.columns]
    if missing:
        return None, f"the features lack the regime probability columns {missing}"
    best = np.argmax(X[columns].to_numpy(dtype=float), axis=1)
    return pd.Series(np.asarray(REGIME_LABELS, dtype=object)[best], index=X.index,
                     name="regime"), ""


def _scored(components: pd.DataFrame, signal: pd.DataFrame, returns: pd.Series,
            entry: np.ndarray, ret: np.ndarray) -> pd.DataFrame:
    """One row per predicted event: :data:`SCORED_COLUMNS`, on ``signal.index``."""
    return pd.DataFrame({
        "p_entry": components["p_entry"].to_numpy(dtype=float),
        "p_long": signal["p_long"].to_numpy(dtype=float),
        "signal": signal["signal"].to_numpy(),
        "trade_return": returns.to_numpy(dtype=float),
        "entry": np.asarray(entry, dtype=np.int64),
        "ret": np.asarray(ret, dtype=float),
    }, index=signal.index)


def _probability_metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Brier score and ROC AUC of probabilities ``p`` of the event ``y == 1`` (AUC is NaN when
    ``y`` holds one class)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {
        "brier": float(brier_score_loss(y, p, pos_label=1)),
        "roc_auc": float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan"),
    }


def _key_metrics(scored: pd.DataFrame, events_per_year: float) -> dict[str, float]:
    """:data:`REGIME_METRICS` of some scored events (:func:`_scored`), in time order.

    The entry forest at probability 0.5 against ``entry``; ``roc_auc`` and ``brier`` of the meta
    probability ``p_long`` against ``entry``; the signal and its trade returns as in
    :func:`_path_metrics` (Sharpe and Sortino NaN below 2 events; the signal's statistics NaN
    without a trade).
    """
    from ml_core.metrics import classification_metrics, hit_rate, max_drawdown

    entry = scored["entry"].to_numpy(dtype=np.int64)
    side = scored["signal"].to_numpy()
    returns = scored["trade_return"]
    n_trades = int((side != 0).sum())
    predicted = (scored["p_entry"].to_numpy() >= 0.5).astype(np.int64)
    scores = classification_metrics(entry, predicted)
    if len(scored) >= 2:
        path = _path_metrics(returns, n_trades, events_per_year)
    else:  # a ratio needs two returns
        r = returns.to_numpy()
        nan = float("nan")
        path = {"sharpe": nan, "sortino": nan,
                "max_drawdown": max_drawdown(r) if n_trades else nan,
                "hit_rate": hit_rate(r) if n_trades else nan}
    row = {
        "n_events": len(scored), "n_trades": n_trades,
        **{f"entry_{k}": scores[k] for k in ("accuracy", "precision", "recall")},
        **_probability_metrics(scored["p_long"].to_numpy(), entry),
        "ensemble_accuracy": _ensemble_accuracy(side, scored["ret"].to_numpy()),
        **{k: path[k] for k in ("sharpe", "sortino", "max_drawdown", "hit_rate")},
    }
    return {k: row[k] for k in REGIME_METRICS}


def _regime_rows(scored: pd.DataFrame, regime: pd.Series,
                 events_per_year: float) -> dict[str, dict[str, float]]:
    """:func:`_key_metrics` of the events of each regime that has any, in label order."""
    from ml_core.regime import REGIME_LABELS

    labels = regime.reindex(scored.index).to_numpy()
    return {label: _key_metrics(scored[labels == label], events_per_year)
            for label in REGIME_LABELS if (labels == label).any()}


def _per_regime_over_paths(path_scored: dict[int, pd.DataFrame], regime: pd.Series | None,
                           events_per_year: float) -> pd.DataFrame:
    """Median over backtest paths of each path's :func:`_key_metrics` on each regime's events
    (index ``regime``); empty without regime columns."""
    if regime is None:
        return pd.DataFrame(columns=list(REGIME_METRICS)).rename_axis("regime")
    rows = [{"regime": label, "path": p, **values}
            for p, scored in path_scored.items()
            for label, values in _regime_rows(scored, regime, events_per_year).items()]
    if not rows:
        return pd.DataFrame(columns=list(REGIME_METRICS)).rename_axis("regime")
    table = pd.DataFrame(rows)
    return table.groupby("regime", sort=False)[list(REGIME_METRICS)].median()


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
    close: pd.Series | None = None,
    split_features: Callable[[np.ndarray], pd.DataFrame] | None = None,
    map_splits: MapJobs | None = None,
) -> CVReport:
    """Cross-validate the ensemble with CPCV and backtest every recombined path.

    For each of the ``C(N, k)`` splits of ``cv`` (purged by ``events['t1']``): fit a fresh
    ``make_ensemble()`` on the training events, predict the test events, score the four forests
    and the signal (see :class:`CVReport`) and compute the test events' trade returns
    (:func:`trade_returns`). Each test group's returns then go to its backtest path
    (``cv.path_ids()``); every path holds exactly one out-of-sample return per event, in time
    order, and is scored with :mod:`ml_core.metrics` (annualised with ``events_per_year``).

    **Per regime.** Each event belongs to its dominant regime at ``t0`` (the largest
    ``regime_prob_*`` column of ``X``, :func:`dominant_regime`). Each path's events of one regime
    are scored like a path (:data:`REGIME_METRICS`: the entry forest and the meta probability
    against ``entry``, the signal's trade returns), and :attr:`CVReport.per_regime` holds the
    median over paths. Per path rather than pooled over splits because a path holds every event
    exactly once in time order, which a drawdown needs, and the median over paths is what
    ``cv_sharpe_median`` reports for the whole sample; a regime's Sharpe is annualised with the
    same ``events_per_year`` (the rate of all events), so it reads "this per-bet quality at the
    strategy's usual pace".

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
    close : pandas.Series, optional
        The asset's close prices on a DatetimeIndex covering the events' span (first ``t0`` to
        last ``t1``); gives the plain ``buy_and_hold`` baseline (:func:`buy_and_hold_metrics`),
        the same on every path since every path spans all events. Without it that baseline is
        left out.
    split_features : callable, optional
        Called as ``split_features(train_idx)`` with each split's (purged) training positions;
        returns columns of ``X`` recomputed for that split (on ``X.index``), which replace
        ``X``'s for that split's fit and prediction: e.g. the regime columns of an HMM refitted on
        the split's training bars (:func:`ml_core.regime.refit_regime_features`). Baselines and
        the per-regime grouping keep ``X``'s own columns, the same in every split.

    Returns
    -------
    CVReport

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, §12.4.
    """
    _check_inputs(X, targets, events, cost_bps, events_per_year)
    held = (None if close is None
            else buy_and_hold_metrics(check_close(close), *event_span(events)))
    t1 = events["t1"]
    groups = cv.group_indices(len(X))
    test_groups = cv.test_groups()
    path_ids = cv.path_ids()
    jobs: list[SplitJob] = []
    for s, (train_idx, test_idx) in enumerate(cv.split(X, t1=t1)):
        expected = np.concatenate([groups[g] for g in test_groups[s]])
        if not np.array_equal(test_idx, expected):
            raise RuntimeError(f"split {s}: test rows do not match test groups {test_groups[s]}")
        jobs.append(SplitJob(s, train_idx, test_idx))
    fit = functools.partial(fit_split, make_ensemble, X, targets, events, cost_bps,
                            events_per_year, split_features)
    outcomes = run_jobs(fit, jobs, map_splits, progress)

    parts: dict[int, list[pd.Series]] = {p: [] for p in range(cv.n_paths)}
    signals: dict[int, list[np.ndarray]] = {p: [] for p in range(cv.n_paths)}
    scored_parts: dict[int, list[pd.DataFrame]] = {p: [] for p in range(cv.n_paths)}
    baseline_returns = _baseline_returns(X, events, cost_bps, momentum_column)
    rows: list[dict[str, Any]] = []
    for s, outcome in enumerate(outcomes):
        rows.append(outcome.row)
        offset = 0
        for j, g in enumerate(test_groups[s]):
            size = groups[g].size
            parts[int(path_ids[s, j])].append(outcome.returns.iloc[offset:offset + size])
            signals[int(path_ids[s, j])].append(outcome.signal[offset:offset + size])
            scored_parts[int(path_ids[s, j])].append(outcome.scored.iloc[offset:offset + size])
            offset += size

    path_returns: dict[int, pd.Series] = {}
    path_rows: list[dict[str, float]] = []
    for p in range(cv.n_paths):
        series = pd.concat(parts[p]).sort_index()
        path_returns[p] = series
        n_trades = int(sum((sig != 0).sum() for sig in signals[p]))
        path_rows.append(_path_metrics(series, n_trades, events_per_year))
    splits = pd.DataFrame(rows).rename_axis("split")
    paths = pd.DataFrame(path_rows).rename_axis("path")
    held_rows = [] if held is None else [
        {"baseline": "buy_and_hold", "path": p, "n_events": len(path_returns[p]),
         **{k: held[k] for k in ("sharpe", "sortino", "max_drawdown", "hit_rate", "n_trades")}}
        for p in range(cv.n_paths)]
    baselines = pd.DataFrame(held_rows + [
        {"baseline": name, "path": p, **_path_metrics(
            returns.loc[path_returns[p].index], int((returns.loc[path_returns[p].index] != 0).sum()),
            events_per_year)}
        for name, returns in baseline_returns.items() for p in range(cv.n_paths)
    ])
    if len(baselines):
        baselines = baselines.set_index(["baseline", "path"])
    regime, _ = dominant_regime(X)
    per_regime = _per_regime_over_paths(
        {p: pd.concat(frames).sort_index() for p, frames in scored_parts.items()}, regime,
        events_per_year)
    return CVReport(splits=splits, paths=paths, path_returns=path_returns, baselines=baselines,
                    per_regime=per_regime)


class SplitOutcome(NamedTuple):
    """What one CPCV split gives: its metrics row, the test events' trade returns, signal sides
    and per-event scores (the inputs of the paths)."""

    row: dict[str, Any]
    returns: pd.Series
    signal: np.ndarray
    scored: pd.DataFrame


def fit_split(make_ensemble: Callable[[], RegimeForestEnsemble], X: pd.DataFrame,
              targets: pd.DataFrame, events: pd.DataFrame, cost_bps: float,
              events_per_year: float,
              split_features: Callable[[np.ndarray], pd.DataFrame] | None,
              job: SplitJob) -> SplitOutcome:
    """Fit a fresh ensemble on one split's training events and score its test events.

    Depends on nothing but its arguments (a top-level function: it pickles, bound with
    :func:`functools.partial`), so splits may run in any order and in any process; see
    :func:`evaluate_cpcv` for the meaning of each argument.
    """
    s, train_idx, test_idx = job
    t1 = events["t1"]
    model = make_ensemble()
    X_split = X if split_features is None else _replace_columns(
        X, _split_columns(split_features, train_idx, s), s)
    model.fit(X_split.iloc[train_idx], targets.iloc[train_idx], t1.iloc[train_idx])
    X_test = X_split.iloc[test_idx]
    components = model.predict_components(X_test)
    signal = model.predict(X_test)
    returns = trade_returns(signal, events, cost_bps)
    ret = events["ret"].to_numpy(dtype=float)[test_idx]
    row = _split_metrics(components, signal, targets.iloc[test_idx], ret, returns,
                         events_per_year)
    row.update(n_train=int(train_idx.size), n_test=int(test_idx.size))
    entry = targets["entry"].to_numpy(dtype=np.int64)[test_idx]
    scored = _scored(components, signal, returns, entry, ret)
    return SplitOutcome(row, returns, signal["signal"].to_numpy(), scored)


def _split_columns(split_features: Callable[[np.ndarray], pd.DataFrame], train_idx: np.ndarray,
                   split: int) -> pd.DataFrame:
    """``split_features(train_idx)``, its ValueError (e.g. a degenerate refit) naming the split."""
    try:
        return split_features(train_idx)
    except ValueError as exc:
        raise ValueError(f"split {split}: `split_features` failed on its {train_idx.size} "
                         f"training events: {exc}") from exc


def _replace_columns(X: pd.DataFrame, columns: pd.DataFrame, split: int) -> pd.DataFrame:
    """``X`` with the ``columns`` a split recomputed (same index, existing names, finite)."""
    unknown = [c for c in columns.columns if c not in X.columns]
    if not columns.index.equals(X.index) or unknown:
        raise ValueError(
            f"split {split}: `split_features` must return columns of `X` on `X.index`, got "
            f"{len(columns)} rows and unknown columns {unknown}"
        )
    values = columns.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = columns.columns[~np.isfinite(values).all(axis=0)].tolist()
        raise ValueError(f"split {split}: `split_features` returned NaN or inf in {bad}")
    out = X.copy()
    out[list(columns.columns)] = columns
    return out


def _baseline_returns(X: pd.DataFrame, events: pd.DataFrame, cost_bps: float,
                      momentum_column: str) -> dict[str, pd.Series]:
    """Per-event returns of the simple event rules every path is compared with (no fitting
    involved, so each event's value is the same whichever split tests it): ``long_every_event``
    (long on every labelled event with its barrier exit, full size, no costs) and
    ``momentum``."""
    full = pd.Series(1.0, index=X.index)
    out = {"long_every_event": trade_returns(
        pd.DataFrame({"signal": 1, "size": full}), events, cost_bps=0.0)}
    if momentum_column in X.columns:
        side = np.sign(X[momentum_column].to_numpy(dtype=float)).astype(int)
        out["momentum"] = trade_returns(
            pd.DataFrame({"signal": side, "size": full}, index=X.index), events, cost_bps)
    return out
