"""``regimeforest serve``: the project's Prefect deployments, served from one foreground process.

What it starts, in order:

1. a Prefect server on ``host:port`` (``prefect server start``), unless ``PREFECT_API_URL`` is set
   or a Prefect server already answers there; it waits for ``/api/health``;
2. a process worker on the work pool the deployments name (``regimeforest``; the worker creates
   it if the server lacks it), which runs each flow run in its own process from the project's
   directory;
3. the deployments, by ``prefect deploy --all`` on the entries of ``prefect.yaml``: one weekly
   retrain per profile given (built from the file's weekly retrain entry with the profile's name,
   path and cron), the backfill, and any other entry whose flow file exists.

Why a work pool and a worker rather than an in-process ``prefect.serve``: the deployments are
declared in ``prefect.yaml``, which Prefect itself reads (``prefect deploy --all`` gives the same
deployments against any server, without this command); they live on the server, so their
schedules keep creating runs while nothing serves them and a worker started later (here or on
another machine) picks those runs up; and the concurrency limits are enforced by the server. The
cost is two more processes and a deploy step (~10 s) at start.

Stopping: SIGINT (Ctrl-C) or SIGTERM sends SIGTERM to the flow runs the worker started (their
engine records them as crashed while worker and server are still up), then stops the worker, then
the server this command started. Anything still alive after ``stop_timeout`` seconds is killed; a
second Ctrl-C kills at once. Prefect's own worker, given SIGINT, would wait for its runs to finish
(a retrain can take an hour), and ``prefect.serve`` ignored Ctrl-C.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from regimeforest._env import configure_engines

__all__ = ["PROJECT_ROOT", "ServeError", "deployment_plan", "serve_command"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEEKLY_ENTRYPOINT = "flows/weekly_retrain.py:weekly_retrain"
DEFAULT_POOL = "regimeforest"
DEFAULT_CONFIGS = ("configs/demo.yaml",)


class ServeError(RuntimeError):
    """Serving cannot start or went down; the message says what failed and what to do."""


class _Stop(BaseException):
    """Raised in the main thread by the first SIGINT or SIGTERM."""


# --- the deployments -------------------------------------------------------------------------

def _project_path(path: str | Path, project: Path) -> str:
    """A profile path as a deployment parameter: relative to the project when inside it."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def _resolve_config(value: str, project: Path) -> Path:
    """A profile path as given, or a profile name (``demo``) looked up in the project's configs."""
    path = Path(value)
    if path.is_file():
        return path
    named = project / "configs" / f"{value}.yaml"
    if path.suffix not in {".yaml", ".yml"} and named.is_file():
        return named
    raise ServeError(f"profile {value!r} not found: give a profile YAML or one of "
                     f"{sorted(p.stem for p in (project / 'configs').glob('*.yaml'))}")


def _entrypoint_file(entry: dict[str, Any], project: Path) -> Path:
    return project / str(entry.get("entrypoint", "")).rsplit(":", 1)[0]


def weekly_retrain_entry(template: dict[str, Any], config_path: str | Path,
                         project: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The weekly retrain deployment of one profile, built from ``prefect.yaml``'s entry.

    Parameters
    ----------
    template : dict
        ``prefect.yaml``'s weekly retrain entry (entrypoint ``flows/weekly_retrain.py:weekly_retrain``);
        its work pool, concurrency limit and other fields are kept.
    config_path : str or Path
        The profile YAML. Its ``profile`` names the deployment (``weekly-retrain-<profile>``) and
        its ``schedule`` gives the cron and time zone.
    project : Path
        The directory flow runs start in; a profile inside it is passed relative to it.

    Returns
    -------
    dict
        A ``prefect.yaml`` deployment entry.
    """
    from ml_core.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except (ConfigError, OSError) as exc:
        raise ServeError(f"cannot serve profile {str(config_path)!r}: {exc}") from exc
    template_profile = str(template.get("name", "")).removeprefix("weekly-retrain-")
    entry = deepcopy(template)
    entry.update(
        name=f"weekly-retrain-{config.profile}",
        description=(f"Weekly retrain of the {config.profile} profile ({config.schedule.cron}, "
                     f"{config.schedule.timezone})"),
        tags=[*dict.fromkeys([t for t in template.get("tags", []) if t != template_profile]
                             + [config.profile])],
        parameters={**template.get("parameters", {}),
                    "config_path": _project_path(config_path, project)},
        schedules=[{"cron": config.schedule.cron, "timezone": config.schedule.timezone}],
    )
    return entry


def read_prefect_file(prefect_file: Path) -> dict[str, Any]:
    """``prefect.yaml`` as a mapping (anchors expanded); a clear error when it cannot be used."""
    if not prefect_file.is_file():
        raise ServeError(f"{prefect_file} not found: run from the project's directory or pass "
                         "its prefect.yaml")
    try:
        spec = yaml.safe_load(prefect_file.read_text())
    except yaml.YAMLError as exc:
        raise ServeError(f"{prefect_file} is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("deployments"), list):
        raise ServeError(f"{prefect_file} has no `deployments:` list")
    return spec


def deployment_plan(prefect_file: Path, configs: Sequence[str | Path],
                    project: Path | None = None, *,
                    warn: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """The ``prefect.yaml`` entries ``serve`` deploys.

    One weekly retrain per profile in ``configs`` (see :func:`weekly_retrain_entry`), replacing
    the file's weekly retrain entries; then every other entry of the file whose flow file exists
    (the backfill, later the monitor). An entry whose flow file is missing is skipped with a
    warning, so serving does not wait for a flow that has not landed yet.

    Parameters
    ----------
    prefect_file : Path
        The project's ``prefect.yaml``.
    configs : sequence of str or Path
        Profile YAMLs (or names in the project's ``configs/``); empty: the file's own entries.
    project : Path, optional
        The directory flow runs start in (default: the file's directory).
    warn : callable
        Receives one line per skipped entry.

    Returns
    -------
    list of dict
        The entries, in deploy order.
    """
    project = project or prefect_file.resolve().parent
    spec = read_prefect_file(prefect_file)
    entries = [e for e in spec["deployments"] if isinstance(e, dict)]
    weekly = [e for e in entries if e.get("entrypoint") == WEEKLY_ENTRYPOINT]
    if configs and not weekly:
        raise ServeError(f"{prefect_file} has no deployment with entrypoint {WEEKLY_ENTRYPOINT}"
                         " to build the profiles' weekly retrains from")
    plan = ([weekly_retrain_entry(weekly[0], _resolve_config(str(c), project), project)
             for c in configs] if configs else list(weekly))
    names = [e["name"] for e in plan]
    if len(set(names)) != len(names):
        raise ServeError(f"two profiles share a deployment name: {names}")
    for entry in entries:
        if entry.get("entrypoint") == WEEKLY_ENTRYPOINT:
            continue
        if not _entrypoint_file(entry, project).is_file():
            warn(f"warning: not deploying {entry.get('name')!r}: "
                 f"{_entrypoint_file(entry, project).relative_to(project)} does not exist yet")
            continue
        plan.append(entry)
    return plan


# --- processes ---------------------------------------------------------------------------------

def prefect_executable() -> Path:
    """The ``prefect`` command of this environment (beside the interpreter), else on ``PATH``."""
    beside = Path(sys.executable).with_name("prefect")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("prefect")
    if found:
        return Path(found)
    raise ServeError(f"the `prefect` command was found neither beside {sys.executable} nor on "
                     "PATH: install the project (`make install`) or activate its environment")


def _children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux ``/proc``), parents before children."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class Child:
    """A process ``serve`` started in its own session, and what to call it in messages."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    children_first: bool = False

    def tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float, force: Callable[[], bool] = lambda: False) -> float:
        """Stop the process and everything it started; the seconds it took.

        With ``children_first`` (the worker), its descendants (the flow runs, each in its own
        session) get SIGTERM first and up to ``timeout`` seconds to end, while the worker still
        relays their output and the server still records their final state; then the process
        itself. Each step sends SIGTERM to the process groups, waits up to ``timeout`` seconds
        (not at all once ``force()``), then sends SIGKILL to what is left.
        """
        start = time.monotonic()
        descendants = _children_of(self.process.pid)  # before they are orphaned
        steps = ([descendants, [self.process.pid, *descendants]] if self.children_first
                 else [[self.process.pid, *descendants]])
        for step, pids in enumerate(steps, 1):
            for pid in pids:
                if _alive(pid):
                    _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while (any(_alive(pid) for pid in pids) and time.monotonic() < deadline
                   and not force()):
                self.process.poll()
                time.sleep(0.1)
            if step == len(steps):
                for pid in pids:
                    if _alive(pid):
                        _signal_group(pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return time.monotonic() - start


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_server(api_url: str, timeout: float, child: Child | None = None) -> float:
    """Poll ``{api_url}/health`` until it answers 200; the seconds it took.

    Raises
    ------
    ServeError
        When ``child`` (the server process) exits first, or after ``timeout`` seconds.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if _healthy(api_url):
            return time.monotonic() - start
        if child is not None and child.process.poll() is not None:
            raise ServeError(f"the Prefect server exited with code {child.process.returncode} "
                             f"before answering {api_url}/health; its log ({child.log}) ends:\n"
                             f"{child.tail()}")
        time.sleep(0.5)
    detail = f"; its log ({child.log}) ends:\n{child.tail()}" if child else ""
    raise ServeError(f"no Prefect server answered {api_url}/health within {timeout:.0f} s"
                     f"{detail}")


def check_work_pool(api_url: str, name: str) -> bool:
    """True if the server has the work pool ``name``; a :class:`ServeError` if it is not a
    process pool. (A missing pool is created by the worker, ``--type process``: no Prefect
    import here, whose event client would hold the exit for seconds once the server is gone.)"""
    import httpx

    reply = httpx.get(f"{api_url}/work_pools/{name}", timeout=10.0)
    if reply.status_code == 404:
        return False
    reply.raise_for_status()
    kind = reply.json().get("type")
    if kind != "process":
        raise ServeError(f"work pool {name!r} exists with type {kind!r}; serve needs a process "
                         "pool: pass another pool name or delete that one")
    return True


def wait_for_work_pool(api_url: str, name: str, worker: Child, timeout: float) -> float:
    """Wait until the worker has created the pool ``name``; the seconds it took."""
    start = time.monotonic()
    while not check_work_pool(api_url, name):
        if worker.process.poll() is not None:
            raise ServeError(f"the Prefect worker exited with code {worker.process.returncode} "
                             f"before creating work pool {name!r} (its output is above)")
        if time.monotonic() - start > timeout:
            raise ServeError(f"the Prefect worker did not create work pool {name!r} within "
                             f"{timeout:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - start


def deploy(plan: list[dict[str, Any]], prefect_file: Path, project: Path, pool: str,
           env: dict[str, str], prefect: Path, timeout: float = 300.0) -> list[str]:
    """``prefect --no-prompt deploy --all`` on ``plan`` (a prefect.yaml of just those entries,
    keeping the file's other sections), from ``project``.

    Returns
    -------
    list of str
        The deployments created or updated, as ``flow-name/deployment-name``.
    """
    spec = read_prefect_file(prefect_file)
    spec.pop("definitions", None)
    entries = deepcopy(plan)
    for entry in entries:
        entry.setdefault("work_pool", {})["name"] = pool
    spec["deployments"] = entries
    with tempfile.TemporaryDirectory(prefix="regimeforest-deploy-") as tmp:
        generated = Path(tmp) / "prefect.yaml"
        generated.write_text(yaml.safe_dump(spec, sort_keys=False))
        try:
            done = subprocess.run(
                [str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file",
                 str(generated)], cwd=project, env=env, capture_output=True, text=True,
                timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ServeError(f"`prefect deploy` did not finish within {timeout:.0f} s") from exc
    output = (done.stdout + done.stderr).strip()
    names = re.findall(r"Deployment '([^']+)' successfully created", output)
    if done.returncode != 0 or len(names) != len(plan):
        tail = "\n".join(output.splitlines()[-25:])
        raise ServeError(f"`prefect deploy --all` failed (exit {done.returncode}, "
                         f"{len(names)} of {len(plan)} deployments created):\n{tail}")
    return names


# --- signals -------------------------------------------------------------------------------------

@dataclass
class _Signals:
    """First SIGINT/SIGTERM raises :class:`_Stop`; later ones ask to kill at once."""

    received: list[int] = field(default_factory=list)
    stopping: bool = False

    def handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self.received.append(signum)
        if not self.stopping:
            self.stopping = True
            raise _Stop

    def force(self) -> bool:
        """True once a second signal arrived: kill without waiting."""
        return len(self.received) > 1


@contextmanager
def _signal_handlers(signals: _Signals) -> Iterator[None]:
    previous = {sig: signal.signal(sig, signals.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the command ---------------------------------------------------------------------------------

def serve_command(configs: Sequence[str] | None = None, port: int = 4200, *,
                  host: str = "127.0.0.1", pool: str = DEFAULT_POOL,
                  prefect_file: str | Path | None = None,
                  startup_timeout: float = 120.0, stop_timeout: float = 5.0,
                  server_log: str | Path | None = None,
                  echo: Callable[[str], None] = print) -> int:
    """Start what the deployments need, deploy them, and serve until SIGINT or SIGTERM.

    Parameters
    ----------
    configs : sequence of str, optional
        Profiles to serve a weekly retrain for (paths or names in ``configs/``); default
        ``configs/demo.yaml``.
    port : int
        Port of the Prefect server started when ``PREFECT_API_URL`` is not set (its UI and API:
        ``http://host:port``). Ignored when ``PREFECT_API_URL`` is set.
    host : str
        Interface of that server; ``127.0.0.1`` keeps it local.
    pool : str
        The process work pool the deployments are sent to and the worker polls.
    prefect_file : str or Path, optional
        The deployments' declaration (default: the project's ``prefect.yaml``); flow runs start
        in its directory.
    startup_timeout : float
        Seconds to wait for the server's ``/api/health``.
    stop_timeout : float
        Seconds each process (worker and its flow runs, then the server) gets after SIGTERM
        before SIGKILL.
    server_log : str or Path, optional
        Where the started server writes (default ``$PREFECT_HOME/regimeforest-server.log``).
    echo : callable
        Receives the progress lines.

    Returns
    -------
    int
        0 when stopped by a signal.

    Raises
    ------
    ServeError
        The ``prefect`` command is missing, the port is taken by something else, the server does
        not start, a deployment fails, or the worker or server exits while serving.
    """
    configure_engines()
    prefect_file = Path(prefect_file) if prefect_file else PROJECT_ROOT / "prefect.yaml"
    project = prefect_file.resolve().parent
    prefect = prefect_executable()
    plan = deployment_plan(prefect_file, list(configs or DEFAULT_CONFIGS), project, warn=echo)
    env = dict(os.environ)  # with configure_engines()'s settings (no analytics) for the children
    signals = _Signals()
    children: list[Child] = []
    try:
        with _signal_handlers(signals):
            try:
                api_url = _start_server(env, prefect, host, port, startup_timeout, server_log,
                                        children, echo)
                env["PREFECT_API_URL"] = api_url
                check_work_pool(api_url, pool)  # a pool of another type is refused first
                worker = Child("worker", subprocess.Popen(
                    [str(prefect), "worker", "start", "--pool", pool, "--type", "process"],
                    cwd=project, env=env, start_new_session=True, stdin=subprocess.DEVNULL),
                    children_first=True)
                children.append(worker)
                wait_for_work_pool(api_url, pool, worker, startup_timeout)
                start = time.monotonic()
                names = deploy(plan, prefect_file, project, pool, env, prefect)
                echo(f"deployed in {time.monotonic() - start:.1f} s: {', '.join(names)}")
                ui = api_url.removesuffix("/api")
                echo(f"serving on {ui} (pool {pool!r}); trigger a run with "
                     f"`prefect deployment run {names[0]}`; "
                     "Ctrl-C stops")
                while True:
                    for child in children:
                        if child.process.poll() is not None:
                            raise ServeError(
                                f"the Prefect {child.name} exited with code "
                                f"{child.process.returncode} while serving"
                                + (f"; its log ({child.log}) ends:\n{child.tail()}"
                                   if child.log else ""))
                    time.sleep(0.5)
            except _Stop:
                echo(f"stopping ({signal.Signals(signals.received[0]).name})...")
            finally:
                signals.stopping = True  # a signal from here on only hurries the clean-up
                _stop_children(children, stop_timeout, signals, echo)
    except _Stop:  # a signal between installing the handlers and the inner `try`
        _stop_children(children, stop_timeout, signals, echo)
    return 0


def _start_server(env: dict[str, str], prefect: Path, host: str, port: int, timeout: float,
                  server_log: str | Path | None, children: list[Child],
                  echo: Callable[[str], None]) -> str:
    """The API URL to use: PREFECT_API_URL, a server already on host:port, or one started now."""
    configured = env.get("PREFECT_API_URL")
    if configured:
        configured = configured.rstrip("/")
        wait_for_server(configured, min(timeout, 30.0))
        echo(f"using the Prefect server at PREFECT_API_URL={configured}")
        return configured
    api_url = f"http://{host}:{port}/api"
    if _port_in_use(host, port):
        if _healthy(api_url):
            echo(f"a Prefect server already answers on {api_url}: using it (it keeps running "
                 "after serve stops)")
            return api_url
        raise ServeError(f"port {port} on {host} is in use by something that is not a Prefect "
                         "server: pass another port")
    home = Path(env.get("PREFECT_HOME", "~/.prefect")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    log = Path(server_log) if server_log else home / "regimeforest-server.log"
    server_env = {**env, "PREFECT_UI_API_URL": api_url, "PREFECT_API_URL": api_url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", host, "--port", str(port)],
            env=server_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    children.append(Child("server", process, log))
    echo(f"starting a Prefect server on {api_url} (database in {home}, log {log})...")
    took = wait_for_server(api_url, timeout, children[-1])
    echo(f"Prefect server up in {took:.1f} s")
    return api_url


def _stop_children(children: list[Child], timeout: float, signals: _Signals,
                   echo: Callable[[str], None]) -> None:
    """Worker (and its flow runs) first, so runs report their end to the server; server last."""
    for child in reversed(children):
        took = child.stop(timeout, signals.force)
        echo(f"stopped the Prefect {child.name} in {took:.1f} s")
