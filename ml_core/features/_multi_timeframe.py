"""Features that combine one feature across the base and the higher timeframes."""

from __future__ import annotations

from ml_core.features._ops import Ops, Value
from ml_core.features._spec import cross_timeframe_feature


@cross_timeframe_feature(
    "multi_tf_consensus", family="regime", requires=("ema_cross_12_26",),
    description="mean trend sign (sign of EMA(12) - EMA(26)) over the base and higher "
                "timeframes, in [-1, 1]; (1 + x) / 2 is the share of timeframes trending up",
)
def multi_tf_consensus(frames: dict[str, dict[str, Value]], ops: Ops) -> Value:
    signs = [ops.sign(frame["ema_cross_12_26"]) for frame in frames.values()]
    return sum(signs[1:], signs[0]) / len(signs)  # NaN while any timeframe is warming up
