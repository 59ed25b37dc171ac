"""The final holdout score: the served ensemble on events nothing in the retrain has seen."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_core.evaluation._buy_and_hold import buy_and_hold_metrics, check_close, event_span
from ml_core.evaluation._cpcv import (
    REGIME_METRICS,
    _check_inputs,
    _path_metrics,
    _probability_metrics,
    _regime_rows,
    _scored,
    _split_metrics,
    dominant_regime,
)
from ml_core.evaluation._returns import trade_returns

if TYPE_CHECKING:
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.pipeline import TrainingSet

__all__ = ["HOLDOUT_METRICS", "HoldoutReport", "evaluate_holdout", "reliability_table"]

HOLDOUT_METRICS: dict[str, tuple[str, ...]] = {
    "entry": ("accuracy", "precision", "recall", "roc_auc", "brier"),
    "position": ("r2", "rmse"),
    "exit": ("accuracy", "precision", "recall", "roc_auc", "brier"),
    "profit": ("r2", "rmse"),
    "ensemble": ("accuracy", "roc_auc", "brier", "n_trades", "sharpe", "sortino", "max_drawdown",
                 "hit_rate"),
    "buy_and_hold": ("n_trades", "sharpe", "sortino", "max_drawdown", "hit_rate"),
    "long_every_event": ("n_trades", "sharpe", "sortino", "max_drawdown", "hit_rate"),
}
"""The metrics that apply to each row of :attr:`HoldoutReport.metrics` (the other cells are NaN)."""

_COLUMNS = ("accuracy", "precision", "recall", "roc_auc", "brier", "r2", "rmse", "n_trades",
            "sharpe", "sortino", "max_drawdown", "hit_rate")
_TARGETS = ("entry", "position", "exit", "profit")
_N_BINS = 10


@dataclass
class HoldoutReport:
    """How the served ensemble did on the final holdout (:func:`evaluate_holdout`).

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per model (index ``model``): ``entry`` and ``exit`` (classifiers at probability
        0.5: ``accuracy``, ``precision``, ``recall``; ``roc_auc`` and ``brier`` of their
        probability vs their target), ``position`` and ``profit`` (``r2``, ``rmse``),
        ``ensemble`` (``accuracy``: signal direction vs the sign of the realised return on the
        traded rows; ``roc_auc`` and ``brier`` of the meta probability ``p_long`` vs ``entry``;
        ``n_trades``, annualised ``sharpe`` and ``sortino``, ``max_drawdown``, ``hit_rate`` of
        the trade returns, the last four NaN without trades: the model held), ``buy_and_hold``
        (holding the asset from the first event start to the last label end, no costs,
        annualised at the bars' rate: what the market gave; NaN without close prices) and
        ``long_every_event`` (long on every event with its barrier exit, full size, no costs).
        Cells outside :data:`HOLDOUT_METRICS` are NaN.
    per_regime : pandas.DataFrame
        The key metrics (:data:`~ml_core.evaluation._cpcv.REGIME_METRICS`) of the events of each
        dominant regime at ``t0`` (index ``regime``; a regime without events is absent); empty
        when the features have no regime probabilities (``per_regime_reason`` says so).
    confusion : dict[str, pandas.DataFrame]
        ``entry`` and ``exit``: 2 x 2 counts, index ``predicted`` (0, 1 at probability 0.5),
        columns ``true`` (0, 1). ``ensemble``: 3 x 2 counts, index ``signal`` (``BUY``,
        ``SELL``, ``HOLD``), columns ``realised`` (``up``: ``ret > 0``, ``down``: ``ret <= 0``).
    reliability : pandas.DataFrame
        :func:`reliability_table` of ``p_long`` against ``entry``.
    brier : float
        Brier score of ``p_long`` against ``entry`` (0 best; 0.25 for a constant 0.5).
    importances : pandas.DataFrame
        Index ``feature`` (the forests' columns, ``forest_features_``): ``impurity_<forest>``
        for the four forests (mean decrease in impurity, from their training rows) and
        ``permutation_mean``, ``permutation_std``: drop in the entry forest's holdout ROC AUC
        when the column is shuffled (NaN when undefined, ``importance_reason`` says why).
    returns : pandas.Series
        The holdout's trade returns (:func:`trade_returns`), in time order.
    buy_and_hold_return : float
        ``close[end] / close[start] - 1`` over the holdout's span; NaN without close prices.
    per_regime_reason, importance_reason : str
        Why a part is empty or NaN; empty strings when it is not.
    smoothing : pandas.DataFrame
        The same model traded with each smoothing method on the holdout
        (:func:`~ml_core.evaluation.smoothing_effect`): turnover cut against Sharpe cost.
    """

    metrics: pd.DataFrame
    per_regime: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    reliability: pd.DataFrame
    brier: float
    importances: pd.DataFrame
    returns: pd.Series = field(repr=False)
    per_regime_reason: str = ""
    importance_reason: str = ""
    smoothing: pd.DataFrame = field(default_factory=pd.DataFrame)
    buy_and_hold_return: float = float("nan")

    @property
    def n_events(self) -> int:
        return len(self.returns)

    @property
    def n_trades(self) -> int:
        """Events the ensemble traded (0: it held throughout)."""
        return int(self.metrics.loc["ensemble", "n_trades"])

    @property
    def start(self) -> pd.Timestamp:
        """First event start of the holdout."""
        return self.returns.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """Last event start of the holdout."""
        return self.returns.index[-1]

    def summary(self) -> dict[str, float]:
        """Flat metrics for logging, all floats, with a fixed set of keys:

        - ``holdout_<model>_<metric>`` for every metric of :data:`HOLDOUT_METRICS` (e.g.
          ``holdout_entry_precision``, ``holdout_ensemble_sharpe``,
          ``holdout_buy_and_hold_sharpe``), NaN where undefined;
        - ``holdout_<regime>_<metric>`` for every cell of :attr:`per_regime`;
        - ``holdout_buy_and_hold_return`` (:attr:`buy_and_hold_return`), ``holdout_n_events``.

        The prefix keeps them apart from the cross-validation's ``cv_*``: the holdout is one
        path of recent events, not a median over recombined histories.
        """
        out: dict[str, float] = {}
        for model, columns in HOLDOUT_METRICS.items():
            out.update({f"holdout_{model}_{col}": float(self.metrics.loc[model, col])
                        for col in columns})
        for regime, row in self.per_regime.iterrows():
            out.update({f"holdout_{regime}_{col}": float(value) for col, value in row.items()})
        for method, row in self.smoothing.iterrows():
            out[f"holdout_smoothing_{method}_turnover"] = float(row["turnover"])
            out[f"holdout_smoothing_{method}_sharpe"] = float(row["sharpe"])
        out["holdout_buy_and_hold_return"] = float(self.buy_and_hold_return)
        out["holdout_n_events"] = float(self.n_events)
        return out


def reliability_table(p: Any, y: Any, n_bins: int = _N_BINS) -> pd.DataFrame:
    """Calibration of probabilities ``p`` of the event ``y == 1`` in equal-width bins.

    Bin ``k`` holds ``k / n_bins <= p < (k + 1) / n_bins`` (the last one also ``p = 1``).
    Perfectly calibrated probabilities have ``observed_frequency == mean_predicted`` in every
    bin.

    Returns
    -------
    pandas.DataFrame of shape (n_bins, 5)
        Index ``bin``; ``lower``, ``upper`` (the bin's edges), ``mean_predicted``,
        ``observed_frequency`` (share of ``y == 1``; both NaN in an empty bin), ``count``.

    Examples
    --------
    >>> reliability_table([0.05, 0.3, 0.35, 1.0], [0, 0, 1, 1], n_bins=2)["count"].tolist()
    [3, 1]
    """
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    edges = np.arange(n_bins + 1) / n_bins  # k / n exactly, so p = 0.3 falls in [0.3, 0.4)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for k in range(n_bins):
        mask = which == k
        count = int(mask.sum())
        rows.append({"lower": edges[k], "upper": edges[k + 1],
                     "mean_predicted": float(p[mask].mean()) if count else float("nan"),
                     "observed_frequency": float(y[mask].mean()) if count else float("nan"),
                     "count": count})
    return pd.DataFrame(rows).rename_axis("bin")


def _binary_confusion(true: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    counts = [[int(((predicted == i) & (true == j)).sum()) for j in (0, 1)] for i in (0, 1)]
    return pd.DataFrame(counts, index=pd.Index([0, 1], name="predicted"),
                        columns=pd.Index([0, 1], name="true"))


def _signal_confusion(side: np.ndarray, ret: np.ndarray) -> pd.DataFrame:
    up = ret > 0
    counts = [[int(((side == s) & up).sum()), int(((side == s) & ~up).sum())] for s in (1, -1, 0)]
    return pd.DataFrame(counts, index=pd.Index(["BUY", "SELL", "HOLD"], name="signal"),
                        columns=pd.Index(["up", "down"], name="realised"))


def _importances(model: Any, X: pd.DataFrame, entry: np.ndarray, n_repeats: int,
                 random_state: int | None) -> tuple[pd.DataFrame, str]:
    """Impurity importances of the four forests, and the entry forest's permutation importance
    on the given (holdout) rows.

    Why held-out rows: impurity importance is accumulated while the trees are grown, so it
    measures how much a column helped to fit the training rows, memorised noise included; a
    permutation importance on the rows the forest was fitted on rewards the same memorisation.
    Shuffling a column on events the forest never saw measures what the column is worth for
    prediction now: a column whose link to the target broke (or never existed) scores about 0
    there, whatever it did in training.
    """
    from sklearn.inspection import permutation_importance

    features = [str(c) for c in model.forest_features_]
    table = pd.DataFrame(
        {f"impurity_{name}": np.asarray(forest.feature_importances_, dtype=float)
         for name, forest in model.forests_.items()},
        index=pd.Index(features, name="feature"))
    forest = model.forests_["entry"]
    reason = ""
    if np.unique(entry).size < 2:
        reason = f"the holdout's entry target has the single class {int(entry[0])}: no ROC AUC"
    elif len(getattr(forest, "classes_", ())) < 2:
        reason = "the entry forest was fitted on a single class: no ROC AUC"
    if reason:
        table["permutation_mean"] = table["permutation_std"] = float("nan")
        return table, reason
    # LEAKAGE GUARD: X holds the holdout rows only; the forest reads the columns in
    # forest_features_ order, as in predict.
    result = permutation_importance(
        forest, X[features].to_numpy(dtype=np.float64), entry, scoring="roc_auc",
        n_repeats=n_repeats, random_state=random_state, n_jobs=1)
    table["permutation_mean"] = result.importances_mean
    table["permutation_std"] = result.importances_std
    return table, reason


def _check_holdout(model: Any, holdout: Any, cost_bps: float, events_per_year: float,
                   n_repeats: int) -> None:
    frames = {name: getattr(holdout, name, None) for name in ("X", "targets", "events")}
    bad = [name for name, frame in frames.items() if not isinstance(frame, pd.DataFrame)]
    if bad:
        raise TypeError(f"`holdout` must be a TrainingSet with DataFrames X, targets and events, "
                        f"got {type(holdout).__name__} without DataFrame {bad}")
    X, targets, events = frames["X"], frames["targets"], frames["events"]
    if len(X) < 2:
        raise ValueError(f"`holdout` must hold at least 2 events (a Sharpe ratio needs two "
                         f"returns), got `len(holdout.X)={len(X)}`")
    for name in ("targets", "events"):
        if not frames[name].index.equals(X.index):
            raise ValueError(f"`holdout.{name}` must be aligned with `holdout.X`: "
                             f"`holdout.{name}.index` differs from `holdout.X.index`")
    missing = [c for c in _TARGETS if c not in targets.columns]
    if missing:
        raise ValueError(f"`holdout.targets` lacks columns {missing}")
    missing = [c for c in ("t1", "ret") if c not in events.columns]
    if missing:
        raise ValueError(f"`holdout.events` lacks columns {missing}")
    _check_inputs(X, targets, events, cost_bps, events_per_year)
    if not isinstance(n_repeats, numbers.Integral) or isinstance(n_repeats, bool) \
            or n_repeats < 1:
        raise ValueError(f"`n_repeats` must be a positive integer, got `n_repeats={n_repeats}`")
    if getattr(model, "forests_", None) is None:
        raise ValueError("`model` must be a fitted ensemble (it has no `forests_`)")
    seen = getattr(model, "oof_predictions_", None)  # the events the model was fitted on
    if isinstance(seen, pd.DataFrame):
        shared = X.index.intersection(seen.index)
        if len(shared):
            raise ValueError(f"`holdout` shares {len(shared)} events with the rows `model` was "
                             f"fitted on (first at {shared[0]}): a holdout score needs unseen "
                             "events")


def evaluate_holdout(
    model: RegimeForestEnsemble,
    holdout: TrainingSet,
    *,
    cost_bps: float,
    events_per_year: float,
    n_repeats: int = 5,
    random_state: int | None = None,
    close: pd.Series | None = None,
) -> HoldoutReport:
    """Score the fitted ensemble once on the final holdout.

    The holdout (:func:`ml_core.pipeline.split_holdout`) holds the most recent events; nothing
    the retrain fitted, tuned, selected or calibrated has seen them, so this is the one score
    that was not used to choose anything. Nothing is fitted here: the model predicts the
    holdout's features, the four forests are scored against their targets, the meta
    probability against ``entry`` (Brier, ROC AUC, reliability bins), and the signal is traded
    with :func:`trade_returns` and scored with :mod:`ml_core.metrics` (the same helpers as the
    CPCV splits and paths, so the numbers are comparable). See :class:`HoldoutReport`.

    Parameters
    ----------
    model : RegimeForestEnsemble
        Fitted; uses ``predict_components``, ``predict`` (``signal``, ``size``, ``p_long``),
        ``forests_`` and ``forest_features_``.
    holdout : TrainingSet
        ``X`` (with every column the model was fitted on), ``targets`` (``entry, position, exit,
        profit``) and ``events`` (``t1``, ``ret``) on one index of at least 2 events, none of
        them a training event of ``model`` (checked against ``oof_predictions_`` when present).
    cost_bps : float
        Trading cost per unit traded, in basis points, paid on entry and exit.
    events_per_year : float
        Events per year, to annualise Sharpe and Sortino (also per regime).
    n_repeats : int, default 5
        Shuffles per column for the permutation importance.
    random_state : int or None, default None
        Seeds the shuffles (same seed, same importances).
    close : pandas.Series, optional
        The asset's close prices on a DatetimeIndex covering the holdout's span (first ``t0``
        to last ``t1``), for the ``buy_and_hold`` row (:func:`buy_and_hold_metrics`).

    Returns
    -------
    HoldoutReport

    Raises
    ------
    TypeError
        ``holdout`` without DataFrames ``X``, ``targets``, ``events``.
    ValueError
        Fewer than 2 events, misaligned frames or missing columns (the message names
        ``holdout.<frame>``), a negative ``cost_bps``, a non-positive ``events_per_year``, a
        ``n_repeats`` below 1, an unfitted ``model``, or holdout events the model was fitted on.
    """
    _check_holdout(model, holdout, cost_bps, events_per_year, n_repeats)
    X, targets, events = holdout.X, holdout.targets, holdout.events
    held = (None if close is None
            else buy_and_hold_metrics(check_close(close), *event_span(events)))
    components = model.predict_components(X)
    signal = model.predict(X)
    returns = trade_returns(signal, events, cost_bps)
    ret = events["ret"].to_numpy(dtype=float)
    entry = targets["entry"].to_numpy(dtype=np.int64)
    exit_ = targets["exit"].to_numpy(dtype=np.int64)
    side = signal["signal"].to_numpy()
    n_trades = int((side != 0).sum())

    flat = _split_metrics(components, signal, targets, ret, returns, events_per_year)
    path = _path_metrics(returns, n_trades, events_per_year)
    p_long = signal["p_long"].to_numpy(dtype=float)
    rows: dict[str, dict[str, float]] = {
        "entry": {**{k: flat[f"entry_{k}"] for k in ("accuracy", "precision", "recall")},
                  **_probability_metrics(components["p_entry"].to_numpy(), entry)},
        "position": {k: flat[f"position_{k}"] for k in ("r2", "rmse")},
        "exit": {**{k: flat[f"exit_{k}"] for k in ("accuracy", "precision", "recall")},
                 **_probability_metrics(components["p_exit"].to_numpy(), exit_)},
        "profit": {k: flat[f"profit_{k}"] for k in ("r2", "rmse")},
        "ensemble": {"accuracy": flat["ensemble_accuracy"],
                     **_probability_metrics(p_long, entry), **path},
    }
    every_event = trade_returns(pd.DataFrame({"signal": 1, "size": 1.0}, index=X.index), events,
                                cost_bps=0.0)  # as the CPCV's long_every_event baseline
    rows["long_every_event"] = _path_metrics(every_event, len(every_event), events_per_year)
    rows["buy_and_hold"] = {} if held is None else held
    metrics = pd.DataFrame(
        [{c: rows[m].get(c, np.nan) if c in cols else np.nan for c in _COLUMNS}
         for m, cols in HOLDOUT_METRICS.items()],
        index=pd.Index(list(HOLDOUT_METRICS), name="model"), dtype=float)

    scored = _scored(components, signal, returns, entry, ret)
    regime, per_regime_reason = dominant_regime(X)
    if regime is None:
        per_regime = pd.DataFrame(columns=list(REGIME_METRICS), dtype=float)
    else:
        per_regime = pd.DataFrame.from_dict(_regime_rows(scored, regime, events_per_year),
                                            orient="index", columns=list(REGIME_METRICS))
    per_regime = per_regime.rename_axis("regime")

    confusion = {
        "entry": _binary_confusion(entry, (components["p_entry"].to_numpy() >= 0.5).astype(int)),
        "exit": _binary_confusion(exit_, (components["p_exit"].to_numpy() >= 0.5).astype(int)),
        "ensemble": _signal_confusion(side, ret),
    }
    importances, importance_reason = _importances(model, X, entry, n_repeats, random_state)
    from ml_core.evaluation._smoothing_effect import smoothing_effect

    return HoldoutReport(
        metrics=metrics, per_regime=per_regime, confusion=confusion,
        reliability=reliability_table(p_long, entry), brier=float(rows["ensemble"]["brier"]),
        importances=importances, returns=returns, per_regime_reason=per_regime_reason,
        importance_reason=importance_reason,
        smoothing=smoothing_effect(model, holdout.X, holdout.events, cost_bps=cost_bps,
                                   events_per_year=events_per_year),
        buy_and_hold_return=float("nan") if held is None else held["total_return"])
