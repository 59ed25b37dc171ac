"""The backfill's tasks: finding done retrains, the key, the report, and (on the real engine) the
bars' state computed before a retrain, which must be the one the retrain records."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from ml_core.config import Config
from ml_core.evaluation import champion_chain, loop_table, replay_periods, replay_returns
from tasks.backfill import (BackfillResult, BackfillStep, DoneRetrain, backfill_key,
                            equity_figure, find_done, format_rows, needs_promotion, to_markdown)
from tasks.data import DataState

ROOT = Path(__file__).resolve().parents[2]
from tasks.registry import Tracker, decide_promotion

H = timedelta(hours=1)
IDX = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
CLOSE = pd.Series([100.0, 110.0, 99.0, 108.9, 98.01, 107.811], index=IDX)
SHA = "ab" * 32


def _state(as_of: pd.Timestamp, sha: str = SHA) -> DataState:
    return DataState(source="bars.parquet", timeframe="1h", as_of=as_of, first=IDX[0],
                     last=IDX[0], n_bars=1, sha256=sha)


def _result(scores=(0.5, float("nan"))) -> BackfillResult:
    as_ofs = [IDX[1], IDX[3]]
    chain = champion_chain([("1", scores[0]), ("2", scores[1])], decide_promotion)
    replay = replay_returns(CLOSE, H, replay_periods(as_ofs, 2 * H, IDX[-1] + H),
                            [pd.Series([1.0, 0.5], index=IDX[:2]), None], cost_bps=10)
    steps = [BackfillStep(a, _state(a), f"run{k}", str(k + 1), s, k == 0)
             for k, (a, s) in enumerate(zip(as_ofs, scores))]
    return BackfillResult(run_id="parent", experiment="tiny", steps=steps,
                          table=loop_table(as_ofs, chain, replay), equity=replay.equity)


def test_rows_read_as_text():
    rows = format_rows(_result().table)
    assert rows[0] == {
        "as_of": "2024-01-01 01:00", "version": "v1", "score": "0.5000",
        "decision": "champion", "champion": "v1", "period": "2024-01-01 01:00 .. 2024-01-01 03:00",
        "bars": "2", "trades": "2", "strategy": "+4.35%", "buy & hold": "-1.00%",
        "equity": "1.0435", "b&h equity": "0.9900"}
    assert (rows[1]["score"], rows[1]["decision"], rows[1]["champion"]) == (
        "undefined", "rejected", "v1")


def test_markdown_counts_trained_and_reused_and_ends_with_the_equities():
    result = _result()
    text = to_markdown(result)
    assert "2 as_of: 1 trained, 1 reused; aliases untouched. MLflow run `parent`." in text
    assert "| as_of | version | score | decision | champion | period |" in text
    assert text.count("\n| 2024-01-01") == 2
    assert text.endswith(f"strategy {1.0435005 * 0.9995:.4f}, buy-and-hold 0.9801 (start 1; "
                         "costs included, buy-and-hold without).")


def test_equity_plot_has_both_curves_and_a_label_per_as_of():
    result = _result()
    fig = equity_figure(result.equity, result.table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "buy-and-hold", "champion's signals (net of costs)"]
    curves = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert list(curves["champion's signals (net of costs)"]) == list(result.equity["strategy"])
    assert [t.get_text() for t in ax.texts] == ["champion v1", "champion v1"]
    assert ax.get_ylabel() == "equity (1 at the first as_of)"


def test_key_changes_with_the_bars_the_profile_and_promote():
    steps = [(IDX[1], SHA), (IDX[3], SHA)]
    key = backfill_key("cfg", 2 * H, steps, False)
    assert key == backfill_key("cfg", 2 * H, list(steps), False)
    assert len({key, backfill_key("cfg2", 2 * H, steps, False),
                backfill_key("cfg", 2 * H, [(IDX[1], SHA), (IDX[3], "cd" * 32)], False),
                backfill_key("cfg", 3 * H, steps, False),
                backfill_key("cfg", 2 * H, steps, True)}) == 5


def test_only_versions_whose_rule_was_not_applied_need_promotion():
    assert needs_promotion(DoneRetrain("r", "1", 0.5, "not moved"))
    assert needs_promotion(DoneRetrain("r", "1", 0.5, ""))
    assert not any(needs_promotion(DoneRetrain("r", "1", 0.5, d))
                   for d in ("champion", "challenger", "rejected"))


def test_find_done_wants_a_finished_run_on_the_same_bars_and_profile_with_a_version(
    tmp_path: Path,
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    config = Config.model_validate({"profile": "tiny", "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}})
    as_of = IDX[3]
    assert find_done.fn(tracker, config, _state(as_of), "cfg") is None  # no experiment yet

    def run(status: str = "FINISHED", register: bool = True, **tags: str) -> str:
        base = {"profile": "tiny", "as_of": as_of.isoformat(), "config.hash": "cfg",
                "store.sha256": SHA}
        run_id = tracker.start_run("tiny", "retrain", {**base, **tags})
        tracker.end_run(run_id, status)
        if register:
            tracker.register(f"runs:/{run_id}/model", "tiny", run_id,
                             {"cv_score": "0.25", "decision": "not moved"})
        return run_id

    run(status="FAILED")  # killed: redone
    run(register=False)  # finished but registered nothing: redone
    run(**{"store.sha256": "cd" * 32})  # other bars
    run(**{"config.hash": "other"})  # other profile
    run(as_of=IDX[1].isoformat())  # another moment
    assert find_done.fn(tracker, config, _state(as_of), "cfg") is None
    done = run()
    assert find_done.fn(tracker, config, _state(as_of), "cfg") == DoneRetrain(
        done, "5", 0.25, "not moved")


def test_a_reused_version_without_a_score_reads_as_nan(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    config = Config.model_validate({"profile": "tiny", "registry": {
        "tracking_uri": uri, "experiment": "tiny", "model_name": "tiny"}})
    run_id = tracker.start_run("tiny", "retrain", {
        "profile": "tiny", "as_of": IDX[3].isoformat(), "config.hash": "cfg",
        "store.sha256": SHA})
    tracker.end_run(run_id)
    tracker.register(f"runs:/{run_id}/model", "tiny", run_id, {})
    found = find_done.fn(tracker, config, _state(IDX[3]), "cfg")
    assert found is not None and math.isnan(found.score) and needs_promotion(found)


def test_state_tags_are_what_find_done_matches():
    # the retrain tags its run with DataState.tags(); find_done asks for the same keys
    tags = _state(IDX[3]).tags()
    assert tags["as_of"] == IDX[3].isoformat() and tags["store.sha256"] == SHA


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("lookback", [None, "60d"])
def test_the_state_computed_first_is_the_retrains_own_for_a_store_series(
    tmp_path: Path, lookback: str | None
):
    # the backfill reads the series once (as known at known_at) and cuts each as_of's window; a
    # retrain reads its window from the store: both must name the same bars, or nothing is reused
    from prefect import flow

    from ml_core.config import load_config
    from ml_core.data import as_bars
    from tasks.backfill import read_history, window_state
    from tasks.data import SAMPLE_INGESTED_AT, load_data, select_span

    demo = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    config = load_config(demo, {"data": {"store": f"sqlite:///{tmp_path / 'bars.db'}",
                                         "lookback": lookback}})
    known = SAMPLE_INGESTED_AT + pd.Timedelta(days=1)

    @flow
    def both(as_of: pd.Timestamp) -> tuple[DataState, DataState]:
        bars, read = read_history(config, known)
        first = window_state(bars, config, as_of, read)
        frame, _, own_read = load_data(config, as_of, known)
        return first, select_span(as_bars(frame), config, as_of, own_read)[1]

    for as_of in (pd.Timestamp("2019-08-01T00:00Z"), pd.Timestamp("2019-09-27T13:00Z")):
        first, own = both(as_of)
        assert first == own
        assert first.tags()["store.sha256"] == own.tags()["store.sha256"]


def test_the_warm_up_covers_the_slowest_features_of_the_profile():
    from datetime import timedelta

    from ml_core.config import load_config
    from ml_core.data import load_sample_bars
    from ml_core.features import compute_features
    from tasks.backfill import warmup_span

    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert warmup_span(demo) == timedelta(days=64)  # 64 daily bars (features reach 1d)
    hourly = load_config(ROOT / "configs" / "demo.yaml", {"features": {
        "higher_timeframes": ["1h"]}, "regime": {"timeframe": "1h", "volatility_window": "6h"}})
    assert warmup_span(hourly) == timedelta(days=30)  # the floor
    # fed that much history, every demo feature has a value at the period's first bar
    bars = load_sample_bars().loc[:"2019-08-25"]
    fed = bars.loc[bars.index[-1] - warmup_span(demo):]
    features = compute_features(fed, demo.features, demo.data.timeframe)
    assert not features.iloc[-1].isna().any(), list(features.columns[features.iloc[-1].isna()])
