"""The retrain summary in words: no trades reads as no trades, not as a score of 0."""

import math

from tasks.summary import describe_score, describe_scores


def test_scores_read_as_numbers_and_undefined_ones_say_so():
    assert describe_scores("ensemble", {"ensemble_accuracy": 0.6, "sharpe_median": 1.25,
                                        "n_paths_traded": 3.0}) == (
        "ensemble_accuracy 0.600, sharpe_median 1.250, n_paths_traded 3.000")
    assert describe_scores("overfitting", {"pbo": math.nan, "dsr_median": 0.2}) == (
        "pbo undefined, dsr_median 0.200")


def test_no_trades_reads_as_no_trades():
    assert describe_scores("ensemble", {"ensemble_accuracy": math.nan,
                                        "sharpe_median": math.nan, "n_paths_traded": 0.0}) == (
        "no trades on any CPCV path (the model held; Sharpe and drawdown undefined)")
    assert describe_scores("walk-forward", {"wf_sharpe_consistency": math.nan,
                                            "wf_n_windows_traded": 0.0}) == (
        "no trades on any walk-forward window (the model held; Sharpe and drawdown undefined)")
    # the 1h market's holdout: the model held on 865 events while the asset fell
    assert describe_scores("holdout", {"holdout_ensemble_accuracy": math.nan,
                                       "holdout_ensemble_n_trades": 0.0,
                                       "holdout_buy_and_hold_sharpe": -2.183,
                                       "holdout_n_events": 865.0}) == (
        "no trades on any holdout event (the model held; Sharpe and drawdown undefined), "
        "holdout_buy_and_hold_sharpe -2.183, holdout_n_events 865.000")


def test_the_score_line():
    assert describe_score("cv_sharpe_median", 0.89641) == "cv_sharpe_median = 0.8964"
    assert describe_score("cv_sharpe_median", math.nan) == (
        "cv_sharpe_median undefined (no trades behind it): never promoted")
