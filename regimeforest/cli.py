"""``regimeforest``: retrain, check data, compute features and regimes, move the model aliases.

Heavy engines (Prefect, MLflow, Great Expectations, scikit-learn) are imported inside the commands
that use them, so ``regimeforest --help`` answers at once and ``history``, ``promote`` and
``rollback`` never import Prefect or Great Expectations.

Exit codes, for every command: 0 done; 1 refused (the data failed a check or cannot be read as
bars, or the registry refuses the move), with one ``error:`` line naming the file or version and
what is wrong; 2 usage or configuration error (unknown option, missing file, invalid profile).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from regimeforest._backfill import backfill_command
from regimeforest._compare import COMPARE_HELP, compare_command
from regimeforest._lifecycle import (live_replay_command, monitor_command, serving_uri_command,
                                     shadow_command)
from regimeforest._env import configure_engines, exit_on_sigterm
from regimeforest._progress import progress

app = typer.Typer(
    name="regimeforest",
    help=(
        "Regime-aware random-forest trading signals, retrained weekly.\n\n"
        "Start with `regimeforest retrain` (the demo profile on the bundled BTC sample), then "
        "`regimeforest ui` to compare runs. Results go to the MLflow store "
        "sqlite:///mlruns/mlflow.db unless --tracking-uri says otherwise."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

_PROJECT_ROOT = Path(__file__).resolve().parents[1]

ConfigOption = Annotated[
    str,
    typer.Option("--config", "-c", help="Profile YAML, or a profile name: demo, production."),
]
TrackingOption = Annotated[
    Optional[str],
    typer.Option("--tracking-uri", help="MLflow store (default: the profile's, "
                 "sqlite:///mlruns/mlflow.db)."),
]
ColumnsOption = Annotated[
    Optional[str],
    typer.Option("--columns", help="Map unrecognised columns: 'ts=timestamp,px_last=close'."),
]


def _config_path(value: str) -> Path:
    """A path as given, or a profile name looked up in ./configs then in the project's configs."""
    path = Path(value)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    for root in (Path.cwd(), _PROJECT_ROOT):
        candidate = root / "configs" / f"{value}.yaml"
        if candidate.is_file():
            return candidate
    return path


def _default_config() -> str:
    local = Path("configs/demo.yaml")
    return str(local if local.is_file() else _PROJECT_ROOT / "configs" / "demo.yaml")


def _parse_columns(spec: str | None) -> dict[str, str]:
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise typer.BadParameter(f"expected SOURCE=CANONICAL pairs, got {item!r}",
                                     param_hint="--columns")
        mapping[source.strip()] = target.strip()
    return mapping


REFUSED, USAGE = 1, 2  # exit codes: the data or the registry said no / the command line is wrong


def _fail(message: str, code: int = REFUSED) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _require_file(path: Path) -> None:
    """A usage error (exit 2) when ``path`` is not a file."""
    if not path.is_file():
        _fail(f"{path}: file not found", USAGE)


def _read_bars(file: Path, columns: dict[str, str] | None):  # noqa: ANN202 - a bars frame
    """``load_bars`` with its refusal (empty, binary, text in a price column...) as one line."""
    from ml_core.data import BarsSchemaError, load_bars

    try:
        return load_bars(file, columns)
    except BarsSchemaError as exc:
        _fail(str(exc))


def _load_profile(config: str, data: str | None = None, tracking_uri: str | None = None,
                  columns: dict[str, str] | None = None):
    from ml_core.config import ConfigError
    from tasks.profile import resolve_profile

    try:
        return resolve_profile(_config_path(config), data, tracking_uri, columns)
    except ConfigError as exc:
        _fail(str(exc), USAGE)


@app.command()
def retrain(
    config: ConfigOption = _default_config(),
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Bars file (CSV, Parquet, Feather); default: the profile's data.path "
        "or the bundled sample.")] = None,
    tracking_uri: TrackingOption = None,
    columns: ColumnsOption = None,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Train on the bars closed (and stored) by this UTC date-time, e.g. "
        "2019-09-01 or 2019-09-01T12:00; default: now.")] = None,
) -> None:
    """Run the weekly retrain once: read the bars known at --as-of -> validate -> features ->
    regime -> labels -> tune -> train -> CPCV -> register -> promote. Exits 1 (nothing
    registered) if the data fails its checks."""
    configure_engines()
    mapping = _parse_columns(columns)
    profile = _load_profile(config, str(data) if data else None, tracking_uri, mapping)
    from ml_core.data import BarsSchemaError, load_bars, utc_timestamp
    from tasks.data import check_timeframe, data_source

    try:
        moment = None if as_of is None else utc_timestamp(as_of, "--as-of")
    except ValueError as exc:
        _fail(f"{exc}: nothing was trained or registered")
    source = data_source(profile)
    if profile.data.symbol is None:
        _require_file(source)
        # Refuse an unreadable file before starting Prefect's server (~10-20 s), in one line.
        try:
            check_timeframe(load_bars(source, profile.data.columns), profile, source)
        except BarsSchemaError as exc:
            _fail(f"{exc}: nothing was trained or registered")
    console.print(f"[bold]regimeforest retrain[/] profile [cyan]{profile.profile}[/], "
                  f"data {data or source}, as of {moment or 'now'}", soft_wrap=True)

    from flows.weekly_retrain import weekly_retrain
    from regimeforest._refusals import quiet_refusals
    from tasks.quality import DataQualityError

    from regimeforest._serve import ServeError
    from regimeforest._server import prefect_api

    exit_on_sigterm()
    try:
        with prefect_api(_dim), quiet_refusals((DataQualityError, BarsSchemaError)):
            summary = weekly_retrain(config_path=str(_config_path(config)),
                                     data=str(data) if data else None,
                                     tracking_uri=tracking_uri, columns=mapping or None,
                                     as_of=None if moment is None else moment.to_pydatetime())
    except DataQualityError as exc:
        err.print(exc.report.to_text(), highlight=False, markup=False, soft_wrap=True)
        _fail("the data failed its quality checks: nothing was trained or registered")
    except BarsSchemaError as exc:
        _fail(f"{exc}: nothing was trained or registered")
    except ServeError as exc:
        _fail(f"{exc}\nNothing was trained or registered.")
    except (ValueError, KeyError, LookupError) as exc:
        # ml_core's errors name the parameter, feature or value; the run is marked FAILED
        _fail(f"the retrain stopped: {exc}\nThe MLflow run is marked FAILED and nothing was "
              f"registered or promoted.")
    _print_summary(summary)


app.command("backfill")(backfill_command)
app.command("shadow")(shadow_command)
app.command("monitor")(monitor_command)
app.command("live-replay")(live_replay_command)
app.command("serving-uri")(serving_uri_command)
app.command("compare", help=COMPARE_HELP)(compare_command)


def _dim(line: str) -> None:
    err.print(line, style="dim", highlight=False, soft_wrap=True)


def _print_summary(s) -> None:  # noqa: ANN001 - a RetrainSummary
    from tasks.summary import describe_score, describe_scores, row_label

    table = Table(title="weekly retrain", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("data checks", f"{s.rules_passed}/{s.rules_total} rules passed on "
                  f"{s.data_rows:,} rows ({s.data_source})")
    if s.as_of:
        table.add_row("as of", f"{s.as_of}: {s.data_span}, {s.data_key}")
    table.add_row("features", f"{s.n_features} features, {s.n_events:,} labelled events used "
                  f"({s.n_dropped_warmup} dropped in warm-up)")
    persistence = ", ".join(
        f"{label} p_stay {row['p_stay']:.3f} (~{row['expected_duration_bars']:.1f} bars)"
        for label, row in s.regime_persistence.items())
    table.add_row("regime persistence", persistence)
    for model, scores in s.cv_scores.items():
        table.add_row(row_label(model), describe_scores(model, scores))
    table.add_row("score", describe_score(s.promotion_metric, s.score))
    alias = s.alias or "no alias"
    if s.alias == "champion":
        champion = "[green]is the champion[/]"
    elif s.champion_version is not None:
        champion = f"champion stays v{s.champion_version}"
    else:
        champion = "[yellow]no champion: no trustworthy model, predict holds[/]"
    if s.alias not in (None, "champion", "challenger"):
        champion = f"[cyan]in rollout (stage {s.alias})[/]; " + champion
    table.add_row("registered", f"{s.model_name} v{s.version} -> {alias}; {champion}")
    table.add_row("why", s.decision_reason)
    table.add_row("MLflow run", f"{s.run_id} in experiment {s.experiment!r}")
    console.print(table)
    # outside the table: a link cut to the column's width opens nothing
    console.print(f"[bold]look at it[/]  {s.ui_hint()}", soft_wrap=True)


@app.command("validate-data")
def validate_data(
    file: Annotated[Path, typer.Argument(help="Bars file: CSV, Parquet or Feather.")],
    timeframe: Annotated[Optional[str], typer.Option(
        "--timeframe", "-t", help="Bar length, e.g. 30m, 1h (default: the most common spacing).")
    ] = None,
    max_gap_ratio: Annotated[float, typer.Option(
        help="Largest allowed missing bars / present bars.")] = 0.01,
    columns: ColumnsOption = None,
    docs: Annotated[Optional[Path], typer.Option(
        help="Also write Great Expectations Data Docs HTML into this folder.")] = None,
) -> None:
    """Run the OHLCV quality gate on FILE: exit 0 if every rule passes, 1 with a report if not."""
    configure_engines()
    bar = _parse_timeframe(timeframe)
    _require_file(file)
    with progress(err) as step:
        step(f"reading {file}")
        frame = _read_bars(file, _parse_columns(columns))
        found = _spacing(file, frame, bar)
        step(f"checking {len(frame):,} rows (Great Expectations)")
        from expectations import run_quality_gate

        report = run_quality_gate(frame, timeframe=bar or found or timedelta(minutes=1),
                                  max_gap_ratio=max_gap_ratio, source=str(file), docs_dir=docs)
    console.print(report.to_text(), highlight=False, markup=False)
    if report.data_docs is not None:
        console.print(f"Data Docs: {report.data_docs}")
    raise typer.Exit(0 if report.success else REFUSED)


StoreOption = Annotated[
    Optional[str],
    typer.Option("--store", envvar="REGIMEFOREST_STORE_URL", show_envvar=True,
                 help="Bar store URL (default sqlite:///mlruns/bars.db; "
                      "postgresql://user@host/db at scale)."),
]


def _open_store(url: str | None):  # noqa: ANN202 - a BarStore
    """The bar store at ``url`` (default: the embedded one), or exit 2 naming the URL."""
    import sqlalchemy as sa

    from tasks.bar_store import DEFAULT_STORE_URL, BarStore

    bar_store = BarStore(url or DEFAULT_STORE_URL)
    try:
        bar_store.engine  # noqa: B018 - connects, creates the tables
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        _fail(f"cannot open the bar store {bar_store.url}: {str(exc).splitlines()[0]}", USAGE)
    return bar_store


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Bars file: CSV, Parquet or Feather.")],
    symbol: Annotated[Optional[str], typer.Option(
        "--symbol", "-s", help="Series name (default: the file's name without extension).")
    ] = None,
    timeframe: Annotated[Optional[str], typer.Option(
        "--timeframe", "-t", help="Bar length, e.g. 30m, 1h (default: the most common spacing).")
    ] = None,
    columns: ColumnsOption = None,
    revise: Annotated[bool, typer.Option(
        "--revise", help="Record bars that differ from stored ones as a revision (kept beside "
        "the old values) instead of refusing the file.")] = False,
    max_gap_ratio: Annotated[float, typer.Option(
        help="Largest allowed missing bars / present bars.")] = 0.01,
    store: StoreOption = None,
) -> None:
    """Run the quality gate on FILE and add its bars to the bar store.

    Bars already stored with the same values are skipped (re-ingesting changes nothing). A bar
    whose values differ from the stored ones refuses the whole file (exit 1, naming timestamps
    and values) unless --revise; a refused file leaves the store unchanged.
    """
    configure_engines()
    bar = _parse_timeframe(timeframe)
    _require_file(file)
    series = symbol or file.stem
    with progress(err) as step:
        step(f"reading {file}")
        frame = _read_bars(file, _parse_columns(columns))
        found = _spacing(file, frame, bar)
        bar_store = _open_store(store)
        if bar is None and found is not None:
            from ml_core._durations import format_duration

            stored = bar_store.timeframes(series)
            if stored and format_duration(found) not in stored:
                _fail(f"{file}: bars are mostly {format_duration(found)} apart, but {series} is "
                      f"stored at {', '.join(stored)}; pass --timeframe {format_duration(found)} "
                      f"to start a {format_duration(found)} series: nothing was stored")
        step(f"checking {len(frame):,} rows (Great Expectations)")
        from expectations import run_quality_gate

        report = run_quality_gate(frame, timeframe=bar or found or timedelta(minutes=1),
                                  max_gap_ratio=max_gap_ratio, source=str(file))
        if not report.success:
            err.print(report.to_text(), highlight=False, markup=False)
            _fail(f"{file} failed its quality checks: nothing was stored")
        step(f"storing {len(frame):,} bars in {bar_store.url}")
        from ml_core.data import as_bars
        from tasks.bar_store import BarStoreError

        try:
            done = bar_store.ingest(as_bars(frame), series, bar or found, source=str(file),
                                    sha256=_file_sha256(file), rows=len(frame), revise=revise)
        except BarStoreError as exc:
            _fail(str(exc))
    counts = (f"{done.n_new:,} new, {done.n_identical:,} already stored, "
              f"{done.n_revised:,} revised")
    if done.ingest_id is None:
        console.print(f"{series}/{done.timeframe}: all {done.n_identical:,} bars of {file} are "
                      f"already stored with the same values: the store is unchanged",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"{series}/{done.timeframe}: ingest #{done.ingest_id} of {file} "
                      f"({done.first} .. {done.last}): {counts}", highlight=False, soft_wrap=True)


@app.command("store")
def store_(
    store: StoreOption = None,
    history_: Annotated[bool, typer.Option(
        "--history", help="List every ingest (time, file, hash, rows, counts) instead.")] = False,
) -> None:
    """List the stored series: symbol, timeframe, first and last bar, bars, gaps, last ingest."""
    bar_store = _open_store(store)
    if history_:
        table = Table(title=f"ingests in {bar_store.url}", title_justify="left")
        for name in ("#", "at (UTC)", "series", "file", "sha256", "rows", "bars", "new",
                     "same", "revised"):
            table.add_column(name, justify="right" if name in {"#", "rows", "new", "same",
                                                                 "revised"} else "left")
        for r in bar_store.history().itertuples():
            table.add_row(str(r.id), f"{r.at:%Y-%m-%d %H:%M:%S}", f"{r.symbol}/{r.timeframe}",
                          r.file, r.sha256[:12], f"{r.rows:,}", f"{r.first} .. {r.last}",
                          f"{r.n_new:,}", f"{r.n_identical:,}", f"{r.n_revised:,}")
        (console if console.is_terminal else Console(width=240)).print(table)
        return
    summary = bar_store.summary()
    if summary.empty:
        console.print(f"the bar store {bar_store.url} is empty: add bars with "
                      "`regimeforest ingest FILE`")
        return
    table = Table(title=f"bar store {bar_store.url}", title_justify="left")
    for name in ("symbol", "timeframe", "first", "last", "bars", "gaps (missing bars)",
                 "last ingest (UTC)"):
        table.add_column(name, justify="right" if name in {"bars", "gaps (missing bars)"}
                         else "left", no_wrap=True)
    for r in summary.itertuples():
        table.add_row(r.symbol, r.timeframe, f"{r.first:%Y-%m-%d %H:%M}",
                      f"{r.last:%Y-%m-%d %H:%M}", f"{r.bars:,}", f"{r.gaps:,} ({r.missing:,})",
                      f"#{r.last_ingest_id} {r.last_ingest:%Y-%m-%d %H:%M} {r.last_file}")
    (console if console.is_terminal else Console(width=240)).print(table)


def _parse_timeframe(timeframe: str | None) -> timedelta | None:
    if timeframe is None:
        return None
    from ml_core.config import parse_duration  # only here: pydantic's models cost ~0.2 s

    try:
        return parse_duration(timeframe)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--timeframe") from exc


def _spacing(file: Path, frame, bar: timedelta | None) -> timedelta | None:  # noqa: ANN001
    """The bars' spacing; refused (exit 1) when it is not ``bar`` (--timeframe)."""
    found = _infer_timeframe(frame)
    if bar is not None and found is not None and found != bar:
        from ml_core.features import timeframe_label

        _fail(f"{file}: bars are mostly {timeframe_label(found)} apart, but --timeframe is "
              f"{timeframe_label(bar)}")
    return found


def _infer_timeframe(frame) -> timedelta | None:  # noqa: ANN001
    """The bars' most common spacing (None without timestamps)."""
    from ml_core.data import infer_timeframe

    return infer_timeframe(frame["timestamp"]) if "timestamp" in frame.columns else None


def _print_catalogue(profile: object, family: str | None) -> None:
    from collections import Counter

    from ml_core.pipeline import feature_catalogue

    specs = feature_catalogue(profile)
    if family is not None:
        specs = {k: v for k, v in specs.items() if v.family == family}
        if not specs:
            _fail(f"no feature of family {family!r}; families: technical, statistical, regime, "
                  "onchain_proxy, risk", USAGE)
    from ml_core.features import timeframe_label

    table = Table(title=f"features of profile {profile.profile!r} "
                        f"({timeframe_label(profile.data.timeframe)} base bars)")
    for name, justify in (("feature", "left"), ("family", "left"), ("timeframe", "right"),
                          ("lookback", "right"), ("description", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "description")
    for spec in specs.values():
        table.add_row(spec.name, spec.family, spec.timeframe, str(spec.lookback),
                      spec.description)
    # Piped to a file or a pager, keep one line per feature.
    (console if console.is_terminal else Console(width=220)).print(table)
    counts = Counter(s.family for s in specs.values())
    console.print(f"{len(specs)} columns: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    console.print("[dim]onchain_proxy columns are computed from exchange price and volume; "
                  "they are proxies, not on-chain data.[/dim]")


def _gated_bars(file: Path, profile: object, consequence: str,
                step: Callable[[str], None]):  # noqa: ANN202 - bars frame
    """FILE loaded with the profile's column map, through the quality gate, as indexed bars."""
    from ml_core.data import as_bars

    _require_file(file)
    step(f"reading {file}")
    frame = _read_bars(file, profile.data.columns)
    step(f"checking {len(frame):,} rows (Great Expectations)")
    from expectations import run_quality_gate

    report = run_quality_gate(frame, timeframe=profile.data.timeframe,
                              max_gap_ratio=profile.data.max_gap_ratio, source=str(file))
    if not report.success:
        err.print(report.to_text(), highlight=False, markup=False)
        _fail(f"{file} failed its quality checks; {consequence}")
    return as_bars(frame)


def _registered_pipeline(model: str, profile: object):  # noqa: ANN202 - a RegimeForestPipeline
    """A saved pipeline from a local directory or a registry URI (models:/NAME@ALIAS)."""
    import tempfile

    from ml_core.pipeline import load_pipeline

    local = Path(model)
    with tempfile.TemporaryDirectory() as tmp:
        if local.is_dir():
            directory = local
        else:
            from tasks.registry import Tracker

            directory = Tracker(profile.registry.tracking_uri).download_pipeline(model, Path(tmp))
        pipeline = load_pipeline(directory)
    console.print(f"applying the fitted state of {model}")
    return pipeline


@app.command()
def features(
    file: Annotated[Optional[Path], typer.Argument(
        help="Bars file: CSV, Parquet or Feather (not needed with --list).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output Parquet file.")] = None,
    list_: Annotated[bool, typer.Option(
        "--list", help="Print the feature registry of the profile (name, family, timeframe, "
        "lookback in bars, description) and exit.")] = False,
    family: Annotated[Optional[str], typer.Option(
        "--family", help="With --list: only this family (technical, statistical, regime, "
        "onchain_proxy, risk).")] = None,
    config: ConfigOption = _default_config(),
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Apply a registered pipeline's fitted state (e.g. "
        "models:/regimeforest-demo@champion) instead of fitting the HMM on FILE.")] = None,
    tracking_uri: TrackingOption = None,
    columns: ColumnsOption = None,
) -> None:
    """Write the causal feature matrix of FILE (indexed by bar time) to OUT, or --list them."""
    if list_:
        _print_catalogue(_load_profile(config, None, tracking_uri), family)
        return
    if file is None or out is None:
        _fail("give a bars FILE and --out OUT.parquet (or --list to print the registry)", USAGE)
    configure_engines()
    profile = _load_profile(config, str(file), tracking_uri, _parse_columns(columns))
    with progress(err) as step:
        bars = _gated_bars(file, profile, "features were not computed", step)
        if model is not None:
            step(f"loading {model}")
            pipeline = _registered_pipeline(model, profile)
        else:
            step(f"fitting the regime HMM on {len(bars):,} bars")
            from ml_core.pipeline import RegimeForestPipeline
            from ml_core.regime import RegimeHMM

            regime = RegimeHMM.from_config(profile.regime, profile.data.timeframe,
                                           profile.seed).fit(bars)
            pipeline = RegimeForestPipeline(config=profile, regime=regime)
        step(f"computing features on {len(bars):,} bars")
        matrix = pipeline.features(bars)
        step(f"writing {out}")
        out.parent.mkdir(parents=True, exist_ok=True)
        matrix.to_parquet(out)
    complete = int(matrix.notna().all(axis=1).sum())
    console.print(f"wrote {matrix.shape[1]} features x {len(matrix):,} bars to {out} "
                  f"({complete:,} rows complete after warm-up)")


_REGIMES_HELP = """Write the regime of every closed regime bar of FILE to OUT (Parquet).

One row per regime bar (the profile's `regime.timeframe`, e.g. 4h), indexed by `available_at`:
the time the bar closed and its values became known. Columns: `prob_bull`, `prob_bear`,
`prob_sideways` = the forward-filtered P(regime | bars up to `available_at`), which never uses a
later bar; `label` = the most likely regime (bull, bear, sideways); `state` = its number
(0, 1, 2). The first bars, needed to warm up the volatility observation, are left out.

The data must pass the quality gate first. With `--model` the fitted HMM of a registered pipeline
is applied unchanged (what the model saw in training); otherwise the HMM is fitted on FILE with
the profile's `regime` settings.
"""


@app.command(help=_REGIMES_HELP)
def regimes(
    file: Annotated[Path, typer.Argument(help="Bars file: CSV, Parquet or Feather.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output Parquet file.")],
    config: ConfigOption = _default_config(),
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Apply a registered pipeline's fitted HMM (e.g. "
        "models:/regimeforest-demo@champion, or a saved pipeline directory) instead of fitting "
        "it on FILE.")] = None,
    smoothed: Annotated[bool, typer.Option(
        "--smoothed", help="Also write the forward-backward posteriors as "
        "smoothed_diagnostic_prob_* and smoothed_diagnostic_label. They use LATER bars "
        "(hindsight): for judging the fit and the filter's lag, never as a signal.")] = False,
    tracking_uri: TrackingOption = None,
    columns: ColumnsOption = None,
) -> None:
    configure_engines()
    profile = _load_profile(config, str(file), tracking_uri, _parse_columns(columns))
    with progress(err) as step:
        bars = _gated_bars(file, profile, "regimes were not computed", step)
        if model is not None:
            step(f"loading {model}")
            regime = _registered_pipeline(model, profile).regime
        else:
            step(f"fitting the regime HMM on {len(bars):,} bars")
            from ml_core.regime import fit_regime_model

            try:
                regime = fit_regime_model(bars, profile.regime, profile.data.timeframe,
                                          profile.seed)
            except ValueError as exc:
                _fail(f"cannot fit the regime model on {file}: {exc}")
        step("filtering the regime probabilities")
        table = _regime_table(regime, bars, smoothed)
        step(f"writing {out}")
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out)
    if model is None:
        console.print(f"fitted the HMM on {regime.n_fit_bars_:,} regime bars of {file}")
    _print_regimes(table, out)


def _regime_table(regime: object, bars: object, smoothed: bool):  # noqa: ANN202 - DataFrame
    """Filtered probabilities, label and state per closed regime bar (warm-up rows dropped)."""
    import numpy as np

    from ml_core.regime import REGIME_LABELS, get_regime_probabilities

    filtered = get_regime_probabilities(regime, bars)
    valid = filtered[list(REGIME_LABELS)].notna().all(axis=1)
    probs = filtered.loc[valid, list(REGIME_LABELS)]
    state = probs.to_numpy().argmax(axis=1)
    table = probs.add_prefix("prob_")
    table["label"] = np.asarray(REGIME_LABELS, dtype=object)[state]
    table["state"] = state.astype("int8")
    if smoothed:
        hindsight = get_regime_probabilities(regime, bars, smoothed=True)
        hindsight = hindsight[[f"smoothed_diagnostic_{k}" for k in REGIME_LABELS]].loc[valid]
        for k in REGIME_LABELS:
            table[f"smoothed_diagnostic_prob_{k}"] = hindsight[f"smoothed_diagnostic_{k}"]
        table["smoothed_diagnostic_label"] = np.asarray(REGIME_LABELS, dtype=object)[
            hindsight.to_numpy().argmax(axis=1)]
    table.index.name = "available_at"
    return table


def _print_regimes(table, out: Path) -> None:  # noqa: ANN001 - the regimes frame
    if table.empty:
        console.print(f"wrote 0 regime bars to {out}: FILE is shorter than the warm-up")
        return
    label = str(table["label"].iloc[-1])
    share = table["label"].value_counts(normalize=True)
    console.print(
        f"wrote {len(table):,} regime bars to {out} ({table.index[0]} .. {table.index[-1]}); "
        "time in each regime: " + ", ".join(f"{k} {v:.0%}" for k, v in share.items()))
    console.print(f"latest closed regime bar ({table.index[-1]}): [bold]{label}[/] "
                  f"(P = {table['prob_' + label].iloc[-1]:.2f})", highlight=False)
    if "smoothed_diagnostic_label" in table:
        agree = (table["smoothed_diagnostic_label"] == table["label"]).mean()
        console.print(f"filtered and smoothed (hindsight) labels agree on {agree:.1%} of bars; "
                      "smoothed_diagnostic_* columns use later bars: diagnostics only")


_PREDICT_HELP = """Write the signals of a model on the bars of FILE to OUT (.csv or .parquet).

**Batch** (default): FILE passes the quality gate, then every bar whose features are complete
gets a row: timestamp, signal (+1 BUY, -1 SELL, 0 HOLD), size, confidence, p_long,
regime_prob_bull, regime_prob_bear, regime_prob_sideways, model_name, model_version.

**--replay**: the rows of FILE are fed one at a time, in file order, to the live stream, as a
feed would send them; no gate runs first. Every row of FILE gets a row in OUT, also `row` (its
row in FILE, 0 = the first data row), `status` (`signal`; `warmup`: a feature is still warming
up, no signal; `refused`), `latency_us` (features + signal of that bar) and `reason`. A bar
that is out of order, repeated, off the bar grid or invalid (a price <= 0 or missing, high <
max(open, close), low > min(open, close), volume < 0) is refused with one line naming its row,
time and rule, and the replay goes on as if it had never come. Rows are written as they come:
an error or Ctrl-C keeps the rows so far. Latency p50/p99 are printed at the end.

The model (--model): a saved pipeline directory, or a registry URI read from the profile's
MLflow store (--tracking-uri): `models:/NAME@ALIAS`, `models:/NAME/VERSION`. Default: the
profile's champion, `models:/<registry.model_name>@champion`.

Exit codes: 0 done (with --replay: every bar accepted); 1 refused: no champion, unreadable
model, FILE fails its checks, or with --replay at least one bar was refused (the other rows are
in OUT); 2 usage error; 130 interrupted (Ctrl-C; with --replay the rows so far are in OUT).

Examples:

    regimeforest predict bars.csv --out signals.parquet

    regimeforest predict bars.parquet --out signals.csv --model models:/regimeforest-demo/3

    regimeforest predict --replay feed.csv --out replay.csv --model ./saved_model
"""


@app.command(help=_PREDICT_HELP)
def predict(
    file: Annotated[Path, typer.Argument(help="Bars file: CSV, Parquet or Feather.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Signals file: .csv or .parquet.")],
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Saved pipeline directory or registry URI (models:/NAME@ALIAS, "
        "models:/NAME/VERSION); default: the profile's champion.")] = None,
    config: ConfigOption = _default_config(),
    replay: Annotated[bool, typer.Option(
        "--replay", help="Feed the bars one at a time through the live stream (no gate; bad "
        "bars are refused and skipped); one row per bar with its latency.")] = False,
    tracking_uri: TrackingOption = None,
    columns: ColumnsOption = None,
) -> None:
    import time

    started = time.perf_counter()
    configure_engines()
    from regimeforest import _predict

    try:
        _predict.output_kind(out)
    except ValueError as exc:
        _fail(str(exc), USAGE)
    _require_file(file)
    profile = _load_profile(config, str(file), tracking_uri, _parse_columns(columns))
    with progress(err) as step:
        step(f"loading {model or _predict.default_model_uri(profile)}")
        try:
            loaded = _predict.load_model(model, profile)
        except _predict.NoTrustworthyModel as exc:
            bars = _gated_bars(file, profile, "no signals were written", step)
            _predict.write_signals(_predict.hold_table(bars, exc.name, str(exc)), out)
            console.print(f"no trustworthy model: {exc}; wrote HOLD for {len(bars):,} bars of "
                          f"{file} to {out}", highlight=False, soft_wrap=True)
            return
        except _predict.PredictError as exc:
            _fail(str(exc))
        if replay:
            step(f"reading {file}")
            frame = _read_bars(file, profile.data.columns)
        else:
            bars = _gated_bars(file, _predict.gate_profile(profile, loaded),
                               "no signals were written", step)
            step(f"predicting {len(bars):,} bars with {loaded.label}")
            table = _predict.batch_signals(loaded, bars)
            step(f"writing {out}")
            _predict.write_signals(table, out)
    if not replay:
        counts = _predict.action_counts(table["signal"])
        console.print(f"wrote {len(table):,} signals of {loaded.label} on {len(bars):,} bars "
                      f"of {file} to {out} ({len(bars) - len(table):,} bars warming up); "
                      + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                      + f"; {_predict.elapsed(started)}", highlight=False, soft_wrap=True)
        return
    _replay(_predict, loaded, frame, file, out, started)


_MAX_REFUSAL_LINES = 20  # lines naming refused bars; a file out of order throughout has many


def _replay(_predict, loaded, frame, file: Path, out: Path,  # noqa: ANN001 - module, model, frame
            started: float) -> None:
    """``predict --replay``: stream FILE's rows with a progress bar; summary, exit code."""
    from contextlib import nullcontext

    try:
        _predict.check_replay_frame(frame, loaded, file)
    except _predict.PredictError as exc:
        _fail(str(exc))

    shown = 0

    def refused(refusal) -> None:  # noqa: ANN001 - a Refusal
        nonlocal shown
        shown += 1
        if shown <= _MAX_REFUSAL_LINES:
            err.print(f"[yellow]refused[/] row {refusal.row} of {escape(str(file))}: "
                      f"{escape(refusal.message)}", highlight=False, soft_wrap=True)
        elif shown == _MAX_REFUSAL_LINES + 1:
            err.print(f"[yellow]refused[/] more bars: the first {_MAX_REFUSAL_LINES} are listed "
                      f"above; every refused row is in {escape(str(out))} (status refused, "
                      f"with its reason)", highlight=False, soft_wrap=True)

    bar = None
    if err.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        bar = Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=err, transient=True)
    try:
        with bar or nullcontext():
            task = bar.add_task("replay", total=len(frame)) if bar else None
            result = _predict.replay(
                loaded, frame, out, on_refused=refused,
                advance=(lambda n: bar.advance(task, n)) if bar else (lambda n: None))
    except KeyboardInterrupt:
        _fail(f"interrupted: the rows replayed so far are in {out}", 130)
    counts = ", ".join(f"{k} {result.actions.get(k, 0):,}" for k in ("BUY", "SELL", "HOLD"))
    console.print(f"replayed {result.rows:,} bars of {file} through {loaded.label} to {out}: "
                  f"{result.signalled:,} signals ({counts}), {result.warmup:,} warming up, "
                  f"{len(result.refused):,} refused; {_predict.elapsed(started)}",
                  highlight=False, soft_wrap=True)
    console.print(_predict.latency_line(result), highlight=False, soft_wrap=True)
    if result.refused:
        kept = result.rows - len(result.refused)
        listed = "listed above" if len(result.refused) <= _MAX_REFUSAL_LINES else (
            f"the first {_MAX_REFUSAL_LINES} listed above")
        _fail(f"{len(result.refused)} bar(s) of {file} were refused ({listed}) and skipped; "
              f"the other {_predict.count_of(kept, 'row')} {'is' if kept == 1 else 'are'} in "
              f"{out}")


def _registry(config: str, tracking_uri: str | None):
    profile = _load_profile(config, tracking_uri=tracking_uri)
    from tasks.registry import Tracker

    return Tracker(profile.registry.tracking_uri), profile.registry.model_name


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    config: ConfigOption = _default_config(),
    tracking_uri: TrackingOption = None,
) -> None:
    """Make VERSION the champion (e.g. after a challenger wins its A/B test)."""
    configure_engines()
    from mlflow.exceptions import MlflowException

    tracker, name = _registry(config, tracking_uri)
    try:
        event = tracker.promote(name, version, reason)
    except MlflowException as exc:
        _fail(f"cannot promote {name} version {version}: {exc.message}")
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"{name}: champion v{event.previous} -> v{event.version} ({reason})")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    config: ConfigOption = _default_config(),
    tracking_uri: TrackingOption = None,
) -> None:
    """Give the champion alias back to the version that held it before."""
    configure_engines()
    tracker, name = _registry(config, tracking_uri)
    try:
        event = tracker.rollback(name, reason)
    except LookupError as exc:
        _fail(str(exc))
    console.print(f"{name}: champion v{event.previous} -> v{event.version} (rollback: {reason})")


@app.command()
def history(
    config: ConfigOption = _default_config(),
    tracking_uri: TrackingOption = None,
) -> None:
    """List every champion/challenger decision and alias move, oldest first."""
    configure_engines()
    tracker, name = _registry(config, tracking_uri)
    events = tracker.history(name)
    if not events:
        console.print(f"{name}: no alias has been set yet")
        return
    console.print(f"[bold]{name}[/]: alias history (UTC), oldest first; each version's "
                  "as_of and the span of bars it was trained on")
    spans: dict[str, str] = {}
    for e in events:
        when = e.when.replace("T", " ").removesuffix("Z")[:16]
        if e.action == "removed":
            moved = f"v{e.version} lost it"
        else:
            moved = f"v{e.previous} -> v{e.version}" if e.previous else f"v{e.version}"
        scores = "" if e.score is None else f"  score {e.score:.4f}"
        if e.champion_score is not None:
            scores += f" (champion {e.champion_score:.4f})"
        if e.version not in spans:
            spans[e.version] = _version_span(tracker.version_tags(name, e.version))
        console.print(f"{when} [cyan]{e.alias:<10}[/] {moved:<9}{scores} {e.who}  "
                      f"[dim]v{e.version}: {spans[e.version]}[/]", highlight=False)
        console.print(f"    {e.reason}", highlight=False, style="dim")
    aliases = ("champion", "challenger", *_stage_names(config, tracking_uri))
    current = {alias: tracker.alias_version(name, alias) for alias in dict.fromkeys(aliases)}
    console.print("now: " + (", ".join(f"{a} = v{v}" for a, v in current.items() if v)
                             or "no champion (no trustworthy model: predict holds)"))


def _version_span(tags: dict[str, str]) -> str:
    """``as_of 2025-02-01, bars 2024-01-01 .. 2025-01-31`` from a version's tags."""
    def day(key: str) -> str:
        return tags.get(key, "?")[:10]

    return f"as_of {day('as_of')}, bars {day('data.first')} .. {day('data.last')}"


def _stage_names(config: str, tracking_uri: str | None) -> list[str]:
    profile = _load_profile(config, tracking_uri=tracking_uri)
    return [stage.name for stage in profile.promotion.rollout.stages]


@app.command()
def ui(
    config: ConfigOption = _default_config(),
    tracking_uri: TrackingOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Open the MLflow UI on the project's store, on 127.0.0.1 only, and print the link to the
    profile's runs table (model-training mode, the headline view)."""
    configure_engines()
    import os

    from reporting.links import runs_url
    from tasks.registry import Tracker

    profile = _load_profile(config, tracking_uri=tracking_uri)
    uri = profile.registry.tracking_uri
    experiment = Tracker(uri).experiment_id(profile.registry.experiment)
    console.print(f"MLflow UI on http://127.0.0.1:{port} for {uri} (Ctrl-C to stop); the "
                  f"{profile.registry.experiment} runs table with its headline columns: "
                  f"{runs_url(f'http://127.0.0.1:{port}', experiment)}", soft_wrap=True)
    mlflow = Path(sys.executable).with_name("mlflow")
    os.execv(str(mlflow), [str(mlflow), "ui", "--backend-store-uri", uri,
                           "--host", "127.0.0.1", "--port", str(port)])


if __name__ == "__main__":
    app()


@app.command()
def serve(
    config: Annotated[Optional[list[str]], typer.Option(
        "--config", "-c", help="Profile YAML or name to serve a weekly retrain for; repeat for "
        "several (default: demo).")] = None,
    port: Annotated[int, typer.Option(
        help="Port of the Prefect server started when PREFECT_API_URL is unset (UI and API).")
    ] = 4200,
) -> None:
    """Serve the deployments of prefect.yaml: start a local Prefect server (unless
    PREFECT_API_URL is set), a process worker, deploy the weekly retrain of each profile and the
    backfill, and run them on schedule or when triggered, until Ctrl-C (stops in seconds)."""
    configure_engines()
    from regimeforest._serve import ServeError, serve_command

    try:
        code = serve_command([str(_config_path(c)) for c in (config or [_default_config()])],
                             port, echo=lambda line: console.print(line, highlight=False,
                                                                   soft_wrap=True))
    except ServeError as exc:
        _fail(str(exc))
    raise typer.Exit(code)
