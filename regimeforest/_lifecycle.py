"""``regimeforest shadow``, ``monitor`` and ``live-replay``: the live side of a version, wired
into :mod:`regimeforest.cli` as ``app.command(...)(...)``.

``shadow`` scores the new bars in the champion's and the candidate's paper books and moves the
candidate through the rollout stages; ``monitor`` runs the daily checks and rolls back;
``live-replay`` replays both, day by day, over past bars (with the simulated profile, the whole
lifecycle in one command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["live_replay_command", "monitor_command", "print_timeline", "serving_uri_command",
           "shadow_command"]

ConfigArg = Annotated[Optional[str], typer.Option(
    "--config", "-c", help="Profile YAML, or a profile name: demo, simulated, production.")]
DataArg = Annotated[Optional[Path], typer.Option(
    "--data", help="Bars file instead of the profile's data.")]
TrackingArg = Annotated[Optional[str], typer.Option(
    "--tracking-uri", help="MLflow store (default: the profile's).")]
AsOfArg = Annotated[Optional[str], typer.Option(
    "--as-of", help="The moment (UTC date or date-time): only bars closed by then are read; "
    "default: now.")]


def _setup(config: str | None, data: Path | None, tracking_uri: str | None) -> tuple[Any, str]:
    from regimeforest import cli

    cli.configure_engines()
    config_file = cli._config_path(config or cli._default_config())
    profile = cli._load_profile(str(config_file), str(data) if data else None, tracking_uri, {})
    return profile, str(config_file)


def _moment(value: str | None, option: str) -> Any:
    from ml_core.data import utc_timestamp
    from regimeforest import cli

    if value is None:
        return None
    try:
        return utc_timestamp(value, option).to_pydatetime()
    except ValueError as exc:
        cli._fail(str(exc), cli.USAGE)


def _run(flow: Any, **kwargs: Any) -> Any:
    from regimeforest import cli
    from regimeforest._env import exit_on_sigterm
    from regimeforest._serve import ServeError
    from regimeforest._server import prefect_api

    exit_on_sigterm()
    try:
        with prefect_api(cli._dim):
            return flow(**kwargs)
    except ServeError as exc:
        cli._fail(str(exc))
    except (ValueError, LookupError) as exc:
        cli._fail(str(exc))


def shadow_command(config: ConfigArg = None, data: DataArg = None,
                   tracking_uri: TrackingArg = None, as_of: AsOfArg = None) -> None:
    """Score the bars closed by --as-of that the champion's and the candidate's paper books have
    not seen (fills at the next bar's open, the profile's costs), then move the candidate to its
    next rollout stage, promote or reject it on its record against the champion's."""
    from regimeforest import cli

    profile, config_file = _setup(config, data, tracking_uri)
    from flows.shadow import shadow

    move = _run(shadow, config_path=config_file, as_of=_moment(as_of, "--as-of"),
                data=str(data) if data else None, tracking_uri=tracking_uri)
    if move is None:
        cli.console.print(f"{profile.registry.model_name}: nothing in rollout")
    else:
        cli.console.print(f"v{move.version} ({move.stage}): [bold]{move.action}[/] — "
                          f"{move.reason}", soft_wrap=True, highlight=False)


def monitor_command(config: ConfigArg = None, data: DataArg = None,
                    tracking_uri: TrackingArg = None, as_of: AsOfArg = None,
                    trigger: Annotated[bool, typer.Option(
                        "--trigger-retrain/--no-trigger-retrain",
                        help="After a rollback, ask the weekly-retrain deployment for a run.")]
                    = True) -> None:
    """Compare the champion's live window (monitor.window up to --as-of) with what it was
    trained and validated on: feature and prediction drift, regimes, importance stability, the
    paper record. Logs to the EXPERIMENT-monitoring experiment; rolls back (who=monitor) when
    a check fails. Exit code 3 after a rollback."""
    from regimeforest import cli

    profile, config_file = _setup(config, data, tracking_uri)
    from flows.monitor import monitor

    result = _run(monitor, config_path=config_file, as_of=_moment(as_of, "--as-of"),
                  data=str(data) if data else None, tracking_uri=tracking_uri, trigger=trigger)
    name = profile.registry.model_name
    if result.version is None:
        cli.console.print(f"{name}: no champion, nothing to monitor (no trustworthy model: the "
                          "system holds)")
        return
    if result.report is None:
        cli.console.print(f"{name} v{result.version}: no reference statistics (registered "
                          "before the monitor)")
        return
    for line in result.report.notes:
        cli.console.print(f"  {line}", highlight=False, soft_wrap=True)
    verdict = {"none": "[green]ok[/]", "rollback": "[red]rolled back[/]",
               "withdrawn": "[red]withdrawn (no earlier champion: holding)[/]"}[result.action]
    cli.console.print(f"{name} v{result.version}: {verdict}", soft_wrap=True)
    if result.retrain:
        cli.console.print(result.retrain, highlight=False, soft_wrap=True)
    if result.action != "none":
        raise typer.Exit(3)


def live_replay_command(
    start: Annotated[str, typer.Option("--start", help="First moment (UTC), e.g. 2025-01-15; "
                                       "the loop retrains as of it first.")],
    end: Annotated[str, typer.Option("--end", help="Last moment (UTC, inclusive).")],
    every: Annotated[str, typer.Option("--every", help="Step, e.g. 1d, 12h.")] = "1d",
    config: ConfigArg = None, data: DataArg = None, tracking_uri: TrackingArg = None,
    retrain_first: Annotated[bool, typer.Option(
        "--retrain-first/--no-retrain-first",
        help="Retrain as of --start before the first step.")] = True,
) -> None:
    """Replay the live loop over past bars, one step every --every: shadow scoring and the
    rollout stages, the daily monitor, a retrain after a rollback. With --config simulated
    (planted edge, break on 2025-04-01) it shows a version passing the gate, rolled out stage by
    stage, degrading after the break and rolled back."""
    profile, config_file = _setup(config, data, tracking_uri)
    from flows.live_replay import live_replay

    result = _run(live_replay, start=start, end=end, every=every, config_path=config_file,
                  data=str(data) if data else None, tracking_uri=tracking_uri,
                  retrain_first=retrain_first)
    print_timeline(result, profile)


def print_timeline(result: Any, profile: Any) -> None:
    """The events of a replayed loop: retrains, stage changes, rollbacks."""
    from rich.table import Table

    from regimeforest import cli

    for when, version, alias, reason in result.retrains:
        cli.console.print(f"retrain as of {when:%Y-%m-%d %H:%M}: v{version} -> "
                          f"{alias or 'no alias'}: {reason}", highlight=False, soft_wrap=True)
    table = Table(title=f"live loop of {profile.registry.model_name} (events only)",
                  title_justify="left")
    for column in ("as of", "champion", "candidate", "rollout", "monitor", "hit rate", "why"):
        table.add_column(column, overflow="fold")
    frame = result.table
    events = frame[(frame["rollout"].notna() & (frame["rollout"] != "stay"))
                   | (frame["monitor"] != "none") & (frame["monitor"] != "no champion")
                   | frame["retrain"].notna()]
    def text(value: Any) -> str:
        return "" if value is None or value != value else str(value)  # None and NaN: empty

    for row in events.itertuples(index=False):
        hit = row.live_hit_rate
        table.add_row(f"{row.as_of:%Y-%m-%d}",
                      f"v{text(row.champion)}" if text(row.champion) else "-",
                      f"v{text(row.candidate)} ({text(row.stage)})" if text(row.candidate) else "-",
                      text(row.rollout), text(row.monitor),
                      "" if hit != hit else f"{hit:.3f}", text(row.reasons)[:160])
    cli.console.print(table)
    cli.console.print(f"{len(frame)} steps; timeline in the MLflow run {result.run_id} "
                      "(tables/live_replay.csv)", highlight=False)


def serving_uri_command(config: ConfigArg = None, tracking_uri: TrackingArg = None) -> None:
    """Print the model URI to serve: the champion's alias, or, when no version has passed the
    gate, the newest version (served, it holds on every bar and says why)."""
    from regimeforest import cli

    profile, _ = _setup(config, None, tracking_uri)
    from tasks.registry import CHAMPION, Tracker

    tracker = Tracker(profile.registry.tracking_uri)
    name = profile.registry.model_name
    if tracker.alias_version(name, CHAMPION) is not None:
        print(f"models:/{name}@{CHAMPION}")
        return
    versions = tracker.client.search_model_versions(f"name='{name}'")
    if not versions:
        cli._fail(f"model {name!r} has no registered version in {tracker.tracking_uri}: run "
                  f"`regimeforest retrain --config {profile.profile}` first")
    newest = max(int(v.version) for v in versions)
    cli.err.print(f"{name} has no champion (no trustworthy model): serving v{newest}, which "
                  "answers HOLD on every bar with the gate's reason", highlight=False)
    print(f"models:/{name}/{newest}")
