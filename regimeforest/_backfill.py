"""``regimeforest backfill``: the command's body, wired into :mod:`regimeforest.cli` as
``app.command("backfill")(backfill_command)``.

Its options are declared here (typer reads them from the signature). The schedule (``--start``
after ``--end``, ``--every`` not a positive duration) and, for a file profile, a range with no bars
are refused before Prefect starts; a store profile's range is checked by the flow before any
retrain.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["backfill_command", "print_backfill"]


def backfill_command(
    start: Annotated[str, typer.Option(
        "--start", help="First as_of (UTC date or date-time), e.g. 2019-06-02.")],
    end: Annotated[str, typer.Option(
        "--end", help="Last as_of allowed (UTC, inclusive), e.g. 2019-07-28.")],
    every: Annotated[str, typer.Option(
        "--every", help="Spacing of the as_of moments, e.g. 7d, 12h.")] = "7d",
    config: Annotated[Optional[str], typer.Option(
        "--config", "-c", help="Profile YAML, or a profile name: demo, production.")] = None,
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Bars file instead of the profile's data.")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(
        "--tracking-uri", help="MLflow store (default: the profile's).")] = None,
    columns: Annotated[Optional[str], typer.Option(
        "--columns", help="Map unrecognised columns: 'ts=timestamp,px_last=close'.")] = None,
    promote: Annotated[bool, typer.Option(
        "--promote", help="Move the champion/challenger aliases, in as_of order, as the live "
        "system would have (default: register only).")] = False,
) -> None:
    """Retrain as of each date from --start to --end (every --every), reusing retrains already
    done on the same bars and profile, and show what the live system would have done: each
    as_of's champion trading until the next, with costs, against buy-and-hold. Backfilled
    versions carry the tag as_of and move no alias unless --promote."""
    from regimeforest import cli
    from regimeforest._env import exit_on_sigterm
    from regimeforest._serve import ServeError
    from regimeforest._server import prefect_api

    cli.configure_engines()
    from ml_core.evaluation import backfill_schedule

    try:
        as_ofs = backfill_schedule(start, end, every)
    except ValueError as exc:
        cli._fail(f"{_options(exc)}: nothing was trained or registered", cli.USAGE)
    config_file = cli._config_path(config or cli._default_config())
    mapping = cli._parse_columns(columns)
    profile = cli._load_profile(str(config_file), str(data) if data else None, tracking_uri,
                                mapping)
    _check_file_span(profile, as_ofs)
    cli.console.print(f"[bold]regimeforest backfill[/] profile [cyan]{profile.profile}[/], "
                      f"{len(as_ofs)} as_of from {as_ofs[0]} to {as_ofs[-1]} every {every}"
                      f"{', aliases move' if promote else ', no alias moves'}")

    from flows.backfill import backfill
    from ml_core.data import BarsSchemaError
    from ml_core.evaluation import EmptyRangeError
    from regimeforest._refusals import quiet_refusals
    from tasks.quality import DataQualityError

    exit_on_sigterm()
    try:
        with prefect_api(cli._dim), quiet_refusals((DataQualityError, BarsSchemaError,
                                                     EmptyRangeError)):
            result = backfill(start=start, end=end, every=every, config_path=str(config_file),
                              data=str(data) if data else None, tracking_uri=tracking_uri,
                              columns=mapping or None, promote=promote)
    except DataQualityError as exc:
        cli.err.print(exc.report.to_text(), highlight=False, markup=False, soft_wrap=True)
        cli._fail("the data failed its quality checks: the backfill stopped; retrains finished "
                  "before it are kept and a rerun resumes after them")
    except EmptyRangeError as exc:
        cli._fail(f"{exc}: nothing was trained or registered")
    except ServeError as exc:
        cli._fail(f"{exc}\nNothing was trained or registered.")
    except (BarsSchemaError, ValueError, KeyError, LookupError) as exc:
        cli._fail(f"the backfill stopped: {_options(exc)}\nRetrains finished before it are kept; "
                  "a rerun of the same range resumes after them.")
    print_backfill(result, cli.console)


def _options(exc: BaseException) -> str:
    """ml_core names ``start``/``end``/``every``; say ``--start`` etc. on the command line."""
    text = str(exc)
    for name in ("start", "end", "every"):
        text = text.replace(f"`{name}`", f"--{name}").replace(f"`{name}=", f"`--{name}=")
    return text


def _check_file_span(profile: object, as_ofs: list) -> None:
    """A file profile's range with no bars, refused before Prefect starts (a store profile's is
    refused by the flow, before any retrain)."""
    from regimeforest import cli
    from tasks.data import data_source

    if profile.data.symbol is not None:
        return
    source = Path(data_source(profile))
    cli._require_file(source)
    import pandas as pd

    from ml_core.evaluation import schedule_in_span

    frame = cli._read_bars(source, profile.data.columns)
    if "timestamp" not in frame.columns:
        return  # the quality gate names the missing column
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)).sort_values()
    try:
        schedule_in_span(as_ofs, index, profile.data.timeframe)
    except ValueError as exc:
        cli._fail(f"{source}: {exc}: nothing was trained or registered")


# format_rows' columns as the terminal shows them: short enough for 80 columns (the period is
# implied: from each as_of to the next)
_HEADERS = {"as_of": "as_of", "version": "ver", "score": "score", "decision": "decision",
            "champion": "champ", "bars": "bars", "trades": "trades", "strategy": "strategy",
            "buy & hold": "b&h", "equity": "equity", "b&h equity": "b&h eq"}
_TEXT = {"as_of", "version", "decision", "champion"}


def print_backfill(result: object, console: object) -> None:
    """The walk-forward table (rich), what was trained or reused, and where it is logged."""
    from rich import box
    from rich.table import Table

    from tasks.backfill import format_rows

    rows = format_rows(result.table)
    table = Table(title=f"backfill: {len(result.steps)} as_of, {result.trained} trained, "
                  f"{result.reused} reused; each as_of's champion trades until the next as_of",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 0))
    for name, head in _HEADERS.items():
        table.add_column(head, justify="left" if name in _TEXT else "right", no_wrap=True)
    for row, score in zip(rows, result.table["score"]):
        row["score"] = f"{score:.3f}" if math.isfinite(score) else "n/a"
        table.add_row(*(row[name] for name in _HEADERS))
    console.print(table)
    last = result.table.iloc[-1]
    console.print(f"end equity: strategy {last.strategy_equity:.4f} (net of costs), "
                  f"buy-and-hold {last.buy_and_hold_equity:.4f}; aliases "
                  f"{'moved' if result.promoted else 'untouched'}")
    console.print(f"table and equity plot: MLflow run {result.run_id} in experiment "
                  f"{result.experiment!r} (tables/backfill.csv, plots/backfill_equity.png)")
