"""Scale-out benchmark: CPCV of the demo on 1 and 2 Dask workers, the orchestration overhead of
the scale profile against calling ml_core directly, and a projection of the production profile's
weekly retrain on 8, 32 and 128 workers from measured per-piece costs.

Everything runs on real engines: a Prefect server on a fresh PostgreSQL database (as the scale
profile's), Dask ``LocalCluster`` s opened by :func:`tasks.parallel.scale_out`, a temporary
SQLite MLflow store and bar store. The development set is built as the weekly retrain builds it
(the tasks of ``flows/weekly_retrain.py``, from the bundled sample ingested into the bar store, as
of the sample's end), untuned (the demo's forests as written in ``configs/demo.yaml``).

``cpcv``
    The demo's CPCV (15 splits, ``validation`` as in ``configs/demo.yaml``, HMM refitted per
    split) through the real path -- a Prefect flow under ``scale_out`` calling
    :func:`tasks.training.cross_validate` -- on a LocalCluster of 1 and of 2 workers (one thread
    each); the same CPCV through :func:`ml_core.evaluation.evaluate_cpcv` with a plain
    ``ProcessPoolExecutor(2)`` (spawn, the Dask nanny's worker environment) as ``map_splits``;
    and with plain ``Client.submit`` per split on the 2-worker flow's own cluster (no Prefect),
    which splits the overhead into Prefect's and Dask's shares. All timed with warm workers
    (cluster started, every worker's imports and Prefect engine warmed before the clock starts,
    as they are when CPCV runs after tuning in a retrain); cluster start and warm-up are
    reported apart. Every run's CV report is compared with the first (paths, splits, path
    returns: exactly equal). On a shared machine the wall times mostly measure the other jobs'
    load, so each run also gets a contention-corrected time: its wall time divided by how much
    longer its pieces took than their CPU seconds. Also Prefect's cost per task run: 40 no-op
    pieces through :func:`tasks.parallel.parallel_map` against plain ``Client.map`` on the same
    2-worker cluster.
``pieces``
    Per-piece costs for the projection, in CPU seconds of one thread: the demo's 8 walk-forward
    windows (:func:`ml_core.evaluation.fit_window`, training sizes from 1/9 to 8/9 of the events:
    the ensemble's fit cost as a function of training events), one Optuna study per forest kind
    with the production profile's tuning settings (:func:`tasks.tuning._tune_model`, the piece a
    study is on Dask), two HMM refits as a CPCV split does them, features, labels and the
    fracdiff choice with the production profile on synthetic 1-minute bars, and the CUSUM event
    rate of the demo's bars at the demo's and the production threshold.
``retrain``
    One weekly retrain (:func:`flows.weekly_retrain.weekly_retrain`) of the demo on the scale
    section (2 workers, tuning off; its own CPCV cut to 3 splits and no walk-forward, both
    measured above), its task runs read back from the Prefect server: the serial parts (data,
    quality gate, features, HMM, labels, final fit, holdout, logging, registration).

The projection (``--workers``, default 8, 32, 128) schedules each stage's pieces greedily,
longest first, on the workers (stages wait for each other, as ``parallel_map`` does) and adds
the serial parts (Amdahl); every assumption is written into the results. Results:
``benchmarks/results/scale.json`` and ``scale.md`` (``--out``), with the machine. About 20
minutes on 2 quiet cores (30-40 when other jobs share them; ``--repeat 1`` about
two thirds of that)::

    .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --repeat 1 --out /tmp/scale
    .venv/bin/python benchmarks/scale.py --sections cpcv --repeat 1 --out /tmp/scale
    .venv/bin/python benchmarks/scale.py --from-json benchmarks/results/scale.json --flow-cores 8
    # the last: re-project from a saved run, nothing measured
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import importlib
import json
import math
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script

SECTIONS = ("cpcv", "pieces", "retrain")
DEMO = ROOT / "configs" / "demo.yaml"
PRODUCTION = ROOT / "configs" / "production.yaml"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
NOOP_TASKS = 40
TARGET_SPEEDUP = 1.6
TARGET_OVERHEAD = 0.10
PACKAGES = ("prefect", "prefect-dask", "dask", "distributed", "numpy", "pandas", "scikit-learn",
            "hmmlearn", "optuna", "mlflow")


def log(message: str) -> None:
    # not print(): inside a flow, Prefect's log_prints would take it
    sys.__stdout__.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.__stdout__.flush()


# ------------------------------------------------------------------ pieces run in child processes
# Top-level functions: they pickle by reference into the spawned pool's processes and by value
# into Dask's workers.

def _noop(x: Any) -> Any:
    return x


def _pause(seconds: float) -> float:
    """Warm-up piece: long enough that each idle worker gets one."""
    time.sleep(seconds)
    return seconds


def _process_cpu() -> float:
    """CPU seconds (user + system, every thread) of the calling process so far."""
    return time.process_time()


def _warm_pool_worker(seconds: float) -> int:
    """Import what a CPCV split imports, then wait (so each pool process gets one)."""
    importlib.import_module("tasks.training")
    importlib.import_module("prefect.logging")
    time.sleep(seconds)
    return os.getpid()


def _timed_piece(fit: Callable[[Any], Any], item: Any) -> tuple[Any, dict[str, float]]:
    """``fit(item)`` with its wall and CPU seconds; Prefect's run logger (the tasks' split
    functions log through it) is a null logger here: no flow or task run exists."""
    from prefect.logging import disable_run_logger

    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    with disable_run_logger():
        result = fit(item)
    # cpu: the whole process while the piece ran (a Dask worker's other threads included);
    # thread_cpu: the thread that ran the piece
    return result, {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                    "thread_cpu": time.thread_time() - own, "pid": os.getpid()}


# ------------------------------------------------------------------ the direct (no engine) arm
@contextlib.contextmanager
def spawn_pool(n: int) -> Iterator[Any]:
    """``ProcessPoolExecutor(n)`` of spawned processes started with the environment Dask's
    nanny gives its workers (``distributed.nanny.pre-spawn-environ``: one BLAS/OpenMP thread,
    the same malloc trim threshold), warmed: each has imported ``tasks.training``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import dask
    import distributed  # noqa: F401 - registers the distributed.* settings

    environ = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
        pids = set(pool.map(_warm_pool_worker, [1.0] * n))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if len(pids) != n:
        log(f"  warning: the warm-up reached {len(pids)} of {n} pool processes")
    try:
        yield pool
    finally:
        pool.shutdown()


def pool_mapper(pool: Any, timings: list[dict[str, float]]
                ) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    """A ``map_splits``/``map_windows`` hook running the jobs in ``pool`` (all submitted at
    once, results in order), recording each job's wall/CPU seconds in ``timings``."""
    def run(fit: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        futures = [pool.submit(_timed_piece, fit, job) for job in jobs]
        out = []
        for job, future in zip(jobs, futures):
            result, timing = future.result()
            timings.append({"piece": int(job.split), "n_train": int(job.train_idx.size),
                            "n_test": int(job.test_idx.size), **timing})
            out.append(result)
        return out
    return run


# ------------------------------------------------------------------ measurements helpers
def best(values: Sequence[float]) -> float:
    return float(min(values))


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the Prefect server process and its children (0 without one)."""
    if pid is None:
        return 0.0
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@dataclass
class Bench:
    """What the flows below need and are not given as parameters (Prefect would serialise
    parameters into the server)."""

    config: Any = None
    profile_path: Path | None = None
    dataset: Any = None
    holdout: Any = None
    bars: Any = None
    fit_bars: Any = None
    regime_bars: int = 0
    server_pid: int | None = None
    steps: dict[str, float] | None = None


STATE = Bench()


# ------------------------------------------------------------------ the development set
def prepare_flow() -> dict[str, float]:
    """The weekly retrain's steps up to the development set, its tasks called as it calls them
    (no tuning): bars from the store as of the sample's end, fracdiff order, features, HMM,
    labels, final holdout split. Returns each step's seconds."""
    from ml_core.data import as_bars
    from tasks.data import SAMPLE_INGESTED_AT, load_data, resolve_profile, select_span
    from tasks.features import build_features, choose_feature_settings, fit_regime
    from tasks.labels import cut_final_holdout, make_training_set, split_final_holdout
    from tasks.registry import Tracker, tracked_run

    steps: dict[str, float] = {}

    def timed(name: str, call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = call()
        steps[name] = time.perf_counter() - t0
        return out

    config = resolve_profile(str(STATE.profile_path), None, None, None)
    tracker = Tracker(config.registry.tracking_uri)
    with tracked_run(tracker, config.registry.experiment, "bench-scale-prepare", {}) as run_id:
        frame, _, read = timed("load-data", lambda: load_data(config, SAMPLE_INGESTED_AT))
        bars, _ = timed("select-window", lambda: select_span(as_bars(frame), config,
                                                             SAMPLE_INGESTED_AT, read))
        fit_bars, cut = timed("cut-holdout", lambda: cut_final_holdout(bars, config))
        config = timed("choose-feature-settings",
                       lambda: choose_feature_settings(fit_bars, config, tracker, run_id))
        features = timed("build-features", lambda: build_features(bars, config))
        model, regime_features, _ = timed("fit-regime",
                                          lambda: fit_regime(fit_bars, bars, config))
        labelled = timed("make-labels", lambda: make_training_set(
            bars, features.join(regime_features), config))
        dataset, holdout = timed("split-holdout",
                                 lambda: split_final_holdout(labelled, config, cut))
    STATE.config, STATE.dataset, STATE.holdout = config, dataset, holdout
    STATE.bars, STATE.fit_bars, STATE.regime_bars = bars, fit_bars, int(model.n_fit_bars_)
    return steps


# ------------------------------------------------------------------ CPCV on Dask, via Prefect
def cpcv_flow(workers: int, noop: bool, plain: str) -> dict[str, Any]:
    """CPCV of the development set through the real path on a LocalCluster of ``workers``;
    with ``plain`` (``"before"``/``"after"``; ``""`` for none) also the same CPCV through
    ``evaluate_cpcv`` with plain ``Client.map`` on the same warm cluster."""
    from prefect.runtime import flow_run

    from tasks.parallel import active_runner, parallel_map, scale_out
    from tasks.training import cross_validate

    base = STATE.config
    config = base.model_copy(update={"scale": base.scale.model_copy(
        update={"executor": "dask", "n_workers": workers, "threads_per_worker": 1,
                "dask_address": None})})
    out: dict[str, Any] = {"workers": workers, "flow_run_id": str(flow_run.id)}
    t0 = time.perf_counter()
    with scale_out(config):
        runner = active_runner()
        client = runner.client  # starts the LocalCluster
        client.wait_for_workers(workers, timeout=120)
        out["cluster_start_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        client.run(importlib.import_module, "tasks.training")
        parallel_map("warm-up", _pause, [1.0] * workers)
        out["warm_up_s"] = time.perf_counter() - t1
        if noop:
            out["noop"] = noop_overhead(client, workers)
        if plain == "before":
            out["plain"] = cpcv_plain_dask(client, config)
        cpu0, main0, srv0 = client.run(_process_cpu), time.process_time(), server_cpu(
            STATE.server_pid)
        t2 = time.perf_counter()
        report = cross_validate(STATE.dataset, config.ensemble, config, STATE.fit_bars)
        out["cpcv_s"] = time.perf_counter() - t2
        cpu1 = client.run(_process_cpu)
        out["flow_process_cpu_s"] = time.process_time() - main0
        out["server_cpu_s"] = server_cpu(STATE.server_pid) - srv0
        out["workers_cpu_s"] = float(sum(cpu1[w] - cpu0.get(w, 0.0) for w in cpu1))
        if plain == "after":
            out["plain"] = cpcv_plain_dask(client, config)
        t3 = time.perf_counter()
    out["cluster_close_s"] = time.perf_counter() - t3
    out["report"] = report
    return out


def cpcv_plain_dask(client: Any, config: Any) -> dict[str, Any]:
    """The CPCV of :func:`tasks.training.cross_validate` through ``evaluate_cpcv`` with plain
    Dask as ``map_splits``: the split function scattered once (as ``parallel_map`` does), one
    ``Client.submit`` per split; the same ensemble factory (one thread on a worker) and HMM
    refit. No Prefect task runs."""
    from ml_core.evaluation import evaluate_cpcv
    from ml_core.validation import CombinatorialPurgedCV
    from tasks.training import build_ensemble, events_per_year, regime_refit

    dataset, v = STATE.dataset, config.validation
    timings: list[dict[str, float]] = []

    def run(fit: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        shared = client.scatter(fit, broadcast=False, hash=False)
        futures = [client.submit(_timed_piece, shared, job, pure=False) for job in jobs]
        out = []
        for job, (result, timing) in zip(jobs, client.gather(futures)):
            timings.append({"piece": int(job.split), "n_train": int(job.train_idx.size),
                            "n_test": int(job.test_idx.size), **timing})
            out.append(result)
        return out

    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    cpu0, main0 = client.run(_process_cpu), time.process_time()
    t0 = time.perf_counter()
    report = evaluate_cpcv(
        functools.partial(build_ensemble, config.ensemble, config),
        dataset.X, dataset.targets, dataset.events, cv,
        cost_bps=v.transaction_cost_bps, events_per_year=events_per_year(dataset),
        split_features=(regime_refit(STATE.fit_bars, dataset, config)
                        if v.cpcv_refit_regime else None),
        close=STATE.fit_bars["close"], map_splits=run)
    seconds = time.perf_counter() - t0
    cpu1 = client.run(_process_cpu)
    return {"workers": len(cpu1), "cpcv_s": seconds,
            "flow_process_cpu_s": time.process_time() - main0,
            "workers_cpu_s": float(sum(cpu1[w] - cpu0.get(w, 0.0) for w in cpu1)),
            "splits": timings, "report": report}


def noop_overhead(client: Any, workers: int, n: int = NOOP_TASKS) -> dict[str, float]:
    """``n`` no-op pieces through ``parallel_map`` (Prefect task runs on Dask) against plain
    ``Client.map`` on the same cluster, best of 2 each."""
    from tasks.parallel import parallel_map

    dask_s, prefect_s = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(n), pure=False))
        dask_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parallel_map("noop", _noop, list(range(n)))
        prefect_s.append(time.perf_counter() - t0)
    d, p = best(dask_s), best(prefect_s)
    return {"tasks": n, "workers": workers, "dask_s": d, "prefect_s": p,
            "dask_ms_per_task": 1000 * d / n, "prefect_ms_per_task": 1000 * p / n,
            # each worker runs n / workers task runs one after another
            "prefect_overhead_ms_per_task_run": 1000 * (p - d) * workers / n}


def cpcv_direct(workers: int) -> dict[str, Any]:
    """The same CPCV through ``evaluate_cpcv`` with a spawned process pool as ``map_splits``:
    the same split function, ensemble factory (forests on one thread) and per-split HMM refit
    as :func:`tasks.training.cross_validate` passes on Dask; no Prefect, no Dask."""
    from ml_core.evaluation import evaluate_cpcv
    from ml_core.validation import CombinatorialPurgedCV
    from tasks.training import build_ensemble, events_per_year, regime_refit

    config, dataset = STATE.config, STATE.dataset
    v = config.validation
    ensemble = config.ensemble.model_copy(update={"n_jobs": 1})
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    timings: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with spawn_pool(workers) as pool:
        start = time.perf_counter() - t0
        main0 = time.process_time()
        t1 = time.perf_counter()
        report = evaluate_cpcv(
            functools.partial(build_ensemble, ensemble, config),
            dataset.X, dataset.targets, dataset.events, cv,
            cost_bps=v.transaction_cost_bps, events_per_year=events_per_year(dataset),
            split_features=(regime_refit(STATE.fit_bars, dataset, config)
                            if v.cpcv_refit_regime else None),
            close=STATE.fit_bars["close"], map_splits=pool_mapper(pool, timings))
        seconds = time.perf_counter() - t1
        main_cpu = time.process_time() - main0
    return {"workers": workers, "pool_start_s": start, "cpcv_s": seconds,
            "flow_process_cpu_s": main_cpu, "workers_cpu_s": sum(t["cpu"] for t in timings),
            "splits": timings, "report": report}


def same_report(a: Any, b: Any) -> dict[str, Any]:
    """Whether two CV reports are exactly equal (paths, splits, every path's returns)."""
    import numpy as np
    import pandas as pd

    def equal(x: pd.DataFrame | pd.Series, y: pd.DataFrame | pd.Series) -> bool:
        try:
            (pd.testing.assert_frame_equal if isinstance(x, pd.DataFrame)
             else pd.testing.assert_series_equal)(x, y, check_exact=True)
            return True
        except AssertionError:
            return False

    diff = float(np.nanmax(np.abs(a.paths.select_dtypes("number").to_numpy(float)
                                  - b.paths.select_dtypes("number").to_numpy(float))))
    return {"paths_equal": equal(a.paths, b.paths), "splits_equal": equal(a.splits, b.splits),
            "path_returns_equal": (a.path_returns.keys() == b.path_returns.keys() and all(
                equal(a.path_returns[p], b.path_returns[p]) for p in a.path_returns)),
            "paths_max_abs_diff": diff}


def section_cpcv(repeat: int, run_flow: Callable[..., Any]) -> dict[str, Any]:
    """CPCV on 2 and 1 Dask workers (Prefect), on plain Dask (inside the 2-worker flow, on its
    cluster) and on the direct pool, ``repeat`` rounds; the order is reversed every other round
    (also plain Dask before/after Prefect), so a drift in the machine's load hits each arm alike."""
    arms = ["dask-2", "dask-1", "direct-2"]
    runs: dict[str, list[dict[str, Any]]] = {a: [] for a in [*arms, "plain-dask-2"]}
    first = None

    def record(arm: str, out: dict[str, Any], load: float, r: int) -> None:
        nonlocal first
        report = out.pop("report")
        first = report if first is None else first
        out.update(same_as_first=same_report(first, report), load_at_start=load, round=r + 1)
        runs[arm].append(out)
        log(f"  {arm}: CPCV {out['cpcv_s']:.1f} s (workers' CPU {out['workers_cpu_s']:.1f} s,"
            f" flow process CPU {out['flow_process_cpu_s']:.1f} s); report equal to the "
            f"first: {out['same_as_first']['paths_equal']}")

    for r in range(repeat):
        for arm in (arms if r % 2 == 0 else arms[::-1]):
            load = os.getloadavg()[0]
            log(f"round {r + 1}/{repeat}: CPCV {arm}"
                + (" and plain-dask-2" if arm == "dask-2" else "") + f" (load {load:.2f})")
            kind, workers = arm.split("-")
            if kind == "dask":
                out = run_flow(int(workers), noop=int(workers) == 2,
                               plain=("" if workers != "2" else
                                      "after" if r % 2 == 0 else "before"))
                if out.get("noop"):
                    n = out["noop"]
                    log(f"  {n['tasks']} no-op pieces: parallel_map {n['prefect_s']:.2f} s, "
                        f"Client.map {n['dask_s']:.2f} s")
                plain = out.pop("plain", None)
                if plain is not None:
                    record("plain-dask-2", plain, load, r)
                out["pieces"] = [t for t in task_runs(out["flow_run_id"])
                                 if t["task"] == "cpcv-split"]
            else:
                out = cpcv_direct(int(workers))
            record(arm, out, load, r)
    return cpcv_summary(runs)


def cpcv_summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The figures of the CPCV runs of every arm: best wall times, speed-up, overheads."""
    for arm in runs.values():
        for o in arm:
            # how much longer than their CPU seconds the pieces took (waiting for a core the
            # machine's other jobs held): the summed wall of the pieces (Prefect's task runs on
            # Dask, the timed calls elsewhere) over the workers' CPU seconds in the run
            wall = sum(p["seconds"] for p in o["pieces"]) if o.get("pieces") else sum(
                p["wall"] for p in o["splits"])
            o["stretch"] = wall / o["workers_cpu_s"]
            o["corrected_s"] = o["cpcv_s"] / o["stretch"]
    t = {a: best([o["cpcv_s"] for o in runs[a]]) for a in runs if runs[a]}
    tc = {a: best([o["corrected_s"] for o in runs[a]]) for a in runs if runs[a]}
    # CPU seconds of the whole run: workers, the flow's process (Dask scheduler and client,
    # Prefect client), the Prefect server; mean over rounds (CPU time varies less than wall)
    cpu = {a: sum(o["workers_cpu_s"] + o["flow_process_cpu_s"] + o.get("server_cpu_s", 0.0)
                  for o in runs[a]) / len(runs[a]) for a in runs if runs[a]}
    # the best a 2-worker run of these 15 splits can do on two dedicated cores: each split's
    # CPU (thread) seconds, given in order to the first free worker, against their sum
    costs = [sp.get("thread_cpu", sp["cpu"]) for sp in runs["direct-2"][0]["splits"]]
    loads = [0.0, 0.0]
    for c in costs:
        loads[loads.index(min(loads))] += c
    noops = [o["noop"] for o in runs["dask-2"] if "noop" in o]
    noop = min(noops, key=lambda n: n["prefect_s"]) if noops else None
    all_equal = all(o["same_as_first"][k] for a in runs for o in runs[a]
                    for k in ("paths_equal", "splits_equal", "path_returns_equal"))
    return {
        "runs": runs, "best_s": t, "best_corrected_s": tc,
        "corrected": {"speedup_2_over_1": tc["dask-1"] / tc["dask-2"],
                      "overhead_vs_direct": tc["dask-2"] / tc["direct-2"] - 1.0,
                      "overhead_vs_plain_dask": tc["dask-2"] / tc["plain-dask-2"] - 1.0,
                      "plain_dask_vs_direct": tc["plain-dask-2"] / tc["direct-2"] - 1.0},
        "speedup_2_over_1": t["dask-1"] / t["dask-2"],
        "overhead_vs_direct": t["dask-2"] / t["direct-2"] - 1.0,
        "cpu_s": cpu, "cpu_overhead_vs_direct": cpu["dask-2"] / cpu["direct-2"] - 1.0,
        "plain_dask_cpu_vs_direct": cpu["plain-dask-2"] / cpu["direct-2"] - 1.0,
        "speedup_bound_2_workers": sum(costs) / max(loads),
        "overhead_vs_plain_dask": t["dask-2"] / t["plain-dask-2"] - 1.0,
        "plain_dask_vs_direct": t["plain-dask-2"] / t["direct-2"] - 1.0,
        "reports_identical": all_equal,
        "noop": noop,
    }


# ------------------------------------------------------------------ per-piece costs
def section_pieces(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["event_rate"] = event_rates()
    log("pieces: walk-forward windows (8, on a 2-process pool)")
    out["walk_forward"] = walk_forward_windows()
    log("pieces: HMM refits of two CPCV splits (one thread)")
    out["hmm_refit"] = hmm_refits()
    log(f"pieces: one study per forest kind, production tuning settings, "
        f"{args.tuning_trials} trials")
    out["tuning"] = tuning_trials(args.tuning_trials)
    log(f"pieces: production features, labels, fracdiff choice on {args.synthetic_bars:,} "
        "synthetic 1m bars")
    out["synthetic_1m"] = synthetic_serial(args.synthetic_bars)
    return out


def event_rates() -> dict[str, Any]:
    """CUSUM events per development bar of the demo's bars at the demo's threshold and at the
    production profile's (the demo's other label settings)."""
    from ml_core.config import load_config
    from ml_core.labeling import triple_barrier_events

    demo, prod = STATE.config, load_config(PRODUCTION)
    bars = STATE.fit_bars
    rates = {}
    for name, threshold in (("demo", demo.labels.cusum_threshold),
                            ("production", prod.labels.cusum_threshold)):
        labels = demo.labels.model_copy(update={"cusum_threshold": threshold})
        events = triple_barrier_events(bars, labels)
        rates[name] = {"threshold": threshold, "events": len(events), "bars": len(bars),
                       "events_per_bar": len(events) / len(bars)}
    rates["development_events"] = len(STATE.dataset.X)
    return rates


def walk_forward_windows() -> dict[str, Any]:
    """The demo's walk-forward windows through ``evaluate_walk_forward`` on a 2-process pool,
    forests on one thread: each window's CPU seconds against its training events."""
    from ml_core.evaluation import evaluate_walk_forward
    from ml_core.validation import WalkForwardCV
    from tasks.training import build_ensemble, events_per_year

    config, dataset = STATE.config, STATE.dataset
    v = config.validation
    cv = WalkForwardCV(v.walk_forward_windows, v.walk_forward_mode,
                       train_size=v.walk_forward_train_size, purge=v.purge, embargo=v.embargo,
                       min_window_size=v.min_events_per_group)
    timings: list[dict[str, float]] = []
    with spawn_pool(2) as pool:
        t0 = time.perf_counter()
        evaluate_walk_forward(
            functools.partial(build_ensemble, config.ensemble.model_copy(update={"n_jobs": 1}),
                              config),
            dataset.X, dataset.targets, dataset.events, cv, cost_bps=v.transaction_cost_bps,
            events_per_year=events_per_year(dataset), sharpe_threshold=v.sharpe_threshold,
            drawdown_limit=v.drawdown_limit, close=STATE.fit_bars["close"],
            map_windows=pool_mapper(pool, timings))
        seconds = time.perf_counter() - t0
    return {"windows": timings, "wall_s": seconds, "events": len(dataset.X)}


def hmm_refits(n: int = 2) -> dict[str, Any]:
    """The HMM refit a CPCV split does (:func:`ml_core.regime.refit_regime_features` on its
    training events' bars), on one thread, for the first ``n`` splits."""
    import warnings

    from threadpoolctl import threadpool_limits

    from ml_core.regime import refit_regime_features
    from ml_core.validation import CombinatorialPurgedCV

    config, dataset = STATE.config, STATE.dataset
    v = config.validation
    cv = CombinatorialPurgedCV(v.n_groups, v.n_test_groups, v.purge, v.embargo,
                               min_group_size=v.min_events_per_group)
    rows = []
    for s, (train_idx, _) in enumerate(cv.split(dataset.X, t1=dataset.t1)):
        if s >= n:
            break
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu, wall = time.process_time(), time.perf_counter()
            model, _ = refit_regime_features(STATE.fit_bars, dataset.t1, train_idx, config.regime,
                                             config.data.timeframe, config.seed)
            rows.append({"split": s, "cpu": time.process_time() - cpu,
                         "wall": time.perf_counter() - wall, "regime_bars": model.n_fit_bars_,
                         "restarts": config.regime.n_restarts})
    per = [r["cpu"] / (r["regime_bars"] * r["restarts"]) for r in rows]
    return {"refits": rows, "cpu_per_regime_bar_restart": sum(per) / len(per)}


def _tune_one(model: str, trials: int) -> dict[str, Any]:
    """Child process: :func:`tasks.tuning._tune_model` (the piece one study is on Dask) with the
    production profile's tuning section and forests on the demo's development events."""
    from prefect.logging import disable_run_logger

    from ml_core.config import load_config
    from tasks.tuning import _tune_model, tuning_features

    prod = load_config(PRODUCTION)
    config = STATE_CHILD["config"]
    tuning = prod.tuning.model_copy(update={"n_trials": trials, "max_rows": None,
                                            "storage": None, "n_workers": 1})
    config = config.model_copy(update={"tuning": tuning, "ensemble": prod.ensemble})
    dataset = STATE_CHILD["dataset"]
    with disable_run_logger():
        X = tuning_features(dataset, config)
        cpu, wall = time.process_time(), time.perf_counter()
        result = _tune_model(X, dataset, config, uuid.uuid4().hex, None, model)
    fold_rows = len(X) * (tuning.cv_folds - 1) / tuning.cv_folds
    return {"model": model, "kind": getattr(prod.ensemble, model).kind, "trials": result.n_trials,
            "pruned": result.n_pruned, "trees_fitted": result.trees_fitted,
            "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
            "rows": len(X), "features": X.shape[1], "fold_rows": fold_rows,
            "n_estimators": getattr(prod.ensemble, model).n_estimators,
            "cv_folds": tuning.cv_folds, "tree_step": tuning.tree_step}


STATE_CHILD: dict[str, Any] = {}


def _init_child(config: Any, dataset: Any) -> None:
    STATE_CHILD.update(config=config, dataset=dataset)


def tuning_trials(trials: int) -> dict[str, Any]:
    """One study of a classifier (entry) and of a regressor (profit) at once on a 2-process
    pool (each study is single-threaded, as on Dask)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_child,
                             initargs=(STATE.config, STATE.dataset)) as pool:
        studies = list(pool.map(_tune_one, ["entry", "profit"], [trials, trials]))
    for s in studies:
        s["cpu_per_tree"] = s["cpu"] / max(s["trees_fitted"], 1)
    return {"studies": studies}


def synthetic_serial(n_bars: int) -> dict[str, Any]:
    """Production features, labels and fracdiff choice on ``n_bars`` synthetic 1-minute bars
    (``benchmarks/features.py``'s seeded market), one thread: seconds per bar."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from features import synthetic_bars
    from ml_core.config import load_config
    from ml_core.features import compute_features, min_frac_diff_order
    from ml_core.labeling import triple_barrier_events

    prod = load_config(PRODUCTION)
    bars = synthetic_bars(n_bars)
    out: dict[str, Any] = {"bars": n_bars}
    with threadpool_limits(1):
        for name, call in (
            ("features", lambda: compute_features(bars, prod.features, prod.data.timeframe)),
            ("labels", lambda: triple_barrier_events(bars, prod.labels)),
            ("frac_diff_choice", lambda: min_frac_diff_order(
                np.log(bars["close"]), prod.features.frac_diff_window,
                alpha=prod.features.frac_diff_adf_alpha)),
        ):
            cpu = time.process_time()
            result = call()
            out[name] = {"cpu": time.process_time() - cpu}
            if name == "labels":
                out["events"] = len(result)
                out["events_per_bar"] = len(result) / n_bars
    return out


# ------------------------------------------------------------------ one retrain, scale section
def section_retrain(run_retrain: Callable[[], Any]) -> dict[str, Any]:
    """One weekly retrain of the demo on the scale section (tuning off); its task runs."""
    t0 = time.perf_counter()
    state = run_retrain()
    seconds = time.perf_counter() - t0
    flow_run_id = state.state_details.flow_run_id
    runs = task_runs(flow_run_id)
    return {"seconds": seconds, "state": state.name, "flow_run_id": str(flow_run_id),
            "flow_run_s": flow_run_seconds(flow_run_id), "task_runs": runs}


def task_runs(flow_run_id: Any) -> list[dict[str, Any]]:
    """The flow run's task runs: name, task, start, seconds, and whether another task run of
    the flow contains it in time (pieces and tasks called inside tasks)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:  # the API returns at most 200 per call
            page = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])), limit=200, offset=len(runs))
            runs.extend(page)
            if len(page) < 200:
                break
    rows = [{"name": r.name, "task": task_name(r.name), "start": r.start_time,
             "end": r.end_time, "state": r.state_name} for r in runs if r.start_time]
    for row in rows:
        row["seconds"] = (row["end"] - row["start"]).total_seconds() if row["end"] else None
    for row in rows:
        row["nested"] = any(o is not row and o["end"] and row["end"] and
                            o["start"] <= row["start"] and row["end"] <= o["end"] and
                            (o["end"] - o["start"]) > (row["end"] - row["start"])
                            for o in rows)
    rows.sort(key=lambda r: r["start"])
    return [{**r, "start": r["start"].isoformat(), "end": r["end"] and r["end"].isoformat()}
            for r in rows]


def flow_run_seconds(flow_run_id: Any) -> float:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    return (run.end_time - run.start_time).total_seconds()


_SUFFIX = re.compile(r"^(.*)-[0-9a-z]{3}$")


def task_name(run_name: str) -> str:
    """The task of a task run: ``load-data-7ab`` -> ``load-data``; pieces (``cpcv-split-3``)
    -> their stage."""
    for stage in ("cpcv-split", "wf-window", "tune", "warm-up", "noop"):
        if run_name.startswith(stage + "-") and run_name[len(stage) + 1:].isdigit():
            return stage
    match = _SUFFIX.match(run_name)
    return match.group(1) if match else run_name


# ------------------------------------------------------------------ projection
def lpt_makespan(costs: Sequence[float], workers: int) -> float:
    """Longest processing time first: each piece, longest first, to the least loaded worker."""
    loads = [0.0] * max(1, min(workers, len(costs)))
    heapq.heapify(loads)
    for c in sorted(costs, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + c)
    return max(loads) if costs else 0.0


def fit_curve(n: Sequence[float], seconds: Sequence[float], shape: str) -> tuple[float, float]:
    """Least squares ``seconds = a + b * f(n)``, ``f`` = n (``linear``) or n ln n."""
    import numpy as np

    x = np.asarray(n, float)
    f = x if shape == "linear" else x * np.log(x)
    A = np.column_stack([np.ones_like(f), f])
    (a, b), *_ = np.linalg.lstsq(A, np.asarray(seconds, float), rcond=None)
    return float(a), float(b)


def grow(n: float, shape: str) -> float:
    return n if shape == "linear" else n * math.log(n)


# production task -> (rule, description) for the serial parts of the retrain
SERIAL_RULES: dict[str, tuple[str, str]] = {
    "load-data": ("bars", "x bars read"),
    "validate-data": ("bars", "x bars read"),
    "select-window": ("bars", "x bars read"),
    "cut-holdout": ("bars", "x bars read"),
    "log-dataset": ("bars", "x bars read (hashes and profiles the bars)"),
    "record-reference": ("bars", "x bars read (reference distributions for monitoring)"),
    "choose-feature-settings": ("synthetic:frac_diff_choice",
                                "measured on synthetic 1m bars (production window), x dev bars"),
    "build-features": ("synthetic:features", "measured on synthetic 1m bars (production "
                       "timeframes), x bars"),
    "make-labels": ("synthetic:labels", "measured on synthetic 1m bars (production barriers), "
                    "x bars"),
    "fit-regime": ("regime_fit", "x regime bars x restarts (1h bars, 10 restarts vs 4h, 5)"),
    "evaluate-regime": ("regime_eval", "x regime bars (restarts capped at 5 in both)"),
    "train-ensemble": ("final_fit", "ensemble fit model at N events, / flow cores"),
    "evaluate-holdout": ("holdout", "x holdout events x trees"),
    "register-model": ("model_size", "x events x trees (tree nodes grow with events)"),
    "split-holdout": ("events", "x events"),
}


def project(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The production weekly retrain on ``args.workers`` workers, from the measured costs."""
    from ml_core.config import load_config

    demo, prod = load_config(DEMO), load_config(PRODUCTION)
    data = measured["dataset"]
    pieces, cpcv, retrain = measured["pieces"], measured["cpcv"], measured["retrain"]
    shape = args.fit_shape
    day = 1440  # 1-minute bars a day (crypto trades around the clock)
    lookback_days = prod.data.lookback.total_seconds() / 86400
    holdout_days = prod.validation.holdout_span.total_seconds() / 86400
    bars_prod = int(lookback_days * day)
    dev_bars_prod = int((lookback_days - holdout_days) * day)
    rate = pieces["event_rate"]["production"]["events_per_bar"]
    n_prod = rate * dev_bars_prod
    n_hold_prod = rate * (bars_prod - dev_bars_prod)
    n_demo = pieces["event_rate"]["development_events"]
    assumptions: list[str] = []
    A = assumptions.append

    A(f"Bars: production reads {lookback_days:.0f} days of 1-minute bars ({bars_prod:,} bars, "
      f"trading around the clock, no gaps); the last {holdout_days:.0f} days are the final "
      f"holdout, so {dev_bars_prod:,} development bars.")
    A(f"Events: CUSUM events per development bar measured on the demo's bars at the production "
      f"threshold {prod.labels.cusum_threshold:g} (the threshold is in units of the per-bar "
      f"volatility, so the rate per bar is taken as independent of the bar length): "
      f"{rate:.4f} -> {n_prod:,.0f} development and {n_hold_prod:,.0f} holdout events. "
      f"(Synthetic 1-minute bars with the production barriers give "
      f"{pieces['synthetic_1m']['events_per_bar']:.4f} per bar; the demo's own threshold "
      f"{pieces['event_rate']['demo']['threshold']:g} gives "
      f"{pieces['event_rate']['demo']['events_per_bar']:.4f}.) Feature warm-up drops are ignored.")

    # ensemble fit cost model from the walk-forward windows (CPU s of one thread)
    wins = pieces["walk_forward"]["windows"]
    a, b = fit_curve([w["n_train"] for w in wins], [w["cpu"] for w in wins], shape)
    a_lin, b_lin = fit_curve([w["n_train"] for w in wins], [w["cpu"] for w in wins], "linear")
    trees_k = prod.ensemble.entry.n_estimators / demo.ensemble.entry.n_estimators
    folds_k = prod.ensemble.meta_folds / demo.ensemble.meta_folds
    scale_k = trees_k * folds_k

    def fit_prod(n: float) -> float:
        return (a + b * grow(n, shape)) * scale_k

    growth = "n" if shape == "linear" else "n ln n"
    A(f"Ensemble fit+score of one piece (one thread) = a + b * {growth}"
      f" in training events n, least squares over the demo's {len(wins)} walk-forward windows "
      f"(n = {min(w['n_train'] for w in wins):,} to {max(w['n_train'] for w in wins):,}): "
      f"a = {a:.2f} s, b = {b:.3g} s; times {trees_k:.3g} (trees per forest "
      f"{prod.ensemble.entry.n_estimators} vs {demo.ensemble.entry.n_estimators}) x "
      f"{folds_k:.3g} (meta folds {prod.ensemble.meta_folds} vs {demo.ensemble.meta_folds}: "
      f"an ensemble fit grows each forest on the meta folds' training rows and once on all, "
      f"~meta_folds x n rows). The forests are the profile's untuned ones; tuned forests (deeper, "
      f"more features) would cost more. Extrapolated from <= {max(w['n_train'] for w in wins):,}"
      f" to {n_prod:,.0f} events (linear fit for comparison: a = {a_lin:.2f}, b = {b_lin:.3g}).")

    # CPCV split pieces: ensemble fit at the split's training size + HMM refit
    direct = [o for o in cpcv["runs"]["direct-2"]] if cpcv else []
    split_rows = direct[0]["splits"] if direct else []
    ratios = ([r["n_train"] / n_demo for r in split_rows] if split_rows else
              [2 / 3] * math.comb(prod.validation.n_groups, prod.validation.n_test_groups))
    hmm = pieces["hmm_refit"]
    regime_hours = prod.regime.timeframe.total_seconds() / 3600
    rb_prod = (lookback_days - holdout_days) * 24 / regime_hours
    rb_demo_dev = data["development_regime_bars"]
    split_rb_share = sum(r["regime_bars"] for r in hmm["refits"]) / len(hmm["refits"]) / rb_demo_dev
    hmm_split_prod = (hmm["cpu_per_regime_bar_restart"] * rb_prod * split_rb_share
                      * prod.regime.n_restarts)
    overhead_s = (cpcv["noop"]["prefect_overhead_ms_per_task_run"] / 1000
                  if cpcv and cpcv.get("noop") else 0.0)
    cpcv_costs = [fit_prod(r * n_prod) + hmm_split_prod + overhead_s for r in ratios]
    A(f"CPCV: {len(ratios)} splits (N={prod.validation.n_groups}, k="
      f"{prod.validation.n_test_groups}), each training on the share of the events the demo's "
      f"split trained on ({min(ratios):.3f}-{max(ratios):.3f}, purge and embargo alike); each "
      f"refits the HMM (cpcv_refit_regime) on its training span: "
      f"{hmm['cpu_per_regime_bar_restart'] * 1e3:.3f} ms per "
      f"regime bar per restart measured, x {rb_prod * split_rb_share:,.0f} 1h regime bars x "
      f"{prod.regime.n_restarts} restarts = {hmm_split_prod:.0f} s (EM iterations to converge "
      f"taken as equal). Predicting the test events is left out (small next to fitting).")

    # walk-forward windows: expanding, window k trains on (k+1)/(W+1) of the events
    W = prod.validation.walk_forward_windows
    wf_costs = [fit_prod((k + 1) / (W + 1) * n_prod) + overhead_s for k in range(W)]
    A(f"Walk-forward: {W} expanding windows, window k training on (k+1)/{W + 1} of the events "
      f"(initial block one window long; purge ignored); same fit model; no HMM refit.")

    # tuning: per-model studies, each one piece
    hb = hyperband_share()
    cross = tuning_cross_check()
    studies = {s["kind"]: s for s in pieces["tuning"]["studies"]}
    classifier_tree = studies["classifier"]["cpu_per_tree"]
    cross_here = (cross["ms_per_tree"] * grow(studies["classifier"]["fold_rows"], shape)
                  / grow(cross["fold_rows"], shape)) if cross else 0.0
    t = prod.tuning
    tune_rows = n_prod * (t.cv_folds - 1) / t.cv_folds
    trees_per_trial = (prod.ensemble.entry.n_estimators // t.tree_step) * t.tree_step * t.cv_folds
    trial_cost: dict[str, float] = {}
    for model in ("entry", "position", "exit", "profit"):
        s = studies[getattr(prod.ensemble, model).kind]
        per_tree = s["cpu_per_tree"] * grow(tune_rows, shape) / grow(s["fold_rows"], shape)
        trial_cost[model] = per_tree * trees_per_trial * hb["share"]
    study_cost = {m: c * t.n_trials + overhead_s for m, c in trial_cost.items()}
    per_tree_text = ", ".join(f"{k}: {v['cpu_per_tree'] * 1e3:.1f} ms at {v['fold_rows']:,.0f} rows"
                              for k, v in studies.items())
    A(f"Tuning: {t.n_trials} trials per forest, {t.cv_folds} purged folds on all "
      f"{n_prod:,.0f} development events (tuning.max_rows unset) -> {tune_rows:,.0f} rows per "
      f"fold; a trial grows up to {trees_per_trial} trees ({prod.ensemble.entry.n_estimators} "
      f"per fold x {t.cv_folds} folds). Cost per tree measured in one study per forest kind with"
      f" the production search space and objective on the demo's events "
      f"({per_tree_text}; "
      f"classifiers entry/exit, regressors position/profit), scaled as the fit model. "
      + (f"Cross-check: the tuning benchmark's unpruned arm (entry, {cross['trials']} trials x "
         f"{cross['seeds']} seeds, the same space, another machine) took "
         f"{cross['ms_per_tree']:.1f} ms per tree at {cross['fold_rows']:,.0f} rows, i.e. "
         f"{cross_here:.1f} ms at this run's rows against {1e3 * classifier_tree:.1f} ms here: "
         f"{studies['classifier']['trials']} trials sample the search space coarsely, so the "
         f"classifier studies below may be {1e3 * classifier_tree / cross_here:.1f}x too long. "
         if cross else "")
      + f"Hyperband keeps {hb['share']:.1%} of the trees ({hb['source']}); with the production's "
      f"10 resource steps (3 brackets instead of 4) it may keep more.")
    A("Tuning on Dask today: each study is ONE piece (tasks.tuning.tune_models -> parallel_map "
      "over the 4 models), so tuning uses at most 4 workers and lasts as long as the slowest "
      "study. 'Trials as pieces' (NOT IMPLEMENTED) schedules the 4 x n_trials trials greedily "
      "on all workers (TPE then samples with fewer finished trials: the constant-liar strategy "
      "keeps it from repeating running trials, at some loss of guidance).")

    # pipeline tuning: serial, in the flow's process
    pt = t.pipeline_trials
    relabel = (pieces["synthetic_1m"]["labels"]["cpu"] / pieces["synthetic_1m"]["bars"]
               * bars_prod)
    pipeline_trial = relabel + t.cv_folds * fit_prod(n_prod * (t.cv_folds - 1) / t.cv_folds)
    A(f"Pipeline tuning ({pt} trials: barrier width, selection thresholds, meta C) runs in the "
      f"flow's process, not on Dask: each trial relabels the bars ({relabel:.0f} s) and fits the "
      f"whole ensemble on each of {t.cv_folds} purged folds (Hyperband over folds not counted: "
      f"upper bound), its forests on the flow machine's {args.flow_cores} cores "
      f"(ensemble.n_jobs=-1; perfect scaling assumed).")

    # serial parts from the retrain's task runs
    serial_rows, serial_fixed = serial_parts(retrain, pieces, {
        "bars": bars_prod / data["bars"], "dev_bars": dev_bars_prod / data["development_bars"],
        "regime_fit": (rb_prod * prod.regime.n_restarts) / (rb_demo_dev * demo.regime.n_restarts),
        "regime_eval": rb_prod / rb_demo_dev,
        "events": n_prod / n_demo,
        "holdout": (n_hold_prod / max(data["holdout_events"], 1)) * trees_k,
        "model_size": n_prod / n_demo * trees_k,
        "final_fit_s": fit_prod(n_prod) / args.flow_cores,
        "bars_prod": bars_prod, "dev_bars_prod": dev_bars_prod,
    })
    pipeline_s = pt * (relabel + (pipeline_trial - relabel) / args.flow_cores)
    serial_rows.append({"part": "pipeline study (tune-pipeline)", "demo_s": None,
                        "rule": f"{pt} trials x (relabel + {t.cv_folds} ensemble fits on "
                                f"{args.flow_cores} cores); not run in the demo retrain",
                        "production_s": pipeline_s})
    serial_s = sum(r["production_s"] for r in serial_rows)
    A(f"Serial parts: the retrain's own task runs on the demo (Prefect's records: wall seconds on "
      f"this shared machine, so on the high side), each scaled by "
      f"its rule (table); tasks without a rule and the flow's code between tasks are taken as "
      f"fixed costs ({serial_fixed:.0f} s). The final fit and the pipeline study's fits run on "
      f"the flow machine's {args.flow_cores} cores; everything else serial on one. Data "
      f"transfer to the workers (the development set is scattered once per stage: "
      f"{n_prod * (data['features'] + 8) * 8 / 1e6:,.0f} MB) and the Prefect and "
      f"MLflow servers' load are not modelled; each piece carries Prefect's measured per-task "
      f"overhead ({overhead_s * 1e3:.0f} ms).")
    A(f"Stages run one after another (parallel_map waits for all its pieces): tuning, then CPCV, "
      f"then walk-forward; each stage's pieces are scheduled longest first on the free worker "
      f"(LPT). Costs are CPU seconds of one thread on this machine "
      f"({_machine.machine_info(())['cpu']}); "
      f"workers are taken as dedicated cores of the same speed.")

    rows = []
    for P in [1, *args.workers]:
        tune_now = lpt_makespan(list(study_cost.values()), P)
        trials = [c + overhead_s for m, c in trial_cost.items() for _ in range(t.n_trials)]
        tune_trials = lpt_makespan(trials, P)
        cv_s, wf_s = lpt_makespan(cpcv_costs, P), lpt_makespan(wf_costs, P)
        total = serial_s + tune_now + cv_s + wf_s
        rows.append({"workers": P, "serial_s": serial_s, "pipeline_study_s": pipeline_s,
                     "tuning_s": tune_now,
                     "tuning_trials_as_pieces_s": tune_trials, "cpcv_s": cv_s,
                     "walk_forward_s": wf_s, "total_s": total,
                     "total_trials_as_pieces_s": serial_s + tune_trials + cv_s + wf_s,
                     "serial_share": serial_s / total})
    one = rows[0]["total_s"]
    for r in rows:
        r["speedup"] = one / r["total_s"]
        r["speedup_trials_as_pieces"] = rows[0]["total_trials_as_pieces_s"] / r[
            "total_trials_as_pieces_s"]
    return {
        "fit_shape": shape, "fit_model": {"a": a, "b": b, "a_linear": a_lin, "b_linear": b_lin,
                                          "scale": scale_k},
        "production": {"bars": bars_prod, "development_bars": dev_bars_prod,
                       "events": n_prod, "holdout_events": n_hold_prod,
                       "regime_bars": rb_prod},
        "pieces": {"cpcv_split_s": cpcv_costs, "walk_forward_window_s": wf_costs,
                   "study_s": study_cost, "trial_s": trial_cost,
                   "pipeline_trial_s": pipeline_trial},
        "hyperband": hb, "serial": serial_rows, "serial_s": serial_s,
        "rows": rows, "assumptions": assumptions,
    }




def tuning_cross_check() -> dict[str, Any] | None:
    """CPU ms per tree of ``results/tuning.json``'s unpruned arm (its mean), if there."""
    try:
        data = json.loads((ROOT / "benchmarks" / "results" / "tuning.json").read_text())
        mean, settings = data["summary"]["mean"], data["settings"]
        rows = settings["tuning_rows"] * (settings["cv_folds"] - 1) / settings["cv_folds"]
        return {"ms_per_tree": 1e3 * mean["unpruned_cpu_seconds"] / mean["unpruned_trees_fitted"],
                "fold_rows": rows, "trials": settings["trials"], "seeds": len(settings["seeds"])}
    except (OSError, KeyError, ValueError, TypeError):
        return None


def hyperband_share() -> dict[str, Any]:
    """Share of the unpruned trees Hyperband grows: ``results/tuning.json``'s mean, if there."""
    path = ROOT / "benchmarks" / "results" / "tuning.json"
    try:
        share = json.loads(path.read_text())["summary"]["mean"]["trees_ratio"]
        return {"share": float(share), "source": f"mean trees ratio of {path.relative_to(ROOT)}"
                " (60 trials x 3 seeds, 27 steps)"}
    except (OSError, KeyError, ValueError):
        return {"share": 1.0, "source": f"{path.relative_to(ROOT)} not found: unpruned"}


def serial_parts(retrain: dict[str, Any], pieces: dict[str, Any],
                 k: dict[str, float]) -> tuple[list[dict[str, Any]], float]:
    """The retrain's top-level task runs (not the stages projected as pieces), scaled."""
    syn = pieces["synthetic_1m"]
    runs = [r for r in retrain["task_runs"] if not r["nested"] and r["seconds"] is not None]
    rows, fixed = [], 0.0
    for r in runs:
        task = r["task"]
        if task in ("cpcv", "walk-forward", "tune", "tune-pipeline"):
            continue
        rule, note = SERIAL_RULES.get(task, ("fixed", "fixed"))
        if rule.startswith("synthetic:"):
            part = syn[rule.split(":", 1)[1]]["cpu"] / syn["bars"]
            n = k["dev_bars_prod"] if task == "choose-feature-settings" else k["bars_prod"]
            prod_s = part * n
        elif rule == "final_fit":
            prod_s = k["final_fit_s"]
        elif rule == "fixed":
            prod_s = r["seconds"]
            fixed += prod_s
        else:
            prod_s = r["seconds"] * k[rule]
        rows.append({"part": task, "demo_s": r["seconds"], "rule": note, "production_s": prod_s})
    between = retrain["flow_run_s"] - sum(r["seconds"] for r in runs)
    rows.append({"part": "flow code between tasks", "demo_s": between, "rule": "fixed",
                 "production_s": max(between, 0.0)})
    return rows, fixed + max(between, 0.0)


# ------------------------------------------------------------------ engines
@contextlib.contextmanager
def prefect_server(pg: str, folder: Path) -> Iterator[tuple[str, int]]:
    """A Prefect server on a fresh PostgreSQL database (dropped afterwards), as the scale
    profile runs it; yields its API URL and pid."""
    import sqlalchemy as sa

    from regimeforest import _services as svc

    name = f"regimeforest_bench_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(svc.pg_url(pg, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        service = svc.prefect_server(svc.pg_url(pg, name, "asyncpg"), folder / "server-home",
                                     port=svc.free_port(), ui=False)
        with svc.running(service, folder / "prefect-server.log", timeout=180) as server:
            log(f"Prefect server on PostgreSQL database {name} ready in "
                f"{server.ready_seconds:.1f} s")
            yield server.url, server.pid
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_profile(folder: Path, name: str, extra: str = "") -> Path:
    """A profile on the demo: stores in ``folder``, tuning off, the scale section (2 workers,
    one thread each), plus ``extra`` YAML lines."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"extends: {DEMO}\n"
        f"profile: {name}\n"
        f"data: {{store: 'sqlite:///{folder / 'bars.db'}'}}\n"
        f"registry: {{tracking_uri: 'sqlite:///{folder / 'mlflow.db'}', experiment: {name},"
        f" model_name: {name}}}\n"
        "tuning: {enabled: false}\n"
        "scale: {executor: dask, n_workers: 2, threads_per_worker: 1}\n" + extra)
    return path


# The retrain section measures the serial parts: its own CPCV is cut to 3 splits and its
# walk-forward left out (both stages are measured as pieces above; nothing serial depends on them).
RETRAIN_VALIDATION = "validation: {n_groups: 3, n_test_groups: 1, walk_forward_windows: 0}\n"


def run_all(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every measurement of ``args.sections``; a section that fails is recorded with its error
    and the others still run."""
    import traceback

    from prefect import flow

    from tasks.data import SAMPLE_INGESTED_AT

    measured: dict[str, Any] = {"cpcv": None, "pieces": None, "retrain": None, "errors": {}}
    STATE.profile_path = write_profile(folder, "bench-scale")
    log("building the development set (the retrain's tasks, in a flow)")
    STATE.steps = flow(name="bench-scale-prepare")(prepare_flow)()
    ds = STATE.dataset
    measured["dataset"] = {"bars": len(STATE.bars), "development_bars": len(STATE.fit_bars),
                           "events": len(ds.X), "features": ds.X.shape[1],
                           "holdout_events": len(STATE.holdout.X) if STATE.holdout else 0,
                           "development_regime_bars": STATE.regime_bars,
                           "steps_s": STATE.steps}
    log(f"development set: {len(ds.X):,} events x {ds.X.shape[1]} features "
        f"({len(STATE.fit_bars):,} development bars)")

    def retrain() -> dict[str, Any]:
        from flows.weekly_retrain import weekly_retrain

        log("one weekly retrain of the demo on the scale section (2 workers, tuning off, "
            "its CPCV cut to 3 splits, no walk-forward)")
        path = write_profile(folder, "bench-scale-retrain", RETRAIN_VALIDATION)
        out = section_retrain(lambda: weekly_retrain(
            config_path=str(path), as_of=SAMPLE_INGESTED_AT, return_state=True))
        log(f"  retrain {out['state']} in {out['seconds']:.0f} s")
        return out

    cpcv = flow(name="bench-scale-cpcv")(cpcv_flow)
    sections = {"cpcv": lambda: section_cpcv(args.repeat, cpcv),
                "pieces": lambda: section_pieces(args), "retrain": retrain}
    for name in SECTIONS:
        if name not in args.sections:
            continue
        try:
            measured[name] = sections[name]()
        except Exception as exc:  # noqa: BLE001 - recorded, the other sections still run
            log(f"section {name} failed: {exc!r}")
            measured["errors"][name] = traceback.format_exc()
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # send what is queued while the server still runs
    return measured


# ------------------------------------------------------------------ report
def markdown(report: dict[str, Any]) -> str:
    m, fmt = report["machine"], _machine.fmt
    lines = [
        "# Scale-out: CPCV on Dask workers, orchestration overhead, production projection", "",
        f"Generated by `benchmarks/scale.py` on {m['date_utc']} (commit {m['git_commit']}, "
        "working tree with uncommitted changes of concurrent work).", "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; total {report['seconds']:.0f} s. The machine is "
        "shared with other agents' jobs (load average per run below): every timed CPCV ran "
        f"{report['repeat']} time(s), the best is reported; CPU seconds are the steadier figure.",
        f"- Prefect server: {report['prefect_server']}; Dask LocalCluster per flow run "
        "(processes, 1 thread per worker, no dashboard); MLflow and the bar store on temporary "
        "SQLite files; task cache off (`REGIMEFOREST_TASK_CACHE=off`).", "",
    ]
    if report.get("reprojected"):
        lines += [f"Tables and projection recomputed from the saved measurements by "
                  f"`{report['reprojected']}`.", ""]
    d = report["measured"]["dataset"]
    lines += [f"Development set (the retrain's tasks, demo profile, untuned, as of the sample's "
              f"end): {d['bars']:,} bars, {d['development_bars']:,} development bars, "
              f"{d['events']:,} events x {d['features']} features, {d['holdout_events']:,} "
              "holdout events.", ""]
    cpcv = report["measured"]["cpcv"]
    if cpcv:
        lines += cpcv_markdown(cpcv)
    pieces = report["measured"]["pieces"]
    if pieces:
        lines += pieces_markdown(pieces)
    retrain = report["measured"]["retrain"]
    if retrain:
        lines += [f"## One retrain on the scale section", "",
                  f"`weekly_retrain` of the demo (tuning off, 2 workers): {retrain['state']}, "
                  f"flow run {retrain['flow_run_s']:.0f} s (call {retrain['seconds']:.0f} s). "
                  "Top-level task runs are in `scale.json`; the serial ones feed the projection "
                  "below.", ""]
    for name, error in report["measured"].get("errors", {}).items():
        lines += [f"**Section `{name}` failed**: `{error.strip().splitlines()[-1]}` (traceback "
                  "in `scale.json`).", ""]
    proj = report.get("projection")
    if proj:
        lines += projection_markdown(proj)
    return "\n".join(lines) + "\n"


def cpcv_markdown(cpcv: dict[str, Any]) -> list[str]:
    fmt = _machine.fmt
    t = cpcv["best_s"]
    lines = ["## CPCV of the demo on 1 and 2 workers", "",
             "15 splits, validation as `configs/demo.yaml` (HMM refitted per split), forests "
             "untuned on one thread. *dask-N*: a Prefect flow under `scale_out` calling "
             "`tasks.training.cross_validate` on a LocalCluster of N workers (the real path; "
             "every split a Prefect task run on a worker). *direct-2*: "
             "`ml_core.evaluation.evaluate_cpcv` with a spawned `ProcessPoolExecutor(2)` as "
             "`map_splits` (same split function, ensemble factory and HMM refit; the Dask "
             "nanny's worker environment). *plain-dask-2*: `evaluate_cpcv` with plain "
             "`Client.submit` per split on the 2-worker flow's own warm cluster (no Prefect task "
             "runs; alternately before and after the Prefect CPCV). CPCV s: from the call to "
             "the report, workers warm "
             "(cluster started, imports and Prefect engine warmed on every worker beforehand, as "
             "after the tuning stage of a retrain).", "",
             "| arm | round | load at start | CPCV s | workers' CPU s | CPU / (wall x workers) "
             "| stretch | contention-corrected CPCV s | flow process CPU s | Prefect server CPU s "
             "| cluster/pool start s | warm-up s | report equal to the first |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for arm, runs in cpcv["runs"].items():
        for o in runs:
            same = o["same_as_first"]
            eq = ("yes" if same["paths_equal"] and same["splits_equal"]
                  and same["path_returns_equal"]
                  else f"**no** (max diff {same['paths_max_abs_diff']:.3g})")
            lines.append(
                f"| {arm} | {o['round']} | {o['load_at_start']:.2f} | {o['cpcv_s']:.1f} | "
                f"{o['workers_cpu_s']:.1f} | "
                f"{o['workers_cpu_s'] / (o['cpcv_s'] * o['workers']):.0%} | "
                f"{o['stretch']:.2f} | {o['corrected_s']:.1f} | "
                f"{o['flow_process_cpu_s']:.1f} | "
                f"{fmt(o.get('server_cpu_s'), '.1f')} | "
                f"{fmt(o.get('cluster_start_s', o.get('pool_start_s')), '.1f')} | "
                f"{fmt(o.get('warm_up_s'), '.1f')} | {eq} |")
    sp, ov, c = cpcv["speedup_2_over_1"], cpcv["overhead_vs_direct"], cpcv["cpu_s"]
    tc, k = cpcv["best_corrected_s"], cpcv["corrected"]

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    lines += ["", "| figure | as measured (best wall) | contention-corrected (best) | target | met "
              "(measured / corrected) |", "|---|---:|---:|---:|---|",
              f"| speed-up, 2 workers over 1 (CPCV s: {t['dask-1']:.1f} / {t['dask-2']:.1f}; "
              f"corrected {tc['dask-1']:.1f} / {tc['dask-2']:.1f}) | {sp:.2f}x | "
              f"{k['speedup_2_over_1']:.2f}x | >= {TARGET_SPEEDUP}x | "
              f"{met(sp >= TARGET_SPEEDUP)} / {met(k['speedup_2_over_1'] >= TARGET_SPEEDUP)} |",
              f"| orchestration overhead: Prefect+Dask over direct, 2 workers ({t['dask-2']:.1f} / "
              f"{t['direct-2']:.1f} - 1; corrected {tc['dask-2']:.1f} / {tc['direct-2']:.1f} - 1) "
              f"| {ov:+.1%} | {k['overhead_vs_direct']:+.1%} | <= {TARGET_OVERHEAD:.0%} | "
              f"{met(ov <= TARGET_OVERHEAD)} / {met(k['overhead_vs_direct'] <= TARGET_OVERHEAD)} |",
              f"| of which Prefect: Prefect+Dask over plain Dask on the same warm cluster | "
              f"{cpcv['overhead_vs_plain_dask']:+.1%} | {k['overhead_vs_plain_dask']:+.1%} | | |",
              f"| of which Dask: plain Dask over the process pool | "
              f"{cpcv['plain_dask_vs_direct']:+.1%} | {k['plain_dask_vs_direct']:+.1%} | | |",
              f"| CPU overhead: all CPU seconds of a Prefect+Dask run (workers, flow process, "
              f"Prefect server; mean {c['dask-2']:.0f} s) over the direct run's "
              f"({c['direct-2']:.0f} s) | {cpcv['cpu_overhead_vs_direct']:+.1%} | | | |",
              f"| CPU overhead of plain Dask (workers and client, mean {c['plain-dask-2']:.0f} s) "
              f"over direct | {cpcv['plain_dask_cpu_vs_direct']:+.1%} | | | |",
              f"| speed-up bound of these 15 splits on 2 dedicated cores (split CPU seconds, in "
              f"order, to the free worker) | {cpcv['speedup_bound_2_workers']:.2f}x | | | |"]
    inner = {a: (sum(sp["cpu"] for o in cpcv["runs"][a] for sp in o["splits"]),
                 sum(sp.get("thread_cpu", sp["cpu"]) for o in cpcv["runs"][a]
                     for sp in o["splits"]))
             for a in ("direct-2", "plain-dask-2")}
    n = cpcv.get("noop")
    if n:
        per = 1000 * (n["prefect_s"] - n["dask_s"]) / n["tasks"]
        lines.append(f"| Prefect per task run ({n['tasks']} no-op pieces on {n['workers']} "
                     f"workers: {n['prefect_s']:.2f} s via parallel_map vs {n['dask_s']:.2f} s "
                     f"plain Client.map, best of 2 per flow run): elapsed per piece (x "
                     f"{n['workers']} workers: the most it costs a worker) | {per:.0f} ms "
                     f"({n['prefect_overhead_ms_per_task_run']:.0f} ms) | | | |")
    lines += ["", "Inside the splits (all rounds): the process's CPU seconds while a split ran / "
              "those of the thread that ran it: direct "
              f"{inner['direct-2'][0]:.0f} / {inner['direct-2'][1]:.0f} s, plain Dask "
              f"{inner['plain-dask-2'][0]:.0f} / {inner['plain-dask-2'][1]:.0f} s (the difference "
              "on Dask is the worker's other threads: event loop, heartbeats, the statistical "
              "profiler)."]
    lines += ["", f"CV reports: **{'identical' if cpcv['reports_identical'] else 'NOT identical'}"
              "** across every run and arm (paths, splits and every path's returns compared "
              "exactly with the first run).", "",
              "Overhead is defined as (best CPCV wall time through Prefect + Dask on 2 workers) / "
              "(best CPCV wall time through `evaluate_cpcv` on a 2-process pool) - 1, both with "
              "warm workers, both computing the same 15 splits with the same code; it includes "
              "Prefect's task-run bookkeeping (API calls to the PostgreSQL-backed server, state "
              "changes, logs), the Dask scheduler, scattering the shared data, and "
              "`cross_validate`'s own task run and result persistence. One-off costs per flow "
              "run (cluster start, worker warm-up) are listed apart. Per task run: (parallel_map "
              "time - Client.map time) / tasks; part of it is the flow submitting the task runs "
              "one after another, the rest the engine on the workers, so x workers bounds what "
              "one worker spends per Prefect task run beyond a plain Dask task (the projection "
              "adds that bound to every piece).", "",
              "Contention correction: the machine's other jobs took a varying share of the 2 "
              "cores (*CPU / (wall x workers)*), so wall times compare loads as much as code. "
              "*Stretch* = the pieces' summed wall time (Prefect's task-run records on Dask, the "
              "timed calls in the other arms) / the workers' CPU seconds in the run: how much "
              "longer the pieces took than their CPU time. *Contention-corrected CPCV s* = CPCV "
              "s / stretch: the run as if every piece had had its core to itself. The pieces are "
              "CPU-bound (one thread, no I/O), so this is the figure to compare across runs made "
              "under different loads; it keeps every extra CPU second of the orchestration "
              "(worker background threads, Prefect's engine in the pieces) and scales the gaps "
              "between pieces like the pieces.", ""]
    return lines


def pieces_markdown(p: dict[str, Any]) -> list[str]:
    er, wf, hmm, tu, syn = (p["event_rate"], p["walk_forward"], p["hmm_refit"], p["tuning"],
                            p["synthetic_1m"])
    lines = ["## Per-piece costs (CPU seconds of one thread)", "",
             "CUSUM events per development bar of the demo's bars: "
             f"{er['demo']['events_per_bar']:.4f}"
             f" at threshold {er['demo']['threshold']:g} (demo), "
             f"{er['production']['events_per_bar']:.4f} at {er['production']['threshold']:g} "
             f"(production); synthetic 1m bars with the production barriers: "
             f"{syn['events_per_bar']:.4f}.", "",
             "Walk-forward windows of the demo (2-process pool, forests on one thread):", "",
             "| window | training events | test events | CPU s | wall s |",
             "|---:|---:|---:|---:|---:|"]
    for w in wf["windows"]:
        lines.append(f"| {w['piece']} | {w['n_train']:,} | {w['n_test']:,} | {w['cpu']:.2f} | "
                     f"{w['wall']:.2f} |")
    lines += ["", f"HMM refit as a CPCV split does it: "
              + "; ".join(f"split {r['split']}: {r['cpu']:.2f} s CPU on {r['regime_bars']:,} "
                          f"regime bars x {r['restarts']} restarts" for r in hmm["refits"]), "",
              "Tuning, one study per forest kind, production tuning settings (search space, "
              "objective, 5 folds, 100 trees in steps of 10, Hyperband) on the demo's events:", "",
              "| model | kind | trials | pruned | trees fitted | rows (per fold) | CPU s | "
              "ms per tree |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in tu["studies"]:
        lines.append(f"| {s['model']} | {s['kind']} | {s['trials']} | {s['pruned']} | "
                     f"{s['trees_fitted']:,} | {s['rows']:,} ({s['fold_rows']:,.0f}) | "
                     f"{s['cpu']:.1f} | {1e3 * s['cpu_per_tree']:.1f} |")
    lines += ["", f"Production feature pipeline on {syn['bars']:,} synthetic 1-minute bars: "
              f"features {syn['features']['cpu']:.1f} s, labels {syn['labels']['cpu']:.1f} s, "
              f"fracdiff choice {syn['frac_diff_choice']['cpu']:.1f} s CPU.", ""]
    return lines


def projection_markdown(p: dict[str, Any]) -> list[str]:
    pr = p["production"]
    lines = ["## Projection: the production profile's weekly retrain", "",
             f"{pr['bars']:,} 1-minute bars, {pr['development_bars']:,} development bars, "
             f"~{pr['events']:,.0f} development events, {pr['regime_bars']:,.0f} 1h regime bars. "
             "Hours of wall time per stage (LPT schedule per stage) and in total:", "",
             "| workers | serial (of which pipeline study) | tuning (studies as pieces) | CPCV | "
             "walk-forward | **total** | speed-up | serial share | tuning, trials as pieces "
             "(not implemented) | total with trials as pieces | speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    h = 3600
    for r in p["rows"]:
        lines.append(
            f"| {r['workers']} | {r['serial_s'] / h:.2f} ({r['pipeline_study_s'] / h:.2f}) | "
            f"{r['tuning_s'] / h:.2f} | "
            f"{r['cpcv_s'] / h:.2f} | {r['walk_forward_s'] / h:.2f} | **{r['total_s'] / h:.2f}** "
            f"| {r['speedup']:.1f}x | {r['serial_share']:.0%} | "
            f"{r['tuning_trials_as_pieces_s'] / h:.2f} | {r['total_trials_as_pieces_s'] / h:.2f} "
            f"| {r['speedup_trials_as_pieces']:.1f}x |")
    pc = p["pieces"]
    lines += ["", "Pieces (one thread): CPCV split "
              f"{min(pc['cpcv_split_s']) / 60:.1f}-{max(pc['cpcv_split_s']) / 60:.1f} min; "
              f"walk-forward window {min(pc['walk_forward_window_s']) / 60:.1f}-"
              f"{max(pc['walk_forward_window_s']) / 60:.0f} min; tuning trial "
              + ", ".join(f"{m} {s:.0f} s" for m, s in pc["trial_s"].items())
              + "; study " + ", ".join(f"{m} {s / h:.1f} h" for m, s in pc["study_s"].items())
              + f"; pipeline trial {pc['pipeline_trial_s'] / 60:.0f} min (one thread).", "",
              "Serial parts (demo seconds from the retrain's task runs -> production seconds):",
              "", "| part | demo s | rule | production s |", "|---|---:|---|---:|"]
    for r in sorted(p["serial"], key=lambda r: -r["production_s"]):
        lines.append(f"| {r['part']} | {_machine.fmt(r['demo_s'], '.1f')} | {r['rule']} | "
                     f"{r['production_s']:,.0f} |")
    lines += ["", "Assumptions:", ""] + [f"- {a}" for a in p["assumptions"]]
    return lines + [""]


# ------------------------------------------------------------------ main
def quiet_warnings() -> None:
    """Keep the run's output readable: warnings the retrain's steps emit many times over
    (they change no figure here)."""
    import warnings

    for message in ("X has feature names", "Hint: Inferred schema contains integer",
                    "Port .* is already in use"):
        warnings.filterwarnings("ignore", message=message)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated, of: " + ", ".join(SECTIONS) + " (the projection "
                        "needs pieces and retrain; its overhead per piece comes from cpcv)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds of the timed CPCV runs (best reported)")
    parser.add_argument("--workers", default="8,32,128",
                        help="worker counts of the projection")
    parser.add_argument("--tuning-trials", type=int, default=6,
                        help="trials per measured study (entry and profit)")
    parser.add_argument("--synthetic-bars", type=int, default=200_000,
                        help="synthetic 1m bars for the production feature/label costs")
    parser.add_argument("--flow-cores", type=int, default=2,
                        help="cores of the flow's machine (final fit, pipeline study)")
    parser.add_argument("--fit-shape", choices=["nlogn", "linear"], default="nlogn",
                        help="growth of a fit's cost with training events in the projection")
    parser.add_argument("--pg", default=DEFAULT_PG,
                        help="PostgreSQL server for the Prefect server's fresh database")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for scale.json and scale.md")
    parser.add_argument("--from-json", type=Path, metavar="SCALE_JSON",
                        help="measure nothing: redo the projection and the tables from a "
                        "scale.json of an earlier run (with other --workers, --flow-cores, "
                        "--fit-shape)")
    args = parser.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got --repeat={args.repeat}")
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    out = args.out.resolve()
    command = "benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        report["reprojected"] = command
    else:
        report = {"machine": _machine.machine_info(PACKAGES), "command": command,
                  "repeat": args.repeat, "sections": args.sections,
                  "prefect_server": "`prefect server start` on a fresh PostgreSQL database "
                                    "(asyncpg), started with regimeforest._services as "
                                    "scripts/scale_services.py starts it"}
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            folder = Path(tmp)
            from regimeforest._env import configure_engines

            configure_engines()
            quiet_warnings()
            # before Prefect is imported: its settings are read once
            os.environ.update({"PREFECT_HOME": str(folder / "prefect-home"),
                               "REGIMEFOREST_TASK_CACHE": "off",
                               "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"})
            os.environ.pop("DASK_SCHEDULER_ADDRESS", None)  # always a LocalCluster here
            os.chdir(folder)  # nothing the flows write lands in the checkout
            with prefect_server(args.pg, folder) as (api, pid):
                os.environ["PREFECT_API_URL"] = api
                STATE.server_pid = pid
                report["measured"] = run_all(args, folder)
        report["seconds"] = time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)
        # the measurements are kept even if the projection below fails
        (out / "scale.json").write_text(json.dumps(report, indent=1, default=str))
    measured = report["measured"]
    if measured.get("cpcv"):
        measured["cpcv"].update(cpcv_summary(measured["cpcv"]["runs"]))
    report["projection"] = (project(measured, args) if measured.get("pieces")
                            and measured.get("retrain") else None)
    report["projection_settings"] = {"workers": args.workers, "flow_cores": args.flow_cores,
                                     "fit_shape": args.fit_shape}
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "scale.md").write_text(markdown(report))
    log(f"wrote {out / 'scale.md'} and scale.json ({report['seconds']:.0f} s of measurements)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
