"""The weekly retrain DAG: read the bars known at ``as_of`` -> validate -> cut the final holdout's
bars -> features -> regime -> tune the pipeline -> labels -> tune the forests -> train -> CPCV,
walk-forward, overfitting, holdout -> register -> promote, one retrain of a profile at a time.
Only wiring lives here; every step is a task in ``tasks/``."""

import tempfile
from datetime import datetime
from pathlib import Path

from prefect import flow

from ml_core.data import as_bars
from tasks.compare import compare_with_previous
from tasks.concurrency import one_retrain_at_a_time
from tasks.data import (config_hash, data_source, load_data, resolve_as_of, resolve_profile,
                        select_span)
from tasks.features import build_features, choose_feature_settings, evaluate_regime, fit_regime
from tasks.holdout import evaluate_final_holdout, log_holdout
from tasks.labels import cut_final_holdout, make_training_set, split_final_holdout
from tasks.monitoring import record_reference
from tasks.overview import flow_run_name, link_flow_run, log_dataset, publish_overview
from tasks.parallel import scale_out
from tasks.promotion import newest_span_start, promote_model
from tasks.publish import (fit_spans, log_data_state, log_features, log_fit_spans, log_quality,
                           log_regime, log_regime_evaluation, log_run_inputs, log_training,
                           promotion_score, register_model, validation_results)
from tasks.quality import require_passed, validate_data
from tasks.registry import Tracker, run_name, tracked_run
from tasks.summary import RetrainSummary, publish_summary
from tasks.training import assess_overfitting, cross_validate, train_ensemble, walk_forward
from tasks.tuning import log_tuning, tune_models, tune_pipeline_settings, tuned_ensemble_config
from tasks.validation import log_validation

DEFAULT_CONFIG = "configs/demo.yaml"


@flow(name="weekly-retrain", flow_run_name=flow_run_name, log_prints=True)
def weekly_retrain(config_path: str = DEFAULT_CONFIG, data: str | None = None,
                   tracking_uri: str | None = None,
                   columns: dict[str, str] | None = None,
                   as_of: datetime | None = None, known_at: datetime | None = None,
                   promote: bool = True, exclusive: bool = True) -> RetrainSummary:
    """Retrain on the bars known at ``as_of`` (default: the run's scheduled start), validate,
    register and, with ``promote``, give the version its alias (champion if it beats the
    champion). ``known_at`` (default ``as_of``) is the bar store's state to read: a backfill
    replays the past with what is stored today. ``exclusive`` holds the profile's retrain slot
    for the run; a backfill running its retrains at once (they move no alias) holds it for them
    and passes False."""
    config = resolve_profile(config_path, data, tracking_uri, columns)
    as_of = resolve_as_of(as_of)
    profile_hash = config_hash(config)
    tracker = Tracker(config.registry.tracking_uri)
    source = data_source(config)
    # promotion included: one at a time; the pieces (CPCV splits, windows, studies) on Dask
    # when the profile's scale section says so
    with one_retrain_at_a_time(config.profile, hold=exclusive), scale_out(config):
        with tracked_run(tracker, config.registry.experiment, run_name(config),
                         {"profile": config.profile, "data.source": str(source),
                          "as_of": as_of.isoformat()}) as run_id:
            link_flow_run(tracker, run_id, config)
            frame, repairs, read = load_data(config, as_of, known_at)
            log_run_inputs(tracker, run_id, config, repairs)
            with tempfile.TemporaryDirectory() as docs:
                report = validate_data(frame, timeframe=config.data.timeframe, source=str(source),
                                       max_gap_ratio=config.data.max_gap_ratio, docs_dir=Path(docs),
                                       raise_on_failure=False)
                log_quality(tracker, run_id, report)
            require_passed(report)

            bars, data_state = select_span(as_bars(frame), config, as_of, read)
            log_data_state(tracker, run_id, data_state)
            log_dataset(tracker, run_id, data_state)
            data_hash = data_state.sha256
            # no fit below reads a bar from `cut` on
            fit_bars, cut = cut_final_holdout(bars, config)
            config = choose_feature_settings(fit_bars, config, tracker, run_id)
            features = build_features(bars, config)
            regime, regime_features, persistence = fit_regime(fit_bars, bars, config)
            log_regime(tracker, run_id, bars, regime, regime_features, persistence)
            log_regime_evaluation(tracker, run_id, persistence, evaluate_regime(fit_bars, config))
            inputs = features.join(regime_features)
            log_features(tracker, run_id, config, inputs)

            config, pipeline_study = tune_pipeline_settings(bars, inputs, config, data_hash, cut)
            labelled = make_training_set(bars, inputs, config)
            dataset, holdout = split_final_holdout(labelled, config, cut)
            tuned = tune_models(dataset, config, data_hash)
            studies = {**({"pipeline": pipeline_study} if pipeline_study else {}), **tuned}
            log_tuning(tracker, run_id, studies)
            ensemble_config = tuned_ensemble_config(config, tuned)
            pipeline = train_ensemble(dataset, regime, ensemble_config, config,
                                      {"data_hash": data_hash, "run_id": run_id})
            log_fit_spans(tracker, run_id, cut,
                          fit_spans(fit_bars, dataset, studies, pipeline, config))
            cv_report = cross_validate(dataset, ensemble_config, config, fit_bars)
            wf_report = walk_forward(dataset, ensemble_config, config, fit_bars)
            overfitting = assess_overfitting(studies, cv_report, config)
            cv_summary = log_training(tracker, run_id, dataset, pipeline, cv_report)
            holdout_metrics = {} if holdout is None else log_holdout(
                tracker, run_id, evaluate_final_holdout(pipeline, holdout, config, bars),
                pipeline.ensemble)
            if holdout is not None and config.validation.refit_on_all:
                pipeline = train_ensemble(labelled, regime, ensemble_config, config,
                                          {"data_hash": data_hash, "run_id": run_id,
                                           "refit_on_all": True})
                log_fit_spans(tracker, run_id, cut, {"ensemble": pipeline.ensemble.fit_span_},
                              prefix="refit_span")
            results = validation_results(cv_summary, wf_report, overfitting)
            score = promotion_score(results, config.registry.promotion_metric)
            log_validation(tracker, run_id, cv_report, wf_report, overfitting,
                           promotion_metric=config.registry.promotion_metric, score=score)
            version = register_model(tracker, run_id, pipeline, score, config, data_state, results,
                                     profile_hash, bars=fit_bars)
            record_reference(tracker, run_id, version, config, pipeline, bars, cut, holdout)
        decision = promote_model(tracker, run_id, version, score, config, move_aliases=promote,
                                 evidence={**results, **holdout_metrics}, pipeline=pipeline,
                                 bars=bars, compare_start=newest_span_start(bars, config, cut))
        compared = (compare_with_previous(tracker, config, version, decision.champion_version,
                                          bars) if promote else {})
        publish_overview(tracker, run_id, config, version, compared)
    return publish_summary(RetrainSummary.collect(config, tracker, run_id, report, dataset,
                                                  persistence, {**results, **holdout_metrics},
                                                  decision, data_state))
