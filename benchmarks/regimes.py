"""Regime benchmark: how the 3-state HMM behaves on real 5-minute crypto bars and on simulated data.

Sections (both by default; pick with ``--sections``):

``binance``
    For each of the 8 pairs of ``../shared/data/binance_5m`` with the regime settings of
    ``configs/crypto_5m.yaml`` (1h regime bars, full covariance, its ``n_restarts``):

    * fit time of :func:`ml_core.regime.fit_regime_model` on the whole file, EM convergence;
    * persistence per regime (:func:`~ml_core.regime.analyze_regime_persistence`): p_stay,
      expected duration, mean run length of the filtered argmax, runs, occupancy;
    * next-state accuracy out of sample: an HMM fitted on the first 80% of the regime bars
      predicts each later regime bar from the previous one (``filtered_{t-1} @ A``), against the
      persistence baseline "the next regime is the current one";
    * label agreement across ``--refits`` weekly refits
      (:func:`~ml_core.regime.weekly_label_stability`): mean and min, and the time they took.

``simulated``
    Regime-bar returns drawn from known 3-state HMMs (several seeds per scenario), the model
    fitted on them: accuracy of the filtered argmax and of the smoothed (forward-backward,
    hindsight) argmax against the true states, the detection lag of the filter after each true
    switch (:func:`~ml_core.regime.detection_lag`), and the largest error of the transition
    matrix.

Results: ``benchmarks/results/regimes.json`` and ``regimes.md`` (``--out`` to change), with the
machine. About 5-8 minutes on 2 cores::

    .venv/bin/python benchmarks/regimes.py
    .venv/bin/python benchmarks/regimes.py --sections simulated --seeds 5
    .venv/bin/python benchmarks/regimes.py --pairs BTC,ETH --refits 4 --out /tmp/regimes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.config import RegimeConfig, load_config  # noqa: E402
from ml_core.regime._simulate import CRYPTO_LIKE, SEPARATED, simulate  # noqa: E402
from ml_core.data import as_bars, load_bars  # noqa: E402
from ml_core.regime import (  # noqa: E402
    REGIME_LABELS,
    RegimeHMM,
    analyze_regime_persistence,
    detection_lag,
    fit_regime_model,
    weekly_label_stability,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "binance_5m"
PAIRS = ("BTC", "ETH", "SOL", "ADA", "XRP", "LTC", "BCH", "LINK")
CRYPTO_5M = ROOT / "configs" / "crypto_5m.yaml"
TRAIN_SHARE = 0.8


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_info() -> dict[str, Any]:
    return _machine.machine_info(("numpy", "pandas", "scipy", "scikit-learn", "hmmlearn"))


# ---------------------------------------------------------------------------------- binance
def split_time(bars: pd.DataFrame, timeframe: timedelta, share: float) -> pd.Timestamp:
    """Start of the last ``1 - share`` of the regime bins, on a regime-bar boundary."""
    start = bars.index[0].floor(timeframe)
    n_bins = int((bars.index[-1] - start) // timeframe) + 1
    return start + int(np.floor(share * n_bins)) * pd.Timedelta(timeframe)


def bench_pair(name: str, bars: pd.DataFrame, cfg: RegimeConfig, base: timedelta, seed: int,
               refits: int, warm_start: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"pair": name, "bars": len(bars), "start": str(bars.index[0]),
                           "end": str(bars.index[-1])}
    t0 = time.perf_counter()
    model = fit_regime_model(bars, cfg, base, seed)
    row["fit_seconds"] = time.perf_counter() - t0
    row.update(regime_bars=model.n_fit_bars_, converged=model.converged_, n_iter=model.n_iter_,
               rejected_restarts=sum(r["rejected"] is not None for r in model.restarts_))
    table = analyze_regime_persistence(model, bars).table
    row["persistence"] = {str(k): {c: float(v) for c, v in r.items()}
                          for k, r in table.iterrows()}

    split = split_time(bars, cfg.timeframe, TRAIN_SHARE)
    train, test = bars[bars.index < split], bars[bars.index >= split]
    oos = analyze_regime_persistence(fit_regime_model(train, cfg, base, seed), train,
                                     test_bars=test)
    row.update(oos_split=str(split), next_state_accuracy=oos.next_state_accuracy,
               next_state_baseline=oos.next_state_baseline, n_predictions=oos.n_predictions,
               next_state_brier=oos.next_state_brier,
               next_state_brier_baseline=oos.next_state_brier_baseline)

    t0 = time.perf_counter()
    stability = weekly_label_stability(bars, cfg, base, n_refits=refits, random_state=seed)
    row["stability_seconds"] = time.perf_counter() - t0
    agreement = stability["agreement"].dropna()
    row.update(agreement_mean=float(agreement.mean()), agreement_min=float(agreement.min()),
               refits_converged=int(stability["converged"].sum()), refits=len(stability),
               agreement=[None if np.isnan(a) else float(a) for a in stability["agreement"]])
    if warm_start:
        warm = weekly_label_stability(bars, cfg, base, n_refits=refits, random_state=seed,
                                      warm_start=True)
        agreement = warm["agreement"].dropna()
        row.update(warm_agreement_mean=float(agreement.mean()),
                   warm_agreement_min=float(agreement.min()),
                   warm_kept=int((warm["kept_init"] == "warm_start").sum()))
    return row


def bench_binance(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(CRYPTO_5M)
    cfg, base = config.regime, config.data.timeframe
    rows = []
    for pair in args.pairs:
        path = args.data / f"{pair}_USDT-5m.parquet"
        if not path.exists():
            log(f"{path} is absent: {pair} skipped")
            continue
        bars = as_bars(load_bars(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is recorded per fit
            row = bench_pair(pair, bars, cfg, base, config.seed, args.refits,
                             not args.no_warm_start)
        rows.append(row)
        log(f"{pair}: fit {row['fit_seconds']:.2f} s, next-state {row['next_state_accuracy']:.3f} "
            f"vs {row['next_state_baseline']:.3f}, agreement mean {row['agreement_mean']:.3f} "
            f"min {row['agreement_min']:.3f} ({row['stability_seconds']:.1f} s)")
    return {"profile": str(CRYPTO_5M.relative_to(ROOT)), "regime": cfg.model_dump(mode="json"),
            "timeframe": _machine.duration(cfg.timeframe), "seed": config.seed,
            "train_share": TRAIN_SHARE, "refits": args.refits,
            "warm_start": not args.no_warm_start, "pairs": rows}


# ---------------------------------------------------------------------------------- simulated
SCENARIOS = (SEPARATED, CRYPTO_LIKE)


def bench_simulated(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for scenario in SCENARIOS:
        for seed in range(args.seeds):
            bars, states = simulate(scenario, args.sim_bars, seed)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = RegimeHMM(timeframe=timedelta(hours=1), base_timeframe=timedelta(
                    minutes=30), n_restarts=5, random_state=seed).fit(bars)
            seconds = time.perf_counter() - t0
            filtered = model.filter_proba(bars)
            valid = filtered.notna().all(axis=1).to_numpy()
            f_state = filtered.to_numpy()[valid].argmax(axis=1)
            s_state = model.smoothed_proba(bars).to_numpy()[valid].argmax(axis=1)
            truth = states[valid]
            lags = detection_lag(truth, f_state)
            rows.append({
                "scenario": scenario.name, "seed": seed, "fit_seconds": seconds,
                "filtered_accuracy": float((f_state == truth).mean()),
                "smoothed_accuracy": float((s_state == truth).mean()),
                "switches": int(len(lags)),
                "lag_median": float(np.nanmedian(lags)) if np.isfinite(lags).any() else None,
                "lag_mean": float(np.nanmean(lags)) if np.isfinite(lags).any() else None,
                "missed_switches": float(np.isnan(lags).mean()) if len(lags) else None,
                "transmat_max_error": float(np.abs(model.transmat_ - scenario.transmat).max()),
            })
            r = rows[-1]
            log(f"{scenario.name} seed {seed}: filtered {r['filtered_accuracy']:.3f}, smoothed "
                f"{r['smoothed_accuracy']:.3f}, lag median {r['lag_median']}, missed "
                f"{r['missed_switches']:.2f}")
    return {"regime_bars": args.sim_bars, "seeds": args.seeds,
            "scenarios": [{"name": s.name, "note": s.description, "transmat": s.transmat.tolist(),
                           "mean": s.mean.tolist(), "std": s.std.tolist()} for s in SCENARIOS],
            "runs": rows}


# ---------------------------------------------------------------------------------- report
def _f(x: float | None, spec: str = ".3f") -> str:
    return _machine.fmt(x, spec)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Regime benchmark", "",
        f"Generated by `benchmarks/regimes.py` on {m['date_utc']} (commit {m['git_commit']}).", "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; total {report['seconds']:.0f} s", "",
    ]
    b = report.get("binance")
    if b and b["pairs"]:
        r = b["regime"]
        lines += [
            "## Binance 5m pairs", "",
            f"Profile `{b['profile']}`: {b['timeframe']} regime bars, "
            f"{r['covariance_type']} covariance, {r['n_restarts']} EM restarts, seed {b['seed']}. "
            f"Next state: HMM fitted on the first {b['train_share']:.0%} of the regime bars, "
            "scored on the rest (prediction `filtered[t-1] @ A` vs the filtered argmax at t); "
            "baseline: the regime stays. Brier: mean squared error of the predicted distribution "
            "(`filtered[t-1] @ A`; baseline `filtered[t-1]`) against the filtered argmax at t, "
            "0 best. Agreement: share of the shared history two consecutive weekly refits "
            f"(expanding window, {b['refits']} refits, each from random starts as the retrain "
            "fits) label alike; *warm*: the same with one extra EM run started from the previous "
            "fit (`warm_start=True`).", "",
            "| pair | bars | regime bars | fit s | converged | next-state acc. | baseline | Brier |"
            " Brier baseline | agreement mean | min | refits converged | refits s | warm mean |"
            " warm min |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in b["pairs"]:
            lines.append(
                f"| {p['pair']} | {p['bars']:,} | {p['regime_bars']:,} | {p['fit_seconds']:.2f} "
                f"| {'yes' if p['converged'] else 'no'} | {_f(p['next_state_accuracy'])} | "
                f"{_f(p['next_state_baseline'])} | {_f(p['next_state_brier'], '.4f')} | "
                f"{_f(p['next_state_brier_baseline'], '.4f')} | {_f(p['agreement_mean'])} | "
                f"{_f(p['agreement_min'])} | {p['refits_converged']}/{p['refits']} | "
                f"{p['stability_seconds']:.1f} | {_f(p.get('warm_agreement_mean'))} | "
                f"{_f(p.get('warm_agreement_min'))} |")
        lines += ["", "Persistence per regime (whole file; durations in regime bars; occupancy "
                  "and runs of the filtered argmax):", "",
                  "| pair | " + " | ".join(f"{k} p_stay | {k} exp. dur. | {k} mean run | "
                                           f"{k} occ." for k in REGIME_LABELS) + " |",
                  "|---|" + "---:|" * (4 * len(REGIME_LABELS))]
        for p in b["pairs"]:
            cells = []
            for k in REGIME_LABELS:
                q = p["persistence"][k]
                cells += [_f(q["p_stay"]), _f(q["expected_duration_bars"], ".1f"),
                          _f(q["mean_run_length"], ".1f"), _f(q["occupancy"], ".2f")]
            lines.append(f"| {p['pair']} | " + " | ".join(cells) + " |")
        lines.append("")
    s = report.get("simulated")
    if s:
        lines += ["## Simulated regimes: recovery", "",
                  f"{s['regime_bars']:,} regime bars (1h, built from 30m bars) per run, "
                  f"{s['seeds']} seeds per scenario, 5 EM restarts. Filtered = causal "
                  "P(state | bars <= t); smoothed = forward-backward (hindsight, diagnostic). "
                  "Lag: regime bars from a true switch until the filtered argmax shows the new "
                  "state; missed: switches it never showed before the next one.", ""]
        for sc in s["scenarios"]:
            lines.append(f"- **{sc['name']}**: {sc['note']}; means {sc['mean']}, sd {sc['std']},"
                         f" p_stay {[row[i] for i, row in enumerate(sc['transmat'])]}")
        lines += ["", "| scenario | seed | filtered acc. | smoothed acc. | switches | lag median"
                  " | lag mean | missed | max abs error of A | fit s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in s["runs"]:
            lines.append(
                f"| {r['scenario']} | {r['seed']} | {_f(r['filtered_accuracy'])} | "
                f"{_f(r['smoothed_accuracy'])} | {r['switches']} | {_f(r['lag_median'], '.1f')} |"
                f" {_f(r['lag_mean'], '.2f')} | {_f(r['missed_switches'], '.2f')} | "
                f"{_f(r['transmat_max_error'])} | {r['fit_seconds']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--sections", default="binance,simulated",
                        help="comma-separated: binance, simulated")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with <PAIR>_USDT-5m.parquet files")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated pair names")
    parser.add_argument("--refits", type=int, default=10, help="weekly refits for stability")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="skip the second stability run with warm-started refits")
    parser.add_argument("--seeds", type=int, default=3, help="simulated runs per scenario")
    parser.add_argument("--sim-bars", type=int, default=4000, help="regime bars per simulation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for regimes.json and regimes.md")
    args = parser.parse_args(argv)
    args.pairs = [p.strip().upper() for p in args.pairs.split(",") if p.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",")}
    unknown = sections - {"binance", "simulated"}
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; use binance, simulated")
    start = time.perf_counter()
    report: dict[str, Any] = {"machine": machine_info(),
                              "command": " ".join(["benchmarks/regimes.py", *sys.argv[1:]])}
    if "binance" in sections:
        log(f"binance: {len(args.pairs)} pairs from {args.data}")
        report["binance"] = bench_binance(args)
    if "simulated" in sections:
        log(f"simulated: {len(SCENARIOS)} scenarios x {args.seeds} seeds")
        report["simulated"] = bench_simulated(args)
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regimes.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "regimes.md").write_text(markdown(report))
    log(f"wrote {args.out / 'regimes.json'} and regimes.md in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
