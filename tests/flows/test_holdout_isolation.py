"""The final holdout is seen by nothing else: a spy on every fit of a real retrain.

The spy (``FitSpy`` in tests/flows/conftest.py) wraps the entry point of each fitted component
(the fracdiff order's ADF search, the HMM's ``fit`` — the regime evaluation's and the CPCV
splits' refits included —, each forest study, and the ensemble's ``fit``, inside which feature
selection, the four forests, the meta-learner and the calibrator are fitted on subsets of its
rows) and records the last bar each call could read. A retrain passes when none reaches the
holdout's first bar; the negative control feeds every bar to the fits, as the retrain did before
the holdout was cut on the bars, and must be caught.

The retrain spied on is the session's ``spied_retrain``, the first of ``retrained_twice`` (the
spy only records, so the store the other flow tests read is built by the same retrain).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import yaml

if TYPE_CHECKING:  # the fixtures' types (tests/flows/conftest.py)
    from conftest import FitSpy, SpiedRetrain

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def _holdout_start(bars_file: Path) -> pd.Timestamp:
    """What the tiny profile's ``holdout_fraction: 0.2`` makes the first holdout bar."""
    stamps = pd.to_datetime(pd.read_parquet(bars_file)["timestamp"], utc=True)
    return stamps.iloc[len(stamps) - math.ceil(0.2 * len(stamps))]


def test_no_fit_of_a_real_retrain_reads_a_holdout_bar(
    spied_retrain: SpiedRetrain, tiny_bars_file: Path
) -> None:
    from mlflow.tracking import MlflowClient

    spy, uri, summary = spied_retrain.spy, spied_retrain.uri, spied_retrain.summary

    cut = _holdout_start(tiny_bars_file)
    assert spy.components() == {"feature_settings", "regime", "tuning", "ensemble"}
    count = {c: sum(1 for call in spy.calls if call[0] == c) for c in spy.components()}
    # the fracdiff order once; the HMM, its out-of-sample fit, 10 stability refits and 6 CPCV
    # split refits; 4 forest studies; the served ensemble, 6 CPCV splits, 3 walk-forward
    # windows and the pipeline study's folds
    assert count["feature_settings"] == 1 and count["regime"] >= 18
    assert count["tuning"] == 4 and count["ensemble"] >= 10
    assert spy.reaching(cut) == []
    tags = MlflowClient(tracking_uri=uri).get_run(summary.run_id).data.tags
    assert pd.Timestamp(tags["holdout.start"]) == cut
    ends = {k: pd.Timestamp(v) for k, v in tags.items()
            if k.startswith("fit_span.") and k.endswith(".end")}
    assert {k.split(".")[1] for k in ends} == {
        "feature_settings", "regime", "regime_evaluation", "pipeline_study", "tuning",
        "ensemble", "cpcv", "walk_forward"}
    assert max(ends.values()) < cut
    # the tags say what the spy saw: the HMM and the served ensemble read exactly these spans
    first_hmm = next(call for call in spy.calls if call[0] == "regime")
    assert (pd.Timestamp(tags["fit_span.regime.start"]),
            ends["fit_span.regime.end"]) == first_hmm[1:]
    ensemble_ends = {e for c, _, e in spy.calls if c == "ensemble"}
    assert ends["fit_span.ensemble.end"] in ensemble_ends
    # the pipeline study's span covers every barrier width it relabelled with
    assert ends["fit_span.pipeline_study.end"] >= max(ensemble_ends)
    # ... and the holdout was scored on events from the cut on
    metrics = MlflowClient(tracking_uri=uri).get_run(summary.run_id).data.metrics
    assert metrics["holdout_n_events"] >= 20


def test_a_retrain_whose_fits_read_the_holdout_is_caught(
    stored_tiny_profile: tuple[Path, str], tiny_bars_file: Path, monkeypatch: pytest.MonkeyPatch,
    fit_spy: FitSpy
) -> None:
    """Negative control: the holdout is still split off the events, but the fits get every bar
    (the HMM and the fracdiff order did before). The spy sees it, and so does the retrain."""
    from mlflow.tracking import MlflowClient
    from prefect import task

    import flows.weekly_retrain as module
    from tasks.labels import final_holdout_start

    @task(name="cut-holdout-leaky")
    def leaky_cut(bars: pd.DataFrame, config):  # noqa: ANN001, ANN202
        return bars, final_holdout_start(bars, config)

    monkeypatch.setattr(module, "cut_final_holdout", leaky_cut)
    spy = fit_spy
    config_path, uri = stored_tiny_profile
    profile = yaml.safe_load(config_path.read_text())
    profile["tuning"]["enabled"] = False  # the leak is in the first fits: no need to tune
    config_path.write_text(yaml.safe_dump(profile))

    with pytest.raises(RuntimeError, match="fits read final-holdout bars"):
        module.weekly_retrain(config_path=str(config_path), data=str(tiny_bars_file))

    cut = _holdout_start(tiny_bars_file)
    assert {c for c, _, _ in spy.reaching(cut)} >= {"feature_settings", "regime"}
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])[0]
    assert run.info.status == "FAILED"
    assert client.search_registered_models() == []  # nothing registered, nothing promoted
