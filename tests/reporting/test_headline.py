"""The headline set: one naming scheme, copied from the run's metrics, nothing made up."""

from __future__ import annotations

import math

import pytest

from reporting.headline import HEADLINE, HEADLINE_KEYS, headline_figures, headline_key

RUN = {"promotion_score": -0.2457, "gate_trustworthy": 0.0, "gate_cpcv_trades": 0.0,
       "gate_holdout_trades": 0.0, "gate_pbo": 0.0, "gate_dsr": 0.0, "gate_buy_and_hold": 1.0,
       "cv_sharpe_median": -0.2457, "cv_baseline_long_every_event_sharpe_median": 0.106,
       "pbo": 0.966, "dsr_median": 0.0, "holdout_ensemble_sharpe": 2.507,
       "holdout_ensemble_n_trades": 2.0, "wf_sharpe_consistency": 0.286,
       "cv_sharpe_mean": 9.9, "split_sharpe": 7.7}


def test_about_a_dozen_figures_under_one_prefix() -> None:
    assert len(HEADLINE) == 13
    assert all(key.startswith("headline/") for key in HEADLINE_KEYS)
    assert headline_key("pbo") == "headline/pbo"
    with pytest.raises(ValueError, match="name='sharpe' is not a headline figure"):
        headline_key("sharpe")


def test_figures_are_copies_of_the_run_metrics_in_headline_order() -> None:
    out = headline_figures(RUN)
    assert out == {
        "headline/score": -0.2457, "headline/gate_passed": 0.0,
        "headline/gate_failed_checks": 4.0, "headline/cv_sharpe_median": -0.2457,
        "headline/cv_buy_hold_sharpe": 0.106, "headline/pbo": 0.966, "headline/dsr": 0.0,
        "headline/holdout_sharpe": 2.507, "headline/holdout_trades": 2.0,
        "headline/wf_consistency": 0.286}
    assert list(out) == [k for k in HEADLINE_KEYS if k in out]


def test_fractions_are_rounded_to_four_significant_digits_counts_kept() -> None:
    out = headline_figures({"pbo": 0.966122766122766, "dsr_median": 1.09688870596644e-05,
                            "holdout_ensemble_n_trades": 123456.0})
    assert out == {"headline/pbo": 0.9661, "headline/dsr": 1.097e-05,
                   "headline/holdout_trades": 123456.0}


def test_missing_or_undefined_figures_are_left_out_not_zeroed() -> None:
    out = headline_figures({"pbo": math.nan, "gate_test_p_value": 0.03,
                            "gate_test_sharpe_difference": 0.012})
    assert out == {"headline/paired_sharpe_diff": 0.012, "headline/paired_p_value": 0.03}
    assert headline_figures({}) == {}
