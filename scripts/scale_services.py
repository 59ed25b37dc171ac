"""The scale profile's services on this machine, without a container runtime.

What ``compose.yaml`` runs in containers, as background processes on the local PostgreSQL:
an MLflow tracking server serving its artifacts, a Prefect server, the ``regimeforest`` process
work pool and a worker, a Dask scheduler and Dask workers with one thread each. Each process has
its log under ``<root>/logs/`` and its pid file under ``<root>/pids/``; ``up`` waits for each to be
ready and prints the environment to export; ``status`` checks them; ``down`` stops them.

Usage::

    python scripts/scale_services.py up            # then: source .scale/env.sh
    python scripts/scale_services.py status
    python scripts/scale_services.py down [--drop-databases]
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regimeforest import _services as svc  # noqa: E402

app = typer.Typer(
    help=(
        "Start, check and stop the scale profile's servers as local processes (no Docker): "
        "MLflow tracking server and Prefect server on PostgreSQL, a Prefect process worker on "
        "the `regimeforest` pool, a Dask scheduler and workers.\n\n"
        "`up` creates the databases `mlflow`, `prefect`, `optuna`, `bars` if missing, starts "
        "what is not running, waits until each is ready and writes `<root>/env.sh` "
        "(`source .scale/env.sh` points `regimeforest retrain --config configs/scale.yaml` at "
        "them). `status` says what runs; `down` stops it. compose.yaml runs the same in "
        "containers."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

RootOption = Annotated[Path, typer.Option(
    "--root", help="Folder of the logs, pid files, served artifacts and env.sh.")]
DEFAULT_ROOT = Path(".scale")


# --- state under the root ------------------------------------------------------------------------

def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (``/proc/<pid>/stat`` field 22), or None if it is
    gone: with the pid it identifies our process even after the pid is reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _pid_files(root: Path) -> list[Path]:
    files = (root / "pids").glob("*.json")
    return sorted(files, key=lambda f: json.loads(f.read_text()).get("order", 0))


def _record(root: Path, order: int, service: svc.Service, pid: int, log: Path) -> Path:
    path = root / "pids" / f"{service.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "name": service.name, "order": order, "pid": pid, "start_ticks": _start_ticks(pid),
        "url": service.url, "probe": asdict(service.probe), "log": str(log),
        "argv": list(service.argv)}, indent=2))
    return path


def _alive(entry: dict) -> bool:
    ticks = _start_ticks(int(entry["pid"]))
    return ticks is not None and ticks == entry.get("start_ticks")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


# --- commands -------------------------------------------------------------------------------------

@app.command()
def up(
    root: RootOption = DEFAULT_ROOT,
    pg: Annotated[str, typer.Option(help="PostgreSQL server URL (no database).")] = svc.DEFAULT_PG,
    prefix: Annotated[str, typer.Option(
        help="Prefix of the four database names (`test_` gives test_mlflow, ...).")] = "",
    host: Annotated[str, typer.Option(help="Interface every server listens on.")] = svc.HOST,
    mlflow_port: Annotated[int, typer.Option(help="MLflow tracking server port.")] = 5000,
    prefect_port: Annotated[int, typer.Option(help="Prefect server (API and UI) port.")] = 4200,
    dask_port: Annotated[int, typer.Option(help="Dask scheduler port.")] = 8786,
    dashboard_port: Annotated[int, typer.Option(
        help="Dask scheduler's HTTP port (/health, /json/counts.json).")] = 8787,
    workers: Annotated[int, typer.Option(
        min=1, help="Dask workers, one thread each (one per core is the useful most).")] = 2,
    mlflow_workers: Annotated[int, typer.Option(
        min=1, help="MLflow server's uvicorn workers.")] = 1,
    pool: Annotated[str, typer.Option(help="Prefect process work pool.")] = svc.POOL,
    timeout: Annotated[float, typer.Option(help="Seconds each service may take to be ready.")
                       ] = 120.0,
) -> None:
    """Create the databases if missing, start the services not already running, wait until each
    is ready, print and write (`<root>/env.sh`) the environment to export."""
    from regimeforest._env import configure_engines

    configure_engines()
    root = root.resolve()
    names = [f"{prefix}{name}" for name in svc.DATABASES]
    try:
        created = svc.ensure_databases(pg, names)
    except svc.ServiceError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))} (--pg)")
        raise typer.Exit(1) from None
    console.print(f"PostgreSQL {escape(pg)}: databases {', '.join(names)}"
                  + (f" (created {', '.join(created)})" if created else " (all existed)"))
    (root / "pids").mkdir(parents=True, exist_ok=True)
    (root / "state.json").write_text(json.dumps({"pg": pg, "databases": names}, indent=2))

    mlflow_url = f"http://{host}:{mlflow_port}"
    api = f"http://{host}:{prefect_port}/api"
    scheduler = f"tcp://{host}:{dask_port}"
    env = svc.client_env(mlflow=mlflow_url, prefect_api=api, scheduler=scheduler, pg=pg,
                         prefix=prefix)
    home = root / "prefect-home"
    first = [
        (svc.mlflow_server(svc.pg_url(pg, names[0]), root / "mlartifacts", port=mlflow_port,
                           host=host, workers=mlflow_workers), "--mlflow-port", mlflow_port),
        (svc.prefect_server(svc.pg_url(pg, names[1], "asyncpg"), home, port=prefect_port,
                            host=host), "--prefect-port", prefect_port),
        (svc.dask_scheduler(port=dask_port, dashboard_port=dashboard_port, host=host),
         "--dask-port", dask_port),
    ]
    second = [(svc.prefect_worker(api, pool=pool, home=home, cwd=ROOT, env=env), None, None)]
    second += [(svc.dask_worker(scheduler, dashboard_port=dashboard_port, index=i,
                                scratch=root / "dask", cwd=ROOT, host=host, env=env), None, None)
               for i in range(1, workers + 1)]
    started: list[tuple[int, Path]] = []
    begin = time.monotonic()
    try:
        _start_group(root, first, 0, started, timeout)
        if svc.ensure_work_pool(api, pool):
            console.print(f"created the process work pool [bold]{escape(pool)}[/]")
        _start_group(root, second, len(first), started, timeout)
    except (svc.ServiceError, KeyboardInterrupt) as exc:
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        err.print(f"[red]error:[/] {escape(message)}")
        for pid, pid_file in reversed(started):
            svc.stop_pid(pid)
            pid_file.unlink(missing_ok=True)
        if started:
            err.print(f"stopped the {len(started)} service(s) this command had started")
        raise typer.Exit(1) from None
    console.print(f"all services ready ({time.monotonic() - begin:.1f} s)")
    _print_env(root, env)


def _start_group(root: Path, group: list, offset: int, started: list[tuple[int, Path]],
                 timeout: float) -> None:
    """Start the group's services that are not running (refusing a port something else holds),
    then wait for each to be ready, printing its startup seconds."""
    waiting = []
    for order, (service, option, port) in enumerate(group, offset):
        pid_file = root / "pids" / f"{service.name}.json"
        if pid_file.is_file():
            entry = _load(pid_file)
            if _alive(entry):
                console.print(f"{service.name:<16} already running (pid {entry['pid']}) at "
                              f"{escape(entry['url'])}")
                continue
            pid_file.unlink()
        host = service.url.split("//", 1)[1].split(":", 1)[0]
        if port is not None and svc.port_in_use(host, port):
            raise svc.ServiceError(f"port {port} on {host} is in use by a process this command "
                                   f"did not start: pass another {option}")
        log = root / "logs" / f"{service.name}.log"
        since = time.monotonic()
        process = svc.start(service, log)
        pid_file = _record(root, order, service, process.pid, log)
        started.append((process.pid, pid_file))
        waiting.append((service, process, log, since))
    for (service, process, log, _), seconds in zip(waiting, svc.wait_all(waiting, timeout)):
        console.print(f"{service.name:<16} ready in {seconds:5.1f} s  {escape(service.url)}  "
                      f"[dim](pid {process.pid}, log {escape(str(log))})[/]")


def _print_env(root: Path, env: dict[str, str]) -> None:
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    (root / "env.sh").write_text("# written by scripts/scale_services.py up\n"
                                 + "\n".join(lines) + "\n")
    console.print(f"\nexport these (or `source {escape(str(root / 'env.sh'))}`):")
    for line in lines:
        console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)


@app.command()
def status(root: RootOption = DEFAULT_ROOT) -> None:
    """Each recorded service: running or not, ready or not, its URL and log. Exit code 0 when
    every one is running and ready, 1 otherwise (or when none is recorded)."""
    root = root.resolve()
    files = _pid_files(root)
    if not files:
        console.print(f"no services recorded under {escape(str(root))}: start them with `up`")
        raise typer.Exit(1)
    table = Table("service", "pid", "state")
    table.add_column("url", no_wrap=True)
    healthy = True
    for path in files:
        entry = _load(path)
        if not _alive(entry):
            state, healthy = "[red]stopped[/]", False
        elif svc.Probe(**entry["probe"]).ok():
            state = "[green]ready[/]"
        else:
            state, healthy = "[yellow]running, not ready[/]", False
        table.add_row(entry["name"], str(entry["pid"]), state, escape(entry["url"]))
    console.print(table)
    console.print(f"logs: {escape(str(root / 'logs'))}/<service>.log")
    env_file = root / "env.sh"
    if env_file.is_file():
        console.print(f"environment: source {escape(str(env_file))}")
    if not healthy:
        raise typer.Exit(1)


@app.command()
def env(root: RootOption = DEFAULT_ROOT) -> None:
    """Print the `export` lines of the last `up` (for `eval "$(... env)"`)."""
    env_file = root.resolve() / "env.sh"
    if not env_file.is_file():
        err.print(f"[red]error:[/] {escape(str(env_file))} does not exist: run `up` first")
        raise typer.Exit(1)
    sys.stdout.write(env_file.read_text())


@app.command()
def down(
    root: RootOption = DEFAULT_ROOT,
    stop_timeout: Annotated[float, typer.Option(
        help="Seconds each service gets after SIGTERM before SIGKILL.")] = 10.0,
    drop_databases: Annotated[bool, typer.Option(
        "--drop-databases", help="Also drop the databases `up` created or used (their runs, "
        "flow runs, studies and bars are lost).")] = False,
) -> None:
    """Stop the recorded services, workers first, and forget them."""
    root = root.resolve()
    for path in reversed(_pid_files(root)):
        entry = _load(path)
        if _alive(entry):
            seconds = svc.stop_pid(int(entry["pid"]), stop_timeout)
            console.print(f"stopped {entry['name']:<16} in {seconds:4.1f} s")
        else:
            console.print(f"{entry['name']:<16} was not running")
        path.unlink()
    state_file = root / "state.json"
    if drop_databases and state_file.is_file():
        state = json.loads(state_file.read_text())
        _drop(state["pg"], state["databases"])
        console.print(f"dropped databases {', '.join(state['databases'])}")


def _drop(pg: str, names: list[str]) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(svc.pg_url(pg, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


if __name__ == "__main__":
    app()
