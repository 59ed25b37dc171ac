"""Monitor benchmark: how often the daily monitor's rollback rules fire on a healthy champion, and
how soon after it breaks.

Sections (all by default; pick with ``--sections``):

``performance``
    The live-performance rule (:func:`ml_core.monitoring.live_performance` on the last
    ``n_recent`` resolved trades, :func:`~ml_core.monitoring.recent_trades`). Validated hit rate
    0.55; trades resolve ~5 a day (Poisson); each wins with probability p; one check a day for
    180 days. *Stationary*: p = 0.55 throughout; false-alarm rate = share of seeds with any
    rollback. *Break*: p falls to 0.40 at day 60; detection rate and delay (days from the break
    to the first rollback at or after it) over the seeds, and the share that rolled back before
    the break. Window sizes, minimum trades and confidence are varied; peers in the same run:
    the Wilson bound instead of Clopper-Pearson, and the bare point estimate (hit rate below
    the threshold, no bound). Every decision of the Clopper-Pearson rows is
    :func:`~ml_core.monitoring.live_performance` itself (memoised on hits and trades, all it
    depends on).

``drift``
    The feature-drift rule (:func:`ml_core.monitoring.feature_drift`, the profile's thresholds:
    PSI > 0.25 and KS p < 0.001 per feature, at least half the features). 40 features, a
    5,000-row reference, live windows of 7 days x 48 bars sliding one day per check
    (overlapping, as in reality), 180 checks. Features are independent AR(1) series with unit
    marginal variance: phi = 0 (independent bars) and phi = 0.9 / 0.99 per bar (features built
    on rolling windows are this persistent). *Stationary*: false-alarm rate; *shift*: from day
    60 on, 10 features move their mean by one standard deviation and 10 double their scale;
    detection delay. Three rules from the same checks: *own* (ours; each feature held to
    ``max(psi_max, psi_limit)``, its limit measured on windows of the reference itself,
    :func:`~ml_core.monitoring.build_reference` with ``window_rows``), *fixed* (psi_max for every
    feature: the reference without ``window_rows``), *PSI* alone (no KS condition).

``real``
    The same rules on the 130 features of ``configs/demo.yaml`` computed on the bundled 30m BTC
    sample: a 5,000-bar reference, then 180 daily checks of the following 7-day windows, for
    several reference starts 60 days apart. Nothing is planted: how often does each rule fire
    on a real market, whose features are persistent and whose volatility moves?

Results: ``benchmarks/results/monitor.json`` and ``monitor.md`` (``--out`` to change), with the
machine. About 15 minutes on 2 cores::

    .venv/bin/python benchmarks/monitor.py
    .venv/bin/python benchmarks/monitor.py --sections performance --seeds 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.config import MonitorConfig  # noqa: E402
from ml_core.monitoring import build_reference, feature_drift, live_performance  # noqa: E402

VALIDATED = 0.55
P_BROKEN = 0.40
DAYS = 180
BREAK_DAY = 60
TRADES_PER_DAY = 5.0
BARS_PER_DAY = 48
WINDOW_DAYS = 7
N_FEATURES = 40
REFERENCE_ROWS = 5000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_info() -> dict[str, Any]:
    return _machine.machine_info(("numpy", "pandas", "scipy", "scikit-learn"))


# ---------------------------------------------------------------------------------- performance
def simulate_trades(rng: np.random.Generator, p_before: float, p_after: float,
                    break_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Resolution day and win flag of every trade of one run, in resolution order."""
    day = np.repeat(np.arange(DAYS), rng.poisson(TRADES_PER_DAY, DAYS))
    win = rng.random(day.size) < np.where(day < break_day, p_before, p_after)
    return day, win


def window_counts(day: np.ndarray, win: np.ndarray, n_recent: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Trades and wins among the last ``n_recent`` trades resolved by the end of each day (the
    window :func:`~ml_core.monitoring.recent_trades` takes)."""
    end = np.searchsorted(day, np.arange(DAYS), side="right")
    start = np.maximum(end - n_recent, 0)
    wins = np.concatenate([[0], np.cumsum(win)])
    return end - start, wins[end] - wins[start]


class Rule:
    """The rollback decision for ``hits`` of ``n`` trades under one bound."""

    def __init__(self, bound: str, confidence: float, min_trades: int, drop: float) -> None:
        self.bound, self.confidence, self.min_trades = bound, confidence, min_trades
        self.threshold = VALIDATED - drop
        self.drop = drop
        self._memo: dict[tuple[int, int], bool] = {}

    def __call__(self, n: np.ndarray, hits: np.ndarray) -> np.ndarray:
        if self.bound == "clopper-pearson":
            return np.array([self._ours(int(a), int(b)) for a, b in zip(n, hits, strict=True)])
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = hits / n
            if self.bound == "point":
                upper = rate
            else:  # wilson
                z = norm.ppf(self.confidence)
                upper = (rate + z * z / (2 * n) + z * np.sqrt(rate * (1 - rate) / n
                                                              + z * z / (4 * n * n))) / (
                    1 + z * z / n)
        return (n >= self.min_trades) & (upper < self.threshold)

    def _ours(self, n: int, hits: int) -> bool:
        key = (n, hits)
        if key not in self._memo:
            returns = np.array([0.01] * hits + [-0.01] * (n - hits))
            self._memo[key] = live_performance(
                returns, VALIDATED, accuracy_drop_max=self.drop, confidence=self.confidence,
                min_trades=self.min_trades).degraded
        return self._memo[key]


def run_rule(n_recent: int, rule: Rule, seeds: int) -> dict[str, Any]:
    stationary = np.zeros(seeds, bool)
    before, delays = np.zeros(seeds, bool), []
    for seed in range(seeds):
        day, win = simulate_trades(np.random.default_rng(seed), VALIDATED, VALIDATED, DAYS)
        stationary[seed] = rule(*window_counts(day, win, n_recent)).any()
        day, win = simulate_trades(np.random.default_rng(10**6 + seed), VALIDATED, P_BROKEN,
                                   BREAK_DAY)
        alarm = rule(*window_counts(day, win, n_recent))
        before[seed] = alarm[:BREAK_DAY].any()
        after = np.flatnonzero(alarm[BREAK_DAY:])
        if after.size:
            delays.append(int(after[0]) + 1)  # the check at the end of the break day: 1 day
    d = np.array(delays, dtype=float)
    return {
        "n_recent": n_recent, "bound": rule.bound, "confidence": rule.confidence,
        "min_trades": rule.min_trades, "seeds": seeds,
        "false_alarm_rate": float(stationary.mean()),
        "rollback_before_break": float(before.mean()),
        "detection_rate": len(delays) / seeds,
        "delay_median": float(np.median(d)) if d.size else None,
        "delay_p90": float(np.percentile(d, 90)) if d.size else None,
        "delay_max": float(d.max()) if d.size else None,
    }


def bench_performance(args: argparse.Namespace) -> dict[str, Any]:
    cfg = MonitorConfig()
    grid = [(n, "clopper-pearson", cfg.confidence, cfg.min_resolved_trades)
            for n in (50, 100, 150, 200, 300)]
    grid += [(200, "clopper-pearson", cfg.confidence, 60), (100, "clopper-pearson", 0.975, 30),
             (200, "clopper-pearson", 0.975, 30), (200, "wilson", cfg.confidence, 30),
             (200, "point", cfg.confidence, 30), (35, "clopper-pearson", cfg.confidence, 30)]
    rows = []
    for n_recent, bound, confidence, min_trades in grid:
        t0 = time.perf_counter()
        rule = Rule(bound, confidence, min_trades, cfg.accuracy_drop_max)
        row = run_rule(n_recent, rule, args.seeds)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log(f"last {n_recent} trades, {bound} {confidence}, min {min_trades}: false alarms "
            f"{row['false_alarm_rate']:.3f}, detected {row['detection_rate']:.3f}, delay median "
            f"{row['delay_median']} p90 {row['delay_p90']} ({row['seconds']:.0f} s)")
    return {"validated_hit_rate": VALIDATED, "broken_hit_rate": P_BROKEN, "days": DAYS,
            "break_day": BREAK_DAY, "trades_per_day": TRADES_PER_DAY,
            "accuracy_drop_max": cfg.accuracy_drop_max, "seeds": args.seeds, "rows": rows}


# ---------------------------------------------------------------------------------- drift
def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """``n`` x :data:`N_FEATURES` stationary AR(1) series of unit marginal variance."""
    noise = rng.normal(size=(n, N_FEATURES))
    if phi == 0:
        return noise
    # x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t, started from x_{-1} ~ N(0, 1): stationary
    start = phi * rng.normal(size=(1, N_FEATURES))
    return lfilter([np.sqrt(1 - phi ** 2)], [1.0, -phi], noise, axis=0, zi=start)[0]


RULES = ("own", "fixed", "psi")
"""The drift rules compared: ``own`` (ours: PSI past max(psi_max, the feature's own psi_limit)
and KS), ``fixed`` (PSI past psi_max and KS: the reference built without ``window_rows``),
``psi`` (PSI past psi_max alone)."""


def rule_shares(result: Any, cfg: MonitorConfig) -> dict[str, float]:
    """Share of drifted features under each of :data:`RULES`, from one feature_drift table (its
    KS p-values exist wherever PSI passed psi_max, all the fixed rule needs)."""
    t = result.table.dropna(subset=["psi"])
    over = t["psi"] > cfg.psi_max
    return {"own": result.share, "fixed": float((over & (t["ks_pvalue"] < cfg.ks_alpha)).mean()),
            "psi": float(over.mean())}


def drift_run(seed: int, phi: float, shift: bool, cfg: MonitorConfig) -> dict[str, Any]:
    """One reference + 180 daily checks: the first alarm of each rule (check index) and the
    features each flagged."""
    rng = np.random.default_rng(seed)
    window = WINDOW_DAYS * BARS_PER_DAY
    series = ar1(rng, REFERENCE_ROWS + (DAYS + WINDOW_DAYS) * BARS_PER_DAY, phi)
    names = [f"f{i:02d}" for i in range(N_FEATURES)]
    reference = build_reference(pd.DataFrame(series[:REFERENCE_ROWS], columns=names),
                                random_state=seed, window_rows=window, step_rows=BARS_PER_DAY)
    live = series[REFERENCE_ROWS:].copy()
    start = (WINDOW_DAYS + BREAK_DAY) * BARS_PER_DAY  # stream bar of the break
    if shift:
        live[start:, :10] += 1.0
        live[start:, 10:20] *= 2.0
    live = pd.DataFrame(live, columns=names)
    first: dict[str, int | None] = dict.fromkeys(RULES)
    flagged = dict.fromkeys(RULES, 0.0)
    checks = 0
    for check in range(DAYS):
        end = (WINDOW_DAYS + check + 1) * BARS_PER_DAY  # window closes at the end of the day
        if shift and end <= start:
            continue  # before the break: the stationary runs measure false alarms
        result = feature_drift(reference, live.iloc[end - window:end], cfg.psi_max,
                               cfg.ks_alpha, cfg.drift_share_max, ks_all=False)
        checks += 1
        for rule, share in rule_shares(result, cfg).items():
            flagged[rule] += share * N_FEATURES
            if first[rule] is None and share >= cfg.drift_share_max:
                first[rule] = check
        if first["own"] is not None:  # the strictest rule: the others have fired too
            break
    return {"first": first, "flagged": flagged, "checks": checks}


def _stats(x: list[float]) -> dict[str, float | None]:
    d = np.asarray(x, dtype=float)
    return {"median": float(np.median(d)) if d.size else None,
            "p90": float(np.percentile(d, 90)) if d.size else None,
            "max": float(d.max()) if d.size else None}


def bench_drift(args: argparse.Namespace) -> dict[str, Any]:
    cfg = MonitorConfig()
    rows = []
    for phi in args.phis:
        seeds = args.drift_seeds if phi < 0.95 else args.persistent_seeds
        for shift in (False, True):
            t0 = time.perf_counter()
            runs = [drift_run(seed + (10**6 if shift else 0), phi, shift, cfg)
                    for seed in range(seeds)]
            row: dict[str, Any] = {"phi": phi, "scenario": "shift" if shift else "stationary",
                                   "seeds": seeds}
            for rule in RULES:
                firsts = [r["first"][rule] for r in runs]
                if shift:
                    delays = [f - BREAK_DAY + 1 for f in firsts if f is not None]
                    row[rule] = {"detection_rate": len(delays) / seeds,
                                 **{f"delay_{k}": v for k, v in _stats(delays).items()}}
                else:
                    row[rule] = {
                        "false_alarm_rate": float(np.mean([f is not None for f in firsts])),
                        "feature_flag_rate": sum(r["flagged"][rule] for r in runs)
                        / (sum(r["checks"] for r in runs) * N_FEATURES)}
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            log(f"drift phi={phi} {row['scenario']} ({seeds} seeds, {row['seconds']:.0f} s): "
                + "; ".join(f"{rule} {row[rule]}" for rule in RULES))
    return {"features": N_FEATURES, "reference_rows": REFERENCE_ROWS,
            "window_bars": WINDOW_DAYS * BARS_PER_DAY, "bars_per_day": BARS_PER_DAY,
            "days": DAYS, "break_day": BREAK_DAY, "psi_max": cfg.psi_max,
            "ks_alpha": cfg.ks_alpha, "drift_share_max": cfg.drift_share_max,
            "shift": "features 0-9: mean + 1 sd; features 10-19: scale x 2", "rows": rows}


# ---------------------------------------------------------------------------------- real
DEMO = ROOT / "configs" / "demo.yaml"


def bench_real(args: argparse.Namespace) -> dict[str, Any]:
    """The drift rules on the features of the bundled 30m BTC sample (``configs/demo.yaml``):
    reference = 5,000 bars, then 180 daily checks of the following 7-day windows; several
    reference starts, 60 days apart."""
    from ml_core.config import load_config
    from ml_core.data import load_sample_bars
    from ml_core.features import compute_features

    config, cfg = load_config(DEMO), MonitorConfig()
    t0 = time.perf_counter()
    features = compute_features(load_sample_bars(), config.features, config.data.timeframe)
    features = features.iloc[int(features.isna().any(axis=1).to_numpy().argmin()):]  # warm
    log(f"real: {features.shape[1]} features on {len(features):,} bars "
        f"({time.perf_counter() - t0:.1f} s)")
    window = WINDOW_DAYS * BARS_PER_DAY
    span = REFERENCE_ROWS + (DAYS + WINDOW_DAYS) * BARS_PER_DAY
    rows = []
    for start in range(0, len(features) - span + 1, 60 * BARS_PER_DAY)[:args.real_starts]:
        t0 = time.perf_counter()
        reference = build_reference(features.iloc[start:start + REFERENCE_ROWS],
                                    window_rows=window, step_rows=BARS_PER_DAY)
        live = features.iloc[start + REFERENCE_ROWS:start + span]
        shares: dict[str, list[float]] = {rule: [] for rule in RULES}
        for check in range(DAYS):
            end = (WINDOW_DAYS + check + 1) * BARS_PER_DAY
            result = feature_drift(reference, live.iloc[end - window:end], cfg.psi_max,
                                   cfg.ks_alpha, cfg.drift_share_max, ks_all=False)
            for rule, share in rule_shares(result, cfg).items():
                shares[rule].append(share)
        row: dict[str, Any] = {"reference_start": str(features.index[start]), "checks": DAYS}
        for rule, values in shares.items():
            v = np.array(values)
            alarms = v >= cfg.drift_share_max
            row[rule] = {"alarm_rate": float(alarms.mean()),
                         "first_alarm_day": int(np.argmax(alarms)) + 1 if alarms.any() else None,
                         "share_median": float(np.median(v)),
                         "share_p90": float(np.percentile(v, 90))}
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log(f"real from {row['reference_start']} ({row['seconds']:.0f} s): "
            + "; ".join(f"{rule} {row[rule]}" for rule in RULES))
    return {"profile": str(DEMO.relative_to(ROOT)), "features": features.shape[1],
            "reference_rows": REFERENCE_ROWS, "window_bars": window, "days": DAYS,
            "drift_share_max": cfg.drift_share_max, "rows": rows}


# ---------------------------------------------------------------------------------- report
def _f(x: float | None, spec: str = ".3f") -> str:  # an em dash for a missing value
    return _machine.fmt(x, spec)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# Monitor benchmark\n\nGenerated by `benchmarks/monitor.py` on {m['date_utc']} "
             f"(commit {m['git_commit']}).\n", *_machine.machine_lines(m),
             f"- Command: `{report['command']}`; total {report['seconds']:.0f} s", ""]
    p = report.get("performance")
    if p:
        lines += [
            "## Live-performance rule", "",
            f"Validated hit rate {p['validated_hit_rate']}, rollback when the one-sided upper "
            f"bound of the live hit rate is below {p['validated_hit_rate']} - "
            f"{p['accuracy_drop_max']}; ~{p['trades_per_day']:g} trades resolve a day "
            f"(Poisson), one check a day for {p['days']} days, {p['seeds']} seeds per row. "
            "False alarms: share of stationary runs (p = 0.55 throughout) with any rollback. "
            f"Break: p = {p['broken_hit_rate']} from day {p['break_day']}; delay = days from "
            "the break to the first rollback at or after it (1 = the check at the end of the "
            "break day); *before break*: share of the break runs that rolled back earlier. "
            "*window*: the last N resolved trades. Bounds: Clopper-Pearson (ours), Wilson, and "
            "the bare point estimate (no bound).", "",
            "| window (trades) | bound | confidence | min trades | false alarms | before break |"
            " detected | delay median (days) | p90 | max |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in p["rows"]:
            lines.append(
                f"| {r['n_recent']} | {r['bound']} | {r['confidence']} | {r['min_trades']} | "
                f"{_f(r['false_alarm_rate'])} | {_f(r['rollback_before_break'])} | "
                f"{_f(r['detection_rate'])} | {_f(r['delay_median'], '.0f')} | "
                f"{_f(r['delay_p90'], '.0f')} | {_f(r['delay_max'], '.0f')} |")
        lines.append("")
    d = report.get("drift")
    if d:
        lines += [
            "## Feature-drift rule, simulated features", "",
            f"{d['features']} features, reference {d['reference_rows']:,} rows, live windows of "
            f"{d['window_bars']} bars sliding {d['bars_per_day']} bars a day, {d['days']} daily "
            f"checks; the window drifts when at least {d['drift_share_max']:.0%} of the features "
            f"do. Rules: *own* (ours) — PSI past max({d['psi_max']}, the feature's own limit: the "
            "largest PSI of any window of the reference itself, sliding a day) and KS p < "
            f"{d['ks_alpha']}; *fixed* — PSI past {d['psi_max']} and KS; *PSI* — PSI past "
            f"{d['psi_max']} alone. Features: independent AR(1) series of unit variance (phi per "
            f"bar). Shift from day {d['break_day']}: {d['shift']}. *Flags*: share of (check, "
            "feature) pairs flagged in the stationary runs (up to a run's first alarm of the own "
            "rule).", "",
            "| phi | scenario | seeds | own: false alarms / detected | flags | delay median | p90 "
            "| max | fixed: false alarms / detected | flags | delay median | PSI: false alarms / "
            "detected | delay median |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in d["rows"]:
            cells = []
            for rule in RULES:
                x = r[rule]
                rate = x.get("false_alarm_rate", x.get("detection_rate"))
                cells.append(_f(rate))
                if rule != "psi":
                    cells.append(_f(x.get("feature_flag_rate"), ".4f"))
                cells.append(_f(x.get("delay_median"), ".0f"))
                if rule == "own":
                    cells += [_f(x.get("delay_p90"), ".0f"), _f(x.get("delay_max"), ".0f")]
            lines.append(f"| {r['phi']} | {r['scenario']} | {r['seeds']} | " + " | ".join(cells)
                         + " |")
        lines.append("")
    real = report.get("real")
    if real:
        lines += [
            "## Feature-drift rule on real features", "",
            f"The {real['features']} features of `{real['profile']}` on the bundled 30m BTC "
            f"sample (2017-10 to 2019-10): reference {real['reference_rows']:,} bars, then "
            f"{real['days']} daily checks of the following {real['window_bars']}-bar windows; "
            "one row per reference start. Nothing is planted: every alarm is a market that moved. "
            "*Alarms*: share of the checks at or above the drift share "
            f"({real['drift_share_max']:.0%}); *share*: drifted features per check; rules as "
            "above.", "",
            "| reference start | own: alarms | first (day) | share median | p90 | fixed: alarms |"
            " share median | PSI: alarms | share median |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for x in real["rows"]:
            o, fx, ps = x["own"], x["fixed"], x["psi"]
            lines.append(
                f"| {x['reference_start'][:10]} | {o['alarm_rate']:.3f} | "
                f"{_f(o['first_alarm_day'], 'd')} | {o['share_median']:.3f} | "
                f"{o['share_p90']:.3f} | {fx['alarm_rate']:.3f} | {fx['share_median']:.3f} | "
                f"{ps['alarm_rate']:.3f} | {ps['share_median']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="performance,drift,real",
                        help="comma-separated: performance, drift, real (default: all)")
    parser.add_argument("--seeds", type=int, default=1000,
                        help="runs per performance row (default 1000)")
    parser.add_argument("--drift-seeds", type=int, default=100,
                        help="runs per drift row (default 100)")
    parser.add_argument("--persistent-seeds", type=int, default=20,
                        help="runs per drift row with phi >= 0.95 (the fixed rule runs KS on "
                             "nearly every feature there; default 20)")
    parser.add_argument("--phis", default="0,0.9,0.99",
                        help="AR(1) coefficients of the features (default 0,0.9,0.99)")
    parser.add_argument("--real-starts", type=int, default=6,
                        help="reference starts of the real section, 60 days apart (default 6)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for monitor.json and monitor.md (default "
                             "benchmarks/results)")
    args = parser.parse_args(argv)
    args.phis = [float(x) for x in args.phis.split(",") if x.strip()]
    args.sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; use {', '.join(SECTIONS)}")
    return args


SECTIONS = {"performance": bench_performance, "drift": bench_drift, "real": bench_real}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    report: dict[str, Any] = {"machine": machine_info(),
                              "command": " ".join(["benchmarks/monitor.py", *sys.argv[1:]])}
    for name in args.sections:
        log(f"{name}: {args.seeds if name == 'performance' else args.drift_seeds} seeds per row")
        report[name] = SECTIONS[name](args)
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    for suffix, text in (("json", json.dumps(report, indent=2, default=str)),
                         ("md", markdown(report))):
        (args.out / f"monitor.{suffix}").write_text(text)
    log(f"wrote monitor.json and monitor.md to {args.out} in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
