"""Tuning benchmark: Hyperband pruning against no pruning, same sampler, seed, trials and data.

On the BTC 5-minute bars of ``../shared/data/binance_5m`` the training set is built as the weekly
retrain builds it for ``configs/crypto_5m.yaml`` (fracdiff order chosen by ADF, causal features on
5m + 15m/1h/4h, the 3-state HMM's filtered regime features, CUSUM-sampled triple-barrier events,
the feature selector fitted on the tuning window as ``tasks.tuning.tuning_features`` does). Then,
per seed, one forest (``--model``, default the entry classifier, with the profile's search space,
objective weights, trade rule, costs, purge and embargo) is tuned twice by
:func:`ml_core.tuning.tune_forest` with ``TPESampler(seed)`` (the seed is also every forest's
``random_state``) and the same number of trials:

``hyperband``
    ``tune_forest`` as the retrain calls it: ``HyperbandPruner(min_resource=1,
    max_resource=n_estimators // tree_step, reduction_factor)``, the resource being trees grown
    by warm start.
``unpruned``
    The same call with ``optuna.pruners.NopPruner()``: every trial grows all its trees.

Per arm: trees fitted (``TuningResult.trees_fitted``: every fold's trees, pruned trials'
included), wall and CPU time, best objective, the best trial's accuracy (ROC AUC), Sharpe and
drawdown, complete and pruned trials; per seed the ratios (Hyperband trees / unpruned trees, the
best-score gap in % of the unpruned best) against the issue's target: at most 35% of the unpruned
compute with the best score within 1% of the unpruned best.

With one TPE seed the two arms draw the same configurations until a pruned trial changes what
TPE sees among the best trials; from then on their histories differ, so the best-score gap is
partly luck. Several seeds (``--seeds``) show its spread.

Settings: the resource is 270 trees per fold in steps of 10 (27 steps, so reduction factor 3
gives Hyperband's full 4 brackets; the profile's 60 trees would give 6 steps and 2 brackets).
60 trials: TPE's 10 random start-up trials plus 50 guided ones, and about 33 trials in the most
aggressive bracket (27 of every 49), enough to fill its rungs at 1, 3 and 9 steps; the last
3,000 of BTC's 6,025 events keep the unpruned arm at 5-10 minutes per seed on 2 cores (all events
take twice as long). The HMM's regime columns are included (the fit takes ~2 s).

Results: ``benchmarks/results/tuning.json`` and ``tuning.md`` (``--out`` to change), with the
machine. The full setting (60 trials, 3 seeds, 3,000 rows) takes 25-35 minutes on 2 cores,
8-12 per seed (see ``benchmarks/README.md``)::

    .venv/bin/python benchmarks/tuning.py
    .venv/bin/python benchmarks/tuning.py --quick --out /tmp/tuning
    .venv/bin/python benchmarks/tuning.py --trials 60 --seeds 1 --model profit
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _machine  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from ml_core.config import Config, ForestSpec, TuningConfig, load_config  # noqa: E402
from ml_core.data import as_bars, load_bars  # noqa: E402
from ml_core.features import compute_features, min_frac_diff_order  # noqa: E402
from ml_core.labeling import triple_barrier_events  # noqa: E402
from ml_core.pipeline import TrainingSet, assemble_training_set  # noqa: E402
from ml_core.regime import fit_regime_model  # noqa: E402
from ml_core.selection import FeatureSelector  # noqa: E402
from ml_core.tuning import TuningResult, tune_forest  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "binance_5m" / "BTC_USDT-5m.parquet"
CRYPTO_5M = ROOT / "configs" / "crypto_5m.yaml"
MODELS = ("entry", "position", "exit", "profit")
ARMS = ("hyperband", "unpruned")
# Target of the issue: Hyperband spends at most 35% of the unpruned compute (trees fitted) and
# its best objective is within 1% of the unpruned best.
TARGET_COMPUTE, TARGET_GAP_PCT = 0.35, 1.0
# --quick: a smoke run of the whole benchmark in 2-3 minutes.
QUICK = {"trials": 12, "seeds": 1, "max_rows": 1500}
FULL = {"trials": 60, "seeds": 3, "max_rows": 3000}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_info() -> dict[str, Any]:
    return _machine.machine_info(("numpy", "pandas", "scipy", "scikit-learn", "optuna"))


# ---------------------------------------------------------------------------------- data
def training_set(path: Path, config: Config, regime: bool) -> tuple[TrainingSet, Config,
                                                                        dict[str, Any]]:
    """The retrain's training set for ``config`` (flows/weekly_retrain.py, its ml_core calls).

    choose_feature_settings -> build_features -> fit_regime -> make_training_set, without the
    quality gate and the MLflow logging; ``regime=False`` leaves out the HMM's columns.
    """
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    bars = as_bars(load_bars(path, config.data.columns))
    bars = bars.loc[config.data.start:config.data.end]
    info.update(bars=len(bars), start=str(bars.index[0]), end=str(bars.index[-1]))
    features = config.features
    if features.frac_diff_auto:
        choice = min_frac_diff_order(np.log(bars["close"].to_numpy()), features.frac_diff_window,
                                     alpha=features.frac_diff_adf_alpha)
        d = float(choice.d) if choice.passed else float(features.frac_diff_d)
        config = config.model_copy(update={"features": features.model_copy(
            update={"frac_diff_d": d})})
    info["frac_diff_d"] = config.features.frac_diff_d
    X = compute_features(bars, config.features, config.data.timeframe)
    if regime:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EM convergence notes; the retrain logs them
            model = fit_regime_model(bars, config.regime, config.data.timeframe, config.seed)
        X = X.join(model.transform(bars))
    dataset = assemble_training_set(X, triple_barrier_events(bars, config.labels), config.labels)
    info.update(events=len(dataset.X), features=dataset.X.shape[1],
                dropped_warmup=dataset.n_dropped_warmup, regime_features=regime,
                entry_base_rate=float(dataset.targets["entry"].mean()),
                seconds=time.perf_counter() - t0)
    return dataset, config, info


def tuning_features(dataset: TrainingSet, config: Config) -> pd.DataFrame:
    """The columns the retrain tunes on (``tasks.tuning.tuning_features``): with selection on,
    those a selector fitted on the tuning window (last ``tuning.max_rows`` events) keeps."""
    X = dataset.X
    if not config.features.selection.enabled:
        return X
    window = X.iloc[-config.tuning.max_rows:] if config.tuning.max_rows else X
    selector = FeatureSelector.from_config(config.features.selection, config.seed)
    selector.fit(window, dataset.targets["entry"].loc[window.index])
    return X[selector.selected_]


def events_per_year(dataset: TrainingSet) -> float:
    """As ``tasks.training.events_per_year``: events per 365-day year over the sample."""
    span = dataset.X.index[-1] - dataset.X.index[0]
    return len(dataset.X) / max(span / pd.Timedelta(days=365), 1e-9)


# ---------------------------------------------------------------------------------- arms
def tune_arm(arm: str, spec: ForestSpec, X: pd.DataFrame, dataset: TrainingSet, config: Config,
             model: str, seed: int) -> tuple[TuningResult, float, float]:
    """One study in memory; returns the result, wall seconds and CPU seconds of the process."""
    kwargs: dict[str, Any] = dict(
        tuning=config.tuning, purge=config.validation.purge, embargo=config.validation.embargo,
        seed=seed, storage=None,
        # one name for both arms: Hyperband assigns brackets by hashing name and trial number
        study_name=f"bench-tuning-{model}-{seed}",
        ret=dataset.events["ret"], trade_rule=model,
        cost_bps=config.validation.transaction_cost_bps, events_per_year=events_per_year(dataset))
    if arm == "unpruned":
        kwargs["pruner"] = optuna.pruners.NopPruner()  # None: tune_forest's Hyperband pruner
    wall, cpu = time.perf_counter(), time.process_time()
    result = tune_forest(spec, X, dataset.targets[model], dataset.t1, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def arm_row(result: TuningResult, wall: float, cpu: float) -> dict[str, Any]:
    pareto = result.pareto
    best = int(pareto["value"].idxmax())
    parts = pareto.loc[best]
    return {
        "trees_fitted": result.trees_fitted, "wall_seconds": wall, "cpu_seconds": cpu,
        "best_value": result.best_value, "best_trial": best,
        "best_accuracy": _float(parts.get("accuracy")), "best_sharpe": _float(parts.get("sharpe")),
        "best_max_drawdown": _float(parts.get("max_drawdown")),
        "n_trials": result.n_trials, "n_complete": result.n_complete, "n_pruned": result.n_pruned,
        "best_params": result.best_params, "trials": trial_rows(result.trials),
    }


def trial_rows(trials: pd.DataFrame) -> list[dict[str, Any]]:
    """Per trial: number, state, value, trees fitted and the sampled parameters."""
    rows = []
    for _, t in trials.iterrows():
        params = {k.removeprefix("params_"): _plain(v) for k, v in t.items()
                  if k.startswith("params_") and not _missing(v)}
        rows.append({"number": int(t["number"]), "state": str(t["state"]),
                     "value": _float(t["value"]),
                     "trees_fitted": int(_float(t.get("user_attrs_trees_fitted")) or 0),
                     "params": params})
    return rows


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _float(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def compare(hyperband: dict[str, Any], unpruned: dict[str, Any]) -> dict[str, Any]:
    """Hyperband's compute as a share of the unpruned arm's, and its best-score gap."""
    ratio = hyperband["trees_fitted"] / unpruned["trees_fitted"]
    gap = unpruned["best_value"] - hyperband["best_value"]  # > 0: Hyperband's best is worse
    gap_pct = 100.0 * gap / abs(unpruned["best_value"])
    shared = 0  # leading trials that sampled the same parameters in both arms
    for a, b in zip(hyperband["trials"], unpruned["trials"], strict=False):
        if a["params"] != b["params"]:
            break
        shared += 1
    return {"trees_ratio": ratio, "same_params_prefix": shared,
            "wall_ratio": hyperband["wall_seconds"] / unpruned["wall_seconds"],
            "cpu_ratio": hyperband["cpu_seconds"] / unpruned["cpu_seconds"],
            "best_gap": gap, "best_gap_pct": gap_pct,
            "compute_ok": ratio <= TARGET_COMPUTE, "score_ok": gap_pct <= TARGET_GAP_PCT,
            "target_met": ratio <= TARGET_COMPUTE and gap_pct <= TARGET_GAP_PCT}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("trees_ratio", "wall_ratio", "cpu_ratio", "best_gap", "best_gap_pct")
    mean = {k: float(np.mean([r["compare"][k] for r in runs])) for k in keys}
    for arm in ARMS:
        for k in ("trees_fitted", "wall_seconds", "cpu_seconds", "best_value", "n_pruned",
                  "n_complete"):
            mean[f"{arm}_{k}"] = float(np.mean([r[arm][k] for r in runs]))
    met = [r["compare"]["target_met"] for r in runs]
    return {"mean": mean, "seeds_meeting_target": int(sum(met)), "seeds": len(runs),
            "mean_meets_target": mean["trees_ratio"] <= TARGET_COMPUTE
            and mean["best_gap_pct"] <= TARGET_GAP_PCT}


# ---------------------------------------------------------------------------------- report
def _f(x: float | None, spec: str = ".4f") -> str:
    return _machine.fmt(x, spec)


def markdown(report: dict[str, Any]) -> str:
    m, s, d = report["machine"], report["settings"], report["data"]
    lines = [
        "# Tuning benchmark: Hyperband vs no pruning", "",
        f"Generated by `benchmarks/tuning.py` on {m['date_utc']} (commit {m['git_commit']}).", "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; total {report['seconds']:.0f} s"
        + (" (**quick** smoke setting)" if s["quick"] else ""), "",
        "## Setting", "",
        f"`{d['file']}`: {d['bars']:,} 5m bars ({d['start']} to {d['end']}), profile "
        f"`{s['profile']}` (fracdiff d={d['frac_diff_d']}, regime features "
        f"{'included' if d['regime_features'] else 'left out'}): {d['events']:,} CUSUM events, "
        f"{d['features']} features, {s['tuning_rows']:,} tuning rows (`tuning.max_rows="
        f"{s['max_rows']}`), {s['tuning_features']} columns after the selector; built in "
        f"{d['seconds']:.1f} s.", "",
        f"Model `{s['model']}` ({s['kind']}), trade rule `{s['model']}`, cost "
        f"{s['cost_bps']} bps, purge {s['purge']}, embargo {s['embargo']}, {s['cv_folds']} purged "
        f"folds; `TPESampler(seed)`, {s['trials']} trials per arm; resource "
        f"{s['n_estimators']} trees per fold grown {s['tree_step']} at a time "
        f"({s['n_steps']} steps), Hyperband `reduction_factor={s['reduction_factor']}`; search "
        f"space: {', '.join(s['forest_space'])}; objective `{s['objective']}`. Unpruned arm: "
        "`tune_forest(..., pruner=optuna.pruners.NopPruner())`.",
        "", "## Results", "",
        "Trees: every fold's trees over all trials (pruned included). Gap: (unpruned best - "
        "Hyperband best) / |unpruned best|, positive when Hyperband's best is worse. Target: "
        f"trees ratio <= {TARGET_COMPUTE:.0%} and gap <= {TARGET_GAP_PCT:g}%.", "",
        "| seed | arm | trees fitted | wall s | CPU s | best value | best trial | AUC | Sharpe |"
        " max DD | complete | pruned |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        for arm in ARMS:
            a = r[arm]
            lines.append(
                f"| {r['seed']} | {arm} | {a['trees_fitted']:,} | {a['wall_seconds']:.1f} | "
                f"{a['cpu_seconds']:.1f} | {_f(a['best_value'])} | {a['best_trial']} | "
                f"{_f(a['best_accuracy'])} | {_f(a['best_sharpe'], '.3f')} | "
                f"{_f(a['best_max_drawdown'], '.3f')} | {a['n_complete']} | {a['n_pruned']} |")
    lines += ["", "| seed | trees ratio | wall ratio | CPU ratio | best gap | gap % | same first "
              "trials | compute <= 35% | gap <= 1% | target |",
              "|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    yes = {True: "yes", False: "**no**"}
    for r in report["runs"]:
        c = r["compare"]
        lines.append(f"| {r['seed']} | {c['trees_ratio']:.1%} | {c['wall_ratio']:.1%} | "
                     f"{c['cpu_ratio']:.1%} | {c['best_gap']:+.4f} | {c['best_gap_pct']:+.2f}% | "
                     f"{c.get('same_params_prefix', '—')} | {yes[c['compute_ok']]} | "
                     f"{yes[c['score_ok']]} | {yes[c['target_met']]} |")
    sm = report["summary"]
    mean = sm["mean"]
    lines.append(f"| mean | {mean['trees_ratio']:.1%} | {mean['wall_ratio']:.1%} | "
                 f"{mean['cpu_ratio']:.1%} | {mean['best_gap']:+.4f} | "
                 f"{mean['best_gap_pct']:+.2f}% | | | | {yes[sm['mean_meets_target']]} |")
    lines += ["", f"**Verdict**: {report['verdict']}", "", *notes(s), ""]
    return "\n".join(lines)


def hyperband_brackets(n_steps: int, reduction_factor: int) -> list[int]:
    """Optuna's HyperbandPruner brackets for ``min_resource=1``: the share of trials each gets
    (``ceil(n * eta**s / (s + 1))``, most aggressive first), as its ``_n_brackets`` and
    ``_calculate_trial_allocation_budget`` compute them."""
    n = math.floor(math.log(n_steps / 1, reduction_factor)) + 1
    return [math.ceil(n * reduction_factor ** (n - 1 - i) / (n - i)) for i in range(n)]


def notes(settings: dict[str, Any]) -> list[str]:
    budgets = settings["hyperband_brackets"]
    return [
        "Notes:", "",
        "- *Same first trials*: leading trials that sampled identical parameters in both arms. "
        "TPE samples at random for 10 trials (the same stream in both arms), then models its "
        "best trials, complete ones first (pruned ones only fill the group, by last step and "
        "value), so the arms part once a trial Hyperband pruned would, complete, have ranked "
        "among the best. (The "
        "HyperbandPruner's per-bracket view of the study filters `Study.get_trials`; TPE in "
        "Optuna 5 reads `_get_trials` and so learns from every trial.)",
        f"- Hyperband: {len(budgets)} brackets for {settings['n_steps']} steps at reduction "
        f"factor {settings['reduction_factor']}, trials assigned "
        f"{':'.join(map(str, budgets))} (most aggressive first) by a hash of study name and "
        "trial number; the last bracket never prunes. A trial that reaches the last step "
        "completes (`ForestObjective` does not prune it there).",
        "- Trial 0 is the profile's own forest (enqueued by `tune_forest`); in Hyperband it is "
        "first in its bracket and never pruned.",
        "- Wall and CPU time include each step's out-of-fold prediction and scoring, which "
        "pruning saves along with the trees; the machine is shared (load average above), so CPU "
        "time is the steadier of the two.",
    ]


def verdict(sm: dict[str, Any]) -> str:
    mean = sm["mean"]
    state = "met" if sm["mean_meets_target"] else "missed"
    return (f"target {state} on the mean over {sm['seeds']} seed(s): Hyperband fitted "
            f"{mean['trees_ratio']:.1%} of the unpruned trees (target <= {TARGET_COMPUTE:.0%}) "
            f"with a best-score gap of {mean['best_gap_pct']:+.2f}% (target <= "
            f"{TARGET_GAP_PCT:g}%); {sm['seeds_meeting_target']} of {sm['seeds']} seed(s) met "
            "both.")


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
        def _get_help_string(self, action: argparse.Action) -> str | None:
            # None defaults are resolved after parsing (--quick or the full setting)
            return action.help if action.default is None else super()._get_help_string(action)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="5-minute bars file")
    parser.add_argument("--model", choices=MODELS, default="entry", help="forest to tune")
    parser.add_argument("--trials", type=int, default=None,
                        help=f"trials per arm (default {FULL['trials']}; --quick "
                        f"{QUICK['trials']})")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"sampler seeds 0..N-1, both arms each (default {FULL['seeds']}; "
                        f"--quick {QUICK['seeds']})")
    parser.add_argument("--max-rows", type=int, default=None,
                        help=f"most recent events tuned on (default {FULL['max_rows']}, about "
                        "half the BTC events; the profile's tuning.max_rows=12000 keeps all and "
                        f"takes twice as long; --quick {QUICK['max_rows']})")
    parser.add_argument("--n-estimators", type=int, default=270,
                        help="trees per fold of a complete trial (Hyperband's maximum resource)")
    parser.add_argument("--tree-step", type=int, default=10, help="trees per Hyperband step")
    parser.add_argument("--reduction-factor", type=int, default=3, help="Hyperband's eta")
    parser.add_argument("--no-regime", action="store_true",
                        help="leave the HMM's regime features out of the training set")
    parser.add_argument("--quick", action="store_true",
                        help="smoke setting: few trials, one seed, few rows (2-3 minutes)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for tuning.json and tuning.md")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("trials", "seeds", "n_estimators", "tree_step"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1, got {getattr(args, key)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.exists():
        message = (f"{args.data} is absent: the tuning benchmark needs the Binance 5m BTC bars "
                   "(../shared/data/binance_5m beside the repository, or pass --data FILE)")
        if os.environ.get("CI", "").lower() == "true":
            raise SystemExit(f"error: {message}")
        log(f"{message}; nothing run")
        return 0
    start = time.perf_counter()
    config = load_config(CRYPTO_5M)
    tuning = TuningConfig.model_validate({
        **config.tuning.model_dump(), "n_trials": args.trials, "tree_step": args.tree_step,
        "reduction_factor": args.reduction_factor,
        "max_rows": args.max_rows if args.max_rows is not None else config.tuning.max_rows})
    config = config.model_copy(update={"tuning": tuning})
    spec = ForestSpec.model_validate({**getattr(config.ensemble, args.model).model_dump(),
                                      "n_estimators": args.n_estimators})

    report: dict[str, Any] = {"machine": machine_info(),
                              "command": " ".join(["benchmarks/tuning.py", *sys.argv[1:]])}
    log(f"building the crypto_5m training set from {args.data}")
    dataset, config, data = training_set(args.data, config, regime=not args.no_regime)
    data["file"] = os.path.relpath(args.data, ROOT)
    X = tuning_features(dataset, config)
    rows = min(len(X), tuning.max_rows or len(X))
    log(f"{data['events']:,} events x {data['features']} features in {data['seconds']:.1f} s; "
        f"tuning on the last {rows:,} with {X.shape[1]} selected columns")
    n_steps = spec.n_estimators // tuning.tree_step
    w = tuning.objective_weights
    report["settings"] = {
        "quick": args.quick, "profile": str(CRYPTO_5M.relative_to(ROOT)), "model": args.model,
        "kind": spec.kind, "trials": args.trials, "seeds": list(range(args.seeds)),
        "max_rows": tuning.max_rows, "tuning_rows": rows, "tuning_features": X.shape[1],
        "n_estimators": spec.n_estimators, "tree_step": tuning.tree_step, "n_steps": n_steps,
        "reduction_factor": tuning.reduction_factor, "cv_folds": tuning.cv_folds,
        "hyperband_brackets": hyperband_brackets(n_steps, tuning.reduction_factor),
        "purge": _machine.duration(config.validation.purge),
        "embargo": _machine.duration(config.validation.embargo),
        "cost_bps": config.validation.transaction_cost_bps,
        "forest_space": list(tuning.forest_space),
        "objective": f"{w.accuracy:g} * AUC + {w.sharpe:g} * Sharpe - {w.drawdown:g} * max DD",
        "objective_weights": w.model_dump(), "spec": spec.model_dump(mode="json"),
        "target": {"max_trees_ratio": TARGET_COMPUTE, "max_best_gap_pct": TARGET_GAP_PCT},
    }
    report["data"] = data
    runs = []
    for seed in range(args.seeds):
        run: dict[str, Any] = {"seed": seed}
        for arm in ARMS:
            log(f"seed {seed}, {arm}: {args.trials} trials")
            result, wall, cpu = tune_arm(arm, spec, X, dataset, config, args.model, seed)
            run[arm] = arm_row(result, wall, cpu)
            a = run[arm]
            log(f"seed {seed}, {arm}: best {a['best_value']:.4f} (trial {a['best_trial']}), "
                f"{a['trees_fitted']:,} trees, {wall:.1f} s wall, {a['n_pruned']} pruned")
        run["compare"] = compare(run["hyperband"], run["unpruned"])
        c = run["compare"]
        log(f"seed {seed}: trees ratio {c['trees_ratio']:.1%}, best gap {c['best_gap_pct']:+.2f}%")
        runs.append(run)
    report["runs"] = runs
    report["summary"] = summary(runs)
    report["verdict"] = verdict(report["summary"])
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tuning.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "tuning.md").write_text(markdown(report))
    log(report["verdict"])
    log(f"wrote {args.out / 'tuning.json'} and tuning.md in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
