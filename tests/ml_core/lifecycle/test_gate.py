"""The promotion gate: absolute checks on the validation figures, then the paired test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from ml_core.lifecycle._gate import absolute_gate, gate_decision

GOOD = {"cv_n_trades_median": 45.0, "holdout_ensemble_n_trades": 21.0, "pbo": 0.2,
        "dsr_median": 0.97, "dsr_n_trials": 24.0, "cv_sharpe_median": 1.4,
        "cv_baseline_long_every_event_sharpe_median": 0.3}
SETTINGS = {"min_trades": 20, "pbo_max": 0.5, "dsr_min": 0.95}


@dataclass(frozen=True)
class _Test:
    """A stand-in for SharpeDifference with the fields the verdict reads."""

    p_value: float
    sharpe_a: float = 0.05
    sharpe_b: float = 0.01
    difference: float = 0.04
    std_error: float = 0.02
    statistic: float = 2.0
    n: int = 800
    method: str = "hac"

    def rejects(self, alpha: float) -> bool:
        return self.p_value < alpha

    def as_dict(self) -> dict[str, float | str]:
        return {"p_value": self.p_value, "n": self.n, "method": self.method}


def test_every_gate_passes_on_good_evidence() -> None:
    checks = absolute_gate(GOOD, **SETTINGS)
    assert [c.name for c in checks] == ["cpcv_trades", "holdout_trades", "pbo", "dsr",
                                        "buy_and_hold"]
    assert all(c.passed for c in checks)
    assert checks[3].reason == "deflated Sharpe probability 0.970 at 24 trials (at least 0.95)"


@pytest.mark.parametrize(("key", "value", "failed"), [
    ("cv_n_trades_median", 19.0, "cpcv_trades"),
    ("holdout_ensemble_n_trades", 0.0, "holdout_trades"),
    ("pbo", 0.51, "pbo"),
    ("pbo", math.nan, "pbo"),  # no PBO is no evidence
    ("dsr_median", 0.9499, "dsr"),
    ("dsr_median", math.nan, "dsr"),
    ("cv_sharpe_median", 0.3, "buy_and_hold"),  # a tie does not beat it
    ("cv_sharpe_median", math.nan, "buy_and_hold"),
])
def test_each_gate_fails_on_its_own(key: str, value: float, failed: str) -> None:
    checks = absolute_gate({**GOOD, key: value}, **SETTINGS)
    assert [c.name for c in checks if not c.passed] == [failed]


def test_missing_evidence_fails_and_says_undefined() -> None:
    evidence = {k: v for k, v in GOOD.items() if k != "holdout_ensemble_n_trades"}
    (check,) = [c for c in absolute_gate(evidence, **SETTINGS) if not c.passed]
    assert check.reason == "final holdout traded undefined times (at least 20)"


def test_buy_and_hold_check_can_be_turned_off() -> None:
    checks = absolute_gate({**GOOD, "cv_sharpe_median": 0.1}, **SETTINGS, beat_buy_and_hold=False)
    assert [c.name for c in checks] == ["cpcv_trades", "holdout_trades", "pbo", "dsr"]


def test_the_demo_champion_of_the_issue_is_rejected() -> None:
    """CV median Sharpe undefined (it never traded), PBO 0.92, DSR 0: rejected, three reasons."""
    demo = {"cv_n_trades_median": 0.0, "holdout_ensemble_n_trades": 0.0, "pbo": 0.92,
            "dsr_median": 0.0, "dsr_n_trials": 18.0, "cv_sharpe_median": math.nan,
            "cv_baseline_long_every_event_sharpe_median": 0.4}
    verdict = gate_decision(absolute_gate(demo, **SETTINGS), None, alpha=0.05,
                            has_champion=False, rollout=True)
    assert verdict.verdict == "rejected" and not verdict.trustworthy
    assert verdict.failed == ("cpcv_trades", "holdout_trades", "pbo", "dsr", "buy_and_hold")
    assert "PBO 0.92 (at most 0.5; 0.5 is a random pick)" in verdict.reason
    assert verdict.tags()["gate.verdict"] == "rejected"
    assert verdict.metrics()["gate_trustworthy"] == 0.0


@pytest.mark.parametrize(("has_champion", "p_value", "rollout", "expected"), [
    (False, None, True, "candidate"),
    (False, None, False, "champion"),
    (True, 0.01, True, "candidate"),
    (True, 0.01, False, "champion"),
    (True, 0.05, True, "challenger"),  # p must be below alpha
    (True, 0.30, False, "challenger"),
    (True, None, True, "challenger"),  # no comparison with a champion: keep the champion
])
def test_relative_gate(has_champion: bool, p_value: float | None, rollout: bool,
                       expected: str) -> None:
    comparison = None if p_value is None else _Test(p_value)
    verdict = gate_decision(absolute_gate(GOOD, **SETTINGS), comparison, alpha=0.05,
                            has_champion=has_champion, rollout=rollout)
    assert verdict.verdict == expected
    assert verdict.trustworthy
    if p_value is not None:
        assert verdict.metrics()["gate_test_p_value"] == p_value
        assert f"p = {p_value:.3g} over 800 bars" in verdict.reason


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_trades": 0}, "min_trades must be at least 1, got min_trades=0"),
    ({"pbo_max": 1.5}, "pbo_max must be in [0, 1], got pbo_max=1.5"),
])
def test_bad_settings_are_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        absolute_gate(GOOD, **{**SETTINGS, **kwargs})


def test_bad_alpha_is_named() -> None:
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 0.5\), got alpha=0.5"):
        gate_decision((), None, alpha=0.5, has_champion=False, rollout=True)
