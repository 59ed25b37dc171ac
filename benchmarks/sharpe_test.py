"""Sharpe-test benchmark: size, power and speed of the promotion gate's paired Sharpe-ratio test.

:func:`ml_core.lifecycle._sharpe_test.sharpe_difference_test` (Ledoit & Wolf 2008) on simulated
paired returns with known per-period Sharpe ratios (``_simulate_pairs``): SR_b = 0.05,
SR_a = 0.05 + delta, correlation 0.5 between a and b, in two settings:

``iid``
    independent normal returns (the textbook case);
``ar_t5``
    AR(1) 0.1 with Student t(5) shocks scaled to unit variance (fat tails, mild autocorrelation).

For T in ``--sizes`` and delta in 0 (size) and ``--deltas`` (power): the rejection rate at
alpha = 0.05, one-sided (H1: SR_a > SR_b), of

* ``hac``: the test as the gate calls it (prewhitened QS kernel, standardised series);
* ``bootstrap``: the studentised circular block bootstrap (``--n-boot`` resamples, default
  block length ``round(T^(1/3))``), on ``--boot-sims`` of the same pairs;
* peers in the same run, on the same pairs: ``lw_parzen``, Ledoit & Wolf's own R code
  (``compute.se.Parzen.pw``: prewhitened Parzen kernel, returns in their units: here unit
  variance), ``lw_parzen_1pct``, the same on the pairs scaled to 1% volatility per period (their
  bandwidth rule depends on the units; ours standardises), and ``jkm``, the Jobson-Korkie test
  with Memmel's correction (iid normal formula), which LW replace.

Also the seconds per call of each method at a few T. Results: ``benchmarks/results/
sharpe_test.json`` and ``sharpe_test.md`` (``--out`` to change), with the machine. About 3-5
minutes on 2 cores::

    .venv/bin/python benchmarks/sharpe_test.py
    .venv/bin/python benchmarks/sharpe_test.py --sims 200 --boot-sims 100 --out /tmp/sharpe
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.lifecycle._sharpe_test import (  # noqa: E402
    _default_block_size,
    _long_run_variance,
    _moment_series,
    _simulate_pairs,
    sharpe_difference_test,
)

ALPHA = 0.05
SHARPE_B = 0.05
CORRELATION = 0.5
SETTINGS: dict[str, dict[str, Any]] = {
    "iid": {"ar": 0.0, "df": None},
    "ar_t5": {"ar": 0.1, "df": 5.0},
}
METHODS = ("hac", "bootstrap", "lw_parzen", "lw_parzen_1pct", "jkm")
UNITS_1PCT = 0.01
"""Scale of ``lw_parzen_1pct``: the same pairs as returns with 1% volatility per period."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_info() -> dict[str, Any]:
    return _machine.machine_info(("numpy", "scipy"))


# ------------------------------------------------------------------------------------ peers
def lw_parzen_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value of LW's own ``compute.se.Parzen.pw`` (returns not standardised)."""
    v, gradient = _moment_series(np.column_stack((a, b)), np.array([1.0, -1.0]))
    se = math.sqrt(_long_run_variance(v, gradient, kernel="parzen", prewhiten=True) / a.size)
    difference = a.mean() / a.std(ddof=1) - b.mean() / b.std(ddof=1)
    return float(ndtr(-difference / se))


def jkm_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value of Jobson & Korkie (1981) with Memmel's (2003) correction."""
    sr_a, sr_b = a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)
    rho = np.corrcoef(a, b)[0, 1]
    variance = (2 - 2 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)) / a.size
    return float(ndtr(-(sr_a - sr_b) / math.sqrt(variance)))


# --------------------------------------------------------------------------------- sections
def bench_rejections(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rejection rates per setting, T, delta and method, all methods on the same pairs."""
    rows = []
    for s, (setting, dgp) in enumerate(SETTINGS.items()):
        for n in args.sizes:
            for d, delta in enumerate((0.0, *args.deltas)):
                rng = np.random.default_rng([args.seed, s, n, d])
                a, b = _simulate_pairs(rng, args.sims, n, sharpe_a=SHARPE_B + delta,
                                       sharpe_b=SHARPE_B, correlation=CORRELATION, **dgp)
                p: dict[str, list[float]] = {m: [] for m in METHODS}
                start = time.perf_counter()
                for i in range(args.sims):
                    p["hac"].append(sharpe_difference_test(a[i], b[i]).p_value)
                    p["lw_parzen"].append(lw_parzen_p_value(a[i], b[i]))
                    p["lw_parzen_1pct"].append(lw_parzen_p_value(UNITS_1PCT * a[i],
                                                                 UNITS_1PCT * b[i]))
                    p["jkm"].append(jkm_p_value(a[i], b[i]))
                    if i < args.boot_sims:
                        p["bootstrap"].append(sharpe_difference_test(
                            a[i], b[i], method="bootstrap", n_boot=args.n_boot,
                            random_state=i).p_value)
                for method in METHODS:
                    values = np.asarray(p[method])
                    rows.append({
                        "setting": setting, "n": n, "delta": delta, "method": method,
                        "sims": int(values.size), "rejection_rate": float(np.mean(values < ALPHA)),
                        # the two-sided rate of the normal tests: 2 min(p, 1 - p) < alpha
                        "two_sided_rate": (float(np.mean(2 * np.minimum(values, 1 - values)
                                                         < ALPHA))
                                           if method != "bootstrap" else None),
                    })
                rates = ", ".join(f"{r['method']} {r['rejection_rate']:.3f}"
                                  for r in rows[-len(METHODS):])
                log(f"{setting} T={n} delta={delta}: {rates} "
                    f"({time.perf_counter() - start:.0f} s)")
    return rows


def bench_speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Median seconds per call over ``--repeat`` calls, per method and T."""
    rows = []
    for n in (250, 1000, 10_000):
        a, b = _simulate_pairs(np.random.default_rng([args.seed, n]), 1, n, sharpe_a=0.1,
                               sharpe_b=0.05, correlation=CORRELATION, ar=0.1, df=5.0)
        calls = {
            "hac": lambda: sharpe_difference_test(a[0], b[0]),
            f"bootstrap n_boot={args.n_boot}": lambda: sharpe_difference_test(
                a[0], b[0], method="bootstrap", n_boot=args.n_boot, random_state=0),
            "bootstrap n_boot=2000 (default)": lambda: sharpe_difference_test(
                a[0], b[0], method="bootstrap", random_state=0),
            "lw_parzen": lambda: lw_parzen_p_value(a[0], b[0]),
        }
        for name, call in calls.items():
            call()
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            rows.append({"n": n, "method": name, "block_size": _default_block_size(n),
                         "seconds": float(np.median(times))})
        log(f"speed T={n}: " + ", ".join(f"{r['method']} {r['seconds'] * 1e3:.2f} ms"
                                         for r in rows[-len(calls):]))
    return rows


# ----------------------------------------------------------------------------------- report
def markdown(report: dict[str, Any]) -> str:
    m, args = report["machine"], report["arguments"]
    lines = [
        "# Sharpe-test benchmark", "",
        f"Generated by `benchmarks/sharpe_test.py` on {m['date_utc']} (commit "
        f"{m['git_commit']}).", "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; total {report['seconds']:.0f} s", "",
        "## Size and power", "",
        f"Rejection rate of H0: SR_a = SR_b at alpha = {ALPHA}, one-sided (H1: SR_a > SR_b), on "
        f"simulated pairs with SR_b = {SHARPE_B} per period, SR_a = SR_b + delta, correlation "
        f"{CORRELATION}; `iid`: normal returns; `ar_t5`: AR(1) 0.1 with t(5) shocks scaled to "
        f"unit variance. delta = 0 is the size (target {ALPHA}). {args['sims']:,} pairs per "
        f"cell for the normal tests, {args['boot_sims']:,} of the same pairs for `bootstrap` "
        f"({args['n_boot']} resamples each, block length round(T^(1/3))). Monte "
        f"Carlo standard error of a rate near 0.05: "
        f"{math.sqrt(ALPHA * (1 - ALPHA) / args['sims']):.4f} ({args['sims']:,} pairs), "
        f"{math.sqrt(ALPHA * (1 - ALPHA) / max(args['boot_sims'], 1)):.4f} "
        f"({args['boot_sims']:,}).", "",
        "`hac`: the gate's test (prewhitened QS kernel, standardised series). `bootstrap`: LW's "
        "studentised circular block bootstrap. Peers, on the same pairs: `lw_parzen`, Ledoit & "
        "Wolf's own R code (`compute.se.Parzen.pw`, returns in their units, here unit variance); "
        "`lw_parzen_1pct`, the same on the pairs scaled to 1% volatility (their bandwidth "
        "weights the four moment series by their variances, so the units change the answer; "
        "`hac` standardises and does not depend on them); `jkm`, Jobson-Korkie with Memmel's "
        "correction (iid normal formula).", "",
    ]
    rows = report["rejections"]
    deltas = sorted({r["delta"] for r in rows})
    header = "| setting | T | method | " + " | ".join(
        "size" if d == 0 else f"power delta={d:g}" for d in deltas) + " | two-sided size |"
    lines += [header, "|---|---:|---|" + "---:|" * (len(deltas) + 1)]
    for setting in SETTINGS:
        for n in sorted({r["n"] for r in rows}):
            for method in METHODS:
                cells = {r["delta"]: r for r in rows
                         if (r["setting"], r["n"], r["method"]) == (setting, n, method)}
                if not cells:
                    continue
                two_sided = cells[0.0]["two_sided_rate"]
                lines.append(f"| {setting} | {n:,} | {method} | " + " | ".join(
                    f"{cells[d]['rejection_rate']:.3f}" for d in deltas)
                    + f" | {_machine.fmt(two_sided, '.3f')} |")
    sizes = {method: [r["rejection_rate"] for r in rows
                      if r["method"] == method and r["delta"] == 0.0] for method in METHODS}
    lines += ["", "Size over all settings and T (min-max): " + ", ".join(
        f"`{method}` {min(v):.3f}-{max(v):.3f}" for method, v in sizes.items() if v) + ".", ""]
    lines += ["## Seconds per call", "",
              "Median of repeated calls on one AR(1)+t(5) pair; the bootstrap's block length is "
              "the default round(T^(1/3)).", "",
              "| T | block | method | ms per call |", "|---:|---:|---|---:|"]
    for r in report["speed"]:
        lines.append(f"| {r['n']:,} | {r['block_size']} | {r['method']} | "
                     f"{r['seconds'] * 1e3:.2f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    formatter = type("Formatter", (argparse.RawDescriptionHelpFormatter,
                                   argparse.ArgumentDefaultsHelpFormatter), {})
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--sims", type=int, default=1000, help="pairs per cell (HAC and peers)")
    parser.add_argument("--boot-sims", type=int, default=1000,
                        help="pairs per cell for the bootstrap (the first of the same pairs)")
    parser.add_argument("--n-boot", type=int, default=499, help="bootstrap resamples per test")
    parser.add_argument("--sizes", default="250,1000", help="comma-separated series lengths T")
    parser.add_argument("--deltas", default="0.05,0.1,0.2",
                        help="comma-separated SR_a - SR_b per period for the power")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per speed cell")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of sharpe_test.json and sharpe_test.md")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.deltas = [float(d) for d in args.deltas.split(",")]
    args.boot_sims = min(args.boot_sims, args.sims)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    report: dict[str, Any] = {
        "machine": machine_info(),
        "command": " ".join(["benchmarks/sharpe_test.py", *sys.argv[1:]]),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    log(f"rejections: {len(SETTINGS)} settings x T {args.sizes} x {1 + len(args.deltas)} deltas")
    report["rejections"] = bench_rejections(args)
    report["speed"] = bench_speed(args)
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(report, indent=2, default=str)),
                         (".md", markdown(report))):
        (args.out / f"sharpe_test{suffix}").write_text(text)
    log(f"wrote sharpe_test.json and .md to {args.out} in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
