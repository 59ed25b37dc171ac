"""Small inputs of the reports with known values: the CPCV, walk-forward and overfitting reports,
a regime evaluation and a holdout report, written by hand so the reports' numbers are exact.

Shared by the reporting tests (``tests/reporting``) and the tasks that log the reports
(``tests/tasks``); pytest puts this folder on ``sys.path`` (``import report_cases``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from ml_core.evaluation import CVReport, HoldoutReport, OverfittingReport, WalkForwardReport
from ml_core.validation import PBOResult


def cv_report(baselines: bool = True) -> CVReport:
    """Three paths with median Sharpe 1.2; buy and hold's median 0.8, momentum's 0.3."""
    paths = pd.DataFrame({"sharpe": [1.2, 0.4, 2.0], "sortino": [1.5, 0.5, 2.5],
                          "max_drawdown": [0.1, 0.2, 0.05], "hit_rate": [0.55, 0.5, 0.6],
                          "n_trades": [10, 12, 9], "n_events": [20, 20, 20]},
                         index=pd.Index([0, 1, 2], name="path"))
    index = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    returns = {p: pd.Series([0.01, -0.005, 0.002 * (p + 1), 0.0], index=index) for p in range(3)}
    splits = pd.DataFrame({"sharpe": [1.0, 0.5], "max_drawdown": [0.1, 0.2], "n_trades": [3, 4]},
                          index=pd.Index([0, 1], name="split"))
    table = pd.DataFrame({"sharpe": [0.8, 0.9, 0.7, -0.1, 0.3, 0.5],
                          "sortino": [1.0, 1.1, 0.9, -0.2, 0.4, 0.6],
                          "max_drawdown": [0.3, 0.25, 0.35, 0.2, 0.1, 0.15],
                          "hit_rate": [0.52, 0.53, 0.51, 0.48, 0.5, 0.49],
                          "n_trades": [20] * 6, "n_events": [20] * 6},
                         index=pd.MultiIndex.from_product([["buy_and_hold", "momentum"], range(3)],
                                                          names=["baseline", "path"]))
    return CVReport(splits, paths, returns, table if baselines else pd.DataFrame())


def walk_forward(n: int = 4) -> WalkForwardReport:
    """Sharpe above 1 in windows 0 and 3, drawdown under 0.15 in all but window 1."""
    starts = pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC")
    windows = pd.DataFrame({
        "test_start": starts, "test_end": starts + pd.Timedelta("6D"),
        "n_train": [100, 150, 200, 250], "n_test": [50] * 4, "n_trades": [10, 12, 7, 8],
        "sharpe": [1.5, 0.4, 0.8, 2.0], "sortino": [2.0, 0.5, 1.0, 3.0],
        "max_drawdown": [0.05, 0.2, 0.1, 0.1], "hit_rate": [0.6, 0.5, 0.55, 0.7],
        "total_return": [0.04, -0.01, 0.02, 0.05], "buy_and_hold_sharpe": [0.5, 0.6, 0.4, 1.0],
        "long_every_event_sharpe": [0.9, 1.1, 0.7, 1.3],
    }, index=pd.Index(range(4), name="window")).iloc[:n]
    return WalkForwardReport(windows, {i: pd.Series([0.01]) for i in range(n)}, 1.0, 0.15)


def pbo_result(pbo: float, logits: list[float], oos: list[float],
               is_sharpe: list[float] | None = None) -> PBOResult:
    """A CSCV result over ``len(logits)`` combinations; in-sample Sharpe ratios 1, 2, ... unless
    ``is_sharpe`` is given."""
    is_values = np.arange(1.0, len(logits) + 1) if is_sharpe is None else np.array(is_sharpe)
    return PBOResult(pbo, np.array(logits), len(logits), is_values, np.array(oos))


def overfitting(pbo: bool = True, dsr: tuple[float, ...] = (0.4, 0.2, 0.6)) -> OverfittingReport:
    """entry: 4 of 6 logits <= 0 (PBO 2/3), 2 losing combinations; exit: PBO 1/6."""
    is_sharpe = [0.1, 0.2, 0.15, 0.3, 0.25, 0.05]
    results = {
        "entry": pbo_result(4 / 6, [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8],
                            [-0.02, 0.01, 0.03, -0.01, 0.02, 0.04], is_sharpe),
        "exit": pbo_result(1 / 6, [-0.4, 0.5, 0.6, 1.2, 0.9, 0.7],
                           [0.02, 0.01, 0.03, 0.05, 0.02, 0.04], is_sharpe),
    }
    paths = pd.DataFrame({"sharpe": [0.05, 0.02, 0.08], "psr": [0.9, 0.7, 0.95], "dsr": dsr},
                         index=pd.Index([0, 1, 2], name="path"))
    return OverfittingReport(results if pbo else {}, 40, 0.0004, paths, 0.12)


PERSISTENCE = pd.DataFrame(
    {"p_stay": [0.9, 0.8, 0.95], "expected_duration_bars": [10.0, 5.0, 20.0]},
    index=pd.Index(["bull", "bear", "sideways"], name="regime"))
"""Persistence per regime, as ``ml_core.regime.analyze_regime_persistence`` tabulates it."""


def regime_evaluation(skipped: dict[str, str] | None = None,
                      with_parts: bool = True) -> SimpleNamespace:
    """A regime evaluation (the fields of ``tasks.features.RegimeEvaluation``): next-state
    accuracy 0.8 vs 0.75 on 200 regime bars; three refits agreeing 0.9 and 0.7, the second not
    converged. Without ``with_parts`` both parts are None."""
    from ml_core.regime import PersistenceReport

    report = PersistenceReport(table=pd.DataFrame(), next_state_accuracy=0.8,
                               next_state_baseline=0.75, n_predictions=200,
                               next_state_brier=0.25, next_state_brier_baseline=0.3)
    stability = pd.DataFrame({
        "end": pd.date_range("2024-01-07", periods=3, freq="7D", tz="UTC"),
        "agreement": [np.nan, 0.9, 0.7],
        "log_likelihood": [-100.0, -101.0, -102.5],
        "converged": [True, False, True],
        "n_iter": [12, 1000, 30],
    })
    return SimpleNamespace(
        out_of_sample=report if with_parts else None,
        split=pd.Timestamp("2024-01-01", tz="UTC") if with_parts else None,
        stability=stability if with_parts else None, stability_restarts=2,
        skipped=skipped or {})


def holdout_report(n_trades: int = 40, close: bool = True) -> HoldoutReport:
    """A holdout of 6 events (2024-03-01 00:00 to 10:00, every 2 h) the ensemble traded
    ``n_trades`` times at Sharpe 1.5 (buy and hold 0.5, +3.0 %; NaN and NaN without ``close``),
    ROC AUC 0.6, Brier 0.24; per regime bull and bear; three confusion matrices; two non-empty
    reliability bins; importances of ``x0`` (permutation 0.05) and ``noise`` (0.0)."""
    models = ["entry", "exit", "ensemble", "buy_and_hold", "long_every_event"]
    metrics = pd.DataFrame({
        "accuracy": [0.7, 0.6, 0.65, np.nan, np.nan], "roc_auc": [0.7, 0.6, 0.6, np.nan, np.nan],
        "n_trades": [np.nan, np.nan, n_trades, np.nan, 6.0],
        "sharpe": [np.nan, np.nan, 1.5, 0.5 if close else np.nan, 0.9],
        "max_drawdown": [np.nan, np.nan, 0.08, np.nan, 0.1],
        "hit_rate": [np.nan, np.nan, 0.55, np.nan, 0.5]}, index=pd.Index(models, name="model"))
    per_regime = pd.DataFrame({"n_events": [4, 2], "n_trades": [3, 1], "sharpe": [1.2, -0.4]},
                              index=pd.Index(["bull", "bear"], name="regime"))
    binary = pd.DataFrame([[2, 1], [1, 2]], index=pd.Index([0, 1], name="predicted"),
                          columns=pd.Index([0, 1], name="true"))
    signals = pd.DataFrame([[2, 1], [0, 1], [1, 1]],
                           index=pd.Index(["BUY", "SELL", "HOLD"], name="signal"),
                           columns=pd.Index(["up", "down"], name="realised"))
    reliability = pd.DataFrame({"lower": [0.0, 0.5], "upper": [0.5, 1.0],
                                "mean_predicted": [0.3, 0.7], "observed_frequency": [0.25, 0.75],
                                "count": [4, 2]}, index=pd.Index([0, 1], name="bin"))
    importances = pd.DataFrame({"impurity_entry": [0.6, 0.4], "permutation_mean": [0.05, 0.0],
                                "permutation_std": [0.01, 0.005]},
                               index=pd.Index(["x0", "noise"], name="feature"))
    t0 = pd.date_range("2024-03-01", periods=6, freq="2h", tz="UTC", name="t0")
    returns = pd.Series([0.01, 0.0, -0.005, 0.02, 0.0, 0.004], index=t0)
    return HoldoutReport(metrics, per_regime, {"entry": binary, "exit": binary,
                                               "ensemble": signals},
                         reliability, 0.24, importances, returns,
                         buy_and_hold_return=0.03 if close else np.nan)
