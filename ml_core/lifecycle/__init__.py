"""A registered version's life: the promotion gate, the paired Sharpe test, paper books and the
rollout stages (pure: persistence and alias moves live in ``tasks``).

:func:`absolute_gate` holds a retrain's validation to the profile's bounds (trades, PBO, deflated
Sharpe, buy-and-hold) and :func:`gate_decision` adds :func:`sharpe_difference_test` (Ledoit and
Wolf 2008: HAC or studentised block bootstrap) against the champion on the newest bars, aligned
bar by bar. A :class:`PaperBook` turns each signal into a position filled at the next bar's open
with costs (:func:`paper_returns` in batch); :func:`rollout_decision` moves a candidate through
the rollout stages on its paper record against the champion's.
"""

from ml_core.lifecycle._gate import (
    GATE_EVIDENCE,
    GateCheck,
    GateVerdict,
    absolute_gate,
    gate_decision,
)
from ml_core.lifecycle._holding import SignalHolder, hold_targets
from ml_core.lifecycle._paper import (
    MARK_COLUMNS,
    TRADE_COLUMNS,
    BarMark,
    PaperBook,
    Trade,
    marks_frame,
    paper_returns,
    trades_frame,
)
from ml_core.lifecycle._rollout import ROLLOUT_ACTIONS, RolloutStep, rollout_decision
from ml_core.lifecycle._sharpe_test import SharpeDifference, sharpe_difference_test

__all__ = [
    "GATE_EVIDENCE",
    "MARK_COLUMNS",
    "ROLLOUT_ACTIONS",
    "TRADE_COLUMNS",
    "BarMark",
    "GateCheck",
    "GateVerdict",
    "PaperBook",
    "RolloutStep",
    "SharpeDifference",
    "SignalHolder",
    "Trade",
    "absolute_gate",
    "gate_decision",
    "hold_targets",
    "marks_frame",
    "paper_returns",
    "rollout_decision",
    "sharpe_difference_test",
    "trades_frame",
]
