"""Feature benchmark: speed and agreement with TA-Lib (and ``ta``), full-set batch, streaming.

Sections (all by default; pick with ``--sections``):

``indicators``
    Every indicator of ``ml_core.features._indicators`` that TA-Lib also defines (found by name;
    those not yet written are skipped), on a synthetic 525,000-bar 1-minute series and on the 8
    Binance 5-minute pairs of ``../shared/data/binance_5m``: best-of-``--repeat`` time of ours,
    TA-Lib's and ``ta``'s (where it has the indicator), and the largest difference from TA-Lib
    where both are defined (TA-Lib seeds its averages as we do, so from its first value) and from
    ``ta`` after ``--ta-warmup`` bars (``ta`` seeds EMAs and Wilder averages differently).
``fullset``
    ``compute_features`` with the production profile (1m base + 5m/15m/1h) on the synthetic
    series, and with the crypto-5m profile (5m base + 15m/1h/4h) on each Binance pair, each in
    a fresh subprocess: wall time, peak RSS (``ru_maxrss``) and the tracemalloc peak of the call.
``stream``
    ``FeatureStream`` warmed on history, then the latency of each ``update`` (one new bar, every
    column) over ``--stream-bars`` bars (``time.perf_counter_ns``): production profile on the
    synthetic 1m series, demo profile (30m) on the bundled sample.

Results: ``benchmarks/results/features.json`` and ``features.md`` (``--out`` to change).
Needs the ``bench`` extra (``make bench``): ``ta-lib`` (TA-Lib's wheels bundle the C library)
and ``ta``. pandas-ta is not compared: its only releases on PyPI (0.4.67b0, 0.4.71b0) require
Python >= 3.12 and pin numba.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.config import load_config  # noqa: E402
from ml_core.data import as_bars, load_bars, load_sample_bars  # noqa: E402
from ml_core.features import _indicators as ours  # noqa: E402
from ml_core.features import compute_features  # noqa: E402
from ml_core.features._stream import FeatureStream  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "binance_5m"
PAIRS = ("BTC", "ETH", "SOL", "ADA", "XRP", "LTC", "BCH", "LINK")
PRODUCTION = ROOT / "configs" / "production.yaml"
CRYPTO_5M = ROOT / "configs" / "crypto_5m.yaml"
DEMO = ROOT / "configs" / "demo.yaml"
# Targets of the issue (2-core machine).
TARGET_RATIO, TARGET_DIFF, TARGET_FULLSET_S, TARGET_MEMORY_MB, TARGET_P99_MS = (
    1.5, 1e-9, 20.0, 2048.0, 2.0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------- data
def synthetic_bars(n: int, freq: str = "1min", seed: int = 0) -> pd.DataFrame:
    """A seeded 1-minute market: random walk with clustered volatility, 0.01 price ticks.

    Log-returns ``N(0, sigma_t)`` with ``sigma_t`` a slow log-AR(1) around 6e-4 per bar (so
    calm and wild stretches alternate), prices from 30,000 rounded to the cent (flat bars and
    ties occur, as in real data), wicks ``~|N(0, 0.6 sigma_t)|``, volume lognormal with a daily
    cycle and more volume on large moves, 1% of bars with no trade.
    """
    rng = np.random.default_rng(seed)
    # log sigma: AR(1) with phi = 0.999 (half-life ~ 11 hours of 1m bars).
    log_sigma = lfilter([1.0], [1.0, -0.999], rng.normal(0.0, 0.02, n))
    sigma = 6e-4 * np.exp(log_sigma)
    ret = rng.normal(0.0, 1.0, n) * sigma
    close = np.round(30_000.0 * np.exp(np.cumsum(ret)), 2)
    open_ = np.concatenate([[30_000.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 1.0, (2, n))) * 0.6 * sigma
    high = np.round(np.maximum(open_, close) * (1.0 + wick[0]), 2)
    low = np.round(np.minimum(open_, close) * (1.0 - wick[1]), 2)
    minute = np.arange(n) % 1_440
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * minute / 1_440.0)
    volume = rng.lognormal(2.0, 1.0, n) * daily * (1.0 + np.abs(ret) / sigma)
    volume[rng.random(n) < 0.01] = 0.0
    index = pd.date_range("2023-01-01", periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": volume}, index=index)


def binance_pairs(data: Path) -> dict[str, pd.DataFrame]:
    files = {p: data / f"{p}_USDT-5m.parquet" for p in PAIRS}
    return {p: as_bars(load_bars(f)) for p, f in files.items() if f.exists()}


# ---------------------------------------------------------------------------------- machine
def machine_info() -> dict[str, Any]:
    return _machine.machine_info(("numpy", "pandas", "scipy", "ta-lib", "ta", "pandas-ta"))


# ---------------------------------------------------------------------------------- indicators
@dataclass
class Arrays:
    """One dataset as numpy arrays (ours, TA-Lib) and pandas Series (ta)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    series: dict[str, pd.Series] = field(default_factory=dict)

    @classmethod
    def of(cls, bars: pd.DataFrame) -> Arrays:
        cols = {c: bars[c].to_numpy(dtype=np.float64, copy=True)
                for c in ("open", "high", "low", "close", "volume")}
        series = {c: pd.Series(v) for c, v in cols.items()}
        return cls(**cols, series=series)


Outputs = Sequence[np.ndarray]
Fn = Callable[[Arrays], Any]


@dataclass(frozen=True)
class Shared:
    """An indicator we share with TA-Lib: our call, TA-Lib's and ``ta``'s, same output order."""

    name: str
    needs: tuple[str, ...]  # functions of ml_core.features._indicators it calls
    ours: Fn
    talib: Fn
    ta: Fn | None = None
    outputs: tuple[str, ...] = ("value",)
    note: str = ""  # definitional difference from TA-Lib
    ta_note: str = ""  # ... from `ta`


def _shared(talib: Any, ta: Any) -> list[Shared]:
    """The comparison table (TA-Lib default settings unless stated)."""
    t = ta

    def ta_fn(f: Callable[[dict[str, pd.Series]], Any]) -> Fn | None:
        return None if t is None else (lambda a: f(a.series))

    return [
        Shared("EMA(14)", ("ema",), lambda a: ours.ema(a.close, 14),
               lambda a: talib.EMA(a.close, 14),
               ta_fn(lambda s: t.trend.EMAIndicator(s["close"], 14).ema_indicator())),
        Shared("SMA(20)", ("sma",), lambda a: ours.sma(a.close, 20),
               lambda a: talib.SMA(a.close, 20),
               ta_fn(lambda s: t.trend.SMAIndicator(s["close"], 20).sma_indicator())),
        Shared("SMA(1440)", ("sma",), lambda a: ours.sma(a.close, 1440),
               lambda a: talib.SMA(a.close, 1440)),
        Shared("SUM(20) of volume", ("rolling_sum",), lambda a: ours.rolling_sum(a.volume, 20),
               lambda a: talib.SUM(a.volume, 20)),
        Shared("SUM(1440) of volume", ("rolling_sum",),
               lambda a: ours.rolling_sum(a.volume, 1440), lambda a: talib.SUM(a.volume, 1440)),
        Shared("STDDEV(20)", ("rolling_std",), lambda a: ours.rolling_std(a.close, 20, 0),
               lambda a: talib.STDDEV(a.close, 20, 1.0),
               note="TA-Lib computes E[x^2] - E[x]^2 from running sums: at prices ~1e4 it "
                    "loses ~8 digits (see the exactness check); ours is exact to a few ulps"),
        Shared("MAX(14)", ("rolling_max",), lambda a: ours.rolling_max(a.high, 14),
               lambda a: talib.MAX(a.high, 14)),
        Shared("MAX(1440)", ("rolling_max",), lambda a: ours.rolling_max(a.high, 1440),
               lambda a: talib.MAX(a.high, 1440)),
        Shared("MIN(14)", ("rolling_min",), lambda a: ours.rolling_min(a.low, 14),
               lambda a: talib.MIN(a.low, 14)),
        Shared("TRANGE", ("true_range",), lambda a: ours.true_range(a.high, a.low, a.close),
               lambda a: talib.TRANGE(a.high, a.low, a.close)),
        Shared("RSI(14)", ("rsi",), lambda a: ours.rsi(a.close, 14),
               lambda a: talib.RSI(a.close, 14),
               ta_fn(lambda s: t.momentum.RSIIndicator(s["close"], 14).rsi())),
        Shared("ATR(14)", ("atr",), lambda a: ours.atr(a.high, a.low, a.close, 14),
               lambda a: talib.ATR(a.high, a.low, a.close, 14),
               ta_fn(lambda s: t.volatility.AverageTrueRange(
                   s["high"], s["low"], s["close"], 14).average_true_range())),
        Shared("NATR(14)", ("natr",), lambda a: ours.natr(a.high, a.low, a.close, 14),
               lambda a: talib.NATR(a.high, a.low, a.close, 14)),
        Shared("ADX(14)", ("adx",), lambda a: ours.adx(a.high, a.low, a.close, 14),
               lambda a: talib.ADX(a.high, a.low, a.close, 14),
               ta_fn(lambda s: t.trend.ADXIndicator(s["high"], s["low"], s["close"], 14).adx())),
        Shared("PLUS_DI/MINUS_DI(14)", ("directional_movement",),
               lambda a: ours.directional_movement(a.high, a.low, a.close, 14),
               lambda a: (talib.PLUS_DI(a.high, a.low, a.close, 14),
                          talib.MINUS_DI(a.high, a.low, a.close, 14)),
               ta_fn(lambda s: (lambda i: (i.adx_pos(), i.adx_neg()))(
                   t.trend.ADXIndicator(s["high"], s["low"], s["close"], 14))),
               outputs=("+DI", "-DI")),
        Shared("MACD(12,26,9)", ("macd",), lambda a: ours.macd(a.close, 12, 26, 9),
               lambda a: talib.MACD(a.close, 12, 26, 9),
               ta_fn(lambda s: (lambda i: (i.macd(), i.macd_signal(), i.macd_diff()))(
                   t.trend.MACD(s["close"], 26, 12, 9))),
               outputs=("macd", "signal", "hist")),
        Shared("BBANDS(20,2)", ("bbands",), lambda a: ours.bbands(a.close, 20, 2.0)[::-1],
               lambda a: talib.BBANDS(a.close, 20, 2.0, 2.0, 0),
               ta_fn(lambda s: (lambda i: (i.bollinger_hband(), i.bollinger_mavg(),
                                           i.bollinger_lband()))(
                   t.volatility.BollingerBands(s["close"], 20, 2))),
               outputs=("upper", "middle", "lower"),
               ta_note="`ta` uses pandas' rolling std, whose running update drifts over long "
                       "series"),
        Shared("STOCHF %K(14)", ("stoch_k",), lambda a: ours.stoch_k(a.high, a.low, a.close, 14),
               lambda a: talib.STOCHF(a.high, a.low, a.close, 14, 1, 0)[0],
               ta_fn(lambda s: t.momentum.StochasticOscillator(
                   s["high"], s["low"], s["close"], 14, 3).stoch())),
        Shared("STOCH(14,3,3)", ("stoch",), lambda a: ours.stoch(a.high, a.low, a.close, 14, 3, 3),
               lambda a: talib.STOCH(a.high, a.low, a.close, 14, 3, 0, 3, 0),
               outputs=("slowk", "slowd"),
               note="TA-Lib outputs slow %K only from slow %D's first bar; ours 2 bars earlier"),
        Shared("WILLR(14)", ("williams_r",),
               lambda a: ours.williams_r(a.high, a.low, a.close, 14),
               lambda a: talib.WILLR(a.high, a.low, a.close, 14),
               ta_fn(lambda s: t.momentum.WilliamsRIndicator(
                   s["high"], s["low"], s["close"], 14).williams_r())),
        Shared("CCI(20)", ("cci",), lambda a: ours.cci(a.high, a.low, a.close, 20),
               lambda a: talib.CCI(a.high, a.low, a.close, 20),
               ta_fn(lambda s: t.trend.CCIIndicator(s["high"], s["low"], s["close"], 20).cci())),
        Shared("STOCHRSI(14,14,3)", ("stoch_rsi",), lambda a: ours.stoch_rsi(a.close, 14, 14, 3),
               lambda a: talib.STOCHRSI(a.close, 14, 14, 3, 0), outputs=("fastk", "fastd"),
               note="ours: %K = 0 when the RSI range is below 1e-9 (TA-Lib: only when exactly 0)"),
        Shared("MFI(14)", ("mfi",), lambda a: ours.mfi(a.high, a.low, a.close, a.volume, 14),
               lambda a: talib.MFI(a.high, a.low, a.close, a.volume, 14),
               ta_fn(lambda s: t.volume.MFIIndicator(s["high"], s["low"], s["close"],
                                                     s["volume"], 14).money_flow_index()),
               note="TA-Lib: 0 when the total money flow is below 1 (not scale-free); ours: "
                    "only when it is exactly 0"),
        Shared("ROC(10)", ("roc",), lambda a: ours.roc(a.close, 10),
               lambda a: talib.ROC(a.close, 10),
               ta_fn(lambda s: t.momentum.ROCIndicator(s["close"], 10).roc())),
        Shared("TRIX(30)", ("trix",), lambda a: ours.trix(a.close, 30),
               lambda a: talib.TRIX(a.close, 30),
               ta_fn(lambda s: t.trend.TRIXIndicator(s["close"], 30).trix())),
        Shared("ULTOSC(7,14,28)", ("ultosc",),
               lambda a: ours.ultosc(a.high, a.low, a.close, 7, 14, 28),
               lambda a: talib.ULTOSC(a.high, a.low, a.close, 7, 14, 28),
               ta_fn(lambda s: t.momentum.UltimateOscillator(
                   s["high"], s["low"], s["close"], 7, 14, 28).ultimate_oscillator()),
               note="a window whose true ranges are all 0 gives 0 (TA-Lib: below 1e-14)"),
        Shared("AROON(14)", ("aroon",), lambda a: ours.aroon(a.high, a.low, 14),
               lambda a: talib.AROON(a.high, a.low, 14),
               ta_fn(lambda s: (lambda i: (i.aroon_down(), i.aroon_up()))(
                   t.trend.AroonIndicator(s["high"], s["low"], 14))),
               outputs=("down", "up"),
               ta_note="`ta` takes the oldest extreme on ties (TA-Lib and ours: the newest); "
                       "prices in cents tie often"),
        Shared("PPO(12,26) SMA", ("ppo",), lambda a: ours.ppo(a.close, 12, 26),
               lambda a: talib.PPO(a.close, 12, 26, 0)),
        Shared("BOP", ("bop",), lambda a: ours.bop(a.open, a.high, a.low, a.close),
               lambda a: talib.BOP(a.open, a.high, a.low, a.close)),
    ]


def _as_outputs(value: Any) -> list[np.ndarray]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [np.asarray(v.to_numpy() if isinstance(v, pd.Series) else v, dtype=np.float64)
            for v in items]


def best_time(fn: Callable[[], Any], repeat: int, budget_s: float = float("inf"),
              warmup: bool = False) -> tuple[float, Any, int]:
    """Best wall time (s) of up to ``repeat`` calls, stopping once ``budget_s`` is spent
    (after one untimed call when ``warmup``)."""
    if warmup:
        fn()
    best, result, runs, spent = float("inf"), None, 0, 0.0
    while runs < repeat and (runs == 0 or spent < budget_s):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best, result, runs


_KERNELS = ("smooth", "lag", "rolling_sum", "rolling_mean", "rolling_std", "rolling_max",
            "rolling_min", "rolling_apply")


def kernel_share(fn: Callable[[], Any]) -> float:
    """Fraction of one call of ``fn`` spent in the ``_primitives`` kernels (the rest is the
    element-wise glue of ``_indicators`` / ``BatchOps``)."""
    from ml_core.features import _primitives

    spent = [0.0]
    originals = {name: getattr(_primitives, name) for name in _KERNELS}

    def timed(f: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    try:
        for name, f in originals.items():
            setattr(_primitives, name, timed(f))
        fn()  # untimed: warm
        spent[0] = 0.0
        start = time.perf_counter()
        fn()
        total = time.perf_counter() - start
    finally:
        for name, f in originals.items():
            setattr(_primitives, name, f)
    return spent[0] / total


def compare(mine: list[np.ndarray], other: list[np.ndarray], skip: int) -> dict[str, Any]:
    """Largest |difference| where both are defined at or after ``skip``; NaN disagreements."""
    worst_abs = worst_rel = 0.0
    nan_mismatch = 0
    for a, b in zip(mine, other, strict=True):
        a, b = a[skip:], b[skip:]
        both = ~np.isnan(a) & ~np.isnan(b)
        # One defined, the other not, after both have started (warm-up lengths may differ).
        started = max(_first_valid(a), _first_valid(b))
        nan_mismatch += int((np.isnan(a[started:]) != np.isnan(b[started:])).sum())
        if both.any():
            diff = np.abs(a[both] - b[both])
            worst_abs = max(worst_abs, float(diff.max()))
            worst_rel = max(worst_rel, float((diff / np.maximum(1.0, np.abs(b[both]))).max()))
    return {"max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "nan_mismatch": nan_mismatch}


def _first_valid(x: np.ndarray) -> int:
    ok = np.flatnonzero(~np.isnan(x))
    return int(ok[0]) if len(ok) else len(x)


def bench_indicators(datasets: dict[str, pd.DataFrame], repeat: int, ta_warmup: int,
                     ta_budget: float) -> list[dict[str, Any]]:
    import talib

    try:
        import ta  # noqa: F401
        ta_module: Any = ta
    except ImportError:
        ta_module = None
    arrays = {name: Arrays.of(bars) for name, bars in datasets.items()}
    rows = []
    for spec in _shared(talib, ta_module):
        missing = [f for f in spec.needs if not hasattr(ours, f)]
        if missing:
            log(f"  {spec.name}: skipped (not in _indicators: {', '.join(missing)})")
            rows.append({"indicator": spec.name, "skipped": f"missing {missing}"})
            continue
        row: dict[str, Any] = {"indicator": spec.name, "outputs": list(spec.outputs),
                               "note": spec.note, "ta_note": spec.ta_note, "datasets": {}}
        for name, a in arrays.items():
            t_ours, r_ours, _ = best_time(lambda: spec.ours(a), repeat,  # noqa: B023
                                          warmup=True)
            t_talib, r_talib, _ = best_time(lambda: spec.talib(a), repeat,  # noqa: B023
                                            warmup=True)
            mine, theirs = _as_outputs(r_ours), _as_outputs(r_talib)
            entry: dict[str, Any] = {
                "bars": len(a.close), "ours_ms": 1e3 * t_ours, "talib_ms": 1e3 * t_talib,
                "ratio": t_ours / t_talib, "vs_talib": compare(mine, theirs, 0),
                "kernel_share": kernel_share(lambda: spec.ours(a)),  # noqa: B023
            }
            if spec.ta is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t_ta, r_ta, runs = best_time(lambda: spec.ta(a), repeat,  # noqa: B023
                                                 ta_budget)
                entry.update(ta_ms=1e3 * t_ta, ta_runs=runs,
                             vs_ta=compare(mine, _as_outputs(r_ta), ta_warmup))
            row["datasets"][name] = entry
        big = row["datasets"].get("synthetic_1m")
        pairs = [e for n, e in row["datasets"].items() if n != "synthetic_1m"]
        row["pairs_total"] = ({
            "ours_ms": sum(e["ours_ms"] for e in pairs),
            "talib_ms": sum(e["talib_ms"] for e in pairs),
            "max_abs_diff": max(e["vs_talib"]["max_abs_diff"] for e in pairs),
            "max_rel_diff": max(e["vs_talib"]["max_rel_diff"] for e in pairs),
        } if pairs else None)
        if big:
            log(f"  {spec.name:22s} ours {big['ours_ms']:7.2f} ms  TA-Lib {big['talib_ms']:7.2f}"
                f" ms  x{big['ratio']:.2f}  max|diff| {big['vs_talib']['max_abs_diff']:.2e}")
        rows.append(row)
    return rows


def stddev_exactness(bars: pd.DataFrame, n: int = 20, samples: int = 2_000) -> dict[str, float]:
    """Largest relative error of ours and TA-Lib's STDDEV(n) vs a correctly rounded reference
    (``math.fsum`` two-pass) on ``samples`` windows."""
    import math

    import talib

    x = bars["close"].to_numpy(dtype=np.float64)
    mine, theirs = ours.rolling_std(x, n, 0), talib.STDDEV(x, n, 1.0)
    ends = np.linspace(n - 1, len(x) - 1, samples).astype(int)
    err_mine = err_theirs = 0.0
    for t in ends:
        w = x[t - n + 1 : t + 1]
        mean = math.fsum(w.tolist()) / n
        exact = math.sqrt(math.fsum(((w - mean) ** 2).tolist()) / n)
        if exact > 0:
            err_mine = max(err_mine, abs(mine[t] - exact) / exact)
            err_theirs = max(err_theirs, abs(theirs[t] - exact) / exact)
    return {"window": n, "windows_checked": samples, "ours_max_rel_error": err_mine,
            "talib_max_rel_error": err_theirs}


# ---------------------------------------------------------------------------------- full set
def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def child_fullset(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: ``compute_features`` on the requested data; time and memory."""
    config = load_config(args.profile)
    if args.data_kind == "synthetic":
        datasets = {"synthetic_1m": synthetic_bars(args.bars, seed=args.seed)}
    else:
        datasets = binance_pairs(Path(args.data))
    gc.collect()
    rss_before = _rss_mb()
    results = {}
    for name, bars in datasets.items():
        if args.tracemalloc:
            tracemalloc.start()
        start = time.perf_counter()
        features = compute_features(bars, config.features, config.data.timeframe)
        elapsed = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
        if args.tracemalloc:
            tracemalloc.stop()
        results[name] = {"bars": len(bars), "columns": features.shape[1], "seconds": elapsed,
                         "tracemalloc_peak_mb": traced}
        del features
        gc.collect()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return {"profile": str(Path(args.profile).relative_to(ROOT)), "results": results,
            "rss_before_mb": rss_before, "peak_rss_mb": peak}


def _run_child(extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_fullset(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    common = ["--bars", str(args.bars), "--seed", str(args.seed)]
    log(f"full set, production profile, {args.bars:,} synthetic 1m bars (subprocess)")
    timed = _run_child(["fullset", "--profile", str(PRODUCTION), "--data-kind", "synthetic",
                        *common])
    traced = _run_child(["fullset", "--profile", str(PRODUCTION), "--data-kind", "synthetic",
                         "--tracemalloc", *common])
    result = timed["results"]["synthetic_1m"]
    result["tracemalloc_peak_mb"] = traced["results"]["synthetic_1m"]["tracemalloc_peak_mb"]
    out["production"] = {**timed, "results": {"synthetic_1m": result}}
    log(f"  {result['columns']} columns in {result['seconds']:.2f} s, peak RSS "
        f"{timed['peak_rss_mb']:.0f} MB (before: {timed['rss_before_mb']:.0f} MB), tracemalloc "
        f"peak {result['tracemalloc_peak_mb']:.0f} MB")
    if binance_pairs(Path(args.data)):
        log("full set, crypto-5m profile, 8 Binance 5m pairs (subprocess)")
        pairs = _run_child(["fullset", "--profile", str(CRYPTO_5M), "--data-kind", "binance",
                            "--data", str(args.data), *common])
        total = sum(r["seconds"] for r in pairs["results"].values())
        pairs["total_seconds"] = total
        out["crypto_5m_pairs"] = pairs
        log(f"  {len(pairs['results'])} pairs in {total:.2f} s, peak RSS "
            f"{pairs['peak_rss_mb']:.0f} MB")
    return out


# ---------------------------------------------------------------------------------- stream
def stream_latency(config_path: Path, bars: pd.DataFrame, warm: int, timed: int
                   ) -> dict[str, Any]:
    """Per-``update`` latency of ``FeatureStream`` after ``warm`` bars of history."""
    config = load_config(config_path)
    stream = FeatureStream(config.features, config.data.timeframe)
    stamps = list(bars.index[: warm + timed])
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64).tolist()
    for i in range(warm):
        stream.update(stamps[i], *values[i])
    latencies = np.empty(timed, dtype=np.int64)
    clock = time.perf_counter_ns
    for j, i in enumerate(range(warm, warm + timed)):
        start = clock()
        stream.update(stamps[i], *values[i])
        latencies[j] = clock() - start
    us = latencies / 1e3
    return {
        "profile": str(config_path.relative_to(ROOT)), "columns": len(stream.columns),
        "warm_bars": warm, "timed_bars": timed,
        "p50_us": float(np.percentile(us, 50)), "p90_us": float(np.percentile(us, 90)),
        "p99_us": float(np.percentile(us, 99)), "p999_us": float(np.percentile(us, 99.9)),
        "max_us": float(us.max()), "mean_us": float(us.mean()),
    }


def bench_stream(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    log(f"stream, production profile: warm {args.stream_warm:,} bars, time "
        f"{args.stream_bars:,} updates")
    bars = synthetic_bars(args.stream_warm + args.stream_bars, seed=args.seed)
    out["production"] = stream_latency(PRODUCTION, bars, args.stream_warm, args.stream_bars)
    sample = load_sample_bars()
    warm = max(len(sample) - args.stream_bars, 0)
    log(f"stream, demo profile (30m sample): warm {warm:,} bars, time "
        f"{len(sample) - warm:,} updates")
    out["demo"] = stream_latency(DEMO, sample, warm, len(sample) - warm)
    for name, r in out.items():
        log(f"  {name}: {r['columns']} columns, p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f}"
            f" us, max {r['max_us']:.0f} us")
    return out


# ---------------------------------------------------------------------------------- report
def _fmt(x: float | None, spec: str = ".2f") -> str:
    return _machine.fmt(x, spec)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Feature benchmark", "",
        f"Generated by `benchmarks/features.py` on {m['date_utc']}.", "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; load average at start "
        f"{', '.join(f'{v:.2f}' for v in m['load_average_at_start'] or [])}",
        f"- Python {m['python']} ({m['platform']}); glibc malloc settings: "
        + (", ".join(f"{k}={v}" for k, v in m.get("malloc_env", {}).items()) or "defaults"),
        "- " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
        + "; pandas-ta: " + report.get("pandas_ta", ""),
        f"- Command: `{report['command']}`", "",
    ]
    targets = report.get("targets", {})
    if targets:
        lines += ["## Targets", "", "| target | result | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['result']} | {'yes' if t['met'] else 'no'} |"
                  for t in targets]
        lines.append("")
    rows = report.get("indicators")
    if rows:
        lines += [
            "## Shared indicators vs TA-Lib and `ta`", "",
            f"Synthetic series: {report['config']['bars']:,} 1-minute bars (seed "
            f"{report['config']['seed']}). Times: best of {report['config']['repeat']} (`ta`: "
            f"best of up to {report['config']['repeat']} within {report['config']['ta_budget']} s)."
            " Differences: max |ours - TA-Lib| where both are defined (from TA-Lib's first "
            f"value), relative = / max(1, |TA-Lib|); vs `ta` after {report['config']['ta_warmup']}"
            " bars. *NaN mism.*: bars where exactly one is NaN after both started.", "",
            "*In kernels*: share of our time spent in the `_primitives` kernels (the rest is "
            "element-wise work in `_indicators` / `BatchOps`).", "",
            "| indicator | ours ms | in kernels | TA-Lib ms | ratio | max abs diff | max rel diff"
            " | NaN mism. | 8 pairs: ours / TA-Lib ms | 8 pairs max abs / rel diff | `ta` ms |"
            " vs `ta` max abs diff |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        notes = []
        for r in rows:
            if "skipped" in r:
                lines.append(f"| {r['indicator']} | skipped: {r['skipped']} |||||||||||")
                continue
            d = r["datasets"].get("synthetic_1m", {})
            p = r.get("pairs_total") or {}
            vs = d.get("vs_talib", {})
            lines.append(
                f"| {r['indicator']} | {_fmt(d.get('ours_ms'))} | "
                f"{_fmt(100 * d.get('kernel_share', float('nan')), '.0f')}% | "
                f"{_fmt(d.get('talib_ms'))} | "
                f"{_fmt(d.get('ratio'))} | {_fmt(vs.get('max_abs_diff'), '.1e')} | "
                f"{_fmt(vs.get('max_rel_diff'), '.1e')} | {vs.get('nan_mismatch', '—')} | "
                f"{_fmt(p.get('ours_ms'), '.1f')} / {_fmt(p.get('talib_ms'), '.1f')} | "
                f"{_fmt(p.get('max_abs_diff'), '.1e')} / {_fmt(p.get('max_rel_diff'), '.1e')} | "
                f"{_fmt(d.get('ta_ms'), '.1f')} | "
                f"{_fmt(d.get('vs_ta', {}).get('max_abs_diff'), '.1e')} |")
            if r.get("note"):
                notes.append(f"- {r['indicator']}: {r['note']}")
            if r.get("ta_note"):
                notes.append(f"- {r['indicator']} vs `ta`: {r['ta_note']}")
        lines.append("")
        if notes:
            lines += ["Definitional differences:", "", *notes, ""]
        ex = report.get("stddev_exactness")
        if ex:
            lines += [f"STDDEV({ex['window']}) vs a correctly rounded reference on "
                      f"{ex['windows_checked']:,} windows of the synthetic closes: ours max "
                      f"relative error {ex['ours_max_rel_error']:.1e}, TA-Lib "
                      f"{ex['talib_max_rel_error']:.1e}.", ""]
    full = report.get("fullset")
    if full:
        lines += ["## Full feature set (batch, `compute_features`)", "",
                  "Each run in a fresh subprocess. Peak RSS: `ru_maxrss` of that process "
                  "(imports and input data included); tracemalloc peak: Python-tracked "
                  "allocations (numpy included) during the call, in a second run.", "",
                  "| data | profile | bars | columns | seconds | peak RSS MB | RSS before MB |"
                  " tracemalloc peak MB |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        prod = full["production"]
        r = prod["results"]["synthetic_1m"]
        lines.append(f"| synthetic 1m | {prod['profile']} | {r['bars']:,} | {r['columns']} | "
                     f"{r['seconds']:.2f} | {prod['peak_rss_mb']:.0f} | "
                     f"{prod['rss_before_mb']:.0f} | {_fmt(r['tracemalloc_peak_mb'], '.0f')} |")
        pairs = full.get("crypto_5m_pairs")
        if pairs:
            for name, r in pairs["results"].items():
                lines.append(f"| Binance {name}/USDT 5m | {pairs['profile']} | {r['bars']:,} | "
                             f"{r['columns']} | {r['seconds']:.2f} | | | |")
            lines.append(f"| 8 pairs, total | {pairs['profile']} | | | "
                         f"{pairs['total_seconds']:.2f} | {pairs['peak_rss_mb']:.0f} | "
                         f"{pairs['rss_before_mb']:.0f} | |")
        lines.append("")
    stream = report.get("stream")
    if stream:
        lines += ["## Streaming (`FeatureStream.update`, one new bar, every column)", "",
                  "| profile | columns | warm bars | timed bars | p50 µs | p90 µs | p99 µs | "
                  "p99.9 µs | max µs | mean µs |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in stream.values():
            lines.append(f"| {r['profile']} | {r['columns']} | {r['warm_bars']:,} | "
                         f"{r['timed_bars']:,} | {r['p50_us']:.0f} | {r['p90_us']:.0f} | "
                         f"{r['p99_us']:.0f} | {r['p999_us']:.0f} | {r['max_us']:.0f} | "
                         f"{r['mean_us']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    rows = [r for r in report.get("indicators", []) if "skipped" not in r]
    if rows:
        ratios = {r["indicator"]: r["datasets"]["synthetic_1m"]["ratio"] for r in rows
                  if "synthetic_1m" in r["datasets"]}
        slow = sorted((k for k, v in ratios.items() if v > TARGET_RATIO), key=ratios.get)
        out.append({"target": f"batch time <= {TARGET_RATIO}x TA-Lib "
                              f"({report['config']['bars']:,} bars)",
                    "result": f"{len(ratios) - len(slow)}/{len(ratios)} within; median ratio "
                              f"{np.median(list(ratios.values())):.2f}; over: "
                              + (", ".join(f"{k} {ratios[k]:.1f}x" for k in slow) or "none"),
                    "met": not slow})
        diffs = {r["indicator"]: max([r["datasets"]["synthetic_1m"]["vs_talib"]["max_rel_diff"]]
                                     + ([r["pairs_total"]["max_rel_diff"]] if r["pairs_total"]
                                        else [])) for r in rows
                 if "synthetic_1m" in r["datasets"]}
        off = sorted(k for k, v in diffs.items() if v > TARGET_DIFF)
        noted = {r["indicator"] for r in rows if r.get("note")}
        unexplained = [k for k in off if k not in noted]
        out.append({"target": f"equal to TA-Lib within {TARGET_DIFF:g} (relative to "
                              "max(1, abs(TA-Lib)); synthetic and Binance data)",
                    "result": f"{len(diffs) - len(off)}/{len(diffs)} within; over: "
                              + (", ".join(f"{k} {diffs[k]:.1e}" + (" (documented difference)"
                                                                     if k in noted else "")
                                           for k in off) or "none"),
                    "met": not unexplained})
    full = report.get("fullset", {}).get("production")
    if full:
        r = full["results"]["synthetic_1m"]
        out.append({"target": f"full set, 525k 1m bars + 3 higher timeframes <= "
                              f"{TARGET_FULLSET_S:g} s", "result": f"{r['seconds']:.2f} s",
                    "met": r["seconds"] <= TARGET_FULLSET_S})
        out.append({"target": f"peak memory <= {TARGET_MEMORY_MB / 1024:g} GB",
                    "result": f"{full['peak_rss_mb']:.0f} MB peak RSS",
                    "met": full["peak_rss_mb"] <= TARGET_MEMORY_MB})
    for name, r in report.get("stream", {}).items():
        out.append({"target": f"stream update p99 <= {TARGET_P99_MS:g} ms ({name})",
                    "result": f"{r['p99_us'] / 1e3:.2f} ms", "met":
                    r["p99_us"] / 1e3 <= TARGET_P99_MS})
    return out


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(
        prog="python benchmarks/features.py", description=__doc__,
        epilog="Examples: `make bench` (installs the extra, runs everything, ~2-3 min on 2 "
               "cores); `python benchmarks/features.py --sections indicators --repeat 3`; a quick "
               "smoke run: `--bars 50000 --repeat 1 --stream-bars 1000 --out /tmp/bench`.",
        formatter_class=Formatter,
    )
    parser.add_argument("--sections", default="indicators,fullset,stream",
                        help="comma-separated subset of: indicators, fullset, stream")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the Binance 5m pairs ({PAIR}_USDT-5m.parquet); skipped "
                             "when absent")
    parser.add_argument("--bars", type=int, default=525_000,
                        help="bars of the synthetic 1-minute series")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic series")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (best is kept)")
    parser.add_argument("--ta-budget", type=float, default=1.0,
                        help="seconds after which `ta` timing stops repeating (it is slow)")
    parser.add_argument("--ta-warmup", type=int, default=1_000,
                        help="bars skipped before comparing with `ta` (different seeding)")
    parser.add_argument("--stream-warm", type=int, default=3_000,
                        help="bars fed to the production stream before timing (longest "
                             "production lookback: 2,040 bars)")
    parser.add_argument("--stream-bars", type=int, default=20_000,
                        help="timed stream updates per profile")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for features.json and features.md")
    parser.add_argument("--child", choices=["fullset"], help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--data-kind", choices=["synthetic", "binance"], help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "fullset":
        print(json.dumps(child_fullset(args)))
        return 0
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - {"indicators", "fullset", "stream"}
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}")
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": machine_info(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {"bars": args.bars, "seed": args.seed, "repeat": args.repeat,
                   "ta_budget": args.ta_budget, "ta_warmup": args.ta_warmup},
        "pandas_ta": "not compared: `pip download pandas-ta` finds no release for Python "
                     f"{platform.python_version()} (0.4.67b0 and 0.4.71b0 require Python "
                     ">= 3.12 and pin numba 0.61.2)",
    }
    log(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"load {report['machine']['load_average_at_start']}")
    if "indicators" in sections:
        log(f"synthetic {args.bars:,} 1m bars (seed {args.seed})")
        datasets = {"synthetic_1m": synthetic_bars(args.bars, seed=args.seed)}
        pairs = binance_pairs(args.data)
        log(f"Binance pairs found: {len(pairs)} in {args.data}")
        datasets.update({f"{p}_USDT_5m": b for p, b in pairs.items()})
        log("shared indicators (ours, TA-Lib, ta)")
        report["indicators"] = bench_indicators(datasets, args.repeat, args.ta_warmup,
                                                args.ta_budget)
        report["stddev_exactness"] = stddev_exactness(datasets["synthetic_1m"])
        del datasets
    if "fullset" in sections:
        report["fullset"] = bench_fullset(args)
    if "stream" in sections:
        report["stream"] = bench_stream(args)
    report["targets"] = targets(report)
    report["total_seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "features.json").write_text(json.dumps(report, indent=2, default=_json))
    (args.out / "features.md").write_text(markdown(report) + "\n")
    for t in report["targets"]:
        log(f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['result']}")
    log(f"wrote {args.out / 'features.json'} and features.md in "
        f"{report['total_seconds']:.0f} s")
    return 0


def _json(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
