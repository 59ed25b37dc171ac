"""Labels: triple-barrier events and the four targets (entry, position, exit, profit) built on them.

Labels look forward by nature (an event at ``t0`` ends at ``t1 > t0``); validation must purge
training events whose ``[t0, t1]`` overlaps a test span. The volatility that scales the barriers
is known at ``t0``.
"""

from ml_core.labeling._barriers import EVENT_COLUMNS, event_volatility, triple_barrier_events
from ml_core.labeling._cusum import cusum_events
from ml_core.labeling._targets import TARGET_NAMES, make_targets

__all__ = [
    "EVENT_COLUMNS",
    "TARGET_NAMES",
    "cusum_events",
    "event_volatility",
    "make_targets",
    "triple_barrier_events",
]
