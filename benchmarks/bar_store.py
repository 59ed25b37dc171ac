"""Bar store benchmark: ingest time per million bars and store size, against a plain Parquet file.

Synthetic 1-minute bars (seeded random walk, ``--bars`` of them, default 1,000,000) go into a fresh
:class:`tasks.bar_store.BarStore` on SQLite (the embedded default) in a temporary folder, and, with
``--postgres URL`` (a database that exists), into PostgreSQL too. Timed: the first ingest (all
new), re-ingesting the same bars (all identical: read + compare, nothing written), a revision of
1,000 bars, reading every bar, reading ``as_of`` the middle, and ``state`` (read + content hash).
The peer in the same run is what the store replaces: the same frame written to and read from one
Parquet file (pyarrow, snappy), with no history, no revisions and no point-in-time reads.

Results: ``benchmarks/results/bar_store.json`` and ``bar_store.md``::

    .venv/bin/python benchmarks/bar_store.py
    .venv/bin/python benchmarks/bar_store.py --bars 200000 --postgres postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _machine  # noqa: E402
from tasks.bar_store import BarStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_bars(n: int, seed: int = 42) -> pd.DataFrame:
    """``n`` 1-minute OHLCV bars from a seeded random walk, canonical frame."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 5e-4, n)) * close
    index = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close,
                         "volume": rng.gamma(2.0, 10.0, n)}, index=index)


def _timed(fn):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_store(url: str, bars: pd.DataFrame) -> dict[str, float]:
    store = BarStore(url)
    out: dict[str, float] = {}
    t = pd.Timestamp("2030-01-01", tz="UTC")
    out["ingest_s"], report = _timed(lambda: store.ingest(
        bars, "SYN", "1m", source="synthetic", sha256="0" * 64, now=t))
    assert report.n_new == len(bars)
    out["reingest_identical_s"], again = _timed(lambda: store.ingest(
        bars, "SYN", "1m", source="synthetic", sha256="0" * 64, now=t + pd.Timedelta("1h")))
    assert again.ingest_id is None
    revised = bars.iloc[len(bars) // 2: len(bars) // 2 + 1000].copy()
    revised["volume"] += 1.0
    out["revise_1000_s"], _ = _timed(lambda: store.ingest(
        revised, "SYN", "1m", source="revision", sha256="1" * 64, revise=True,
        now=t + pd.Timedelta("2h")))
    out["read_all_s"], frame = _timed(lambda: store.read("SYN", "1m"))
    assert len(frame) == len(bars)
    middle = bars.index[len(bars) // 2]
    out["read_as_of_middle_s"], _ = _timed(lambda: store.read("SYN", "1m", as_of=middle,
                                                              ingested_by=t + pd.Timedelta("3h")))
    out["state_s"], _ = _timed(lambda: store.state("SYN", "1m"))
    out["summary_s"], _ = _timed(store.summary)
    if store.engine.dialect.name == "postgresql":
        import sqlalchemy as sa

        with store.engine.connect() as conn:
            out["size_mb"] = conn.execute(sa.text(
                "SELECT pg_total_relation_size('bars') + pg_total_relation_size('ingests')"
            )).scalar() / 1e6
    store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="URL of an existing, empty PostgreSQL database")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    bars = synthetic_bars(args.bars)
    per_million = 1e6 / args.bars
    report: dict[str, object] = {
        "machine": _machine.machine_info(("pandas", "sqlalchemy", "pyarrow", "psycopg2-binary")),
        "bars": args.bars,
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bars.db"
        sqlite = run_store(f"sqlite:///{db}", bars)
        sqlite["size_mb"] = db.stat().st_size / 1e6
        report["sqlite"] = sqlite
        parquet = Path(tmp) / "bars.parquet"
        write_s, _ = _timed(lambda: bars.to_parquet(parquet))
        read_s, _ = _timed(lambda: pd.read_parquet(parquet))
        report["parquet"] = {"write_s": write_s, "read_s": read_s,
                             "size_mb": parquet.stat().st_size / 1e6}
    if args.postgres:
        report["postgresql"] = run_store(args.postgres, bars)
    report["ingest_s_per_million"] = {
        k: v["ingest_s"] * per_million for k, v in report.items()
        if isinstance(v, dict) and "ingest_s" in v}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bar_store.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "bar_store.md").write_text(render(report))
    print(render(report))


def render(report: dict) -> str:  # noqa: ANN001
    n = report["bars"]
    lines = [f"# Bar store: {n:,} synthetic 1-minute bars", "",
             *_machine.machine_lines(report["machine"]), "",
             "| engine | first ingest, s | per million bars, s | re-ingest (identical), s | "
             "revise 1,000, s | read all, s | read as_of, s | state (hash), s | size, MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in ("sqlite", "postgresql"):
        r = report.get(name)
        if r is None:
            continue
        size = f"{r['size_mb']:.1f}" if "size_mb" in r else "—"
        lines.append(
            f"| {name} | {r['ingest_s']:.1f} | {r['ingest_s'] * 1e6 / n:.1f} | "
            f"{r['reingest_identical_s']:.1f} | {r['revise_1000_s']:.2f} | "
            f"{r['read_all_s']:.1f} | {r['read_as_of_middle_s']:.1f} | {r['state_s']:.1f} | "
            f"{size} |")
    p = report["parquet"]
    lines += ["", f"Peer, one Parquet file (no history, no revisions, no as-of reads): write "
              f"{p['write_s']:.2f} s, read {p['read_s']:.2f} s, {p['size_mb']:.1f} MB."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
