"""`regimeforest ingest` and `regimeforest store` as a user runs them, on a temporary SQLite store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_core.data import load_bars, sample_bars_path
from regimeforest.cli import app
from tasks.bar_store import BarStore

runner = CliRunner()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_bars(sample_bars_path()).iloc[:600].reset_index(drop=True)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'bars.db'}"


def _write(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _ingest(url: str, file: str, *options: str):  # noqa: ANN202 - a click Result
    return runner.invoke(app, ["ingest", file, "--symbol", "BTC", "--store", url, *options],
                         terminal_width=240)


def _snapshot(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    bar_store = BarStore(url)
    try:
        return bar_store.read("BTC", "30m"), bar_store.history()
    finally:
        bar_store.dispose()


def test_ingest_is_idempotent(sample: pd.DataFrame, tmp_path: Path, url: str) -> None:
    first = _write(sample.iloc[:400], tmp_path / "first.csv")
    result = _ingest(url, first)
    assert result.exit_code == 0, result.output
    assert "BTC/30m: ingest #1 of" in result.output
    assert "400 new, 0 already stored, 0 revised" in result.output
    before = _snapshot(url)
    again = _ingest(url, first)
    assert again.exit_code == 0
    assert "all 400 bars" in again.output and "the store is unchanged" in again.output
    pd.testing.assert_frame_equal(_snapshot(url)[1], before[1])
    overlap = _ingest(url, _write(sample.iloc[300:], tmp_path / "second.csv"))
    assert "200 new, 100 already stored, 0 revised" in overlap.output
    bars, history = _snapshot(url)
    assert len(bars) == 600 and history["id"].tolist() == [1, 2]
    assert history["rows"].tolist() == [400, 300]


def test_conflict_is_refused_naming_timestamp_and_values(sample: pd.DataFrame, tmp_path: Path,
                                                         url: str) -> None:
    _ingest(url, _write(sample, tmp_path / "all.csv"))
    before = _snapshot(url)
    changed = sample.iloc[100:110].copy()
    changed.loc[105, "volume"] = 1000.5
    stored = float(sample.loc[105, "volume"])
    result = _ingest(url, _write(changed, tmp_path / "changed.csv"))
    assert result.exit_code == 1
    when = sample.loc[105, "timestamp"].isoformat()
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'changed.csv'}: 1 bar(s) differ from those stored for BTC/30m: "
        f"{when} volume stored {stored!r}, incoming 1000.5; nothing was written (ingest "
        "with --revise to record them as a revision)")
    after = _snapshot(url)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])


def test_revise_is_recorded_and_read_as_of(sample: pd.DataFrame, tmp_path: Path,
                                           url: str) -> None:
    _ingest(url, _write(sample, tmp_path / "all.csv"))
    changed = sample.iloc[100:110].copy()
    changed.loc[105, "volume"] = 1000.5
    result = _ingest(url, _write(changed, tmp_path / "changed.csv"), "--revise")
    assert result.exit_code == 0, result.output
    assert "0 new, 9 already stored, 1 revised" in result.output
    bar_store = BarStore(url)
    history = bar_store.history()
    between = history["at"].iloc[0] + (history["at"].iloc[1] - history["at"].iloc[0]) / 2
    ts = sample.loc[105, "timestamp"]
    old = sample.loc[105, "volume"]
    assert bar_store.read("BTC", "30m", as_of=between).loc[ts, "volume"] == old
    assert bar_store.read("BTC", "30m", as_of=history["at"].iloc[1]).loc[ts, "volume"] == 1000.5
    assert bar_store.read("BTC", "30m").loc[ts, "volume"] == 1000.5
    assert history["n_revised"].tolist() == [0, 1]
    bar_store.dispose()


def test_another_timeframe_is_refused(sample: pd.DataFrame, tmp_path: Path, url: str) -> None:
    _ingest(url, _write(sample, tmp_path / "all.csv"))
    path = _write(sample.iloc[::2], tmp_path / "hourly.csv")
    result = _ingest(url, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {path}: bars are mostly 1h apart, but BTC is stored at 30m; pass --timeframe "
        "1h to start a 1h series: nothing was stored")
    stated = _ingest(url, path, "--timeframe", "30m")
    assert stated.exit_code == 1
    assert "bars are mostly 1h apart, but --timeframe is 30m" in stated.stderr
    assert _snapshot(url)[1]["id"].tolist() == [1]


def test_gate_failure_and_non_bar_file_are_refused(sample: pd.DataFrame, tmp_path: Path,
                                                   url: str) -> None:
    broken = sample.copy()
    broken.loc[10, "low"] = broken.loc[10, "high"] + 5.0
    result = _ingest(url, _write(broken, tmp_path / "broken.csv"))
    assert result.exit_code == 1
    assert "low <= min(open, close)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'broken.csv'} failed its quality checks: nothing was stored")
    text = tmp_path / "notes.csv"
    text.write_text("hello,world\n1,2\n")
    refused = _ingest(url, str(text))
    assert refused.exit_code == 1
    assert BarStore(url).history().empty


def test_usage_errors_exit_2(tmp_path: Path, url: str) -> None:
    assert _ingest(url, str(tmp_path / "absent.csv")).exit_code == 2
    bad = runner.invoke(app, ["store", "--store", "nosuchdb://x"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: cannot open the bar store nosuchdb://x:")


def test_store_lists_series(sample: pd.DataFrame, tmp_path: Path, url: str) -> None:
    empty = runner.invoke(app, ["store", "--store", url], terminal_width=240)
    assert "is empty" in empty.output
    gappy = sample.drop(index=[200, 201, 202])
    _ingest(url, _write(gappy, tmp_path / "gappy.csv"), "--max-gap-ratio", "0.01")
    result = runner.invoke(app, ["store"], env={"REGIMEFOREST_STORE_URL": url},
                           terminal_width=240)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "BTC" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:6] == ["BTC", "30m", "2017-10-01 00:00", "2017-10-13 11:30", "597", "1 (3)"]
    assert cells[6].startswith("#1 ") and cells[6].endswith("gappy.csv")
    history = runner.invoke(app, ["store", "--history", "--store", url], terminal_width=240)
    assert "gappy.csv" in history.output and "597" in history.output
