"""The rollout-stage rule on constructed paper records: stay, advance, promote, reject."""

import numpy as np
import pandas as pd
import pytest

from ml_core.config import RolloutConfig, RolloutStage
from ml_core.lifecycle._rollout import RolloutStep, rollout_decision
from ml_core.lifecycle._sharpe_test import sharpe_difference_test

STAGES = [RolloutStage(name="shadow", size_fraction=0.0, min_bars=50, min_trades=3),
          RolloutStage(name="partial", size_fraction=0.25, min_bars=50, min_trades=3),
          RolloutStage(name="full", size_fraction=1.0)]
rng = np.random.default_rng(42)
CHAMPION = rng.normal(0.0005, 0.01, 400)
BETTER = 0.5 * CHAMPION + rng.normal(0.001, 0.01, 400)  # Sharpe ~0.12 per bar vs ~0.05
WORSE = 0.5 * CHAMPION + rng.normal(-0.002, 0.01, 400)  # Sharpe ~-0.18 per bar


def _decide(current, candidate, champion, trades, **kwargs) -> RolloutStep:
    return rollout_decision(STAGES, current, candidate, champion, trades, alpha=0.05, **kwargs)


def test_a_new_candidate_enters_the_first_stage_without_a_test():
    step = _decide(None, [], [], 0)
    assert step == RolloutStep("advance", None, "shadow",
                               "enters the first stage 'shadow' (size fraction 0)", None)


def test_advance_once_the_minimums_are_met_and_it_is_not_worse():
    step = _decide("shadow", BETTER[:100], CHAMPION[:100], 3)
    expected = sharpe_difference_test(CHAMPION[:100], BETTER[:100], alternative="greater")
    assert step.test == expected and not expected.rejects(0.05)
    assert (step.action, step.stage, step.next_stage) == ("advance", "shadow", "partial")
    assert step.reason == (
        f"stage 'shadow' done with 100 bars (min 50) and 3 resolved trades (min 3), not shown "
        f"worse than the champion: Sharpe per bar {expected.sharpe_b:.4f} (candidate) vs "
        f"{expected.sharpe_a:.4f} (champion), p={expected.p_value:.4g} >= alpha=0.05 for "
        f"'candidate worse'; advance to 'partial'")


@pytest.mark.parametrize(("bars", "trades"), [(49, 10), (400, 2)])
def test_stay_until_bars_and_trades_reach_the_minimums(bars, trades):
    step = _decide("partial", BETTER[:bars], CHAMPION[:bars], trades)
    assert (step.action, step.stage, step.next_stage) == ("stay", "partial", "partial")
    assert step.reason.startswith(f"stays in stage 'partial': {bars} bars (min 50) and {trades} "
                                  f"resolved trades (min 3); Sharpe per bar")


def test_promote_from_the_last_stage():
    step = _decide("full", BETTER[:20], CHAMPION[:20], 0)
    assert (step.action, step.stage, step.next_stage) == ("promote", "full", None)
    assert step.reason.endswith("; promote to champion")
    assert step.test.n == 20


@pytest.mark.parametrize(("stage", "bars"), [("shadow", 400), ("partial", 30)])
def test_reject_a_worse_candidate_whatever_its_bars(stage, bars):
    step = _decide(stage, WORSE[:bars], CHAMPION[:bars], 50)
    assert (step.action, step.stage, step.next_stage) == ("reject", stage, None)
    assert step.test == sharpe_difference_test(CHAMPION[:bars], WORSE[:bars])
    assert step.test.p_value < 0.05
    assert step.reason.startswith(f"worse than the champion in stage {stage!r} over {bars} bars: "
                                  f"Sharpe per bar {step.test.sharpe_b:.4f} (candidate)")
    assert "< alpha=0.05" in step.reason


def test_bootstrap_method_is_seeded():
    one = _decide("shadow", WORSE[:200], CHAMPION[:200], 5, method="bootstrap")
    two = _decide("shadow", WORSE[:200], CHAMPION[:200], 5, method="bootstrap")
    assert one == two and one.action == "reject" and one.test.method == "bootstrap"


def test_without_a_champion_the_candidate_is_tested_against_a_flat_book():
    losing = rng.normal(-0.002, 0.01, 200)
    step = _decide("shadow", losing, None, 5)
    assert step.action == "reject" and step.test.sharpe_a == 0.0
    assert step.test == sharpe_difference_test(np.zeros(200), losing)
    assert _decide("shadow", BETTER[:200], None, 5).action == "advance"


def test_a_flat_candidate_against_a_flat_champion_is_not_worse():
    step = _decide("shadow", np.zeros(60), np.zeros(60), 3)
    assert step.action == "advance" and step.test.p_value == 1.0


def test_fewer_than_ten_bars_run_no_test():
    step = _decide("full", WORSE[:9], CHAMPION[:9], 0)
    assert step.action == "promote" and step.test is None
    assert "too few bars to test (fewer than 10)" in step.reason
    assert _decide("shadow", WORSE[:9], CHAMPION[:9], 0).action == "stay"


def test_default_stages_walk_from_shadow_to_champion():
    stages = RolloutConfig().stages  # shadow and partial: 500 bars and 10 trades each
    champion = np.random.default_rng(1).normal(0.0005, 0.01, 600)
    candidate = 0.5 * champion + np.random.default_rng(2).normal(0.001, 0.01, 600)
    steps = [rollout_decision(stages, None, [], None, 0, alpha=0.05)]
    while steps[-1].next_stage is not None:
        steps.append(rollout_decision(stages, steps[-1].next_stage, candidate, champion, 10,
                                      alpha=0.05))
    assert [(s.action, s.next_stage) for s in steps] == [
        ("advance", "shadow"), ("advance", "partial"), ("advance", "full"), ("promote", None)]
    short = rollout_decision(stages, "shadow", candidate[:499], champion[:499], 10, alpha=0.05)
    assert short.action == "stay"


def test_series_on_other_bars_are_refused():
    idx = pd.date_range("2024", periods=20, freq="h", tz="UTC")
    with pytest.raises(ValueError, match="must be on the same bars"):
        _decide("shadow", pd.Series(BETTER[:20], idx), pd.Series(CHAMPION[:20], idx + idx.freq), 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"current": "canary"}, r"`current` must be one of the stages \['shadow', 'partial', "
                                r"'full'\] or None, got `current='canary'`"),
        ({"champion": CHAMPION[:99]}, r"got shapes \(100,\) and \(99,\)"),
        ({"trades": -1}, "`candidate_trades=-1`"),
        ({"alpha": 0.5}, r"`alpha` must be in \(0, 0.5\), got `alpha=0.5`"),
        ({"method": "t"}, "`method='t'`"),
    ],
)
def test_errors_name_the_parameter(kwargs, message):
    args = {"current": "shadow", "champion": CHAMPION[:100], "trades": 3, "alpha": 0.05,
            "method": "hac"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rollout_decision(STAGES, args["current"], BETTER[:100], args["champion"], args["trades"],
                         alpha=args["alpha"], method=args["method"])
    with pytest.raises(ValueError, match="`stages` must hold at least one stage"):
        rollout_decision([], "shadow", BETTER[:100], CHAMPION[:100], 3, alpha=0.05)
