"""The MLflow adapter on a real SQLite store: versions, aliases, history, rollback."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasks.registry import CHALLENGER, CHAMPION, Tracker, decide_promotion, tracked_run


@pytest.mark.parametrize(
    ("score", "champion", "margin", "alias"),
    [
        (0.5, None, 0.0, CHAMPION),
        (0.5, 0.4, 0.0, CHAMPION),
        (0.4, 0.4, 0.0, CHALLENGER),      # a tie does not displace the champion
        (0.014038094071354316, 0.014038094071353856, 0.0, CHALLENGER),  # rerun, float noise
        (0.45, 0.4, 0.1, CHALLENGER),     # not by the required margin
        (math.nan, 0.4, 0.0, None),       # never serve a model without a valid score
        (0.1, math.nan, 0.0, CHAMPION),
    ],
)
def test_decide_promotion(score: float, champion: float | None, margin: float,
                          alias: str | None) -> None:
    got, reason = decide_promotion(score, champion, margin)
    assert got == alias
    assert (f"{score:.4f}" in reason) or not math.isfinite(score)


@pytest.mark.parametrize(("champion", "reason"), [
    (None, "score undefined (NaN: e.g. the model made no trades): not promoted, and there is no "
           "champion"),
    (math.nan, "score and champion's score both undefined (NaN: e.g. the model made no trades): "
               "nothing to compare; not promoted"),
    (0.0, "score undefined (NaN: e.g. the model made no trades) cannot beat champion's 0.0000: "
          "not promoted"),
])
def test_an_undefined_score_is_never_promoted_and_says_so(champion: float | None,
                                                          reason: str) -> None:
    assert decide_promotion(math.nan, champion) == (None, reason)


@pytest.fixture()
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")


def _register(tracker: Tracker, tmp_path: Path, score: float) -> str:
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        (tmp_path / "m.txt").write_text("model")
        tracker.log_artifact(run_id, tmp_path / "m.txt", "model")
    return tracker.register(f"runs:/{run_id}/model", "m", run_id, {"cv_score": repr(score)})


def test_champion_challenger_history_and_rollback(tracker: Tracker, tmp_path: Path) -> None:
    v1 = _register(tracker, tmp_path, 0.3)
    assert tracker.promote_new_version("m", v1, 0.3, 0.0).alias == CHAMPION
    v2 = _register(tracker, tmp_path, 0.2)
    d2 = tracker.promote_new_version("m", v2, 0.2, 0.0)
    assert (d2.alias, d2.champion_version, d2.champion_score) == (CHALLENGER, v1, 0.3)
    v3 = _register(tracker, tmp_path, 0.5)
    assert tracker.promote_new_version("m", v3, 0.5, 0.0).alias == CHAMPION
    assert (v1, v2, v3) == ("1", "2", "3")  # every retrain adds a version
    assert tracker.client.get_model_version("m", v2).description.startswith("challenger: score")

    tracker.rollback("m", "live PnL below the backtest")
    assert tracker.alias_version("m", CHAMPION) == "1"
    tracker.promote("m", "2", "won the A/B test")
    assert tracker.alias_version("m", CHAMPION) == "2"
    assert tracker.alias_version("m", CHALLENGER) is None

    events = [(e.alias, e.version, e.previous) for e in tracker.history("m")]
    assert events == [
        (CHAMPION, "1", None), (CHALLENGER, "2", None), (CHAMPION, "3", "1"),
        (CHAMPION, "1", "3"), (CHAMPION, "2", "1"),
    ]
    last = tracker.history("m")[-1]
    assert last.reason == "won the A/B test" and last.who


def test_rollback_without_an_earlier_champion(tracker: Tracker, tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no champion"):
        tracker.rollback("m", "why")
    v1 = _register(tracker, tmp_path, 0.3)
    tracker.promote_new_version("m", v1, 0.3, 0.0)
    with pytest.raises(LookupError, match="no earlier champion"):
        tracker.rollback("m", "why")


def test_a_failing_block_marks_the_run_failed(tracker: Tracker) -> None:
    with pytest.raises(ZeroDivisionError):
        with tracked_run(tracker, "exp", "run", {}) as run_id:
            1 / 0
    assert tracker.run_status(run_id) == "FAILED"
    assert "ZeroDivisionError" in tracker.client.get_run(run_id).data.tags["failure"]


def test_new_experiments_open_on_the_runs_table(tracker: Tracker) -> None:
    exp = tracker.client.get_experiment(tracker.experiment_id("fresh"))
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert exp.artifact_location.endswith("mlruns/artifacts/fresh")


def test_registering_in_one_store_leaves_other_stores_alone(tracker: Tracker,
                                                             tmp_path: Path) -> None:
    """Registration goes through this store's client: a client of another store (no registry
    URI given, as most callers write it) still reads its own registry afterwards."""
    from mlflow.tracking import MlflowClient

    pipeline_dir = tmp_path / "pipeline"
    pipeline_dir.mkdir()
    (pipeline_dir / "manifest.json").write_text("{}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        uri = tracker.log_pipeline(run_id, pipeline_dir, ["numpy"], model_name="m")
    tracker.register(uri, "m", run_id, {})
    other = Tracker(f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}")  # creates its schema
    client = MlflowClient(tracking_uri=other.tracking_uri)
    assert client.search_registered_models() == []
    assert [m.name for m in tracker.client.search_registered_models()] == ["m"]


def test_a_logged_model_is_registered_through_mlflow_and_knows_its_version(
        tracker: Tracker, tmp_path: Path) -> None:
    """mlflow.register_model links the version to the logged model (its page then says
    registered); the version is written beside MLmodel for the served rows; a second
    registration adds a version and keeps the first."""
    import json

    from mlflow.artifacts import download_artifacts

    from tasks.registry import REGISTRATION_FILE

    pipeline_dir = tmp_path / "pipeline"
    pipeline_dir.mkdir()
    (pipeline_dir / "manifest.json").write_text("{}")
    uris = []
    for _ in range(2):
        with tracked_run(tracker, "exp", "run", {}) as run_id:
            uris.append(tracker.log_pipeline(run_id, pipeline_dir, ["numpy"], model_name="m"))
        assert uris[-1].startswith("models:/m-")
        version = tracker.register(uris[-1], "m", run_id, {"cv_score": 0.25, "profile": "p"})
        mv = tracker.client.get_model_version("m", version)
        assert (mv.run_id, mv.tags) == (run_id, {"cv_score": "0.25", "profile": "p"})
    assert version == "2" and tracker.run_versions("m", run_id) == ["2"]
    for number, uri in enumerate(uris, start=1):
        logged = tracker.client.get_logged_model(uri.removeprefix("models:/"))
        assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": "m",
                                                                     "version": number}]
        local = Path(download_artifacts(f"models:/m/{number}", dst_path=str(tmp_path / str(number)),
                                        tracking_uri=tracker.tracking_uri))
        assert json.loads((local / REGISTRATION_FILE).read_text()) == {"name": "m",
                                                                        "version": str(number)}
        assert (local / "code" / "ml_core" / "data" / "_payload.py").is_file()
        assert tracker.download_pipeline(f"models:/m/{number}", tmp_path / f"p{number}").name == (
            "pipeline")


def test_plain_run_artifacts_are_registered_by_their_source(tracker: Tracker,
                                                            tmp_path: Path) -> None:
    version = _register(tracker, tmp_path, 0.3)
    mv = tracker.client.get_model_version("m", version)
    assert mv.source.endswith("/model") and mv.tags == {"cv_score": "0.3"}
