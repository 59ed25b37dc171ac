"""The result of a combinatorial purged cross-validation of the ensemble."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CVReport"]

_PATH_LEVEL = {"sharpe", "max_drawdown"}  # split-level columns also summarised over paths


@dataclass
class CVReport:
    """Per-split and per-path out-of-sample results of :func:`evaluate_cpcv`.

    Attributes
    ----------
    splits : pandas.DataFrame
        One row per CPCV split (index ``split``): ``entry_accuracy/precision/recall``,
        ``position_r2/rmse``, ``exit_accuracy/precision/recall``, ``profit_r2/rmse`` (forest
        outputs vs targets; classifiers at probability 0.5), ``ensemble_accuracy`` (signal
        direction vs the sign of the realised return on non-HOLD rows; NaN without trades),
        ``sharpe`` and ``max_drawdown`` of the split's trade returns (NaN without trades),
        ``n_trades``, ``n_train``, ``n_test``.
    paths : pandas.DataFrame
        One row per backtest path (index ``path``): ``sharpe``, ``sortino``, ``max_drawdown``,
        ``hit_rate`` (all NaN on a path without trades: undefined, not perfect), ``n_trades``,
        ``n_events``.
    path_returns : dict[int, pandas.Series]
        Out-of-sample trade returns of each path, one per event, in time order.
    baselines : pandas.DataFrame
        The same path metrics for simple rules (index ``(baseline, path)``), so a rising market
        is not mistaken for skill: ``buy_and_hold`` (holding the asset from the first event's
        start to the last event's end, no costs, annualised at the bars' rate: what the market
        gave; the same on every path, and absent without close prices),
        ``long_every_event`` (long on every labelled event with its barrier exit, full size, no
        costs: the labelling's drift) and ``momentum`` (the sign of a past-return feature, full
        size, with costs) on the same events. Empty when not computed.
    per_regime : pandas.DataFrame
        One row per dominant regime at ``t0`` that has events (index ``regime``, in
        ``bull, bear, sideways`` order): the median over paths of each path's metrics on that
        regime's events -- ``n_events``, ``n_trades``, ``entry_accuracy/precision/recall`` (entry
        forest at 0.5), ``roc_auc`` and ``brier`` (meta probability ``p_long`` vs ``entry``),
        ``ensemble_accuracy``, ``sharpe``, ``sortino`` (annualised at the rate of all events),
        ``max_drawdown``, ``hit_rate``. NaN values are skipped by the median. Empty without the
        ``regime_prob_*`` columns.
    """

    splits: pd.DataFrame
    paths: pd.DataFrame
    path_returns: dict[int, pd.Series] = field(repr=False)
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_regime: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> dict[str, float]:
        """Flat metrics for logging and promotion.

        - ``cv_<metric>``: mean over splits of every split column (NaN-skipping), except
          ``sharpe`` and ``max_drawdown``, whose split means are ``cv_split_sharpe`` and
          ``cv_split_max_drawdown`` so they are not confused with the path statistics;
        - ``cv_sharpe_median``, ``cv_sharpe_mean``, ``cv_sharpe_std`` (ddof=1; 0.0 with one path),
          ``cv_max_drawdown_median``, ``cv_sortino_median``, ``cv_hit_rate_median`` over the
          paths that traded (NaN when none did: no trades is no score, not a score of 0), and
          ``cv_n_paths_traded``; ``cv_n_trades_median``, the trades of the median path (every
          path counted: the promotion gate's ``min_trades``);
        - ``cv_baseline_<name>_sharpe_median`` and ``..._max_drawdown_median`` per baseline;
        - ``cv_<regime>_<metric>`` for every cell of :attr:`per_regime` (e.g.
          ``cv_bull_sharpe``, the median over paths; NaN where undefined);
        - ``cv_n_splits``, ``cv_n_paths``.
        """
        out: dict[str, float] = {}
        for col in self.splits.columns:
            key = f"cv_split_{col}" if col in _PATH_LEVEL else f"cv_{col}"
            out[key] = float(self.splits[col].astype(float).mean())
        traded = self.paths[self.paths["n_trades"] > 0]
        sharpe = traded["sharpe"].to_numpy(dtype=float)
        nan = float("nan")
        out["cv_sharpe_median"] = float(np.median(sharpe)) if sharpe.size else nan
        out["cv_sharpe_mean"] = float(np.mean(sharpe)) if sharpe.size else nan
        out["cv_sharpe_std"] = (float(np.std(sharpe, ddof=1)) if sharpe.size > 1
                                else 0.0 if sharpe.size else nan)
        for column in ("max_drawdown", "sortino", "hit_rate"):
            out[f"cv_{column}_median"] = float(traded[column].median())
        out["cv_n_paths_traded"] = float(len(traded))
        out["cv_n_trades_median"] = float(self.paths["n_trades"].median())
        if len(self.baselines):
            for name, frame in self.baselines.groupby(level="baseline"):
                out[f"cv_baseline_{name}_sharpe_median"] = float(frame["sharpe"].median())
                out[f"cv_baseline_{name}_max_drawdown_median"] = float(
                    frame["max_drawdown"].median())
        for regime, row in self.per_regime.iterrows():
            out.update({f"cv_{regime}_{col}": float(value) for col, value in row.items()})
        out["cv_n_splits"] = float(len(self.splits))
        out["cv_n_paths"] = float(len(self.paths))
        return out
