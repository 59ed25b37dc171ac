"""Tasks that log a retrain to MLflow, register its model and decide its alias."""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from ml_core.data import signal_rows
from ml_core.pipeline import RegimeForestPipeline, TrainingSet, save_pipeline
from reporting import regime_plots, training_plots
from reporting.regime_report import regime_evaluation_markdown
from reporting.validation_report import cpcv_figure
from tasks.data import DataState, config_hash
from tasks.features import RegimeEvaluation
from tasks.registry import Tracker, span_tags

# What a logged model needs to load and predict (ml_core's imports on that path, and mlflow to
# serve it), pinned to the installed versions: `mlflow models serve --env-manager virtualenv`
# builds its environment from these alone.
_RUNTIME_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "hmmlearn", "skops", "pydantic",
                     "pyyaml", "pyarrow", "onnxruntime", "mlflow")
# Bars in the logged input example: the shortest tail of the training bars (from 64, doubling,
# at most 4,096) that gives the model a signal, so the example is a request that succeeds.
_EXAMPLE_BARS = (64, 4096)


@task(name="log-regime", cache_policy=NO_CACHE)
def log_regime(tracker: Tracker, run_id: str, bars: pd.DataFrame, regime_model: object,
               regime_features: pd.DataFrame, persistence: pd.DataFrame) -> None:
    """Persistence metrics and table; plots of the price by regime, the probabilities of the
    last 500 regime bars (filtered, with the smoothed ones as a diagnostic) and the transition
    matrix."""
    from ml_core.regime import REGIME_LABELS, get_regime_probabilities

    metrics: dict[str, float] = {}
    for label, row in persistence.iterrows():
        for column, value in row.items():
            metrics[f"regime_{label}_{column}"] = float(value)
    metrics["regime_log_likelihood"] = float(regime_model.log_likelihood_)
    metrics["regime_converged"] = float(regime_model.converged_)
    metrics["regime_n_iter"] = float(regime_model.n_iter_)
    tracker.log_metrics(run_id, metrics)
    tracker.log_figure(run_id, regime_plots.regime_timeline(bars["close"], regime_features),
                       "regime_timeline.png")
    filtered = get_regime_probabilities(regime_model, bars)
    smoothed = get_regime_probabilities(regime_model, bars, smoothed=True)
    smoothed = smoothed[[f"smoothed_diagnostic_{k}" for k in REGIME_LABELS]]
    smoothed.columns = list(REGIME_LABELS)
    tracker.log_figure(run_id, regime_plots.regime_probabilities(filtered, smoothed, last=500),
                       "regime_probabilities.png")
    tracker.log_figure(run_id, regime_plots.transition_matrix(regime_model.transmat_),
                       "regime_transition_matrix.png")
    tracker.log_table(run_id, persistence, "regime_persistence.csv")


def regime_evaluation_metrics(evaluation: RegimeEvaluation) -> dict[str, float]:
    """The evaluation's headline figures (only those of the parts that ran)."""
    metrics: dict[str, float] = {}
    report = evaluation.out_of_sample
    if report is not None:
        metrics.update({
            "regime_oos_next_state_accuracy": report.next_state_accuracy,
            "regime_oos_next_state_baseline": report.next_state_baseline,
            "regime_oos_next_state_lift": report.next_state_accuracy - report.next_state_baseline,
            "regime_oos_n_predictions": report.n_predictions,
            "regime_oos_next_state_brier": report.next_state_brier,
            "regime_oos_next_state_brier_baseline": report.next_state_brier_baseline,
        })
    if evaluation.stability is not None:
        table = evaluation.stability
        agreement = table["agreement"].dropna()
        metrics.update({
            "regime_stability_refits": len(table),
            "regime_stability_agreement_mean": float(agreement.mean()),
            "regime_stability_agreement_min": float(agreement.min()),
            "regime_stability_converged_share": float(table["converged"].mean()),
        })
    return {k: float(v) for k, v in metrics.items()}


@task(name="log-regime-evaluation", cache_policy=NO_CACHE)
def log_regime_evaluation(tracker: Tracker, run_id: str, persistence: pd.DataFrame,
                          evaluation: RegimeEvaluation) -> None:
    """Out-of-sample next-state accuracy and weekly label stability: metrics (the agreement of
    each refit also as a step series), tables, a plot, and a Prefect markdown artifact. A part
    that was skipped is tagged ``regime.evaluation.skipped.<part>`` with the reason."""
    tracker.log_metrics(run_id, regime_evaluation_metrics(evaluation))
    if evaluation.stability is not None:
        table = evaluation.stability
        for step, agreement in enumerate(table["agreement"]):
            tracker.log_metrics(run_id, {"regime_stability_agreement": agreement}, step=step)
        tracker.log_table(run_id, table.set_index("end"), "regime_stability.csv")
        tracker.log_figure(run_id, regime_plots.label_stability(table),
                           "regime_label_stability.png")
        tracker.set_tags(run_id, {"regime.stability_restarts": evaluation.stability_restarts})
    if evaluation.split is not None:
        tracker.set_tags(run_id, {"regime.oos_split": evaluation.split.isoformat()})
    tracker.set_tags(run_id, {f"regime.evaluation.skipped.{part}": reason
                              for part, reason in evaluation.skipped.items()})
    markdown = regime_evaluation_markdown(persistence, evaluation)
    tracker.log_text(run_id, markdown, "regime_evaluation.md")
    create_markdown_artifact(key="regime-evaluation", markdown=markdown,
                             description="regime persistence, next-state accuracy, stability")


PROXY_NOTE = ("onchain_proxy features are computed from exchange price and volume only; "
              "they imitate on-chain metrics (MVRV, NVT, exchange flows) and are not on-chain data")


@task(name="log-features", cache_policy=NO_CACHE)
def log_features(tracker: Tracker, run_id: str, config: Config, features: pd.DataFrame) -> None:
    """The feature registry of this run (name, family, timeframe, lookback, description), the
    count per family and the warm-up of each column, with the proxy disclaimer as a tag."""
    from collections import Counter

    from ml_core.pipeline import feature_catalogue

    specs = feature_catalogue(config)
    table = pd.DataFrame([vars(spec) for spec in specs.values()]).set_index("name")
    warmup = features.isna().to_numpy().argmin(axis=0)  # rows before the first value
    table["warmup_rows"] = pd.Series(warmup, index=features.columns).reindex(table.index)
    tracker.log_table(run_id, table, "feature_catalogue.csv")
    counts = Counter(spec.family for spec in specs.values())
    tracker.log_metrics(run_id, {f"features_{family}": n for family, n in counts.items()})
    tracker.set_tags(run_id, {"features.onchain_proxies": PROXY_NOTE,
                              "features.n_columns": len(specs)})


@task(name="log-training", cache_policy=NO_CACHE)
def log_training(tracker: Tracker, run_id: str, dataset: TrainingSet,
                 pipeline: RegimeForestPipeline, cv_report: object) -> dict[str, float]:
    """CPCV metrics and plots, feature importances, the selection. Returns the CV summary
    (tuning is logged by ``tasks.tuning.log_tuning``, one child run per study)."""
    metrics: dict[str, float] = {
        "n_events": len(dataset.X),
        "n_features": dataset.X.shape[1],
        "n_dropped_warmup": dataset.n_dropped_warmup,
        "entry_base_rate": float(dataset.targets["entry"].mean()),
    }
    summary = cv_report.summary()
    # the split means of the path-level figures read like the path statistics beside them;
    # the splits themselves are logged as the series cv_split/<figure> instead
    metrics.update({k: v for k, v in summary.items() if not k.startswith("cv_split_")})
    tracker.log_metrics(run_id, metrics)
    tracker.log_series(run_id, cv_report.splits, "cv_split/")
    tracker.log_table(run_id, cv_report.splits, "cpcv_splits.csv")
    tracker.log_table(run_id, cv_report.paths, "cpcv_paths.csv")
    if len(cv_report.baselines):
        tracker.log_table(run_id, cv_report.baselines, "cpcv_baselines.csv")
    tracker.log_figure(run_id, cpcv_figure(cv_report), "cpcv_paths.png")
    importances = pd.DataFrame({
        name: forest.feature_importances_
        for name, forest in pipeline.ensemble.forests_.items()
    }, index=pipeline.ensemble.forest_features_)  # the forests read the selected columns only
    tracker.log_table(run_id, importances, "feature_importances.csv")
    tracker.log_figure(run_id, training_plots.feature_importances(importances),
                       "feature_importances.png")
    log_selection(tracker, run_id, pipeline.ensemble)
    return summary


def selection_metrics(ensemble: object) -> dict[str, float]:
    """Counts of the final model's feature selection: kept, and dropped by reason."""
    from ml_core.selection import DROP_REASONS

    metrics: dict[str, float] = {"selection_n_selected": len(ensemble.forest_features_)}
    selector = ensemble.selector_
    if selector is not None:
        counts = selector.dropped_["reason"].value_counts()
        metrics.update({f"selection_n_dropped_{reason}": int(counts.get(reason, 0))
                        for reason in DROP_REASONS})
    return metrics


def log_selection(tracker: Tracker, run_id: str, ensemble: object) -> None:
    """What the final model's selector dropped and why (table), its counts (metrics), the kept
    features (tag). Each CPCV split selects on its own; this is the selection that is served."""
    selector = ensemble.selector_
    tracker.log_metrics(run_id, selection_metrics(ensemble))
    tracker.set_tags(run_id, {
        "selection.enabled": selector is not None,
        "selection.selected": ",".join(ensemble.forest_features_),
    })
    if selector is not None:
        tracker.log_table(run_id, selector.dropped_.set_index("feature"), "selection_dropped.csv")
        tracker.log_table(run_id, selector.importances_.to_frame(), "selection_importances.csv")


# Validation evidence recorded on every registered version beside its promotion score.
EVIDENCE_TAGS = ("cv_sharpe_median", "pbo", "dsr_median", "psr_median", "dsr_n_trials",
                 "wf_sharpe_consistency", "wf_drawdown_control")


def validation_results(cv_summary: dict[str, float], walk_forward: object | None,
                       overfitting: object | None) -> dict[str, float]:
    """Every validation figure of a run in one flat dict: CPCV (``cv_*``), walk-forward
    (``wf_*``), overfitting (``pbo*``, ``psr_*``, ``dsr_*``). Any of them can be the promotion
    metric."""
    out = dict(cv_summary)
    for part in (walk_forward, overfitting):
        if part is not None:
            out.update(part.summary())
    return out


def promotion_score(results: dict[str, float], metric: str) -> float:
    """The validation figure the promotion compares (``registry.promotion_metric``, higher is
    better)."""
    if metric not in results:
        raise KeyError(f"registry.promotion_metric={metric!r} is not a validation result; choose "
                       f"one of {sorted(results)}")
    return float(results[metric])


def example_bars(pipeline: RegimeForestPipeline, bars: pd.DataFrame) -> pd.DataFrame:
    """The input example of a logged model: the last 64, 128, ... 4,096 bars, the first of these
    tails on which ``pipeline`` gives a signal; the last 10 bars when none does (a model whose
    warm-up is longer than 4,096 bars: MLflow then warns that its example gives no signal)."""
    shortest, longest = _EXAMPLE_BARS
    length = shortest
    while length <= min(longest, len(bars)):
        tail = bars.iloc[-length:]
        try:
            if len(pipeline.predict(tail)):
                return tail
        except ValueError:  # fewer bars than the slowest feature looks back
            pass
        length *= 2
    return bars.iloc[-10:]


@task(name="register-model", cache_policy=NO_CACHE)
def register_model(tracker: Tracker, run_id: str, pipeline: RegimeForestPipeline, score: float,
                   config: Config, data: DataState,
                   evidence: dict[str, float] | None = None, profile_hash: str | None = None,
                   bars: pd.DataFrame | None = None) -> str:
    """Save the pipeline pickle-free, log it as a pyfunc model and register a new version.

    The version's tags hold its promotion score and, beside it, the validation evidence of
    :data:`EVIDENCE_TAGS` found in ``evidence`` (PBO, DSR, walk-forward consistency), so the
    registry shows how far to trust the score without opening the run. With ``bars`` (the
    training bars) the model's input example is their shortest tail that yields a signal
    (:func:`example_bars`)."""
    requirements = [f"{pkg}=={installed_version(pkg)}" for pkg in _RUNTIME_PACKAGES]
    name = config.registry.model_name
    example = None if bars is None else example_bars(pipeline, bars)
    # the reply's columns and types (the version is not known yet: any text will do)
    answer = None if example is None else signal_rows(pipeline.predict(example), name, "0")
    with tempfile.TemporaryDirectory() as tmp:
        directory = save_pipeline(pipeline, Path(tmp) / "pipeline")
        model_uri = tracker.log_pipeline(run_id, directory, requirements, model_name=name,
                                         input_example=example, output_example=answer)
    version = tracker.register(model_uri, name, run_id, {
        "cv_score": repr(float(score)),
        "promotion_metric": config.registry.promotion_metric,
        "data_hash": data.sha256,
        **data.tags(),
        "config.hash": profile_hash or config_hash(config),
        "profile": config.profile,
        "run_id": run_id,
        **{f"validation.{k}": repr(float(evidence[k])) for k in EVIDENCE_TAGS
           if evidence and k in evidence},
    })
    get_run_logger().info("registered %s version %s", config.registry.model_name, version)
    return version


Span = tuple[pd.Timestamp, pd.Timestamp]


def fit_spans(fit_bars: pd.DataFrame, dataset: TrainingSet, studies: dict[str, object],
              pipeline: RegimeForestPipeline, config: Config) -> dict[str, Span]:
    """What each fitted component of a retrain read: component -> (first, last) bar time.

    Bar-fitted parts (the fracdiff order when chosen from data, the HMM and its evaluation
    refits) read ``fit_bars``; the studies and the ensemble (selection, forests, meta-learner,
    calibrator, all fitted inside it) record their rows' first event start and last label end;
    CPCV and walk-forward fit on subsets of ``dataset``.
    """
    bars: Span = (fit_bars.index[0], fit_bars.index[-1])
    spans: dict[str, Span] = {}
    if config.features.frac_diff_auto:
        spans["feature_settings"] = bars
    spans["regime"] = spans["regime_evaluation"] = bars
    for name, study in studies.items():
        if getattr(study, "fit_span", None) is not None:
            spans["pipeline_study" if name == "pipeline" else f"tuning.{name}"] = study.fit_span
    spans["ensemble"] = pipeline.ensemble.fit_span_
    spans["cpcv"] = spans["walk_forward"] = dataset.span
    return spans


@task(name="log-fit-spans", cache_policy=NO_CACHE)
def log_fit_spans(tracker: Tracker, run_id: str, holdout_start: pd.Timestamp | None,
                  spans: dict[str, Span], prefix: str = "fit_span") -> None:
    """Tag the run with ``holdout.start`` and ``<prefix>.<component>.start/end`` (ISO); refuse
    to go on when a fit (``prefix="fit_span"``) read a bar at or after the holdout's start."""
    tags = {"holdout.start": "none" if holdout_start is None else holdout_start.isoformat()}
    for component, span in spans.items():
        tags.update(span_tags(component, span, prefix))
    tracker.set_tags(run_id, tags)
    if prefix == "fit_span" and holdout_start is not None:
        leaks = {c: str(end) for c, (_, end) in spans.items() if end >= holdout_start}
        if leaks:
            raise RuntimeError(f"fits read final-holdout bars (from {holdout_start}): {leaks}")


#: the profile's search-space declarations, logged as an artifact rather than as params
SEARCH_SPACES = ("forest_space", "pipeline_space")


@task(name="log-inputs", cache_policy=NO_CACHE)
def log_run_inputs(tracker: Tracker, run_id: str, config: Config, repairs: object) -> None:
    """The profile as params (its search spaces as ``tuning/search_space.json``: ranges are not
    settings to compare runs by), the config file, its hash and any repairs made."""
    params = config.model_dump(mode="json")
    spaces = {key: params["tuning"].pop(key) for key in SEARCH_SPACES}
    tracker.log_params(run_id, params)
    tracker.log_text(run_id, json.dumps(spaces, indent=2), "tuning/search_space.json")
    tracker.log_text(run_id, config.model_dump_json(indent=2), "config.json")
    tracker.set_tags(run_id, {"profile": config.profile, "config.hash": config_hash(config)})
    if repairs.changed:
        tracker.log_text(run_id, str(repairs.as_dict()), "data_repairs.txt")
        tracker.log_metrics(run_id, {"data_reordered_rows": repairs.reordered_rows,
                                     "data_dropped_duplicates":
                                         len(repairs.dropped_duplicate_rows)})


@task(name="log-data-state", cache_policy=NO_CACHE)
def log_data_state(tracker: Tracker, run_id: str, data: DataState) -> None:
    """Tag the run with its ``as_of``, its window and the bars' hash (and the store's state)."""
    tracker.set_tags(run_id, data.tags())
    tracker.log_metrics(run_id, {"data_bars": data.n_bars})
    get_run_logger().info("as of %s: %d bars %s .. %s (%s)", data.as_of, data.n_bars, data.first,
                          data.last, data.key)


@task(name="log-quality", cache_policy=NO_CACHE)
def log_quality(tracker: Tracker, run_id: str, report: object) -> None:
    """The gate's verdict, per-rule counts and its Data Docs HTML, pass or fail."""
    tracker.log_metrics(run_id, report.as_metrics())
    tracker.log_text(run_id, report.to_markdown(), "data_quality/report.md")
    if report.data_docs is not None:
        tracker.log_artifact(run_id, Path(report.data_docs).parent, "data_quality/data_docs")
    tracker.set_tags(run_id, {"data.quality": "passed" if report.success else "failed"})
