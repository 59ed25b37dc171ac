"""Regenerate the SIMULATED bars with a planted edge, ``ml_core/datasets/planted_1h.parquet``.

The file is :func:`ml_core.data._planted.planted_bars` with the default market and seed
(``PLANTED_SEED``) in the canonical bar schema ``timestamp, open, high, low, close, volume``,
zstd-compressed; running this script rewrites it bit for bit. See ``ml_core/datasets/PLANTED.md``.

Usage::

    python scripts/make_planted.py [--seed SEED] [OUT_PARQUET]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml_core.data._planted import PLANTED_SEED, PlantedMarket, planted_bars  # noqa: E402

DEFAULT_OUT = ROOT / "ml_core" / "datasets" / "planted_1h.parquet"


def write_planted(out: Path, seed: int = PLANTED_SEED) -> Path:
    """Write the default market simulated with ``seed`` to ``out`` (Parquet, zstd)."""
    sample = planted_bars(PlantedMarket(), seed=seed)
    sample.bars.reset_index().to_parquet(out, index=False, compression="zstd")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=PLANTED_SEED)
    args = parser.parse_args()
    path = write_planted(args.out, args.seed)
    market = PlantedMarket()
    print(f"wrote {market.n_bars} simulated bars (seed {args.seed}, break at "
          f"{market.break_at.isoformat()}) to {path} ({path.stat().st_size / 1e6:.2f} MB)")
