"""How fast the command line answers: ``--help``, ``history``, ``promote``, ``rollback``,
``validate-data``.

Every command runs as a user runs it, in a new process (``python -m regimeforest``), on a
temporary MLflow SQLite store holding two registered versions (made through
:class:`tasks.registry.Tracker`, no retrain) and on the bundled 35,019-row sample
(``ml_core/datasets/btc_30m.parquet``). Each run is timed by the wall clock and by the CPU time
the child used (user + system; less sensitive to other work on a shared machine). ``promote 2``
and ``rollback`` alternate, so each is a real move. One more run per command under
``-X importtime`` lists which heavy engines the command imported.

``--no-bytecode`` also times each command once with ``PYTHONPYCACHEPREFIX`` pointing at an empty
folder: Python then finds no compiled bytecode, and (with ``PYTHONDONTWRITEBYTECODE`` set, as on
these machines) writes none, which is how a venv installed without ``--compile-bytecode`` behaves.
``--baseline DIR`` times the same commands from another checkout (e.g. ``git worktree add
/tmp/rf-before <commit>``) with this venv, for a before/after table.

Targets (issue 12, on 2 idle cores): ``--help`` <= 0.5 s; ``history``, ``promote``,
``rollback`` <= 3 s; ``validate-data`` on 35k rows <= 5 s. Checked on the median wall time.

Results: ``benchmarks/results/commands.json`` and ``commands.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _machine  # noqa: E402

ROOT = _machine.ROOT
SAMPLE = ROOT / "ml_core" / "datasets" / "btc_30m.parquet"
MODEL = "regimeforest-demo"
HEAVY = ("prefect", "mlflow", "great_expectations", "sklearn", "hmmlearn", "optuna")
TARGETS = {"--help": 0.5, "history": 3.0, "promote": 3.0, "rollback": 3.0, "validate-data": 5.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_store(folder: Path) -> str:
    """A SQLite store with versions 1 (champion, score 0.3) and 2 (challenger, 0.2)."""
    sys.path.insert(0, str(ROOT))
    from tasks.registry import Tracker, tracked_run

    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker(uri)
    artifact = folder / "model.txt"
    artifact.write_text("a stand-in for a saved pipeline")
    for score in (0.3, 0.2):
        with tracked_run(tracker, "bench", "bench", {}) as run_id:
            tracker.log_artifact(run_id, artifact, "model")
        version = tracker.register(f"runs:/{run_id}/model", MODEL, run_id,
                                   {"cv_score": repr(score)})
        tracker.promote_new_version(MODEL, version, score, 0.0)
    return uri


def commands(uri: str) -> dict[str, list[str]]:
    store = ["--tracking-uri", uri]
    return {
        "--help": ["--help"],
        "history": ["history", *store],
        "promote": ["promote", "2", "--reason", "benchmark", *store],
        "rollback": ["rollback", "--reason", "benchmark", *store],
        "validate-data": ["validate-data", str(SAMPLE)],
    }


def run(args: list[str], source: Path, env: dict[str, str],
        importtime: bool = False) -> tuple[float, float, str]:
    """Wall seconds, child CPU seconds, and stderr of ``python -m regimeforest ARGS``."""
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "regimeforest",
            *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=source, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall, cpu, done.stderr


def engines_imported(stderr: str) -> list[str]:
    """Top-level heavy packages named in ``-X importtime`` output."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip().split(".")[0]
            if name in HEAVY:
                found.add(name)
    return sorted(found)


def time_commands(source: Path, uri: str, repeat: int, env: dict[str, str],
                  importtime: bool = True) -> dict[str, Any]:
    """Median and best of ``repeat`` runs of each command; promote and rollback alternate."""
    cmds = commands(uri)
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    cpus: dict[str, list[float]] = {name: [] for name in cmds}
    for i in range(repeat):
        for name, args in cmds.items():
            wall, cpu, _ = run(args, source, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
        log(f"  {source.name or source}: round {i + 1}/{repeat} "
            + ", ".join(f"{n} {walls[n][-1]:.2f} s" for n in cmds))
    out: dict[str, Any] = {}
    for name, args in cmds.items():
        engines = None
        if importtime:  # in the same order: promote, then rollback, still move the alias
            engines = engines_imported(run(args, source, env, importtime=True)[2])
        out[name] = {"wall_s": walls[name], "cpu_s": cpus[name],
                     "median_wall_s": statistics.median(walls[name]),
                     "best_wall_s": min(walls[name]),
                     "median_cpu_s": statistics.median(cpus[name]),
                     "engines": engines}
    return out


def time_without_bytecode(source: Path, uri: str, env: dict[str, str]) -> dict[str, float]:
    """One run per command with no compiled bytecode to be found (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        env = {**env, "PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        cmds = commands(uri)
        result = {}
        for name in ("--help", "history", "validate-data"):
            result[name] = run(cmds[name], source, env)[0]
            log(f"  no bytecode ({source.name}): {name} {result[name]:.1f} s")
    return result


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    after, before = report["after"], report.get("before")
    lines = [
        "# Command-line response times",
        "",
        f"Generated by `benchmarks/commands.py` on {m['date_utc']} (commit {m['git_commit']}).",
        "",
        *_machine.machine_lines(m),
        f"- Command: `{report['command']}`; {report['repeat']} runs per command; total "
        f"{report['seconds']:.0f} s",
        "",
        "Each command in a new process (`python -m regimeforest ...`) on a temporary SQLite "
        "store with two registered versions; `validate-data` on the bundled 35,019-row sample. "
        "Wall time is what a user waits; CPU is user + system time of the process (other work "
        "on the machine inflates wall time more than CPU time). `promote 2` and `rollback` "
        "alternate, so each run moves the alias.",
        "",
    ]
    head = "| command | median wall s | best wall s | median CPU s | target s | met |"
    rule = "|---|---:|---:|---:|---:|---|"
    if before:
        head += " before: median wall s | before: CPU s |"
        rule += "---:|---:|"
    head += " heavy engines imported |"
    rule += "---|"
    lines += [head, rule]
    for name, row in after.items():
        target = TARGETS[name]
        cells = [f"`{name}`", f"{row['median_wall_s']:.2f}", f"{row['best_wall_s']:.2f}",
                 f"{row['median_cpu_s']:.2f}", f"{target:g}",
                 "yes" if row["median_wall_s"] <= target else "**no**"]
        if before:
            old = before[name]
            cells += [f"{old['median_wall_s']:.2f}", f"{old['median_cpu_s']:.2f}"]
        cells.append(", ".join(row["engines"]) if row["engines"] else "none")
        lines.append("| " + " | ".join(cells) + " |")
    if before:
        lines += ["", f"*Before*: the same commands from `{report['baseline']}` (commit "
                      f"{report.get('baseline_commit')}), with the same venv."]
    if report.get("no_bytecode"):
        lines += ["", "Without compiled bytecode (`PYTHONPYCACHEPREFIX` at an empty folder, "
                      "`PYTHONDONTWRITEBYTECODE=1`: a venv installed without `--compile-bytecode` "
                      "on these machines), one run each, wall s:", ""]
        for label, key in (("this checkout", "no_bytecode"), ("before", "before_no_bytecode")):
            if report.get(key):
                lines.append(f"- {label}: " + ", ".join(
                    f"`{k}` {v:.1f}" for k, v in report[key].items()))
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    class Formatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per command")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of the project to time as 'before'")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="also time --help, history, validate-data without compiled bytecode")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for commands.json and commands.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "200"}
    report: dict[str, Any] = {
        "machine": _machine.machine_info(("typer", "rich", "mlflow", "prefect",
                                          "great-expectations", "pandas")),
        "command": " ".join(["benchmarks/commands.py", *(argv or sys.argv[1:])]),
        "repeat": args.repeat,
    }
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        uri = make_store(Path(tmp))
        if args.baseline is not None:
            log(f"before: {args.baseline}")
            report["baseline"] = str(args.baseline)
            report["baseline_commit"] = subprocess.run(
                ["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"],
                capture_output=True, text=True, check=False).stdout.strip() or None
            report["before"] = time_commands(args.baseline.resolve(), uri, args.repeat, env,
                                             importtime=False)
        log("after: this checkout")
        report["after"] = time_commands(ROOT, uri, args.repeat, env)
        if args.no_bytecode:
            report["no_bytecode"] = time_without_bytecode(ROOT, uri, env)
            if args.baseline is not None:
                report["before_no_bytecode"] = time_without_bytecode(args.baseline.resolve(),
                                                                     uri, env)
    report["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "commands.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "commands.md").write_text(render(report))
    log(f"wrote {args.out / 'commands.json'} and commands.md in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
