"""A corpus of real bar files with one defect each: every one is refused clearly.

Clearly means: exit 1, and either one ``error:`` line naming the file and what is wrong (the file
cannot be read as bars) or the gate's report naming the rule and the row; never a traceback.
``retrain`` refuses an unreadable file before it starts Prefect, so those cases run in-process
here; a gate failure inside ``retrain`` needs the flow (tests/flows/test_cli_retrain.py).
Usage and configuration errors exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ml_core.data import load_bars, sample_bars_path
from regimeforest.cli import app

runner = CliRunner()
DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")  # 30m bars


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    """3,000 real 30-minute BTC bars, clean."""
    return load_bars(sample_bars_path()).iloc[-3000:].reset_index(drop=True)


def _csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(path, index=False)


def _text_in(column: str, row: int, text: str) -> Callable[[pd.DataFrame, Path], None]:
    def write(frame: pd.DataFrame, path: Path) -> None:
        frame = frame.astype({column: object})
        frame.loc[row, column] = text
        _csv(frame, path)
    return write


def _bytes(data: bytes) -> Callable[[pd.DataFrame, Path], None]:
    return lambda frame, path: path.write_bytes(data)


def _bad_time(frame: pd.DataFrame, path: Path) -> None:
    out = frame.astype({"timestamp": object})
    out["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.loc[5, "timestamp"] = "yesterday"
    out.to_csv(path, index=False)


def _truncated_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path)
    path.write_bytes(path.read_bytes()[:2000])


def _parquet_named_csv(frame: pd.DataFrame, path: Path) -> None:
    real = path.with_suffix(".parquet")
    frame.to_parquet(real)
    path.write_bytes(real.read_bytes())


# file name, writer, what the one error line must say
UNREADABLE = [
    ("empty.csv", _bytes(b""), "the file is empty (0 bytes)"),
    ("random.csv", _bytes(np.random.default_rng(0).bytes(4096)), "holds binary data, not CSV text"),
    ("blank.csv", _bytes(b"\n\n\n"), "no header row"),
    ("bars.csv", _parquet_named_csv, "holds a Parquet file (name it .parquet), not CSV text"),
    ("na.csv", _text_in("close", 10, "n/a"), "column 'close' row 10 holds 'n/a', not a number"),
    ("abc.csv", _text_in("open", 7, "abc"), "column 'open' row 7 holds 'abc', not a number"),
    ("time.csv", _bad_time, "column 'timestamp' row 5 holds 'yesterday', not a date-time"),
    ("cut.parquet", _truncated_parquet, "not a readable Parquet file"),
    ("bars.xlsx", _bytes(b"PK\x03\x04"), "unsupported file type '.xlsx'"),
]


def _one_error_line(output: str, path: Path, says: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"error: {path}: ") and says in lines[0], output
    assert "Traceback" not in output


@pytest.mark.parametrize(("name", "write", "says"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_an_unreadable_file_is_refused_in_one_line(
        bars: pd.DataFrame, tmp_path: Path, name: str, write, says: str) -> None:  # noqa: ANN001
    path = tmp_path / name
    write(bars, path)
    checked = runner.invoke(app, ["validate-data", str(path)])
    assert checked.exit_code == 1, checked.output
    _one_error_line(checked.output, path, says)

    store = tmp_path / "mlruns" / "mlflow.db"
    retrained = runner.invoke(app, ["retrain", "--config", DEMO, "--data", str(path),
                                    "--tracking-uri", f"sqlite:///{store}"])
    assert retrained.exit_code == 1, retrained.output
    _one_error_line(retrained.output, path, says)
    assert "nothing was trained or registered" in retrained.output
    assert not store.exists()


def test_a_timeframe_mismatch_names_both_spacings(bars: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    _csv(bars.iloc[::2].reset_index(drop=True), path)
    checked = runner.invoke(app, ["validate-data", str(path), "--timeframe", "30m"])
    assert checked.exit_code == 1
    _one_error_line(checked.output, path, "bars are mostly 1h apart, but --timeframe is 30m")
    retrained = runner.invoke(app, ["retrain", "--config", DEMO, "--data", str(path),
                                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert retrained.exit_code == 1
    _one_error_line(retrained.output, path, "bars are mostly 1h apart, but profile 'demo' "
                                            "expects data.timeframe=30m")


def _gate_defect(frame: pd.DataFrame, defect: str) -> pd.DataFrame:
    frame = frame.copy()
    if defect == "negative":
        frame.loc[10, "close"] = -frame.loc[10, "close"]
    elif defect == "duplicate":
        frame.loc[20, "timestamp"] = frame.loc[19, "timestamp"]
    elif defect == "low_above_high":
        frame.loc[30, "low"] = frame.loc[30, "high"] + 5.0
    elif defect == "null":
        frame.loc[40, "volume"] = np.nan
    elif defect == "no_volume":
        frame = frame.drop(columns="volume")
    elif defect == "no_rows":
        frame = frame.iloc[:0]
    return frame


@pytest.mark.parametrize(
    ("defect", "says"),
    [
        ("negative", "FAIL prices > 0 (column close): 1 price <= 0"),
        ("duplicate", "FAIL timestamps unique"),
        ("low_above_high", "FAIL low <= min(open, close) and low <= high (column low vs high)"),
        ("null", "FAIL no nulls (column volume): 1 null value"),
        ("no_volume", "FAIL required columns exist (column volume)"),
        ("no_rows", "FAIL at least one bar"),
    ],
)
def test_a_gate_failure_is_a_report_naming_rule_and_row(bars: pd.DataFrame, tmp_path: Path,
                                                        defect: str, says: str) -> None:
    path = tmp_path / f"{defect}.csv"
    _csv(_gate_defect(bars, defect), path)
    result = runner.invoke(app, ["validate-data", str(path), "--timeframe", "30m"],
                           terminal_width=300)
    assert result.exit_code == 1, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.output.count("Data quality gate FAILED") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["validate-data", "{tmp}/absent.csv"],
        ["validate-data", "{bars}", "--timeframe", "half an hour"],
        ["validate-data", "{bars}", "--columns", "close"],
        ["retrain", "--config", "{tmp}/absent.yaml"],
        ["retrain", "--config", DEMO, "--data", "{tmp}/absent.csv"],
        ["features", "--config", DEMO],
        ["features", "--list", "--family", "astrology"],
        ["regimes", "{tmp}/absent.csv", "--out", "{tmp}/r.parquet"],
        ["history", "--bogus"],
    ],
    ids=["no-file", "bad-timeframe", "bad-columns", "no-profile", "no-data", "features-no-args",
         "unknown-family", "regimes-no-file", "unknown-option"],
)
def test_usage_and_configuration_errors_exit_2(bars: pd.DataFrame, tmp_path: Path,
                                               args: list[str]) -> None:
    path = tmp_path / "bars.csv"
    _csv(bars.iloc[:50], path)
    argv = [a.format(tmp=tmp_path, bars=path) for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_retrain_keeps_refusals_off_the_console_but_not_other_errors() -> None:
    import logging

    from ml_core.data import BarsSchemaError
    from regimeforest._refusals import RefusalFilter

    quiet = RefusalFilter((BarsSchemaError,))

    def record(msg: str, level: int = logging.ERROR, exc: BaseException | None = None,
               **extra: object) -> logging.LogRecord:
        exc_info = (type(exc), exc, None) if exc is not None else None
        made = logging.LogRecord("prefect.flow_runs", level, __file__, 1, msg, (), exc_info)
        made.__dict__.update(extra)
        return made

    refusal = BarsSchemaError("x.csv: the file is empty")
    assert not quiet.filter(record("Encountered exception during execution", exc=refusal))
    assert not quiet.filter(record(f"Task run failed with exception: {refusal!r}"))
    assert not quiet.filter(record("Finished in state Failed('Flow run encountered an exception: "
                                   "BarsSchemaError: x.csv: the file is empty')", logging.INFO))
    assert not quiet.filter(record("Data quality gate FAILED: ...", quality_report=False))
    # everything else still reaches the console
    assert quiet.filter(record("Data quality gate passed: ...", logging.INFO, quality_report=True))
    assert quiet.filter(record("Finished in state Completed()", logging.INFO))
    assert quiet.filter(record("Encountered exception during execution", exc=KeyError("bug")))
    assert quiet.filter(record("Finished in state Failed('... ZeroDivisionError: ...')"))
