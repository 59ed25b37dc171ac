"""A retrain's description: data, scores, gate and links in one paragraph."""

from __future__ import annotations

from reporting.describe import data_sentence, run_description, verdict_sentence

TAGS = {"store.key": "BTCUSD/30m@50c862b8c8885997", "data.first": "2017-10-01T00:00:00+00:00",
        "data.last": "2019-10-01T00:00:00+00:00", "data.bars": "35019",
        "as_of": "2026-12-04T08:54:31+00:00", "profile": "demo",
        "promotion.verdict": "rejected", "promotion.failed": "pbo, dsr",
        "promotion.reason": "rejected: failed the absolute gate (pbo, dsr)."}
HEADLINE = {"headline/cv_sharpe_median": -0.2457, "headline/cv_buy_hold_sharpe": 0.106,
            "headline/pbo": 0.966, "headline/dsr": 0.0, "headline/holdout_sharpe": 2.507,
            "headline/holdout_trades": 2.0, "headline/wf_consistency": 0.286}


def test_data_sentence_names_market_span_size_hash_and_moment() -> None:
    assert data_sentence(TAGS) == (
        "Trained on BTCUSD/30m bars 2017-10-01 → 2019-10-01 (35,019 bars, hash 50c862b8), "
        "as of 2026-12-04 08:54 UTC, profile `demo`.")


def test_verdict_sentence_with_and_without_the_paired_test() -> None:
    assert verdict_sentence(TAGS, HEADLINE) == (
        "**Gate: failed** (pbo, dsr) — rejected. rejected: failed the absolute gate (pbo, dsr).")
    passed = {**TAGS, "promotion.verdict": "champion", "promotion.failed": "none",
              "promotion.reason": "", "promotion.champion_version": "2"}
    assert verdict_sentence(passed, {"headline/paired_sharpe_diff": 0.0123,
                                     "headline/paired_p_value": 0.0312}) == (
        "**Gate: passed** — champion. Paired Sharpe test against champion v2: difference "
        "+0.0123 per bar, p = 0.0312.")


def test_description_opens_with_the_verdict_then_the_links_then_the_reasons() -> None:
    text = run_description("regimeforest-demo v1", TAGS, HEADLINE,
                           {"validation report": "#/a", "model version 1": "#/b"})
    parts = text.split("\n\n")
    assert parts[0] == "### regimeforest-demo v1: rejected"
    assert parts[1] == "[validation report](#/a) · [model version 1](#/b)"
    assert parts[2].startswith("**Gate: failed**")
    assert "Median CPCV Sharpe -0.25 against 0.11 for buy-and-hold" in parts[3]
    assert "PBO 0.97 (0.5 is a random pick); deflated Sharpe 0.000;" in parts[3]
    assert "final holdout Sharpe 2.51 on 2 trades; 29% of walk-forward windows" in parts[3]
    assert len(parts) == 4


def test_missing_figures_read_as_a_dash() -> None:
    text = run_description("x", {}, {}, {})
    assert "Median CPCV Sharpe — against — for buy-and-hold" in text
    assert text.startswith("### x: undecided")
