"""A small retrain end to end on the scale profile, as a user runs it: ``regimeforest retrain`` with
``configs/scale.yaml`` (made tiny) against an MLflow server and a Prefect server on PostgreSQL,
Optuna on PostgreSQL, its CPCV splits, walk-forward windows and studies as Prefect tasks on a
2-worker Dask LocalCluster. It must score exactly what the embedded profile scores on the same
bars and seed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from ml_core.data import load_bars, sample_bars_path
from tasks.registry import _SCORE_RTOL

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2019-10-01"
# the scale profile made tiny: 10-tree forests, 2 trials per study, 4 CPCV groups (6 splits)
TINY = {
    "profile": "scale-tiny", "seed": 7,
    "features": {"higher_timeframes": ["1h", "4h"], "frac_diff_window": "25h",
                 "volatility_window": "12h"},
    "regime": {"n_restarts": 2, "n_iter": 200},
    "labels": {"volatility_span": "25h", "max_holding": "12h", "cusum_threshold": 1.5},
    "ensemble": {name: {"kind": kind, "n_estimators": 10, "max_depth": 6}
                 for name, kind in (("entry", "classifier"), ("position", "regressor"),
                                    ("exit", "classifier"), ("profit", "regressor"))}
    | {"meta_folds": 2},
    "validation": {"n_groups": 4, "n_test_groups": 2, "purge": "12h", "embargo": "6h",
                   "walk_forward_windows": 3, "holdout_fraction": 0.2},
    "tuning": {"n_trials": 2, "tree_step": 5, "cv_folds": 2, "pipeline_trials": 0,
               "max_rows": None},
    "promotion": {"gate": {"enabled": False}},
}
SPLITS = [f"cpcv-split-{i}" for i in range(6)]
WINDOWS = [f"wf-window-{i}" for i in range(3)]
STUDIES = [f"tune-{m}" for m in ("entry", "position", "exit", "profit")]


def _profile(path: Path, **sections: dict) -> Path:
    spec = {"extends": str(ROOT / "configs" / "scale.yaml"), **TINY}
    for name, values in sections.items():
        spec[name] = {**spec.get(name, {}), **values}
    path.write_text(yaml.safe_dump(spec))
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "DASK_"))}
    env.update(DO_NOT_TRACK="true", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               MLFLOW_DISABLE_TELEMETRY="true", REGIMEFOREST_TASK_CACHE="off", **extra)
    return env


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "btc_tail.parquet"
    load_bars(sample_bars_path()).iloc[-6000:].to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def scale_process(tmp_path_factory: pytest.TempPathFactory, bars: Path, pg_mlflow_server: str,
                  pg_prefect_server: str, postgres_module_db: str) -> Iterator[dict]:
    """The scale profile's retrain, started with the CLI in its own process against the
    servers (the embedded run goes on meanwhile: both fit on this machine's cores at once)."""
    folder = tmp_path_factory.mktemp("scale")
    profile = _profile(folder / "scale-tiny.yaml",
                       registry={"tracking_uri": pg_mlflow_server},
                       tuning={"storage": postgres_module_db})
    log = (folder / "retrain.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "regimeforest", "retrain", "--config", str(profile),
         "--data", str(bars), "--as-of", AS_OF],
        cwd=folder, env=_env(PREFECT_API_URL=pg_prefect_server, PREFECT_HOME=str(folder / "ph")),
        stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield {"process": process, "log": folder / "retrain.log", "profile": profile,
               "tracking": pg_mlflow_server, "prefect": pg_prefect_server,
               "optuna": postgres_module_db}
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory, bars: Path, scale_process: dict,
                 prefect_harness: None) -> dict:
    """The same profile on the embedded engines: SQLite MLflow and Optuna, the session's
    temporary Prefect server, every piece in the flow's process (forests on every core)."""
    from flows.weekly_retrain import weekly_retrain

    folder = tmp_path_factory.mktemp("embedded")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    profile = _profile(folder / "embedded-tiny.yaml", registry={"tracking_uri": uri},
                       tuning={"storage": None}, scale={"executor": "local"})
    weekly_retrain(config_path=str(profile), data=str(bars),
                   as_of=datetime.fromisoformat(AS_OF).replace(tzinfo=timezone.utc))
    return {"tracking": uri}


@pytest.fixture(scope="module")
def scale_run(scale_process: dict, embedded_run: dict) -> dict:
    """The scale retrain, finished (exit code 0), with its output."""
    code = scale_process["process"].wait(timeout=900)
    output = scale_process["log"].read_text()
    assert code == 0, output[-6000:]
    return {**scale_process, "output": output}


def _retrain_run(tracking: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking, registry_uri=tracking)
    experiment = client.get_experiment_by_name("regimeforest-scale")
    runs = client.search_runs([experiment.experiment_id],
                              "tags.`mlflow.parentRunId` IS NULL", max_results=10)
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return client, runs[0]


def _tie(a: float, b: float) -> bool:
    """Equal up to promotion's tie tolerance (tasks.registry: 1e-9 relative, at least 1e-9);
    NaN (undefined) equals NaN. Forests on several threads sum their trees' votes in the order
    the threads finish, so the embedded run's last digits (1e-15) may differ from one run to
    the next; nothing else may."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= _SCORE_RTOL * max(1.0, abs(a))


def test_the_scale_retrain_scores_what_the_embedded_one_scores(scale_run: dict,
                                                               embedded_run: dict) -> None:
    _, scaled = _retrain_run(scale_run["tracking"])
    _, embedded = _retrain_run(embedded_run["tracking"])
    assert scaled.info.status == embedded.info.status == "FINISHED"
    assert scaled.data.metrics.keys() == embedded.data.metrics.keys()
    assert len(scaled.data.metrics) > 150
    differ = {k: (embedded.data.metrics[k], v) for k, v in scaled.data.metrics.items()
              if not _tie(embedded.data.metrics[k], v)}
    assert differ == {}
    for tag in ("promotion.decision", "promotion.reason"):
        assert scaled.data.tags.get(tag) == embedded.data.tags.get(tag)


def test_the_run_and_its_model_live_in_the_postgresql_backed_mlflow_server(
        scale_run: dict, pg_mlflow_database: str, tmp_path: Path) -> None:
    client, run = _retrain_run(scale_run["tracking"])
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    report = Path(client.download_artifacts(run.info.run_id, "validation/report.md", tmp_path))
    assert report.read_text().startswith("#")
    [version] = client.search_model_versions("name='regimeforest-scale'")
    assert (version.version, version.run_id) == ("1", run.info.run_id)
    assert version.source.startswith(("models:/", "mlflow-artifacts:/", "runs:/"))
    engine = sa.create_engine(pg_mlflow_database)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT status FROM runs WHERE run_uuid = :id"),
                            {"id": run.info.run_id}).scalars().all()
        versions = conn.execute(sa.text("SELECT version FROM model_versions WHERE name = "
                                        "'regimeforest-scale'")).scalars().all()
    engine.dispose()
    assert (runs, versions) == (["FINISHED"], [1])


def test_the_flow_run_and_its_pieces_live_in_the_postgresql_backed_prefect_server(
        scale_run: dict, pg_prefect_database: str) -> None:
    api = scale_run["prefect"]
    flow_runs = httpx.post(f"{api}/flow_runs/filter", json={}).raise_for_status().json()
    [retrain] = [r for r in flow_runs if r["name"].startswith("scale-tiny-as-of-2019-10-01")]
    assert retrain["state_type"] == "COMPLETED"
    task_runs = httpx.post(f"{api}/task_runs/filter", json={
        "flow_runs": {"id": {"any_": [retrain["id"]]}}, "limit": 200}).raise_for_status().json()
    names = {r["name"]: r["state_type"] for r in task_runs}
    assert {name: names.get(name) for name in SPLITS + WINDOWS + STUDIES} == {
        name: "COMPLETED" for name in SPLITS + WINDOWS + STUDIES}
    engine = sa.create_engine(pg_prefect_database)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM task_run WHERE flow_run_id = :id "
                                      "AND name LIKE 'cpcv-split-%'"),
                              {"id": retrain["id"]}).scalar_one()
    engine.dispose()
    assert stored == len(SPLITS)
    assert "Creating a new Dask cluster" in scale_run["output"]


def test_the_studies_live_in_the_postgresql_optuna_storage(scale_run: dict) -> None:
    import optuna

    from ml_core.config import load_config
    from tasks.tuning import optuna_storage

    storage = optuna_storage(load_config(scale_run["profile"]))
    assert storage.startswith("postgresql") and storage.endswith(
        scale_run["optuna"].rsplit("/", 1)[1])
    studies = optuna.get_all_study_summaries(storage)
    models = sorted(s.study_name.split("-")[2] for s in studies)
    assert models == ["entry", "exit", "position", "profit"]
    assert all(s.n_trials >= 2 for s in studies)
