"""The registered model behind MLflow's real scoring server (``mlflow models serve``).

One small pipeline is fitted on the bundled sample, logged and registered through the Tracker
into a temporary SQLite store, and served once for the whole module on 127.0.0.1; every case
posts to that server. Good payloads (JSON split and records, CSV; ISO text and epoch
milliseconds) must give exactly the signals of the pipeline applied in-process; bad ones an
HTTP 400 naming the column, row or rule, without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from ml_core.data import signal_rows
from ml_core.pipeline import RegimeForestPipeline, load_pipeline, save_pipeline
from tasks.publish import _RUNTIME_PACKAGES, example_bars
from tasks.registry import Tracker, tracked_run

pytestmark = pytest.mark.slow

NAME = "served"
# The newest compatibility fixture (scripts/make_model_fixture.py): a small fitted model and the
# 800 bars after its training span; saved again here in the current model format.
FIXTURE = max((Path(__file__).resolve().parents[1] / "fixtures" / "models").glob("format_*"),
              key=lambda path: int(path.name.removeprefix("format_")))
STARTUP_TIMEOUT = 180.0


@dataclass(frozen=True)
class Served:
    url: str
    pipeline: RegimeForestPipeline  # as the model loads it (load_pipeline of the logged files)
    bars: pd.DataFrame  # the fixture's last 600 bars: enough for signals on most of them
    tracker: Tracker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_ping(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}:\n"
                        f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no /ping answer within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving")
    bars = pd.read_parquet(FIXTURE / "bars.parquet")
    pipeline = load_pipeline(FIXTURE / "model", engine="sklearn")  # what a retrain holds
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = Tracker(uri)
    with tracked_run(tracker, "serving", "run", {}) as run_id:
        directory = save_pipeline(pipeline, root / "pipeline")
        example = example_bars(pipeline, bars)
        model_uri = tracker.log_pipeline(
            run_id, directory, [f"{p}=={version(p)}" for p in _RUNTIME_PACKAGES],
            model_name=NAME, input_example=example,
            output_example=signal_rows(pipeline.predict(example), NAME, "0"))
    registered = tracker.register(model_uri, NAME, run_id, {"cv_score": "0.5"})
    tracker.move_alias(NAME, "champion", registered, "served by the test")

    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
             f"models:/{NAME}@champion", "--env-manager", "local", "-h", "127.0.0.1", "-p",
             str(port)], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_ping(url, server, log)
        yield Served(url, load_pipeline(directory), bars.iloc[-600:], tracker)
    finally:
        # uvicorn runs in the server's own session: stop the whole group, then reap it
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _post(url: str, body: object, content_type: str = "application/json") -> tuple[int, str]:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data,
                                     headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _iso(bars: pd.DataFrame) -> pd.DataFrame:
    frame = bars.reset_index()
    frame["timestamp"] = [stamp.isoformat() for stamp in frame["timestamp"]]
    return frame


def _epoch_ms(bars: pd.DataFrame) -> pd.DataFrame:
    frame = bars.reset_index()
    frame["timestamp"] = [stamp.value // 1_000_000 for stamp in frame["timestamp"]]
    return frame


def _naive_text(bars: pd.DataFrame) -> pd.DataFrame:
    frame = bars.reset_index()
    frame["timestamp"] = [f"{stamp:%Y-%m-%d %H:%M:%S}" for stamp in frame["timestamp"]]
    return frame


def _split(frame: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": list(frame.columns),
                                "data": frame.astype(object).values.tolist()}}


def _records(frame: pd.DataFrame) -> dict:
    return {"dataframe_records": frame.astype(object).to_dict(orient="records")}


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _expected(served: Served) -> pd.DataFrame:
    signals = served.pipeline.predict(served.bars).reset_index()
    signals["timestamp"] = [stamp.isoformat() for stamp in signals["timestamp"]]
    return signals.assign(model_name=NAME, model_version="1")


@pytest.mark.parametrize(("stamps", "encode", "content_type"), [
    (_iso, _split, "application/json"),
    (_epoch_ms, _records, "application/json"),
    (_naive_text, _split, "application/json"),
    (_iso, _csv, "text/csv"),
    (_epoch_ms, _csv, "text/csv"),
], ids=["split-iso", "records-epoch-ms", "split-naive-utc", "csv-iso", "csv-epoch-ms"])
def test_good_payloads_give_the_pipelines_signals(
        served: Served, stamps: Callable, encode: Callable, content_type: str) -> None:
    status, body = _post(served.url, encode(stamps(served.bars)), content_type)
    assert status == 200, body[:1000]
    got = pd.DataFrame(json.loads(body)["predictions"])
    expected = _expected(served)
    assert len(expected) > 200  # the warm-up leaves most of the 600 bars a signal
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)


def _with(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype(object)
        frame.loc[row, column] = value
        return frame
    return change


def _swap_rows(frame: pd.DataFrame) -> pd.DataFrame:
    order = list(range(len(frame)))
    order[10], order[11] = 11, 10
    return frame.iloc[order].reset_index(drop=True)


def _repeat_row(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame.iloc[:13], frame.iloc[12:]]).reset_index(drop=True)


def _off_grid(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[20, "timestamp"] = (pd.Timestamp(frame.loc[20, "timestamp"])
                                  + pd.Timedelta("7min")).isoformat()
    return frame


def _high_below_low(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[7, "high"] = frame.loc[7, "low"] * 0.99
    return frame


BAD = {
    "missing-column": (lambda f: f.drop(columns=["high"]), "missing inputs ['high']"),
    "text-in-price": (_with("close", 4, "abc"), "column 'close' row 4 holds 'abc', not a number"),
    "missing-price": (_with("open", 9, None), "column 'open' row 9 holds no value"),
    "unsorted": (_swap_rows, "row 11 ("),
    "duplicate": (_repeat_row, "row 13 ("),
    "high-below-low": (_high_below_low, "row 7 ("),
    "bad-timestamp": (_with("timestamp", 3, "next tuesday"),
                      "column 'timestamp' row 3 holds 'next tuesday', not a bar time"),
    "zero-price": (_with("low", 2, 0.0), "breaks the rule prices > 0: low = 0"),
    "negative-volume": (_with("volume", 6, -1.0), "breaks the rule volume >= 0: volume = -1"),
    "off-grid": (_off_grid, "breaks the rule timestamps on the bar grid"),
    "too-few-bars": (lambda f: f.iloc[-100:], "`bars` has 100 rows, fewer than feature "
                                              "`macd_hist_4h` needs: 272 base bars"),
}
RULES = {"unsorted": "breaks the rule timestamps increasing: it is earlier than row 10",
         "duplicate": "breaks the rule timestamps unique: row 12 has the same timestamp",
         "high-below-low": "breaks the rule low <= high: low = "}


@pytest.mark.parametrize("encode", [_split, _csv], ids=["json", "csv"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_payloads_get_a_400_naming_the_fault_without_a_traceback(
        served: Served, case: str, encode: Callable) -> None:
    change, message = BAD[case]
    frame = change(_iso(served.bars))
    status, body = _post(served.url, encode(frame),
                         "text/csv" if encode is _csv else "application/json")
    assert status == 400, body[:500]
    reply = json.loads(body)
    assert message in reply["message"]
    assert RULES.get(case, "") in reply["message"]
    assert "stack_trace" not in reply and "Traceback" not in body


def test_the_rows_name_the_registered_version_under_every_uri(served: Served) -> None:
    """models:/name/1, models:/name@champion and the logged model's own id load the same
    registration record; the logged model's page lists the version."""
    import mlflow

    mlflow.set_tracking_uri(served.tracker.tracking_uri)
    model_id = served.tracker.client.get_model_version(NAME, "1").source.removeprefix("models:/")
    logged = served.tracker.client.get_logged_model(model_id)
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": NAME, "version": 1}]
    bars = served.bars.astype(object)  # what a JSON body becomes: the signature types text
    for uri in (f"models:/{NAME}/1", f"models:/{NAME}@champion", f"models:/{model_id}"):
        rows = mlflow.pyfunc.load_model(uri).predict(bars)
        assert set(rows["model_name"]) == {NAME} and set(rows["model_version"]) == {"1"}, uri
    pd.testing.assert_frame_equal(rows, _expected(served), check_dtype=False, check_exact=True)


def test_the_model_carries_its_code_signature_example_and_pinned_requirements(
        served: Served, tmp_path: Path) -> None:
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    local = Path(download_artifacts(f"models:/{NAME}/1", dst_path=str(tmp_path),
                                    tracking_uri=served.tracker.tracking_uri))
    model = Model.load(local)
    assert (local / "code" / "ml_core" / "data" / "_payload.py").is_file()
    assert model.signature.inputs.input_names() == ["timestamp", "open", "high", "low", "close",
                                                    "volume"]
    assert model.signature.outputs.input_names() == list(_expected(served).columns)
    assert model.signature.outputs.input_dict()["signal"].type.name == "long"
    example = json.loads((local / "serving_input_example.json").read_text())["dataframe_split"]
    assert example["columns"] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert 64 <= len(example["data"]) <= 4096  # the shortest tail that gives a signal
    status, body = _post(served.url, {"dataframe_split": example})
    assert status == 200 and json.loads(body)["predictions"], body[:500]
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements == [f"{p}=={version(p)}" for p in _RUNTIME_PACKAGES]
    assert json.loads((local / "registration.json").read_text()) == {"name": NAME,
                                                                      "version": "1"}


def test_no_complete_row_says_how_many_bars_the_model_needs(served: Served) -> None:
    """Enough bars for every lookback, yet no row with all features (possible after gaps or on
    higher-timeframe bin edges): a 400 that says how many bars the slowest input needs."""
    import importlib

    from mlflow.exceptions import MlflowException

    module = importlib.import_module("tasks.pyfunc_model")

    class NoRows:
        config = served.pipeline.config
        feature_columns = served.pipeline.feature_columns

        def predict(self, bars: pd.DataFrame) -> pd.DataFrame:
            return served.pipeline.predict(bars).iloc[:0]

    model = module.RegimeForestModel()
    model.pipeline, model.model_name, model.model_version = NoRows(), NAME, "1"
    with pytest.raises(MlflowException) as raised:
        model.predict(None, served.bars.iloc[-300:])
    assert raised.value.get_http_status_code() == 400
    assert raised.value.message == (
        "too few bars for warm-up: none of the 300 bars posted has complete features; this "
        "model needs at least 272 consecutive bars of 30m before its first signal (its slowest "
        "input, 'macd_hist_4h', looks back 34 bars of 4h)")
