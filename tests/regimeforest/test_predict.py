"""``regimeforest predict``: batch signals, a replay through the live stream that refuses bad bars
mid-stream and keeps the rest, the model's name and version on every row, no champion said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_core.config import Config
from ml_core.data import as_bars, load_bars, sample_bars_path
from regimeforest import _predict
from regimeforest.cli import app

runner = CliRunner()
DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")


def _fixture_profile() -> dict:
    """The profile of the compatibility fixture (scripts/make_model_fixture.py): a small model
    that trades both ways, on 30m bars like the demo profile; its slowest feature (4h) warms up
    in 270 bars."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_model_fixture.py"
    spec = importlib.util.spec_from_file_location("make_model_fixture", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {**module.PROFILE, "registry": {"model_name": "regimeforest-unit"}}


N_BARS = 600


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The last N_BARS bars of the bundled sample, as a file holds them (a RangeIndex)."""
    return load_bars(sample_bars_path()).iloc[-N_BARS:].reset_index(drop=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame):  # noqa: ANN201
    """(pipeline, directory): fitted on the 3,000 bars before ``frame``, saved to a tmp dir."""
    from ml_core.ensemble import RegimeForestEnsemble
    from ml_core.labeling import triple_barrier_events
    from ml_core.pipeline import RegimeForestPipeline, assemble_training_set, save_pipeline
    from ml_core.regime import RegimeHMM

    config = Config.model_validate(_fixture_profile())
    train = as_bars(load_bars(sample_bars_path()).iloc[-(N_BARS + 3000):-N_BARS])
    regime = RegimeHMM.from_config(config.regime, config.data.timeframe, config.seed).fit(train)
    features = RegimeForestPipeline(config=config, regime=regime).features(train)
    dataset = assemble_training_set(features, triple_barrier_events(train, config.labels),
                                    config.labels)
    ensemble = RegimeForestEnsemble.from_config(config.ensemble, config.validation, config.seed,
                                                selection=config.features.selection,
                                                labels=config.labels)
    ensemble.fit(dataset.X, dataset.targets, dataset.t1)
    pipeline = RegimeForestPipeline(config=config, regime=regime, ensemble=ensemble,
                                    feature_columns=list(dataset.X.columns))
    directory = save_pipeline(pipeline, tmp_path_factory.mktemp("models") / "m1")
    return pipeline, directory


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame,
          saved):  # noqa: ANN001, ANN201 - the fixture above; (result, table)
    """``predict FILE --out OUT.csv --model DIR``: (result, table read back)."""
    _, directory = saved
    folder = tmp_path_factory.mktemp("batch")
    frame.to_parquet(folder / "bars.parquet")
    out = folder / "signals.csv"
    result = runner.invoke(app, ["predict", str(folder / "bars.parquet"), "--out", str(out),
                                 "--model", str(directory), "--config", DEMO],
                           terminal_width=300)
    table = pd.read_csv(out, parse_dates=["timestamp"]) if out.exists() else None
    return result, table


def test_batch_writes_the_signals_of_a_saved_model(batch, saved, frame: pd.DataFrame) -> None:
    result, table = batch
    assert result.exit_code == 0, result.output
    from ml_core.pipeline import load_pipeline

    pipeline = load_pipeline(saved[1])  # as the command loads it (the served forests)
    bars = as_bars(frame)
    expected = pipeline.predict(bars)
    assert list(table.columns) == list(_predict.SIGNAL_COLUMNS)
    assert len(expected) == len(table) == N_BARS - 270  # the 4h features warm up in 270 bars
    assert table["timestamp"].tolist() == expected.index.tolist()
    np.testing.assert_array_equal(table["signal"], expected["signal"])
    for column in ("size", "confidence", "p_long"):
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-15, atol=0)
    features = pipeline.features(bars).loc[expected.index]
    for column in _predict.REGIME_PROBS:
        np.testing.assert_allclose(table[column], features[column], rtol=1e-15, atol=0)
    assert set(table["model_name"]) == {"regimeforest-unit"}
    assert set(table["model_version"]) == {"local:m1"}
    counts = {k: int((expected["signal"] == v).sum()) for v, k in _predict.ACTIONS.items()}
    assert min(counts.values()) > 0  # the model trades both ways: every count is checked
    assert (f"wrote {len(table):,} signals of regimeforest-unit (local:m1) on {N_BARS:,} bars"
            in result.output)
    assert (f"BUY {counts['BUY']:,}, SELL {counts['SELL']:,}, HOLD {counts['HOLD']:,}"
            in result.output)


def _dirty(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, tuple[pd.Timestamp, str]]]:
    """``frame`` with four bad bars slipped in between its rows, and where they went:
    {row in the dirty file: (timestamp, rule)}. Without them the file is ``frame`` again."""
    late = frame.iloc[[100]]  # an old bar sent again, late
    repeat = frame.iloc[[350]].assign(close=frame.loc[350, "close"] * 1.01)
    off_grid = frame.iloc[[400]].assign(timestamp=frame.loc[400, "timestamp"]
                                        + pd.Timedelta("7min"))
    inverted = frame.iloc[[451]].assign(low=frame.loc[451, "high"] + 5.0)  # high < low
    pieces, bad, at = [], {}, 0
    for before, insert, rule in ((301, late, "timestamps increasing"),
                                 (351, repeat, "timestamps unique"),
                                 (401, off_grid, "timestamps on the bar grid"),
                                 (451, inverted, "low <= min(open, close) and low <= high")):
        pieces += [frame.iloc[at:before], insert]
        bad[before + len(bad)] = (insert["timestamp"].iloc[0], rule)
        at = before
    pieces.append(frame.iloc[at:])
    return pd.concat(pieces, ignore_index=True), bad


def test_replay_refuses_bad_bars_mid_stream_and_matches_the_batch(
        batch, saved, frame: pd.DataFrame, tmp_path: Path) -> None:  # noqa: ANN001
    _, table = batch
    _, directory = saved
    dirty, bad = _dirty(frame)
    path = tmp_path / "feed.csv"
    dirty.to_csv(path, index=False)
    out = tmp_path / "replay.parquet"
    result = runner.invoke(app, ["predict", "--replay", str(path), "--out", str(out),
                                 "--model", str(directory), "--config", DEMO],
                           terminal_width=400)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    for row, (timestamp, rule) in bad.items():
        line = f"refused row {row} of {path}: bar {timestamp} refused, rule {rule!r}: "
        assert sum(x.startswith(line) for x in lines) == 1, (line, result.output)
    assert (f"error: 4 bar(s) of {path} were refused (listed above) and skipped; the other "
            f"{N_BARS:,} rows are in {out}") in result.output
    assert "latency per bar, signalled bars (features + signal): p50 " in result.output

    got = pd.read_parquet(out)
    assert list(got.columns) == list(_predict.REPLAY_COLUMNS)
    assert got["row"].tolist() == list(range(len(dirty)))
    refused = got[got["status"] == "refused"]
    assert refused["row"].tolist() == list(bad)
    assert refused["timestamp"].tolist() == [t for t, _ in bad.values()]
    assert all(f"rule {rule!r}" in reason
               for reason, (_, rule) in zip(refused["reason"], bad.values(), strict=True))
    assert refused["signal"].isna().all() and refused["p_long"].isna().all()
    accepted = got[got["status"] != "refused"]
    assert accepted["timestamp"].tolist() == frame["timestamp"].tolist()
    assert (accepted["status"] == "warmup").sum() == N_BARS - len(table)
    assert (got["latency_us"] > 0).all()
    assert set(got["model_version"]) == {"local:m1"}

    # the stream took the clean bars as the batch did: the same signals
    signals = got[got["status"] == "signal"].reset_index(drop=True)
    assert signals["timestamp"].tolist() == table["timestamp"].tolist()
    np.testing.assert_array_equal(signals["signal"].astype(int), table["signal"])
    for column in ("size", "confidence", "p_long", *_predict.REGIME_PROBS):
        np.testing.assert_allclose(signals[column], table[column], rtol=0, atol=1e-9)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_interrupted_replay_keeps_its_rows(saved, frame: pd.DataFrame, tmp_path: Path,
                                              suffix: str, monkeypatch: pytest.MonkeyPatch,
                                              ) -> None:
    monkeypatch.setattr(_predict, "_FLUSH_EVERY", 100)
    pipeline, directory = saved
    model = _predict.LoadedModel(pipeline, "m", "local:m1", str(directory))
    dirty, bad = _dirty(frame)
    first_bad = next(iter(bad))

    def interrupt(refusal: _predict.Refusal) -> None:
        raise KeyboardInterrupt  # Ctrl-C at the first refusal

    out = tmp_path / f"replay{suffix}"
    with pytest.raises(KeyboardInterrupt):
        _predict.replay(model, dirty, out, on_refused=interrupt)
    got = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert got["row"].tolist() == list(range(first_bad + 1))  # 3 blocks flushed, then the rest
    assert got["status"].iloc[-1] == "refused"
    assert (got["status"].iloc[:-1] != "refused").all()


def test_no_champion_is_said_with_the_way_to_get_one(frame: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    from tasks.registry import Tracker, tracked_run

    bars = tmp_path / "bars.csv"
    frame.iloc[:50].to_csv(bars, index=False)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    out = tmp_path / "signals.csv"
    args = ["predict", str(bars), "--out", str(out), "--config", DEMO, "--tracking-uri", uri]
    result = runner.invoke(app, args, terminal_width=500)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert (f"error: no champion to predict with: model 'regimeforest-demo' has no registered "
            f"version in the MLflow store {uri}. Train one with `regimeforest retrain --config "
            f"demo`") in message
    assert not out.exists()

    tracker = Tracker(uri)  # a version registered, and refused promotion
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        (tmp_path / "m.txt").write_text("m")
        tracker.log_artifact(run_id, tmp_path / "m.txt", "model")
    tracker.register(f"runs:/{run_id}/model", "regimeforest-demo", run_id, {})
    tracker.client.set_model_version_tag("regimeforest-demo", "1", "gate.reason",
                                         "rejected: failed the absolute gate (pbo)")
    result = runner.invoke(app, args, terminal_width=500)
    assert result.exit_code == 0, result.output
    message = " ".join(result.output.split())
    assert ("no trustworthy model: model 'regimeforest-demo' has versions v1 in the MLflow store "
            f"{uri}, but no champion: none passed its promotion gate (v1: rejected: failed the "
            "absolute gate (pbo)); every bar is HOLD; wrote HOLD for 50 bars") in message
    held = pd.read_csv(out)
    assert len(held) == 50 and (held["signal"] == 0).all() and (held["size"] == 0).all()
    assert set(held["model_version"]) == {"none"}
    assert held["note"].iloc[0].startswith("no trustworthy model: model 'regimeforest-demo'")


def test_a_registered_champion_names_its_version(saved, frame: pd.DataFrame,
                                                 tmp_path: Path) -> None:
    from tasks.registry import Tracker, tracked_run

    _, directory = saved
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker(uri)
    for _ in range(2):
        with tracked_run(tracker, "exp", "run", {}) as run_id:
            tracker.log_artifact(run_id, directory, "model")
        version = tracker.register(f"runs:/{run_id}/model", "regimeforest-demo", run_id, {})
    tracker.move_alias("regimeforest-demo", "champion", "1", "test")
    bars = tmp_path / "bars.csv"
    frame.iloc[:40].to_csv(bars, index=False)
    out = tmp_path / "replay.csv"
    result = runner.invoke(app, ["predict", "--replay", str(bars), "--out", str(out),
                                 "--config", DEMO, "--tracking-uri", uri], terminal_width=300)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype={"model_version": str})
    assert len(got) == 40 and set(got["status"]) == {"warmup"}
    assert set(zip(got["model_name"], got["model_version"])) == {("regimeforest-demo", "1")}
    assert "through regimeforest-demo v1" in result.output and version == "2"


def test_usage_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(tmp_path / "bars.csv"), "--out",
                                 str(tmp_path / "signals.xlsx")])
    assert result.exit_code == 2
    assert "write signals to a .csv or .parquet file, not '.xlsx'" in result.output
    result = runner.invoke(app, ["predict", str(tmp_path / "absent.csv"), "--out",
                                 str(tmp_path / "signals.csv")])
    assert result.exit_code == 2 and "file not found" in result.output
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n")
    result = runner.invoke(app, ["predict", str(bars), "--out", str(tmp_path / "s.csv"),
                                 "--model", str(tmp_path / "nowhere"), "--config", DEMO],
                           terminal_width=300)
    assert result.exit_code == 1
    assert (f"--model {tmp_path / 'nowhere'}: no such directory, and not a registry URI"
            in result.output)


def test_help_explains_both_modes_with_examples() -> None:
    result = runner.invoke(app, ["predict", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for text in ("--replay", "--out", "--model", "--config", "models:/NAME@ALIAS", "Examples",
                 "regimeforest predict --replay feed.csv", "latency_us", "Exit codes"):
        assert text in result.output


def test_ctrl_c_during_a_replay_exits_130_saying_where_the_rows_are(
        saved, frame: pd.DataFrame, tmp_path: Path,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_predict, "replay", interrupted)
    bars = tmp_path / "bars.csv"
    frame.iloc[:20].to_csv(bars, index=False)
    out = tmp_path / "replay.csv"
    result = runner.invoke(app, ["predict", "--replay", str(bars), "--out", str(out),
                                 "--model", str(saved[1]), "--config", DEMO],
                           terminal_width=300)
    assert result.exit_code == 130
    assert f"error: interrupted: the rows replayed so far are in {out}" in result.output


def test_a_file_out_of_order_throughout_names_the_first_refusals_only(
        saved, frame: pd.DataFrame, tmp_path: Path,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    from regimeforest import cli

    monkeypatch.setattr(cli, "_MAX_REFUSAL_LINES", 3)
    bars = tmp_path / "reversed.csv"
    frame.iloc[:30].iloc[::-1].to_csv(bars, index=False)
    out = tmp_path / "replay.csv"
    result = runner.invoke(app, ["predict", "--replay", str(bars), "--out", str(out),
                                 "--model", str(saved[1]), "--config", DEMO],
                           terminal_width=400)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("refused row")] == [
        f"refused row {row} of {bars}" for row in (1, 2, 3)]
    assert f"refused more bars: the first 3 are listed above; every refused row is in {out}" \
        in result.output
    assert (f"error: 29 bar(s) of {bars} were refused (the first 3 listed above) and skipped; "
            f"the other 1 row is in {out}") in result.output
    assert (pd.read_csv(out)["status"] == "refused").sum() == 29
