"""The rollout-stage rule: stay, advance, promote or reject a candidate on its paper record.

A version that passed the gate earns live capital stage by stage (``promotion.rollout.stages``:
shadow 0.0 -> partial 0.25 -> full 1.0 of the champion's size). Each decision reads the paper
books of the candidate and the champion over the same bars since the candidate entered its
stage, and the candidate's resolved paper trades in that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ml_core.lifecycle._sharpe_test import (
    METHODS,
    MIN_PAIRS,
    SharpeDifference,
    sharpe_difference_test,
)

if TYPE_CHECKING:
    from ml_core.config import RolloutStage

__all__ = ["ROLLOUT_ACTIONS", "RolloutStep", "rollout_decision"]

Action = Literal["advance", "stay", "promote", "reject"]
ROLLOUT_ACTIONS: tuple[str, ...] = ("advance", "stay", "promote", "reject")
"""What :func:`rollout_decision` may answer."""


@dataclass(frozen=True)
class RolloutStep:
    """One decision of :func:`rollout_decision`.

    Attributes
    ----------
    action : {"advance", "stay", "promote", "reject"}
        ``"advance"``: enter ``next_stage``; ``"promote"``: the last stage is done, the
        candidate becomes champion; ``"reject"``: it is worse than the champion, the rollout
        ends; ``"stay"``: not enough evidence yet.
    stage : str or None
        The stage the candidate was in (None: it was not in the rollout yet).
    next_stage : str or None
        The stage it is in after the step: the next one for ``"advance"``, ``stage`` for
        ``"stay"``, None for ``"promote"`` and ``"reject"`` (the rollout is over).
    reason : str
        One sentence with the figures (bars, trades, Sharpe ratios, p-value).
    test : SharpeDifference or None
        ``sharpe_difference_test(champion, candidate, alternative="greater")``; None when it was
        not run (entering the first stage, or fewer than 10 bars).
    """

    action: Action
    stage: str | None
    next_stage: str | None
    reason: str
    test: SharpeDifference | None

    def as_dict(self) -> dict[str, Any]:
        """Flat values to log or record: the step and, when run, the test's fields as
        ``test.<field>``."""
        values: dict[str, Any] = {"action": self.action, "stage": self.stage,
                                  "next_stage": self.next_stage, "reason": self.reason}
        if self.test is not None:
            values.update({f"test.{k}": v for k, v in self.test.as_dict().items()})
        return values


def _paired(candidate: Any, champion: Any | None) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(candidate, pd.Series) and isinstance(champion, pd.Series):
        if not candidate.index.equals(champion.index):
            raise ValueError(f"`candidate_returns` and `champion_returns` must be on the same "
                             f"bars, got {len(candidate)} and {len(champion)} bars with "
                             f"different times")
    a = np.asarray(candidate, dtype=np.float64)
    b = np.zeros_like(a) if champion is None else np.asarray(champion, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"`candidate_returns` and `champion_returns` must be 1-D of one length, "
                         f"got shapes {a.shape} and {b.shape}")
    return a, b


def _figures(test: SharpeDifference | None, alpha: float) -> str:
    if test is None:
        return f"too few bars to test (fewer than {MIN_PAIRS})"
    sign = "<" if test.rejects(alpha) else ">="
    return (f"Sharpe per bar {test.sharpe_b:.4f} (candidate) vs {test.sharpe_a:.4f} (champion), "
            f"p={test.p_value:.4g} {sign} alpha={alpha:g} for 'candidate worse'")


def rollout_decision(stages: Sequence[RolloutStage], current: str | None,
                     candidate_returns: Any, champion_returns: Any | None,
                     candidate_trades: int, *, alpha: float, method: str = "hac",
                     random_state: int | None = 0) -> RolloutStep:
    """Decide a candidate's next rollout step from its paper record in its current stage.

    Parameters
    ----------
    stages : sequence of RolloutStage
        ``promotion.rollout.stages``, in order.
    current : str or None
        The stage the candidate is in; None: not in the rollout yet, so it enters the first
        stage (no test: the gate has just tested it).
    candidate_returns, champion_returns : array-like or pandas.Series of float
        Per-bar paper returns of the two books on the same bars since the candidate entered
        ``current`` (two Series must share their index). ``champion_returns`` None: there is no
        champion, whose book is then flat (zeros), so the test asks whether the candidate's
        Sharpe ratio is below 0.
    candidate_trades : int
        Resolved paper trades of the candidate since it entered ``current``.
    alpha : float
        One-sided level of "candidate worse than champion" (``promotion.rollout.alpha``).
    method : {"hac", "bootstrap"}
        The paired test (``promotion.gate.test``).
    random_state : int or None
        Seed of the bootstrap, so the same record gives the same decision.

    Returns
    -------
    RolloutStep
        ``"reject"`` when ``sharpe_difference_test(champion, candidate, alternative="greater")``
        rejects at ``alpha`` (whatever the bars so far); else ``"advance"`` (``"promote"`` from
        the last stage) once the stage's ``min_bars`` and ``min_trades`` are met; else
        ``"stay"``.

    Notes
    -----
    The test is repeated at every decision on a growing sample, so the chance of a wrong
    ``"reject"`` of an equal candidate over a whole stage is above ``alpha``: the rule errs on
    the side of keeping the champion. With fewer than 10 bars no test is run and nothing is
    rejected; a stage with ``min_bars`` below 10 may then be passed on its minimums alone.

    Raises
    ------
    ValueError
        Naming the parameter: no stages, an unknown ``current``, returns of different lengths
        or times, a negative ``candidate_trades``, ``alpha`` outside (0, 0.5), unknown
        ``method``.
    """
    if not stages:
        raise ValueError("`stages` must hold at least one stage, got none")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"`alpha` must be in (0, 0.5), got `alpha={alpha}`")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got `method={method!r}`")
    names = [stage.name for stage in stages]
    if current is None:
        first = stages[0]
        return RolloutStep("advance", None, first.name,
                           f"enters the first stage {first.name!r} (size fraction "
                           f"{first.size_fraction:g})", None)
    if current not in names:
        raise ValueError(f"`current` must be one of the stages {names} or None, got "
                         f"`current={current!r}`")
    if int(candidate_trades) < 0:
        raise ValueError(f"`candidate_trades` must be >= 0, got "
                         f"`candidate_trades={candidate_trades}`")
    candidate, champion = _paired(candidate_returns, champion_returns)
    n_bars, n_trades = int(candidate.size), int(candidate_trades)
    test = None
    if n_bars >= MIN_PAIRS:
        test = sharpe_difference_test(champion, candidate, method=method, alternative="greater",
                                      random_state=random_state)
    figures = _figures(test, alpha)
    if test is not None and test.rejects(alpha):
        return RolloutStep("reject", current, None,
                           f"worse than the champion in stage {current!r} over {n_bars} bars: "
                           f"{figures}", test)
    position = names.index(current)
    stage = stages[position]
    counts = (f"{n_bars} bars (min {stage.min_bars}) and {n_trades} resolved trades "
              f"(min {stage.min_trades})")
    if n_bars < stage.min_bars or n_trades < stage.min_trades:
        return RolloutStep("stay", current, current,
                           f"stays in stage {current!r}: {counts}; {figures}", test)
    if position == len(stages) - 1:
        return RolloutStep("promote", current, None,
                           f"last stage {current!r} done with {counts}, not shown worse than the "
                           f"champion: {figures}; promote to champion", test)
    following = stages[position + 1].name
    return RolloutStep("advance", current, following,
                       f"stage {current!r} done with {counts}, not shown worse than the "
                       f"champion: {figures}; advance to {following!r}", test)
