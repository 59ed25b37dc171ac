"""Serving benchmark: a registered model loaded, streamed bar by bar, in batch and over REST.

One run, on Binance 5-minute bars from ``../shared/data/binance_5m`` (skipped, saying so, when
the folder is absent):

``model``
    By default a small model is trained in-process on the first ``--train-bars`` BTC bars with
    ``configs/crypto_5m.yaml`` (the demo profile's settings with windows for 5m bars: 15m/1h/4h
    features, 1h regimes, four 60-tree forests; no tuning, no validation), saved with
    :func:`ml_core.pipeline.save_pipeline` (ONNX graphs included), logged and registered with the
    project's :class:`tasks.registry.Tracker` (``log_pipeline`` + ``register``) into a temporary
    SQLite MLflow store and made ``champion``. ``--model-uri`` (with ``--tracking-uri``) takes a
    registered model instead.
``load``
    After one untimed load (imports excluded), ``--load-repeats`` timed loads of each:
    ``mlflow.pyfunc.load_model("models:/<name>@champion")`` (artifact copy from the store and
    ``load_context``), and :func:`ml_core.pipeline.load_pipeline` on the downloaded directory with
    ``engine="onnx"`` and ``engine="sklearn"``; p50 and max.
``live``
    Per bar, the full live path: ``PipelineStream.update`` (features, regime filter) and
    ``PipelineStream.signal`` (forests, meta-learner, calibration, sizing, smoothing), each timed
    with ``perf_counter_ns``, after warming the stream on ``--live-warm`` bars; ``--live-bars``
    bars per engine (onnxruntime, scikit-learn), both on the same bars after the training span.
    p50/p90/p99/max of the sum and of each half; the sklearn/onnx ratio.
``ensemble``
    One row (a complete feature row of the live bars): ``ensemble.predict_proba`` (four forests,
    meta-learner, calibrator) and ``ensemble.predict_from`` (plus sizing and smoothing), onnx
    against sklearn, best of 7 means of 30 calls.
``batch``
    ``pipeline.predict`` on 100,000 bars, per engine: bars per second. Binance holds 65,740 BTC
    bars, so the series is BTC followed by the first ETH bars, rescaled to continue BTC's last
    close and moved to follow it in time (the join is one ordinary bar).
``rest``
    ``mlflow models serve -m models:/<name>@champion --env-manager local`` (the venv's ``bin``
    first on ``PATH``) on 127.0.0.1; ``dataframe_split`` JSON bodies with ISO timestamps, posted
    on one keep-alive connection. *One bar* is the shortest request the model answers with the
    newest bar's signal: that bar and the warm-up bars before it (the shortest tail of the live
    bars whose newest row gets a signal, found locally); *1,000 bars* is that request plus 999
    more bars, answered with 1,000 signal rows. p50 over ``--rest-repeats`` posts (the first
    excluded).
``memory``
    A fresh process loads the model (``load_pipeline``, onnx), warms a stream and runs the live
    path on the same bars; its ``ru_maxrss`` (imports included) is the live path's peak memory.

Results: ``benchmarks/results/serving.json`` and ``serving.md`` (``--out`` to change), with a
table against the issue's targets (load <= 100 ms, live path p99 <= 1 ms, onnx >= 50x faster
than sklearn on one row, peak memory <= 500 MB) and the seed's figures beside (45 ms per bar,
load < 500 ms, < 2 GB); a missed target says by how much.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _machine  # noqa: E402

ROOT = _machine.ROOT
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "binance_5m"
PROFILE = ROOT / "configs" / "crypto_5m.yaml"
BIN = Path(sys.executable).parent
MODEL_NAME = "regimeforest-serving-bench"
ENGINES = ("onnx", "sklearn")
# Targets of the issue (2 cores) and the seed's figures.
TARGET_LOAD_MS, TARGET_P99_MS, TARGET_RATIO, TARGET_MEMORY_MB = 100.0, 1.0, 50.0, 500.0
SEED_BAR_MS, SEED_LOAD_MS, SEED_MEMORY_MB = 45.0, 500.0, 2048.0
ENV = {"DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
       "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentiles(values_ns: np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max/mean of nanosecond timings, in milliseconds."""
    ms = np.asarray(values_ns, dtype=np.float64) / 1e6
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "mean_ms": float(ms.mean()), "n": int(len(ms))}


# ---------------------------------------------------------------------------------- data
def load_pair(pair: str) -> pd.DataFrame:
    from ml_core.data import as_bars, load_bars

    return as_bars(load_bars(DATA / f"{pair}_USDT-5m.parquet"))


def bars_100k(btc: pd.DataFrame, eth: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` bars: BTC, then ETH rescaled to continue BTC's last close, moved to follow it."""
    rest = eth.iloc[: n - len(btc)].copy()
    scale = btc["close"].iloc[-1] / rest["open"].iloc[0]
    for column in ("open", "high", "low", "close"):
        rest[column] = rest[column] * scale
    step = btc.index[1] - btc.index[0]
    rest.index = rest.index - rest.index[0] + btc.index[-1] + step
    return pd.concat([btc, rest])


# ---------------------------------------------------------------------------------- model
def train(bars: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """A crypto_5m pipeline fitted in-process on ``bars`` (no tuning, no validation)."""
    from ml_core.config import load_config
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.features import timeframe_label
    from ml_core.labeling import triple_barrier_events
    from ml_core.pipeline import RegimeForestPipeline, assemble_training_set
    from ml_core.regime import RegimeHMM

    config = load_config(PROFILE)
    start = time.perf_counter()
    regime = RegimeHMM.from_config(config.regime, config.data.timeframe, config.seed).fit(bars)
    features = RegimeForestPipeline(config=config, regime=regime).features(bars)
    dataset = assemble_training_set(features, triple_barrier_events(bars, config.labels),
                                    config.labels)
    ensemble = RegimeForestEnsemble.from_config(
        config.ensemble, config.validation, config.seed, selection=config.features.selection,
        labels=config.labels)
    ensemble.fit(dataset.X, dataset.targets, dataset.t1)
    pipeline = RegimeForestPipeline(config=config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns),
                                    metadata={"benchmark": "serving"})
    settings = config.ensemble.model_dump(mode="json")
    info = {
        "profile": str(PROFILE.relative_to(ROOT)), "train_bars": len(bars),
        "train_span": [str(bars.index[0]), str(bars.index[-1])],
        "events": int(len(dataset.X)), "feature_columns": int(dataset.X.shape[1]),
        "forest_features": int(len(ensemble.forest_features_)),
        "timeframe": timeframe_label(config.data.timeframe),
        "higher_timeframes": [timeframe_label(t) for t in config.features.higher_timeframes],
        "regime_timeframe": timeframe_label(config.regime.timeframe),
        "forests": {name: settings[name] for name in ("entry", "position", "exit", "profit")},
        "labels": config.labels.model_dump(mode="json"),
        "tuning": "off (the profile's forests as written)",
        "fit_s": round(time.perf_counter() - start, 1),
    }
    return pipeline, info


def register(pipeline: Any, bars: pd.DataFrame, store: Path) -> tuple[str, str]:
    """Save, log and register ``pipeline`` in a SQLite store under ``store``; make it champion.
    Returns the tracking URI and the version."""
    from ml_core.data import signal_rows
    from ml_core.pipeline import save_pipeline
    from tasks.publish import _RUNTIME_PACKAGES, example_bars, installed_version
    from tasks.registry import Tracker

    uri = f"sqlite:///{store / 'mlflow.db'}"
    tracker = Tracker(uri)
    run_id = tracker.start_run("serving-bench", "serving-bench", {})
    requirements = [f"{pkg}=={installed_version(pkg)}" for pkg in _RUNTIME_PACKAGES]
    example = example_bars(pipeline, bars)
    answer = signal_rows(pipeline.predict(example), MODEL_NAME, "0")
    directory = save_pipeline(pipeline, store / "saved")
    model_uri = tracker.log_pipeline(run_id, directory, requirements, model_name=MODEL_NAME,
                                     input_example=example, output_example=answer)
    version = tracker.register(model_uri, MODEL_NAME, run_id, {"benchmark": "serving"})
    tracker.client.set_registered_model_alias(MODEL_NAME, "champion", version)
    tracker.end_run(run_id)
    return uri, version


# ---------------------------------------------------------------------------------- load
def bench_load(model_uri: str, tracking_uri: str, repeats: int, work: Path) -> dict[str, Any]:
    import mlflow

    from ml_core.pipeline import load_pipeline
    from tasks.registry import Tracker

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    out: dict[str, Any] = {}
    mlflow.pyfunc.load_model(model_uri)  # cold: imports, first connection to the store
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter_ns()
        mlflow.pyfunc.load_model(model_uri)
        times.append(time.perf_counter_ns() - start)
    out["pyfunc_load_model"] = percentiles(np.array(times))
    directory = Tracker(tracking_uri).download_pipeline(model_uri, work / "downloaded")
    for engine in ENGINES:
        load_pipeline(directory, engine=engine)  # cold
        times = []
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter_ns()
            load_pipeline(directory, engine=engine)
            times.append(time.perf_counter_ns() - start)
        out[f"load_pipeline_{engine}"] = percentiles(np.array(times))
    out["directory"] = str(directory)
    out["repeats"] = repeats
    return out


# ---------------------------------------------------------------------------------- live
def _on_bar_run(pipeline: Any, stamps: list, values: list, warm: int) -> tuple[np.ndarray, int]:
    """``PipelineStream.on_bar`` per bar after ``warm`` bars: its times (ns), signals given."""
    stream = pipeline.stream()
    for i in range(warm):
        stream.on_bar(stamps[i], *values[i])
    times = np.empty(len(stamps) - warm, dtype=np.int64)
    clock = time.perf_counter_ns
    signals = 0
    gc.collect()
    for j, i in enumerate(range(warm, len(stamps))):
        t0 = clock()
        answer = stream.on_bar(stamps[i], *values[i])
        times[j] = clock() - t0
        signals += answer is not None
    return times, signals


def _frames_run(pipeline: Any, stamps: list, values: list, warm: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``update`` then ``signal`` (the row as a Series, the signal as a frame) per bar after
    ``warm`` bars: the times (ns) of each half."""
    stream = pipeline.stream()
    for i in range(warm):
        stream.signal(stream.update(stamps[i], *values[i]))
    n = len(stamps) - warm
    update_ns = np.empty(n, dtype=np.int64)
    signal_ns = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    gc.collect()
    for j, i in enumerate(range(warm, len(stamps))):
        t0 = clock()
        row = stream.update(stamps[i], *values[i])
        t1 = clock()
        stream.signal(row)
        update_ns[j], signal_ns[j] = t1 - t0, clock() - t1
    return update_ns, signal_ns


def stream_run(pipeline: Any, bars: pd.DataFrame, warm: int) -> dict[str, Any]:
    """Two streams warmed on ``bars[:warm]``, timed on every later bar: one through
    ``on_bar`` (the live path: check, features, regimes, signal, no frame), one through
    ``update`` + ``signal`` (the same work with a Series and a frame, timed per half)."""
    stamps = list(bars.index)
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64).tolist()
    on_bar_ns, signals = _on_bar_run(pipeline, stamps, values, warm)
    update_ns, signal_ns = _frames_run(pipeline, stamps, values, warm)
    return {"bars": len(on_bar_ns), "signals": signals, "on_bar": percentiles(on_bar_ns),
            "total": percentiles(update_ns + signal_ns), "update": percentiles(update_ns),
            "signal": percentiles(signal_ns)}


def bench_live(directory: str, bars: pd.DataFrame, warm: int) -> dict[str, Any]:
    from ml_core.pipeline import load_pipeline

    out: dict[str, Any] = {}
    for engine in ENGINES:
        log(f"live path, {engine}: warm {warm:,} bars, time {len(bars) - warm:,}")
        pipeline = load_pipeline(directory, engine=engine)
        out[engine] = r = stream_run(pipeline, bars, warm)
        log(f"  on_bar p50 {r['on_bar']['p50_ms']:.3f} ms, p99 {r['on_bar']['p99_ms']:.3f} ms; "
            f"update + signal p50 {r['total']['p50_ms']:.3f} ms (update "
            f"{r['update']['p50_ms']:.3f}, signal {r['signal']['p50_ms']:.3f})")
    for q in ("p50", "p99"):
        out[f"ratio_{q}"] = (out["sklearn"]["on_bar"][f"{q}_ms"]
                             / out["onnx"]["on_bar"][f"{q}_ms"])
    return out


_CALLS = 30  # per timed mean of the one-row calls


def bench_ensemble(directory: str, bars: pd.DataFrame) -> dict[str, Any]:
    """One complete feature row through each engine's ensemble."""
    from ml_core.pipeline import load_pipeline

    out: dict[str, Any] = {}
    for engine in ENGINES:
        pipeline = load_pipeline(directory, engine=engine)
        features = pipeline.features(bars)[pipeline.feature_columns].dropna()
        row = features.iloc[[-1]]
        ensemble = pipeline.ensemble
        result = {}
        for name, call in (("predict_proba", lambda: ensemble.predict_proba(row)),
                           ("predict_from", lambda: ensemble.predict_from(row, None))):
            call()
            means = []
            for _ in range(7):
                start = time.perf_counter_ns()
                for _ in range(_CALLS):
                    call()
                means.append((time.perf_counter_ns() - start) / _CALLS / 1e6)
            result[f"{name}_ms"] = min(means)
        out[engine] = result
    out["ratio_predict_proba"] = (out["sklearn"]["predict_proba_ms"]
                                  / out["onnx"]["predict_proba_ms"])
    out["ratio_predict_from"] = out["sklearn"]["predict_from_ms"] / out["onnx"]["predict_from_ms"]
    return out


# ---------------------------------------------------------------------------------- batch
def bench_batch(directory: str, bars: pd.DataFrame) -> dict[str, Any]:
    from ml_core.pipeline import load_pipeline

    out: dict[str, Any] = {"bars": len(bars)}
    for engine in ENGINES:
        pipeline = load_pipeline(directory, engine=engine)
        gc.collect()
        start = time.perf_counter()
        signals = pipeline.predict(bars)
        seconds = time.perf_counter() - start
        out[engine] = {"seconds": seconds, "bars_per_s": len(bars) / seconds,
                       "signal_rows": int(len(signals))}
        log(f"batch, {engine}: {len(bars):,} bars in {seconds:.1f} s "
            f"({len(bars) / seconds:,.0f} bars/s)")
    return out


# ---------------------------------------------------------------------------------- REST
def warmup_bars(pipeline: Any, bars: pd.DataFrame) -> int:
    """Fewest bars ending at ``bars``' last whose newest bar gets a signal (bisection)."""
    def answers(k: int) -> bool:
        try:
            signals = pipeline.predict(bars.iloc[-k:])
        except ValueError:
            return False
        return len(signals) > 0 and signals.index[-1] == bars.index[-1]

    lo, hi = 1, len(bars)
    if not answers(hi):
        raise RuntimeError(f"even {hi:,} bars give the newest bar no signal")
    while lo < hi:
        mid = (lo + hi) // 2
        if answers(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(bars: pd.DataFrame) -> bytes:
    frame = bars.reset_index()
    data = [[t.isoformat(), o, h, lo, c, v] for t, o, h, lo, c, v in frame.itertuples(
        index=False, name=None)]
    return json.dumps({"dataframe_split": {
        "columns": ["timestamp", "open", "high", "low", "close", "volume"], "data": data}}
    ).encode()


def bench_rest(model_uri: str, tracking_uri: str, pipeline: Any, bars: pd.DataFrame,
               repeats: int, work: Path) -> dict[str, Any]:
    import requests

    warm = warmup_bars(pipeline, bars.iloc[-999 - 6_000: -999])  # the search spans 6,000 bars
    log(f"REST: the newest bar's signal needs {warm:,} bars")
    port = _free_port()
    env = {**os.environ, **ENV, "MLFLOW_TRACKING_URI": tracking_uri,
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    server_log = (work / "serve.log").open("w")
    start = time.perf_counter()
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"warmup_bars": warm, "port": port}
    try:
        session = requests.Session()
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited {server.returncode}: see "
                                   f"{work / 'serve.log'}")
            try:
                if session.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.perf_counter() - start > 300:
                raise RuntimeError("mlflow models serve did not answer /ping within 300 s")
            time.sleep(0.5)
        out["server_ready_s"] = time.perf_counter() - start
        log(f"REST: server ready in {out['server_ready_s']:.1f} s")
        headers = {"Content-Type": "application/json"}
        for label, request_bars, expected in (("1_bar", bars.iloc[-999 - warm: -999], 1),
                                              ("1000_bars", bars.iloc[-999 - warm:], 1000)):
            body = _body(request_bars)
            times, rows = [], None
            for k in range(repeats + 1):
                t0 = time.perf_counter_ns()
                reply = session.post(f"{url}/invocations", data=body, headers=headers,
                                     timeout=300)
                elapsed = time.perf_counter_ns() - t0
                if reply.status_code != 200:
                    raise RuntimeError(f"POST {label}: HTTP {reply.status_code}: "
                                       f"{reply.text[:500]}")
                rows = len(reply.json()["predictions"])
                if k:  # the first post is a warm-up
                    times.append(elapsed)
            out[label] = {**percentiles(np.array(times)), "bars_sent": len(request_bars),
                          "rows_answered": rows, "rows_expected": expected,
                          "body_bytes": len(body)}
            log(f"REST {label}: {len(request_bars):,} bars sent, {rows} rows back, p50 "
                f"{out[label]['p50_ms']:.1f} ms")
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        server_log.close()
    return out


# ---------------------------------------------------------------------------------- memory
def _high_water_mb() -> dict[str, float]:
    """This process's RSS high-water mark in MB: ``VmHWM`` (its own memory since it started)
    and ``ru_maxrss``. In a child started by fork + exec, Linux carries the parent's RSS at
    the fork into ``ru_maxrss``, so ``VmHWM`` is the figure for the child's own peak."""
    hwm = float("nan")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return {"vm_hwm_mb": hwm,
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def live_child(directory: str, bars_path: str, warm: int) -> None:
    """In a fresh process: load (onnx), stream; print the peak memory and live-path figures."""
    from ml_core.pipeline import load_pipeline

    imported = _high_water_mb()
    bars = pd.read_parquet(bars_path)
    pipeline = load_pipeline(directory, engine="onnx")
    loaded = _high_water_mb()
    result = stream_run(pipeline, bars, warm)
    peak = _high_water_mb()
    print(json.dumps({"after_imports": imported, "after_load": loaded, "peak": peak,
                      "maxrss_mb": peak["vm_hwm_mb"], "live": result}))


def bench_memory(directory: str, bars: pd.DataFrame, warm: int, work: Path) -> dict[str, Any]:
    path = work / "live_bars.parquet"
    bars.to_parquet(path)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--live-child", directory, str(path),
         str(warm)], capture_output=True, text=True, env={**os.environ, **ENV}, check=False)
    if done.returncode:
        raise RuntimeError(f"the live-path process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- report
def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    ok = value >= target if higher_is_better else value <= target
    if ok:
        return "met"
    if higher_is_better:
        return f"missed: {target / value:.1f}x short"
    return f"missed by {value - target:,.2f} ({value / target:.1f}x the target)"


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    load = report.get("load")
    if load:
        value = load["pyfunc_load_model"]["p50_ms"]
        rows.append({"figure": "load from the registry, p50 (pyfunc.load_model)",
                     "measured": f"{value:.1f} ms", "target": f"<= {TARGET_LOAD_MS:g} ms",
                     "seed": f"< {SEED_LOAD_MS:g} ms", "verdict": verdict(value, TARGET_LOAD_MS)})
        value = load["load_pipeline_onnx"]["p50_ms"]
        rows.append({"figure": "load_pipeline(engine='onnx') on the downloaded model, p50",
                     "measured": f"{value:.1f} ms", "target": f"<= {TARGET_LOAD_MS:g} ms",
                     "seed": f"< {SEED_LOAD_MS:g} ms", "verdict": verdict(value, TARGET_LOAD_MS)})
    live = report.get("live")
    if live:
        for engine in ENGINES:
            r = live[engine]["on_bar"]
            rows.append({"figure": f"live path per bar, `on_bar` ({engine}), p99 (p50)",
                         "measured": f"{r['p99_ms']:.3f} ms ({r['p50_ms']:.3f} ms)",
                         "target": f"p99 <= {TARGET_P99_MS:g} ms",
                         "seed": f"{SEED_BAR_MS:g} ms mean",
                         "verdict": verdict(r["p99_ms"], TARGET_P99_MS)})
        rows.append({"figure": "live path (`on_bar`) sklearn / onnx, p50 (p99)",
                     "measured": f"{live['ratio_p50']:.1f}x ({live['ratio_p99']:.1f}x)",  # on_bar
                     "target": "—", "seed": "—", "verdict": "—"})
    ens = report.get("ensemble")
    if ens:
        rows.append({"figure": "one row, forests + meta + calibrator (predict_proba): "
                               "sklearn / onnx",
                     "measured": f"{ens['ratio_predict_proba']:.0f}x "
                                 f"({ens['sklearn']['predict_proba_ms']:.2f} ms / "
                                 f"{ens['onnx']['predict_proba_ms']:.3f} ms)",
                     "target": f">= {TARGET_RATIO:g}x", "seed": "—",
                     "verdict": verdict(ens["ratio_predict_proba"], TARGET_RATIO, True)})
    memory = report.get("memory")
    if memory:
        value = memory["maxrss_mb"]
        rows.append({"figure": "peak memory of the live path (own process, RSS high-water mark)",
                     "measured": f"{value:.0f} MB", "target": f"<= {TARGET_MEMORY_MB:g} MB",
                     "seed": f"< {SEED_MEMORY_MB / 1024:g} GB",
                     "verdict": verdict(value, TARGET_MEMORY_MB)})
    return rows


def _per_engine(title: str, columns: tuple[str, ...],
                cells: Callable[[str], tuple[str, ...]]) -> list[str]:
    """A markdown table with one row per engine."""
    lines = [title, "", "| engine | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    lines += [f"| {engine} | " + " | ".join(cells(engine)) + " |" for engine in ENGINES]
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Serving benchmark (`benchmarks/serving.py`)", ""]
    lines += _machine.machine_lines(report["machine"])
    lines += [f"- run: {report['machine']['date_utc']}, commit {report['machine']['git_commit']}",
              ""]
    model = dict(report.get("model", {}))
    if model:
        lines += ["## Model", ""]
        forests = model.pop("forests", {})
        lines += [f"- {k}: {v}" for k, v in model.items()]
        lines += [f"- {name} forest: {f['kind']}, {f['n_estimators']} trees, max_depth "
                  f"{f['max_depth']}, min_samples_leaf {f['min_samples_leaf']}, max_features "
                  f"{f['max_features']}" for name, f in forests.items()]
        lines.append("")
    lines += ["## Targets", "", "| figure | measured | target | seed | verdict |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['figure']} | {r['measured']} | {r['target']} | {r['seed']} | "
              f"{r['verdict']} |" for r in targets(report)]
    lines.append("")
    load = report.get("load")
    if load:
        lines += ["## Load (after one untimed load; ms)", "", "| what | p50 | max |",
                  "|---|---:|---:|"]
        for key in ("pyfunc_load_model", "load_pipeline_onnx", "load_pipeline_sklearn"):
            lines.append(f"| {key} | {load[key]['p50_ms']:.1f} | {load[key]['max_ms']:.1f} |")
        lines.append("")
    live = report.get("live")
    if live:
        lines += ["## Live path per bar (ms)", "",
                  "| engine | part | p50 | p90 | p99 | max | mean |", "|---|---|---:|---:|---:|---:|---:|"]
        for engine in ENGINES:
            for part in ("on_bar", "total", "update", "signal"):
                r = live[engine][part]
                lines.append(f"| {engine} | {part} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | "
                             f"{r['p99_ms']:.3f} | {r['max_ms']:.3f} | {r['mean_ms']:.3f} |")
        lines += ["", f"{live['onnx']['bars']:,} bars per engine, "
                      f"{live['onnx']['signals']:,} with a signal. `on_bar` = the live path in "
                      "one call (bar check, features, regime filter, forests, meta-learner, "
                      "calibration, sizing, smoothing; no frame); `total` = the same through "
                      "`update` (features + regime filter, the row as a Series) and `signal` "
                      "(the rest, a one-row frame in and out), on a second stream.",
                  ""]
    ens = report.get("ensemble")
    if ens:
        lines += _per_engine(
            f"## One row through the ensemble (ms, best of 7 means of {_CALLS} calls)",
            ("predict_proba", "predict_from"),
            lambda e: (f"{ens[e]['predict_proba_ms']:.3f}", f"{ens[e]['predict_from_ms']:.3f}"))
    batch = report.get("batch")
    if batch:
        lines += _per_engine(
            f"## Batch (`pipeline.predict` on {batch['bars']:,} bars)", ("seconds", "bars/s"),
            lambda e: (f"{batch[e]['seconds']:.1f}", f"{batch[e]['bars_per_s']:,.0f}"))
    rest = report.get("rest")
    if rest:
        lines += ["## REST (`mlflow models serve --env-manager local`, 127.0.0.1)", "",
                  "| request | bars sent | rows back | body | p50 ms | p99 ms |",
                  "|---|---:|---:|---:|---:|---:|"]
        for label in ("1_bar", "1000_bars"):
            r = rest[label]
            lines.append(f"| {label.replace('_', ' ')} | {r['bars_sent']:,} | "
                         f"{r['rows_answered']:,} | {r['body_bytes'] / 1024:,.0f} KiB | "
                         f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
        lines += ["", f"One bar = the newest bar and the {rest['warmup_bars'] - 1:,} bars "
                      "before it that its features need (the shortest request answered with "
                      "its signal); 1,000 bars = that request plus 999 newer bars. Server ready "
                      f"in {rest['server_ready_s']:.1f} s.", ""]
    memory = report.get("memory")
    if memory:
        lines += ["## Memory of the live path (fresh process: RSS high-water mark, VmHWM)", "",
                  f"- after imports {memory['after_imports']['vm_hwm_mb']:.0f} MB, after "
                  f"loading the model {memory['after_load']['vm_hwm_mb']:.0f} MB, after "
                  f"warming on {report['live_warm']:,} bars and "
                  f"streaming {memory['live']['bars']:,} {memory['maxrss_mb']:.0f} MB "
                  f"(`on_bar` p50 {memory['live']['on_bar']['p50_ms']:.3f} ms, p99 "
                  f"{memory['live']['on_bar']['p99_ms']:.3f} ms per bar there)",
                  f"- its ru_maxrss says {memory['peak']['ru_maxrss_mb']:.0f} MB: in a child "
                  "of fork + exec Linux carries the parent's RSS at the fork into ru_maxrss "
                  "(the parent had trained the model); VmHWM counts the child's own pages",
                  f"- the whole benchmark process (training, batch on "
                  f"{report.get('batch', {}).get('bars', 0):,} bars, both engines): ru_maxrss "
                  f"{report['process_maxrss_mb']:.0f} MB", ""]
    notes = [*report.get("notes", []), *shortfall_notes(report)]
    lines += ["## Notes", "", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def shortfall_notes(report: dict[str, Any]) -> list[str]:
    """Where the live-path target is missed: where the time goes, from the figures."""
    live, ens = report.get("live"), report.get("ensemble")
    if not live or not ens or live["onnx"]["on_bar"]["p99_ms"] <= TARGET_P99_MS:
        return []
    onnx = live["onnx"]
    graph_ms = ens["onnx"]["predict_proba_ms"]
    update = onnx["update"]
    return [
        f"live path (`on_bar`, onnx) p99 {onnx['on_bar']['p99_ms']:.2f} ms, p50 "
        f"{onnx['on_bar']['p50_ms']:.3f} ms, against p99 <= {TARGET_P99_MS:g} ms: the ONNX "
        f"graph (forests, meta-learner, calibrator) is {graph_ms:.3f} ms of it; the features "
        f"and the regime filter (`update`, which adds a Series) take p50 {update['p50_ms']:.3f}"
        f" ms, p99 {update['p99_ms']:.3f} ms",
        "what it would take: a feature stream whose p99 stays under "
        f"~{TARGET_P99_MS - graph_ms - 0.1:.1f} ms on a loaded 2-core machine (recipe-level "
        "Python today: ~200 stateful operations and ~3,000 Python calls per bar, half of them "
        "in the recipes themselves), and the check, sizing and smoothing around the graph kept "
        "to tens of microseconds; beyond trimming the recipes, a compiled kernel, which this "
        "project does not depend on",
    ]


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="load,live,ensemble,batch,rest,memory",
                        help="comma-separated subset of: load, live, ensemble, batch, rest, memory")
    parser.add_argument("--train-bars", type=int, default=30_000,
                        help="BTC bars the in-process model is trained on (from the first)")
    parser.add_argument("--model-uri", default=None,
                        help="a registered model (models:/<name>@champion) instead of training")
    parser.add_argument("--tracking-uri", default=None, help="the store of --model-uri")
    parser.add_argument("--load-repeats", type=int, default=10)
    parser.add_argument("--live-warm", type=int, default=4_000,
                        help="bars fed to a stream before timing")
    parser.add_argument("--live-bars", type=int, default=3_000, help="timed bars per engine")
    parser.add_argument("--batch-bars", type=int, default=100_000)
    parser.add_argument("--rest-repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--live-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.live_child:
        live_child(args.live_child[0], args.live_child[1], int(args.live_child[2]))
        return 0
    os.environ.update(ENV)
    sections = set(args.sections.split(","))
    if not DATA.is_dir():
        print(f"skipped: no Binance 5m bars at {DATA} (see ../shared/data/README.md)")
        return 0
    machine = _machine.machine_info(("numpy", "pandas", "scikit-learn", "onnxruntime", "skl2onnx",
                                     "mlflow"))
    report: dict[str, Any] = {"machine": machine, "sections": sorted(sections), "notes": []}
    log(f"machine: {machine['cpu']}, {machine['cores']} cores, load "
        f"{machine['load_average_at_start']}")
    btc = load_pair("BTC")
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        work = Path(tmp)
        if args.model_uri:
            model_uri, tracking_uri = args.model_uri, args.tracking_uri
            report["model"] = {"model_uri": model_uri, "tracking_uri": tracking_uri}
        else:
            log(f"training on the first {args.train_bars:,} BTC 5m bars ({PROFILE.name})")
            pipeline, info = train(btc.iloc[: args.train_bars])
            log(f"  {info['events']:,} events x {info['feature_columns']} features, "
                f"{info['fit_s']:.0f} s")
            tracking_uri, version = register(pipeline, btc.iloc[: args.train_bars], work)
            model_uri = f"models:/{MODEL_NAME}@champion"
            report["model"] = {**info, "registered": f"{MODEL_NAME} version {version} "
                                                     "(champion), temporary SQLite store"}
            del pipeline
            gc.collect()
        from ml_core.pipeline import load_pipeline
        from tasks.registry import Tracker

        directory = str(Tracker(tracking_uri).download_pipeline(model_uri, work / "model"))
        start = args.train_bars - args.live_warm if not args.model_uri else \
            len(btc) - args.live_warm - args.live_bars
        live_bars = btc.iloc[max(start, 0): max(start, 0) + args.live_warm + args.live_bars]
        report["live_bars"] = [str(live_bars.index[0]), str(live_bars.index[-1])]
        if "load" in sections:
            log(f"load: {args.load_repeats} repeats")
            report["load"] = bench_load(model_uri, tracking_uri, args.load_repeats, work)
            log(f"  pyfunc p50 {report['load']['pyfunc_load_model']['p50_ms']:.0f} ms, "
                f"load_pipeline onnx p50 {report['load']['load_pipeline_onnx']['p50_ms']:.0f} ms")
        if "live" in sections:
            report["live"] = bench_live(directory, live_bars, args.live_warm)
        if "ensemble" in sections:
            report["ensemble"] = bench_ensemble(directory, live_bars)
            e = report["ensemble"]
            log(f"one row: onnx {e['onnx']['predict_proba_ms']:.3f} ms, sklearn "
                f"{e['sklearn']['predict_proba_ms']:.2f} ms ({e['ratio_predict_proba']:.0f}x)")
        if "batch" in sections:
            bars = bars_100k(btc, load_pair("ETH"), args.batch_bars)
            report["batch"] = bench_batch(directory, bars)
            report["notes"].append(
                f"batch bars: the {len(btc):,} BTC bars, then "
                f"{args.batch_bars - len(btc):,} ETH bars rescaled to continue BTC's last "
                "close and moved to follow it in time")
        if "memory" in sections:
            log("memory: the live path in a fresh process")
            report["memory"] = bench_memory(directory, live_bars, args.live_warm, work)
            log(f"  ru_maxrss {report['memory']['maxrss_mb']:.0f} MB")
        if "rest" in sections:
            pipeline = load_pipeline(directory)
            rest_bars = btc.iloc[max(start, 0):]
            report["rest"] = bench_rest(model_uri, tracking_uri, pipeline, rest_bars,
                                        args.rest_repeats, work)
    report["live_warm"] = args.live_warm
    report["process_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["targets"] = targets(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    text = markdown(report)
    (args.out / "serving.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
