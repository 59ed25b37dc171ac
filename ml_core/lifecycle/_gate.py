"""The promotion gate: what a registered version must show before it may earn live capital.

Two kinds of evidence, both measured out of sample:

- **absolute** — the retrain's own validation: it traded (``min_trades`` on the median CPCV path
  and on the final holdout), it is unlikely to be overfit (PBO at most ``pbo_max``), its Sharpe
  survives the number of configurations tried (deflated Sharpe probability at least
  ``dsr_min``), and its CPCV paths beat buy-and-hold on the same paths;
- **relative** — against the current champion, both scored on the newest bars and aligned bar by
  bar: a one-sided test of the Sharpe-ratio difference that allows for autocorrelation and fat
  tails (:func:`~ml_core.lifecycle._sharpe_test.sharpe_difference_test`).

A version that fails an absolute gate is *rejected* (never served); one that passes them but not
the relative gate is a *challenger*; one that passes both enters the rollout's first stage (or
becomes champion at once when the rollout is off). A version that passed the absolute gates is
*trustworthy*; when none ever has, there is no champion and the system holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["GateCheck", "GateVerdict", "absolute_gate", "gate_decision", "GATE_EVIDENCE"]

GATE_EVIDENCE: tuple[str, ...] = (
    "cv_n_trades_median", "holdout_ensemble_n_trades", "pbo", "dsr_median", "dsr_n_trials",
    "cv_sharpe_median", "cv_baseline_long_every_event_sharpe_median")
"""The validation figures the absolute gate reads (missing ones fail their check, saying so)."""

Verdict = Literal["champion", "candidate", "challenger", "rejected"]


@dataclass(frozen=True)
class GateCheck:
    """One absolute gate: the figure, the bound it is held to, and whether it passed."""

    name: str
    passed: bool
    value: float
    bound: float
    reason: str


@dataclass(frozen=True)
class GateVerdict:
    """What the gate decided for one version, with every statistic it used.

    Attributes
    ----------
    verdict : {"champion", "candidate", "challenger", "rejected"}
        ``candidate``: passed both gates, enters the rollout's first stage.
    checks : tuple of GateCheck
        The absolute gates, in :func:`absolute_gate`'s order.
    comparison : object or None
        The paired Sharpe test against the champion
        (:class:`~ml_core.lifecycle._sharpe_test.SharpeDifference`); None when there was no
        champion to compare with or the gate is off.
    reason : str
        One paragraph naming the failed gate(s) or the test's figures.
    """

    verdict: Verdict
    checks: tuple[GateCheck, ...]
    comparison: Any
    reason: str
    alpha: float = 0.05
    failed: tuple[str, ...] = field(default=())

    @property
    def trustworthy(self) -> bool:
        """Whether every absolute gate passed (the version may be served)."""
        return all(check.passed for check in self.checks)

    def tags(self) -> dict[str, str]:
        """``gate.*`` tags for the registered version and its run: verdict, trust, failed
        gates, each check's value and bound, the paired test's figures."""
        out = {"gate.verdict": self.verdict, "gate.trustworthy": str(self.trustworthy).lower(),
               "gate.failed": ", ".join(self.failed) or "none", "gate.reason": self.reason}
        for check in self.checks:
            out[f"gate.{check.name}"] = f"{'pass' if check.passed else 'FAIL'}: {check.reason}"
        if self.comparison is not None:
            out.update({f"gate.test.{k}": str(v) for k, v in self.comparison.as_dict().items()})
        return out

    def metrics(self) -> dict[str, float]:
        """``gate_*`` metrics: 1/0 per check and overall, the test's p-value and statistic."""
        out = {f"gate_{check.name}": float(check.passed) for check in self.checks}
        out["gate_trustworthy"] = float(self.trustworthy)
        if self.comparison is not None:
            out["gate_test_p_value"] = float(self.comparison.p_value)
            out["gate_test_statistic"] = float(self.comparison.statistic)
            out["gate_test_sharpe_difference"] = float(self.comparison.difference)
        return out


def _value(evidence: Mapping[str, float], key: str) -> float:
    value = evidence.get(key)
    return float("nan") if value is None else float(value)


def absolute_gate(evidence: Mapping[str, float], *, min_trades: int, pbo_max: float,
                  dsr_min: float, beat_buy_and_hold: bool = True) -> tuple[GateCheck, ...]:
    """Hold a version's validation figures to the absolute gates.

    Parameters
    ----------
    evidence : mapping of str to float
        The retrain's validation results (:data:`GATE_EVIDENCE`). A missing or NaN figure fails
        its check: no evidence is no pass (a model that never traded has no Sharpe, and a PBO
        that could not be computed proves nothing).
    min_trades, pbo_max, dsr_min, beat_buy_and_hold
        The profile's ``promotion.gate`` settings.

    Returns
    -------
    tuple of GateCheck
        ``cpcv_trades``, ``holdout_trades``, ``pbo``, ``dsr`` and, with ``beat_buy_and_hold``,
        ``buy_and_hold``.
    """
    if min_trades < 1:
        raise ValueError(f"min_trades must be at least 1, got min_trades={min_trades}")
    for name, bound in (("pbo_max", pbo_max), ("dsr_min", dsr_min)):
        if not 0.0 <= bound <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {name}={bound}")
    cv_trades = _value(evidence, "cv_n_trades_median")
    holdout_trades = _value(evidence, "holdout_ensemble_n_trades")
    pbo = _value(evidence, "pbo")
    dsr = _value(evidence, "dsr_median")
    trials = _value(evidence, "dsr_n_trials")
    sharpe = _value(evidence, "cv_sharpe_median")
    baseline = _value(evidence, "cv_baseline_long_every_event_sharpe_median")

    def at_least(value: float, bound: float) -> bool:
        return math.isfinite(value) and value >= bound

    checks = [
        GateCheck("cpcv_trades", at_least(cv_trades, min_trades), cv_trades, float(min_trades),
                  f"median CPCV path traded {_fmt(cv_trades, 0)} times (at least {min_trades})"),
        GateCheck("holdout_trades", at_least(holdout_trades, min_trades), holdout_trades,
                  float(min_trades),
                  f"final holdout traded {_fmt(holdout_trades, 0)} times (at least "
                  f"{min_trades})"),
        GateCheck("pbo", math.isfinite(pbo) and pbo <= pbo_max, pbo, pbo_max,
                  f"PBO {_fmt(pbo, 2)} (at most {pbo_max:g}"
                  + ("; 0.5 is a random pick)" if pbo_max >= 0.5 else ")")),
        GateCheck("dsr", at_least(dsr, dsr_min), dsr, dsr_min,
                  f"deflated Sharpe probability {_fmt(dsr, 3)} at {_fmt(trials, 0)} trials "
                  f"(at least {dsr_min:g})"),
    ]
    if beat_buy_and_hold:
        beats = math.isfinite(sharpe) and math.isfinite(baseline) and sharpe > baseline
        checks.append(GateCheck(
            "buy_and_hold", beats, sharpe, baseline,
            f"median CPCV path Sharpe {_fmt(sharpe, 2)} against {_fmt(baseline, 2)} for "
            f"buy-and-hold on the same events (long on every event, the baseline "
            f"cv_baseline_long_every_event)"))
    return tuple(checks)


def gate_decision(checks: tuple[GateCheck, ...], comparison: Any, *, alpha: float,
                  has_champion: bool, rollout: bool) -> GateVerdict:
    """Combine the absolute checks and the paired test into a verdict.

    Parameters
    ----------
    checks : tuple of GateCheck
        :func:`absolute_gate`'s result.
    comparison : SharpeDifference or None
        The new version (``a``) against the champion (``b``) on the newest bars, one-sided
        ("greater"); None when there is no champion, or when it could not be computed (then
        ``has_champion`` says which, and a champion with no comparison keeps its alias).
    alpha : float
        The test's level.
    has_champion : bool
        Whether a champion holds the alias now.
    rollout : bool
        Whether a passing version goes through the rollout stages (verdict ``candidate``) or
        becomes champion at once.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got alpha={alpha}")
    failed = tuple(check.name for check in checks if not check.passed)
    passing = "candidate" if rollout else "champion"
    if failed:
        why = "; ".join(check.reason for check in checks if not check.passed)
        return GateVerdict("rejected", checks, comparison,
                           f"rejected: failed the absolute gate ({', '.join(failed)}): {why}",
                           alpha, failed)
    if not has_champion:
        return GateVerdict(passing, checks, comparison,
                           "passed every absolute gate and there is no champion to beat: "
                           + ("enters the rollout" if rollout else "becomes champion"), alpha)
    if comparison is None:
        return GateVerdict("challenger", checks, None,
                           "passed every absolute gate, but could not be compared with the "
                           "champion on the newest bars: challenger", alpha, ("relative",))
    figures = (f"Sharpe per bar {comparison.sharpe_a:.4f} against the champion's "
               f"{comparison.sharpe_b:.4f}, difference {comparison.difference:+.4f} "
               f"(s.e. {comparison.std_error:.4f}, {comparison.method}, one-sided p = "
               f"{comparison.p_value:.3g} over {comparison.n} bars, alpha {alpha:g})")
    if comparison.rejects(alpha):
        return GateVerdict(passing, checks, comparison,
                           f"passed every absolute gate and beats the champion: {figures}: "
                           + ("enters the rollout" if rollout else "becomes champion"), alpha)
    return GateVerdict("challenger", checks, comparison,
                       f"passed every absolute gate but does not beat the champion: {figures}: "
                       "challenger", alpha, ("relative",))


def _fmt(value: float, digits: int) -> str:
    return "undefined" if not math.isfinite(value) else f"{value:.{digits}f}"
