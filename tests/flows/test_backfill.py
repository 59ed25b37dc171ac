"""The backfill on the real Prefect engine and a real MLflow SQLite store; the CLI's refusals."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from ml_core.data import load_bars
from regimeforest._backfill import backfill_command

START, SECOND, END = "2019-09-24", "2019-09-27", "2019-09-27T12:00"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(uri: str) -> set[str]:
    client = _client(uri)
    experiment = client.get_experiment_by_name("tiny")
    return {r.info.run_id for r in client.search_runs([experiment.experiment_id],
                                                      max_results=1000)}


def _versions(uri: str) -> list[str]:
    return sorted(str(v.version) for v in _client(uri).search_model_versions("name='tiny'"))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_backfill_registers_as_of_versions_resumes_and_redoes_nothing(
    quick_profile: tuple[Path, str], tiny_bars_file: Path
) -> None:
    """The retrains are the quick profile's (tests/flows/conftest.py) on the last 60 days
    before each as_of (a third of a retrain's time less again): the backfill's bookkeeping is
    the subject here, not the models. They still trade, v2 scoring below v1."""
    from flows.backfill import backfill
    from tasks.registry import Tracker, decide_promotion

    config_path, uri = quick_profile
    spec = yaml.safe_load(config_path.read_text())
    spec["data"]["lookback"] = "60D"
    config_path.write_text(yaml.safe_dump(spec))
    args = {"config_path": str(config_path), "data": str(tiny_bars_file), "every": "3d"}

    # a backfill stopped after its first as_of ...
    first = backfill(start=START, end=START, **args)
    assert [s.reused for s in first.steps] == [False] and _versions(uri) == ["1"]

    # ... resumes: the first as_of is found done, only the second is trained
    result = backfill(start=START, end=END, **args)
    assert [s.reused for s in result.steps] == [True, False]
    assert [s.version for s in result.steps] == ["1", "2"]
    assert _versions(uri) == ["1", "2"]

    client = _client(uri)
    as_ofs = [pd.Timestamp(START, tz="UTC"), pd.Timestamp(SECOND, tz="UTC")]
    for version, as_of in zip(("1", "2"), as_ofs):
        tags = client.get_model_version("tiny", version).tags
        assert tags["as_of"] == as_of.isoformat()
        assert pd.Timestamp(tags["data.last"]) + pd.Timedelta("30m") <= as_of
        assert tags["decision"] == "not moved"
    assert Tracker(uri).alias_version("tiny", "champion") is None  # no alias moved
    assert Tracker(uri).alias_version("tiny", "challenger") is None

    # the table: one row per as_of; the promotion rule replayed from no champion
    table = result.table
    assert list(table["as_of"]) == as_ofs
    assert list(table["version"]) == ["1", "2"]
    scores = [result.steps[0].score, result.steps[1].score]
    # a model that trades: a version the --promote pass below makes champion
    assert math.isfinite(scores[0]), scores
    assert [s if math.isfinite(s) else None for s in table["score"]] == [
        s if math.isfinite(s) else None for s in scores]
    alias, _ = decide_promotion(scores[0], None)
    assert table["decision"].iloc[0] == (alias or "rejected")
    assert list(table["period_start"]) == as_ofs
    assert list(table["period_end"]) == [as_ofs[1], as_ofs[1] + pd.Timedelta(days=3)]
    bars = load_bars(tiny_bars_file).set_index("timestamp")
    closes = bars.index + pd.Timedelta("30m")
    expected = [int(((closes > a) & (closes <= b)).sum()) for a, b in
                zip(table["period_start"], table["period_end"])]
    assert table["bars"].tolist() == expected == [144, 144]
    market = [bars["close"][closes == b].iloc[0] / bars["close"][closes == a].iloc[0] - 1
              for a, b in zip(table["period_start"], table["period_end"])]
    assert table["buy_and_hold_return"].tolist() == pytest.approx(market, rel=1e-12)
    assert table["buy_and_hold_equity"].iloc[-1] == pytest.approx(
        (1 + market[0]) * (1 + market[1]), rel=1e-12)
    flat = table["champion"].isna()
    assert (table.loc[flat, "strategy_return"] == 0).all()
    assert (table.loc[flat, "trades"] == 0).all()

    # logged once, to the backfill run; the new retrain is nested under it
    logged = {a.path for a in client.list_artifacts(result.run_id, "tables")} | {
        a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {"tables/backfill.csv", "plots/backfill_equity.png"} <= logged
    retrain = client.get_run(result.steps[1].run_id).data.tags
    assert retrain["backfill.run_id"] == retrain["mlflow.parentRunId"] == result.run_id
    assert retrain["as_of"] == as_ofs[1].isoformat()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as prefect:
        found = prefect.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["backfill-summary", "backfill-loop"])))
    shown = {a.key: a for a in sorted(found, key=lambda a: a.created)}  # the latest of each
    assert shown["backfill-summary"].type == "markdown" and shown["backfill-loop"].type == "table"
    assert "1 trained, 1 reused" in shown["backfill-summary"].data

    # a rerun of the same range redoes nothing: no run, no version, the same table
    before = _runs(uri)
    again = backfill(start=START, end=END, **args)
    assert [s.reused for s in again.steps] == [True, True]
    assert _runs(uri) == before and _versions(uri) == ["1", "2"]
    assert again.run_id == result.run_id
    pd.testing.assert_frame_equal(again.table, table)

    # the replay with a champion: v1 (forced to a score v2 cannot beat) trades both periods
    forced = [replace(result.steps[0], score=1.0), replace(result.steps[1], score=0.5)]
    replayed, equity = _replay(str(config_path), str(tiny_bars_file), forced)
    assert replayed["champion"].tolist() == ["1", "1"]
    assert replayed["decision"].tolist() == ["champion", "challenger"]
    assert replayed["bars"].tolist() == [144, 144]
    assert replayed["buy_and_hold_return"].tolist() == table["buy_and_hold_return"].tolist()
    returns = replayed["strategy_return"]
    assert returns.map(math.isfinite).all() and (returns.abs() < 0.5).all()
    assert replayed["strategy_equity"].iloc[-1] == pytest.approx(
        (1 + returns.iloc[0]) * (1 + returns.iloc[1]), rel=1e-12)
    assert equity["strategy"].iloc[-1] == pytest.approx(replayed["strategy_equity"].iloc[-1],
                                                        rel=1e-12)
    assert len(equity) == 1 + 288 and equity.index[0] == as_ofs[0]

    # --promote over the same range retrains nothing; the rule now moves the aliases in as_of
    # order, from no champion: the live registry ends where the replayed chain does
    promoted = backfill(start=START, end=END, promote=True, **args)
    assert [s.reused for s in promoted.steps] == [True, True] and _versions(uri) == ["1", "2"]
    assert [client.get_model_version("tiny", v).tags["decision"] for v in ("1", "2")] == list(
        table["decision"])
    last = table["champion"].iloc[-1]
    assert Tracker(uri).alias_version("tiny", "champion") == (None if pd.isna(last) else last)
    before = _runs(uri)
    backfill(start=START, end=END, promote=True, **args)
    assert _runs(uri) == before


def _replay(config_path: str, data: str, steps: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``replay_loop`` on the backfill's bars inside a flow (its tasks log to the run)."""
    from prefect import flow

    from tasks.backfill import read_history, replay_loop
    from tasks.data import resolve_profile
    from tasks.registry import Tracker

    @flow
    def replay() -> tuple[pd.DataFrame, pd.DataFrame]:
        config = resolve_profile(config_path, data, None, None)
        bars, _ = read_history(config, pd.Timestamp.now(tz="UTC"))
        table, equity, _ = replay_loop(Tracker(config.registry.tracking_uri), config, bars,
                                       steps, pd.Timedelta(days=3).to_pytimedelta())
        return table, equity

    return replay()


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_a_range_without_bars_is_refused_before_any_run(
    tiny_profile: tuple[Path, str], tiny_bars_file: Path
) -> None:
    from flows.backfill import backfill

    config_path, uri = tiny_profile
    with pytest.raises(ValueError, match=r"no bars in the backfill range 2030-01-01T00:00:00\+00"
                                         r":00 \.\. 2030-01-29T00:00:00\+00:00: the data holds "
                                         r"7,000 bars closing from 2019-05-08T01:00:00\+00:00"):
        backfill(start="2030-01-01", end="2030-02-01", config_path=str(config_path),
                 data=str(tiny_bars_file))
    assert _client(uri).get_experiment_by_name("tiny") is None


# ------------------------------------------------------------------- the CLI's refusals
def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(backfill_command)
    return app


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--start", "2019-09-01", "--end", "2019-08-01"], 2,
     "--start must not be after --end, got `--start=2019-09-01T00:00:00+00:00`"),
    (["--start", "2019-08-01", "--end", "2019-09-01", "--every", "0d"], 2,
     "--every must be a positive duration, got `--every='0d'`"),
    (["--start", "2030-01-01", "--end", "2030-02-01"], 1,
     "no bars in the backfill range 2030-01-01T00:00:00+00:00 .. 2030-01-29T00:00:00+00:00"),
])
def test_cli_refuses_before_any_work(argv, code, message, tiny_profile, tiny_bars_file):
    config_path, uri = tiny_profile
    out = CliRunner().invoke(_cli(), [*argv, "--config", str(config_path), "--data",
                                      str(tiny_bars_file)])
    assert out.exit_code == code, out.output
    assert message in " ".join(out.output.split())
    assert "nothing was trained or registered" in " ".join(out.output.split())
    assert not Path(uri.removeprefix("sqlite:///")).exists()
