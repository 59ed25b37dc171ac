"""A scheduled weekly retrain trains on the bars of its own week: two runs a week apart, with bars
ingested in between, read different spans, and each records what it read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ml_core.data import as_bars, bars_digest, load_bars

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]



def _scheduled_run(flow, scheduled: pd.Timestamp, parameters: dict):  # noqa: ANN001, ANN202
    """Run ``flow`` as a flow run scheduled for ``scheduled``, as a worker runs a deployment's.

    ``scheduled`` must be in the past: the server holds a run until its scheduled time."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            flow, parameters=parameters, state=Scheduled(scheduled_time=scheduled.to_pydatetime()))
    return run_flow(flow, flow_run=flow_run, parameters=parameters)


def test_two_weekly_runs_a_week_apart_train_on_different_spans(
    quick_profile: tuple[Path, str], tiny_bars_file: Path, tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    from flows.weekly_retrain import weekly_retrain
    from tasks.bar_store import BarStore

    # the spans are the point here: the quick profile (no tuning, fewer splits)
    config_path, uri = quick_profile
    store_url = f"sqlite:///{tmp_path / 'bars.db'}"
    profile = yaml.safe_load(config_path.read_text())
    profile["data"].update(symbol="BTC", store=store_url)
    config_path.write_text(yaml.safe_dump(profile))

    # the last 3,000 bars (about two months): enough for a retrain, read sooner than 7,000
    bars = as_bars(load_bars(tiny_bars_file)).iloc[-3000:]
    older, newer = bars.iloc[:-336], bars.iloc[-336:]  # the last week comes later
    first_run = older.index[-1] + pd.Timedelta("2h")
    second_run = first_run + pd.Timedelta("7D")
    store = BarStore(store_url)
    store.ingest(older, "BTC", "30m", source="older.parquet", sha256="a",
                 now=first_run - pd.Timedelta("1h"))
    store.ingest(newer, "BTC", "30m", source="newer.parquet", sha256="b",
                 now=first_run + pd.Timedelta("3D"))
    store.dispose()

    summaries = []
    for scheduled in (first_run, second_run):  # no as_of: the scheduled start time is used
        summaries.append(_scheduled_run(weekly_retrain, scheduled,
                                        {"config_path": str(config_path)}))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    runs = [client.get_run(s.run_id).data.tags for s in summaries]
    assert [r["as_of"] for r in runs] == [first_run.isoformat(), second_run.isoformat()]
    assert runs[0]["data.last"] == older.index[-1].isoformat()
    assert runs[1]["data.last"] == newer.index[-1].isoformat()
    assert [r["store.last_ingest_id"] for r in runs] == ["1", "2"]
    assert runs[0]["store.sha256"] == bars_digest(older)
    assert runs[1]["store.sha256"] == bars_digest(bars)
    for summary, run in zip(summaries, runs, strict=True):
        version = client.get_model_version("tiny", summary.version).tags
        assert {k: version[k] for k in ("as_of", "data.first", "data.last", "store.sha256")} == {
            k: run[k] for k in ("as_of", "data.first", "data.last", "store.sha256")}
        assert version["config.hash"] == run["config.hash"]
