"""``regimeforest predict``: signals of a saved or registered model on a bars file.

Two ways through the same model:

- **batch** (:func:`batch_signals`): the whole file, after the quality gate, through
  :meth:`RegimeForestPipeline.features` and ``predict_rows``; one row per bar whose features
  are complete;
- **replay** (:func:`replay`): the file's rows one at a time, in file order, through
  :meth:`RegimeForestPipeline.stream` as a live feed would send them, with no gate: the stream's
  own guard refuses a bad bar (:class:`~ml_core.pipeline._stream.BarRejected`) and the replay
  goes on with the next. One output row per file row (``status`` ``signal``, ``warmup`` or
  ``refused``) with its latency.

On the same bars both give the same signals (tested). Nothing here prints: the command
(:mod:`regimeforest.cli`) passes callbacks and prints the summaries.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ml_core.config import Config
    from ml_core.pipeline import RegimeForestPipeline

REGIME_PROBS = ("regime_prob_bull", "regime_prob_bear", "regime_prob_sideways")
SIGNAL_COLUMNS = ("timestamp", "signal", "size", "confidence", "p_long", *REGIME_PROBS,
                  "model_name", "model_version")
"""Columns of a batch signals file, in order."""
REPLAY_COLUMNS = ("timestamp", "row", "status", "signal", "size", "confidence", "p_long",
                  *REGIME_PROBS, "latency_us", "model_name", "model_version", "reason")
"""Columns of a replay file, in order: ``row`` is the bar's row in the input file (0 = the first
data row, as the quality gate counts), ``status`` is ``signal``, ``warmup`` (a feature still
warming up: no signal) or ``refused`` (the bar broke a rule, named in ``reason``)."""
_OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FLUSH_EVERY = 512  # rows written to disk at a time during a replay
_ADVANCE_EVERY = 256  # bars between two progress-bar updates
ACTIONS = {1: "BUY", -1: "SELL", 0: "HOLD"}


class PredictError(Exception):
    """``predict`` cannot go on; the message is one line (or a few) naming what and why."""


class NoTrustworthyModel(PredictError):
    """Versions exist but none holds the champion alias: none passed the promotion gate (or the
    monitor withdrew it). Predict then holds on every bar and says why."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


def hold_table(bars: pd.DataFrame, name: str, reason: str) -> pd.DataFrame:
    """HOLD on every bar of ``bars`` (size 0, no model figures) with a ``note`` naming
    ``reason``: what predict writes when there is no trustworthy model."""
    import pandas as pd

    table = pd.DataFrame({"timestamp": bars.index, "signal": 0, "size": 0.0})
    for column in ("confidence", "p_long", *REGIME_PROBS):
        table[column] = float("nan")
    table["model_name"] = name
    table["model_version"] = "none"
    table["note"] = f"no trustworthy model: {reason}"
    return table


def output_kind(out: Path) -> str:
    """``"csv"`` or ``"parquet"`` by ``out``'s suffix; ValueError naming it otherwise."""
    kind = _OUTPUT_KINDS.get(out.suffix.lower())
    if kind is None:
        raise ValueError(f"--out {out}: write signals to a .csv or .parquet file, not "
                         f"{out.suffix or 'a file without a suffix'!r}")
    return kind


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline and the name and version its signal rows carry."""

    pipeline: RegimeForestPipeline
    name: str
    version: str
    source: str  # what was asked for: a directory or a registry URI
    hold_reason: str | None = None  # the gate did not trust it: every signal is HOLD

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}" if self.version.isdigit() else (
            f"{self.name} ({self.version})")


def default_model_uri(profile: Config) -> str:
    """``models:/<registry.model_name>@champion`` of ``profile``."""
    return f"models:/{profile.registry.model_name}@champion"


def load_model(uri: str | None, profile: Config) -> LoadedModel:
    """The model at ``uri``: a saved pipeline directory, or a registry URI read from
    ``profile.registry.tracking_uri`` (default: the profile's champion).

    A ``models:/NAME@ALIAS`` URI is resolved to its version first and that version is
    downloaded (``models:/NAME/VERSION``), so the rows name the version that made them even if
    the alias moves meanwhile. A local directory's version is ``local:<directory name>`` and
    its name the ``registry.model_name`` of the profile it was trained with.

    Raises
    ------
    PredictError
        No such directory or registered model, no version behind the alias (saying how to get
        one), or a model that cannot be read.
    """
    from ml_core._migrations import ModelFormatError
    from ml_core.pipeline import load_pipeline

    uri = uri or default_model_uri(profile)
    local = Path(uri)
    if local.is_dir():
        try:
            pipeline = load_pipeline(local)
        except (FileNotFoundError, ModelFormatError, ValueError) as exc:
            raise PredictError(f"cannot load the model in {local}: {exc}") from None
        return LoadedModel(pipeline, pipeline.config.registry.model_name,
                           f"local:{local.resolve().name}", uri)
    if "://" not in uri and ":/" not in uri:
        raise PredictError(f"--model {uri}: no such directory, and not a registry URI "
                           "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model)")
    return _registered_model(uri, profile)


def _registered_model(uri: str, profile: Config) -> LoadedModel:
    import tempfile

    from mlflow.exceptions import MlflowException

    from ml_core._migrations import ModelFormatError
    from ml_core.pipeline import load_pipeline
    from tasks.registry import Tracker

    tracker = Tracker(profile.registry.tracking_uri)
    name, version = _resolve_version(tracker, uri, profile)
    hold = None
    if version.isdigit():
        tags = tracker.version_tags(name, version)
        if tags.get("gate.trustworthy") == "false":  # asked for by number: served, but holds
            hold = tags.get("gate.reason", "rejected by the promotion gate")
    pinned = f"models:/{name}/{version}" if version.isdigit() else uri
    with tempfile.TemporaryDirectory(prefix="regimeforest-predict-") as tmp:
        try:
            directory = tracker.download_pipeline(pinned, Path(tmp))
            pipeline = load_pipeline(directory)
        except MlflowException as exc:
            raise PredictError(f"cannot download {pinned} from {tracker.tracking_uri}: "
                               f"{exc.message}") from None
        except (FileNotFoundError, ModelFormatError, ValueError) as exc:
            raise PredictError(f"cannot load {pinned}: {exc}") from None
    return LoadedModel(pipeline, name, version, uri, hold)


def _resolve_version(tracker: Any, uri: str, profile: Config) -> tuple[str, str]:
    """``(name, version)`` of a registry URI; the version of an alias as it is now."""
    if not uri.startswith("models:/"):
        return uri, "unregistered"  # runs:/..., a logged model: no version number
    rest = uri.removeprefix("models:/")
    name, at, alias = rest.partition("@")
    if not at:
        name, _, version = rest.rpartition("/")
        return (name, version) if version.isdigit() and name else (rest, "unregistered")
    version = tracker.alias_version(name, alias)
    if version is not None:
        return name, version
    versions = tracker.client.search_model_versions(f"name='{name}'")
    where = f"in the MLflow store {tracker.tracking_uri}"
    config = profile.profile
    if not versions:
        raise PredictError(
            f"no {alias} to predict with: model {name!r} has no registered version {where}. "
            f"Train one with `regimeforest retrain --config {config}` (or point --tracking-uri "
            f"at the store that has it), or pass --model a saved pipeline directory; no signals "
            f"were written")
    ordered = sorted(versions, key=lambda v: int(v.version))
    numbers = ", ".join(f"v{v.version}" for v in ordered)
    if alias == "champion":
        newest = ordered[-1]
        verdict = newest.tags.get("gate.reason") or newest.tags.get("decision_reason")
        raise NoTrustworthyModel(
            f"model {name!r} has versions {numbers} {where}, but no champion: none passed its "
            f"promotion gate" + (f" (v{newest.version}: {verdict})" if verdict else "")
            + "; every bar is HOLD", name)
    raise PredictError(
        f"no {alias} to predict with: model {name!r} has versions {numbers} {where}, but none "
        f"holds the alias {alias!r} (none passed its promotion gate). Give one with "
        f"`regimeforest promote VERSION --reason ...`, pass --model models:/{name}/VERSION, or "
        f"train a new one with `regimeforest retrain --config {config}`; no signals were "
        f"written")


def gate_profile(profile: Config, model: LoadedModel) -> Config:
    """``profile`` with the model's bar length: the gate checks the bars the model reads."""
    timeframe = model.pipeline.config.data.timeframe
    return profile.model_copy(update={"data": profile.data.model_copy(
        update={"timeframe": timeframe})})


# ----------------------------------------------------------------------------- batch
def batch_signals(model: LoadedModel, bars: pd.DataFrame) -> pd.DataFrame:
    """Signals of every bar of ``bars`` whose features are complete (columns
    :data:`SIGNAL_COLUMNS`); warm-up bars are left out."""
    pipeline = model.pipeline
    features = pipeline.features(bars)
    signals = pipeline.predict_rows(features)
    table = signals[["signal", "size", "confidence", "p_long"]].copy()
    for column in REGIME_PROBS:  # from the full matrix: the model may not use them all
        table[column] = features.loc[table.index, column]
    table["model_name"] = model.name
    table["model_version"] = model.version
    table.index.name = "timestamp"
    table = table.reset_index()[list(SIGNAL_COLUMNS)]
    if model.hold_reason is not None:
        table["signal"], table["size"] = 0, 0.0
        table["note"] = f"no trustworthy model: {model.hold_reason}"
    return table


def write_signals(table: pd.DataFrame, out: Path) -> None:
    """``table`` to ``out`` (CSV or Parquet by its suffix), creating its folder."""
    kind = output_kind(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        table.to_csv(out, index=False)
    else:
        table.to_parquet(out, index=False)


def action_counts(signals: Any) -> dict[str, int]:
    """``{"BUY": n, "SELL": n, "HOLD": n}`` of a column of +1 / -1 / 0 signals."""
    counts = Counter(int(s) for s in signals)
    return {action: counts.get(value, 0) for value, action in ACTIONS.items()}


# ----------------------------------------------------------------------------- replay
@dataclass(frozen=True)
class Refusal:
    """A bar the stream refused: its row in the file, time, rule and the full message."""

    row: int
    timestamp: pd.Timestamp | None
    rule: str
    message: str


@dataclass
class ReplayResult:
    """What a replay did."""

    rows: int = 0
    refused: list[Refusal] = field(default_factory=list)
    actions: Counter = field(default_factory=Counter)
    warmup: int = 0
    signal_latency_us: list[float] = field(default_factory=list)
    warmup_latency_us: list[float] = field(default_factory=list)
    check_latency_us: list[float] = field(default_factory=list)

    @property
    def signalled(self) -> int:
        return len(self.signal_latency_us)

    def percentiles(self, which: str = "signal") -> tuple[float, float] | None:
        """(p50, p99) in microseconds of ``signal`` bars (the full live path), ``warmup``
        bars or ``check`` (refused bars: the guard alone); None without such bars."""
        import numpy as np

        values = getattr(self, f"{which}_latency_us")
        if not values:
            return None
        p50, p99 = np.percentile(np.asarray(values), [50, 99])
        return float(p50), float(p99)


def replay(model: LoadedModel, frame: pd.DataFrame, out: Path, *,
           on_refused: Callable[[Refusal], None] = lambda refusal: None,
           advance: Callable[[int], None] = lambda n: None) -> ReplayResult:
    """Feed ``frame``'s rows one at a time through ``model``'s live stream; write a row per bar.

    Parameters
    ----------
    model : LoadedModel
        The pipeline to stream through (a fresh :meth:`~RegimeForestPipeline.stream`), and
        the name and version every row carries.
    frame : pandas.DataFrame
        As :func:`ml_core.data.load_bars` reads a file: file order, row ``i`` = data row ``i``.
        Not gated: the stream refuses what it cannot take.
    out : Path
        ``.csv`` or ``.parquet``. Rows are written as they come, in blocks of
        ``_FLUSH_EVERY``; the file is completed in a ``finally``, so an error or Ctrl-C keeps
        every row replayed so far. A CSV is readable while the replay runs and keeps the flushed
        blocks even if the process is killed; a Parquet file is readable once it is closed.
    on_refused : callable
        Called with each :class:`Refusal` as it happens (the command prints one line).
    advance : callable
        Called with the number of bars done since the last call (a progress bar).

    Returns
    -------
    ReplayResult
        Counts, refusals and per-bar latencies: :meth:`~ml_core.pipeline.PipelineStream.on_bar`
        (check, features, regimes, signal) in microseconds (``time.perf_counter_ns``), writing
        excluded.
    """
    from ml_core.pipeline._stream import BarRejected

    stream = model.pipeline.stream()
    stamps = frame["timestamp"].tolist()
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64").tolist()
    result = ReplayResult()
    clock = time.perf_counter_ns
    constant = (model.name, model.version)
    empty = (None,) * (4 + len(REGIME_PROBS))
    hold = (None if model.hold_reason is None
            else f"no trustworthy model: {model.hold_reason}")  # the reason column says why

    with _row_writer(out) as write:
        for i, (timestamp, (o, h, lo, c, v)) in enumerate(zip(stamps, values, strict=True)):
            if i and not i % _ADVANCE_EVERY:
                advance(_ADVANCE_EVERY)
            start = clock()
            try:
                signal = stream.on_bar(timestamp, o, h, lo, c, v)
            except BarRejected as exc:
                latency = (clock() - start) / 1e3
                result.check_latency_us.append(latency)
                refusal = Refusal(i, exc.timestamp, exc.rule, str(exc))
                result.refused.append(refusal)
                write((_time(timestamp), i, "refused", *empty, latency, *constant, str(exc)))
                on_refused(refusal)
                continue
            latency = (clock() - start) / 1e3
            if signal is None:
                result.warmup += 1
                result.warmup_latency_us.append(latency)
                write((stream.last_timestamp, i, "warmup", *empty, latency, *constant, None))
            else:
                side, size = (0, 0.0) if hold else (signal.signal, signal.size)
                result.actions[ACTIONS[side]] += 1
                result.signal_latency_us.append(latency)
                write((signal.timestamp, i, "signal", side, size,
                       signal.confidence, signal.p_long,
                       *(signal.regime[column] for column in REGIME_PROBS), latency, *constant,
                       hold))
        result.rows = len(stamps)
    if stamps:
        advance(len(stamps) - _ADVANCE_EVERY * ((len(stamps) - 1) // _ADVANCE_EVERY))
    return result


def _time(timestamp: object) -> object:
    """A refused bar's time as the file gave it (None for a missing one)."""
    import pandas as pd

    return None if timestamp is None or timestamp is pd.NaT else timestamp


@contextmanager
def _row_writer(out: Path) -> Iterator[Callable[[tuple], None]]:
    """``write(row)`` appending :data:`REPLAY_COLUMNS` rows to ``out``, flushed in blocks and
    completed on exit, whatever ends the block."""
    kind = output_kind(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pending: list[tuple] = []
    if kind == "csv":
        with out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPLAY_COLUMNS)

            def flush() -> None:
                writer.writerows(_csv_row(row) for row in pending)
                pending.clear()
                handle.flush()

            try:
                yield _buffered(pending, flush)
            finally:
                flush()
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _replay_schema(pa)
    with pq.ParquetWriter(out, schema) as parquet:
        def flush() -> None:
            if pending:
                columns = list(zip(*pending, strict=True))
                parquet.write_table(pa.table(
                    [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
                    schema=schema))
                pending.clear()

        try:
            yield _buffered(pending, flush)
        finally:
            flush()


def _buffered(pending: list[tuple], flush: Callable[[], None]) -> Callable[[tuple], None]:
    def write(row: tuple) -> None:
        pending.append(row)
        if len(pending) >= _FLUSH_EVERY:
            flush()

    return write


def _csv_row(row: tuple) -> list[object]:
    """Empty cells for missing values; floats at full precision (``repr``)."""
    return ["" if value is None or (isinstance(value, float) and math.isnan(value))
            else value for value in row]


def _replay_schema(pa: Any) -> Any:
    floats = [(c, pa.float64()) for c in ("size", "confidence", "p_long", *REGIME_PROBS,
                                          "latency_us")]
    types = dict([("timestamp", pa.timestamp("ns", tz="UTC")), ("row", pa.int64()),
                  ("status", pa.string()), ("signal", pa.int8()), *floats,
                  ("model_name", pa.string()), ("model_version", pa.string()),
                  ("reason", pa.string())])
    return pa.schema([(column, types[column]) for column in REPLAY_COLUMNS])


def check_replay_frame(frame: pd.DataFrame, model: LoadedModel, file: Path) -> None:
    """Refuse, before streaming, a file the stream could not read at all: a missing column, or
    bars mostly spaced other than the model's bar length (they would all be refused, or taken
    as gaps)."""
    from ml_core._durations import format_duration
    from ml_core.data import CANONICAL_COLUMNS, infer_timeframe

    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise PredictError(f"{file}: no column for {missing} (found {list(frame.columns)}); "
                           "map it with --columns SOURCE=CANONICAL; no signals were written")
    expected = model.pipeline.config.data.timeframe
    found = infer_timeframe(frame["timestamp"])
    if found is not None and found != expected:
        raise PredictError(
            f"{file}: bars are mostly {format_duration(found)} apart, but {model.label} reads "
            f"{format_duration(expected)} bars; no signals were written")


def elapsed(since: float) -> str:
    """Seconds since ``since`` (``time.perf_counter()``) as ``"1.2 s"``."""
    return f"{time.perf_counter() - since:.1f} s"


def latency_line(result: ReplayResult) -> str:
    """The latency figures of a replay, in one line."""
    parts = []
    for which, what in (("signal", "signalled bars (features + signal)"),
                        ("warmup", "warm-up bars (features)"),
                        ("check", "refused bars (the guard)")):
        found = result.percentiles(which)
        if found is not None:
            count = len(getattr(result, f"{which}_latency_us"))
            parts.append(f"{what}: p50 {found[0]:,.0f} µs, p99 {found[1]:,.0f} µs "
                         f"({count_of(count, 'bar')})")
    return "latency per bar, " + "; ".join(parts) if parts else "no bar was replayed"


def count_of(n: int, noun: str) -> str:
    """``"1 bar"``, ``"2,000 bars"``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
