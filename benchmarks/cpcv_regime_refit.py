"""CPCV with the regime HMM fitted once on the development bars against refitted per split.

For each profile the retrain's development set is built as ``flows/weekly_retrain.py`` builds it
(its ml_core calls, without tuning, the quality gate and MLflow): bars up to the final holdout's
cut, causal features, the HMM fitted on the development bars and its filtered columns, triple-
barrier events, the holdout's events split off. CPCV (the profile's N, k, purge, embargo, the
profile's untuned ensemble, seed) then runs twice on the same events:

``once``
    the development HMM's regime columns in every split (``validation.cpcv_refit_regime: false``):
    its parameters have seen each split's test groups;
``refit``
    every split refits the HMM on the bars of its training events only and recomputes the regime
    columns with it (``validation.cpcv_refit_regime: true``,
    :func:`ml_core.regime.refit_regime_features`).

Per arm: the CV figures (median / mean / spread of the path Sharpe ratios, median drawdown and
hit rate, mean entry and ensemble accuracy over splits) and the wall time, the HMM refits' share
of it. Per split of the refit arm: regime bars fitted, the share of the test events whose
dominant regime (filtered argmax) the split's HMM and the development HMM agree on, and the
mean absolute difference of their probabilities there.

Results: ``benchmarks/results/cpcv_regime_refit.json`` and ``.md`` (``--out`` to change), with the
machine. About 15-25 minutes on 2 cores (both profiles)::

    .venv/bin/python benchmarks/cpcv_regime_refit.py
    .venv/bin/python benchmarks/cpcv_regime_refit.py --profiles demo --out /tmp/refit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.config import Config, load_config  # noqa: E402
from ml_core.data import as_bars, load_bars, load_sample_bars  # noqa: E402
from ml_core.ensemble import RegimeForestEnsemble  # noqa: E402
from ml_core.evaluation import CVReport, evaluate_cpcv  # noqa: E402
from ml_core.features import compute_features, min_frac_diff_order  # noqa: E402
from ml_core.labeling import triple_barrier_events  # noqa: E402
from ml_core.pipeline import TrainingSet, assemble_training_set, holdout_start, split_holdout  # noqa: E402
from ml_core.regime import REGIME_LABELS, fit_regime_model, refit_regime_features  # noqa: E402
from ml_core.validation import CombinatorialPurgedCV  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "binance_5m"
PROFILES = {"demo": (ROOT / "configs" / "demo.yaml", None),
            "crypto_5m": (ROOT / "configs" / "crypto_5m.yaml", "BTC_USDT-5m.parquet")}
FIGURES = ("cv_sharpe_median", "cv_sharpe_mean", "cv_sharpe_std", "cv_max_drawdown_median",
           "cv_hit_rate_median", "cv_entry_accuracy", "cv_ensemble_accuracy", "cv_n_trades",
           "cv_n_paths_traded")
PROB = [f"regime_prob_{label}" for label in REGIME_LABELS]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def development_set(config: Config, data: Path | None) -> tuple[TrainingSet, pd.DataFrame,
                                                                    dict[str, Any]]:
    """The retrain's development events and bars (holdout cut on the bars first)."""
    bars = load_sample_bars() if data is None else as_bars(load_bars(data, config.data.columns))
    bars = bars.loc[config.data.start:config.data.end]
    v = config.validation
    cut = (None if v.holdout_span is None and v.holdout_fraction is None
           else holdout_start(pd.DatetimeIndex(bars.index), span=v.holdout_span,
                              fraction=v.holdout_fraction))
    fit_bars = bars if cut is None else bars[bars.index < cut]
    features = config.features
    if features.frac_diff_auto:
        choice = min_frac_diff_order(np.log(fit_bars["close"]), features.frac_diff_window,
                                     alpha=features.frac_diff_adf_alpha)
        if choice.passed:
            config = config.model_copy(update={"features": features.model_copy(
                update={"frac_diff_d": float(choice.d)})})
    X = compute_features(bars, config.features, config.data.timeframe)
    model = fit_regime_model(fit_bars, config.regime, config.data.timeframe, config.seed)
    labelled = assemble_training_set(X.join(model.transform(bars)),
                                     triple_barrier_events(bars, config.labels), config.labels)
    dataset = labelled if cut is None else split_holdout(labelled, cut=cut, purge=v.purge)[0]
    info = {"bars": len(bars), "development_bars": len(fit_bars), "cut": str(cut),
            "events": len(dataset.X), "features": dataset.X.shape[1],
            "regime_bars_fitted": model.n_fit_bars_}
    return dataset, fit_bars, info


def events_per_year(dataset: TrainingSet) -> float:
    """As ``tasks.training.events_per_year``."""
    span = dataset.X.index[-1] - dataset.X.index[0]
    return len(dataset.X) / max(span / pd.Timedelta(days=365), 1e-9)


def run_arm(config: Config, dataset: TrainingSet,
            split_features: Callable[[np.ndarray], pd.DataFrame] | None) -> tuple[CVReport, float]:
    v = config.validation
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    t0 = time.perf_counter()
    report = evaluate_cpcv(
        lambda: RegimeForestEnsemble.from_config(config.ensemble, v, config.seed,
                                                 selection=config.features.selection,
                                                 labels=config.labels),
        dataset.X, dataset.targets, dataset.events, cv, cost_bps=v.transaction_cost_bps,
        events_per_year=events_per_year(dataset), split_features=split_features,
        progress=lambda i, n: log(f"  split {i}/{n}"))
    return report, time.perf_counter() - t0


def _f(x: Any) -> float | None:
    return None if x is None or not np.isfinite(float(x)) else float(x)


def bench_profile(name: str, config: Config, data: Path | None) -> dict[str, Any]:
    log(f"{name}: building the development set")
    dataset, fit_bars, info = development_set(config, data)
    log(f"{name}: {info['events']} events x {info['features']} features")
    v = config.validation
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    splits = list(cv.split(dataset.X, t1=dataset.t1))
    refits: list[dict[str, Any]] = []

    def refit(train_idx: np.ndarray) -> pd.DataFrame:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EM convergence notes; the retrain logs them
            model, own = refit_regime_features(fit_bars, dataset.t1, train_idx, config.regime,
                                               config.data.timeframe, config.seed)
        test_idx = splits[len(refits)][1]
        once = dataset.X[PROB].to_numpy()[test_idx]
        mine = own[PROB].to_numpy()[test_idx]
        refits.append({"seconds": time.perf_counter() - t0, "regime_bars": model.n_fit_bars_,
                       "converged": model.converged_,
                       "test_argmax_agreement": float((once.argmax(1) == mine.argmax(1)).mean()),
                       "test_mean_abs_prob_diff": float(np.abs(once - mine).mean())})
        return own.loc[:, [c for c in own.columns if c in dataset.X.columns]]

    out: dict[str, Any] = {"profile": name, "data": str(data or "bundled sample"), **info,
                           "n_splits": len(splits), "arms": {}}
    for arm, features in (("once", None), ("refit", refit)):
        log(f"{name}: CPCV arm {arm}")
        report, seconds = run_arm(config, dataset, features)
        summary = report.summary()
        out["arms"][arm] = {
            "seconds": seconds, **{k: _f(summary.get(k)) for k in FIGURES},
            "path_sharpe": [_f(s) for s in report.paths["sharpe"]],
            "split_entry_accuracy": [_f(a) for a in report.splits["entry_accuracy"]],
        }
        log(f"{name}: {arm}: {seconds:.0f} s, median path Sharpe "
            f"{summary['cv_sharpe_median']:.3f}")
    out["refits"] = refits
    out["refit_seconds"] = float(sum(r["seconds"] for r in refits))
    once, again = (np.array(out["arms"][a]["path_sharpe"], dtype=float) for a in ("once", "refit"))
    out["path_sharpe_diff"] = [_f(d) for d in again - once]
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    fmt = _machine.fmt
    lines = [
        "# CPCV with the regime HMM refitted per split", "",
        f"Generated by `benchmarks/cpcv_regime_refit.py` on {m['date_utc']} (commit "
        f"{m['git_commit']}, working tree with uncommitted changes of concurrent work).", "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; total {report['seconds']:.0f} s. The machine was "
        "shared with other jobs: times are indicative, compare the two arms of one profile.", "",
        "Both arms run the same CPCV (profile N, k, purge, embargo; the profile's untuned "
        "ensemble; seed) on the same development events. *once*: the development HMM's regime "
        "columns in every split (its parameters saw each split's test groups). *refit*: each "
        "split refits the HMM on its training events' bars only and recomputes the regime "
        "columns.", "",
        "| profile | events | arm | median path Sharpe | mean | std | median max DD | median "
        "hit rate | entry acc. | ensemble acc. | trades/split | wall s | HMM refits s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in report["profiles"]:
        for arm, a in p["arms"].items():
            lines.append(
                f"| {p['profile']} | {p['events']:,} | {arm} | {fmt(a['cv_sharpe_median'], '.3f')}"
                f" | {fmt(a['cv_sharpe_mean'], '.3f')} | {fmt(a['cv_sharpe_std'], '.3f')} | "
                f"{fmt(a['cv_max_drawdown_median'], '.3f')} | "
                f"{fmt(a['cv_hit_rate_median'], '.3f')} | {fmt(a['cv_entry_accuracy'], '.4f')} | "
                f"{fmt(a['cv_ensemble_accuracy'], '.4f')} | {fmt(a['cv_n_trades'], '.0f')} | "
                f"{a['seconds']:.0f} | "
                f"{fmt(p['refit_seconds'] if arm == 'refit' else None, '.0f')} |")
    lines += ["", "Per profile: path Sharpe refit minus once (paired, same path), and how far "
              "each split's HMM is from the development HMM on that split's test events.", "",
              "| profile | paths: Sharpe diff min / median / max | refit better on | regime bars "
              "fitted per split (development HMM) | test-event argmax agreement mean (min) | "
              "mean abs prob. diff |", "|---|---|---:|---|---|---:|"]
    for p in report["profiles"]:
        d = np.array(p["path_sharpe_diff"], dtype=float)
        r = pd.DataFrame(p["refits"])
        lines.append(
            f"| {p['profile']} | {np.nanmin(d):+.3f} / {np.nanmedian(d):+.3f} / "
            f"{np.nanmax(d):+.3f} | {int((d > 0).sum())} of {len(d)} | "
            f"{r['regime_bars'].min():,}-{r['regime_bars'].max():,} "
            f"({p['regime_bars_fitted']:,}) | {r['test_argmax_agreement'].mean():.3f} "
            f"({r['test_argmax_agreement'].min():.3f}) | "
            f"{r['test_mean_abs_prob_diff'].mean():.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default=",".join(PROFILES),
                        help="comma-separated, of: " + ", ".join(PROFILES))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the Binance 5m files (crypto_5m profile)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report: dict[str, Any] = {
        "machine": _machine.machine_info(("numpy", "pandas", "scikit-learn", "hmmlearn")),
        "command": "benchmarks/cpcv_regime_refit.py " + " ".join(argv or sys.argv[1:]),
        "profiles": []}
    for name in args.profiles.split(","):
        path, file = PROFILES[name]
        report["profiles"].append(bench_profile(name, load_config(path),
                                                None if file is None else args.data / file))
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpcv_regime_refit.json").write_text(json.dumps(report, indent=1, default=str))
    (args.out / "cpcv_regime_refit.md").write_text(markdown(report))
    log(f"wrote {args.out / 'cpcv_regime_refit.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
