"""A backfill on a Dask profile that moves no alias runs its retrains at once: each a piece (a
Prefect task run holding the retrain's subflow) on a real 2-worker LocalCluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

START, END = "2019-09-24", "2019-09-27T12:00"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_backfill_without_promotion_retrains_its_as_ofs_at_once_on_dask(
    quick_profile: tuple[Path, str], tiny_bars_file: Path
) -> None:
    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterName,
                                                TaskRunFilter, TaskRunFilterName)

    from flows.backfill import backfill

    path, uri = quick_profile
    spec = yaml.safe_load(path.read_text())
    spec["scale"] = {"executor": "dask", "n_workers": 2}
    path.write_text(yaml.safe_dump(spec))

    result = backfill(start=START, end=END, every="3d", config_path=str(path),
                      data=str(tiny_bars_file))

    assert [(str(s.as_of.date()), s.version, s.reused) for s in result.steps] == [
        ("2019-09-24", "1", False), ("2019-09-27", "2", False)]
    client = MlflowClient(uri, registry_uri=uri)
    runs = [client.get_run(s.run_id) for s in result.steps]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["backfill.run_id"] for r in runs} == {result.run_id}
    # at once: each retrain started before the other ended
    first, second = runs
    assert second.info.start_time < first.info.end_time
    assert first.info.start_time < second.info.end_time
    assert not any(v.aliases for v in client.search_model_versions("name='tiny'"))
    with get_client(sync_client=True) as prefect:
        pieces = {run.name: run for run in prefect.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="retrain-2019-09-2")))}
        assert set(pieces) >= {"retrain-2019-09-24T0000", "retrain-2019-09-27T0000"}
        # the retrains these pieces held (the session's other backfills made namesakes before)
        began = min(p.start_time for p in pieces.values())
        subflows = [run for run in prefect.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(like_="tiny-as-of-2019-09-2")))
            if run.start_time is not None and run.start_time >= began]
    assert sorted(run.name for run in subflows) == ["tiny-as-of-2019-09-24T0000",
                                                    "tiny-as-of-2019-09-27T0000"]
    assert all(run.state.is_completed() for run in subflows)
    assert all(run.state.is_completed() for run in pieces.values())
