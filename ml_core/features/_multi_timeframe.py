"""Features that combine one feature across the base and the higher timeframes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_core.features._spec import cross_timeframe_feature


@cross_timeframe_feature(
    "multi_tf_consensus", family="regime", requires=("ema_cross_12_26",),
    description="mean trend sign (sign of EMA(12) - EMA(26)) over the base and higher "
                "timeframes, in [-1, 1]; (1 + x) / 2 is the share of timeframes trending up",
)
def multi_tf_consensus(frames: dict[str, pd.DataFrame]) -> np.ndarray:
    signs = np.column_stack([np.sign(f["ema_cross_12_26"].to_numpy()) for f in frames.values()])
    return signs.mean(axis=1)  # NaN while any timeframe is warming up
