"""Developer check: batch vs streaming on real and degenerate bars, stream cost, family counts.

Usage: ``python scripts/check_features.py [--bars 4000] [--profile configs/demo.yaml]``.
Exit status 1 when a column differs (|stream - batch| > 1e-9 * max(1, |batch|), or NaN in one
only) or a recipe raises.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_core.config import load_config  # noqa: E402
from ml_core.data import load_sample_bars  # noqa: E402
from ml_core.features import compute_features, feature_specs  # noqa: E402
from ml_core.features._stream import FeatureStream  # noqa: E402


def _compare(bars: pd.DataFrame, config, label: str) -> bool:
    batch = compute_features(bars, config.features, config.data.timeframe)
    stream = FeatureStream(config.features, config.data.timeframe)
    start = time.perf_counter()
    streamed = stream.update_frame(bars)
    per_bar = (time.perf_counter() - start) / len(bars) * 1e6
    nan_mismatch = (batch.isna() != streamed.isna()).sum()
    rel = ((streamed - batch).abs() / np.maximum(1.0, batch.abs())).max()
    bad = sorted(set(nan_mismatch[nan_mismatch > 0].index) | set(rel[rel > 1e-9].index))
    print(f"[{label}] {len(bars)} bars, {batch.shape[1]} columns, stream {per_bar:.0f} us/bar, "
          f"worst rel diff {rel.max():.2e} ({rel.idxmax()})")
    for name in bad:
        print(f"   MISMATCH {name}: nan-mismatch rows {nan_mismatch[name]}, max rel {rel[name]:.3e}")
    return not bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=4000)
    parser.add_argument("--profile", default="configs/demo.yaml")
    args = parser.parse_args()
    config = load_config(args.profile)
    bars = load_sample_bars().iloc[: args.bars]
    if config.data.timeframe != pd.Timedelta("30min"):
        index = pd.date_range("2024-01-01", periods=args.bars, freq=config.data.timeframe,
                              tz="UTC", name="timestamp")
        bars = bars.set_axis(index)
    ok = _compare(bars, config, "sample")
    flat = bars.copy()
    flat.loc[flat.index[len(flat) // 3]:, ["open", "high", "low", "close"]] = 100.0
    flat.loc[flat.index[len(flat) // 2]:, "volume"] = 0.0
    ok &= _compare(flat, config, "flat prices, zero volume")
    specs = feature_specs(config.features, config.data.timeframe)
    base = Counter(s.family for s in specs.values() if s.timeframe == specs[next(iter(specs))].timeframe)
    print("base-timeframe columns per family:", dict(base), "| all columns:", len(specs))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
