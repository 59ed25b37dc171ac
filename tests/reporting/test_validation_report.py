"""The validation report says what the checks found, in numbers and plain words: markdown with
the figures' places, the figures, and one self-contained HTML page."""

from __future__ import annotations

import base64
import re

import numpy as np
from matplotlib.figure import Figure
from report_cases import cv_report, overfitting, walk_forward

from ml_core.evaluation import CVReport
from reporting.validation_report import (
    buy_and_hold_sharpe,
    cpcv_figure,
    validation_figures,
    validation_html,
    validation_markdown,
)

IMG = '<img src="data:image/png;base64,'


def _markdown(**parts: object) -> str:
    args = {"cv_report": cv_report(), "walk_forward": walk_forward(),
            "overfitting": overfitting(), **parts}
    return validation_markdown(args["cv_report"], args["walk_forward"], args["overfitting"],
                               promotion_metric="cv_sharpe_median", score=1.2,
                               skipped=args.get("skipped"))


# ---------------------------------------------------------------- markdown
def test_the_headline_reads_every_check_in_plain_words() -> None:
    text = _markdown()
    assert text.startswith("\n".join([
        "## Validation report",
        "",
        "Promotion metric `cv_sharpe_median` = **1.200**.",
        "",
        "- CPCV: median path Sharpe 1.200 (min 0.400, max 2.000 over 3 paths).",
        "- Median path Sharpe 1.200 beats buy_and_hold's 0.800.",
        "- Median path Sharpe 1.200 beats momentum's 0.300.",
        "- Walk-forward: Sharpe > 1 in 2 of 4 windows (consistency 0.500); max drawdown < 0.15 "
        "in 3 of 4 (drawdown control 0.750).",
        "- PBO 0.667 ≥ 0.5 (entry, the worst of 2 tuned models): the tuning selection is not "
        "better than a random pick.",
        "- DSR 0.400 < 0.95: the Sharpe is not significant after 40 trials.",
        "",
        "### CPCV backtest paths",
    ]))


def test_the_sections_hold_the_tables_and_the_figure_markers() -> None:
    text = _markdown()
    assert "| path | sharpe | sortino | max_drawdown | hit_rate | n_trades | n_events |" in text
    assert "| 1 | 0.400 | 0.500 | 0.200 | 0.500 | 12 | 20 |" in text
    # baselines side by side: medians over paths
    assert "\n".join([
        "| strategy | sharpe | sortino | max_drawdown | hit_rate |", "|---|---|---|---|---|",
        "| ensemble | 1.200 | 1.500 | 0.100 | 0.550 |",
        "| buy_and_hold | 0.800 | 1.000 | 0.300 | 0.520 |",
        "| momentum | 0.300 | 0.400 | 0.150 | 0.490 |"]) in text
    assert ("Sharpe > 1 in 2 of 4 windows (consistency 0.500); max drawdown < 0.15 in 3 of 4 "
            "(drawdown control 0.750). Median window Sharpe 1.150 vs buy and hold's median "
            "window Sharpe 0.550; median max drawdown 0.100.") in text
    assert ("| 1 | 2024-01-08 00:00 | 2024-01-14 00:00 | 150 | 50 | 12 | 0.400 | 0.500 | 0.200 | "
            "0.500 | -0.010 | 0.600 | 1.100 |") in text
    assert ("Configurations tried: **40** (every finished tuning trial, pruned ones included); "
            "variance of the trial Sharpe ratios 0.0004; the best of 40 skill-less trials reaches "
            "a per-event Sharpe of 0.120 by luck.") in text
    assert "PSR median **0.900**, DSR median **0.400** over 3 paths" in text
    assert "| entry | 0.667 | - | 6 | 0.333 | -0.100 |" in text
    assert "| exit | 0.167 | - | 6 | 0.000 | 0.650 |" in text
    assert re.findall(r"<!-- figure:(\w+) -->", text) == [
        "cpcv_paths", "walk_forward", "pbo_logits", "overfitting_degradation"]


def test_good_results_read_as_good() -> None:
    cv = cv_report()
    cv.baselines.loc["buy_and_hold", "sharpe"] = [1.5, 1.3, 1.4]
    of = overfitting(dsr=(0.97, 0.99, 0.96))
    del of.pbo["entry"]
    text = _markdown(cv_report=cv, overfitting=of)
    assert ("- Median path Sharpe 1.200 does not beat buy_and_hold's 1.400: the baseline explains "
            "the result.") in text
    assert ("- PBO 0.167 < 0.5 (exit): the in-sample best trial usually stays above the "
            "out-of-sample median.") in text
    assert "- DSR 0.970 ≥ 0.95: the Sharpe stays significant after 40 trials." in text


def test_missing_parts_say_why() -> None:
    text = _markdown(cv_report=cv_report(baselines=False), walk_forward=None,
                     overfitting=overfitting(pbo=False),
                     skipped={"walk_forward": "too few events for 4 windows"})
    assert "- Walk-forward missing: too few events for 4 windows." in text
    assert "*Walk-forward missing*: too few events for 4 windows." in text
    assert ("*PBO missing*: no tuning trials (tuning disabled, or fewer than two complete trials "
            "per model).") in text
    assert "*Baselines missing*: not computed in this retrain." in text
    assert "- DSR 0.400 < 0.95" in text  # the paths' DSR does not need tuning trials
    assert "figure:walk_forward" not in text and "figure:pbo_logits" not in text

    bare = _markdown(walk_forward=None, overfitting=None)
    assert "- Overfitting statistics missing: not assessed in this retrain." in bare
    assert bare.endswith("### Overfitting\n\n*Overfitting statistics missing*: not assessed in "
                         "this retrain.\n")


def _idle(cv: CVReport, paths: list[int]) -> CVReport:
    cv.paths.loc[paths, ["sharpe", "sortino", "max_drawdown", "hit_rate"]] = np.nan
    cv.paths.loc[paths, "n_trades"] = 0
    return cv


def test_no_trades_reads_as_no_trades_not_as_a_score() -> None:
    wf = walk_forward()
    wf.windows[["sharpe", "sortino", "max_drawdown", "hit_rate"]] = np.nan
    wf.windows["n_trades"] = 0
    of = overfitting(pbo=False, dsr=(np.nan, np.nan, np.nan))
    of.pbo_undefined = {"pipeline": "the out-of-sample returns of its 3 trials are "
                                             "identical (none traded): their ranks tie, so there "
                                             "is no best trial to test"}
    text = validation_markdown(_idle(cv_report(), [0, 1, 2]), wf, of,
                               promotion_metric="cv_sharpe_median", score=float("nan"))
    assert text.startswith("\n".join([
        "## Validation report", "",
        "Promotion metric `cv_sharpe_median` = **undefined** (no trades behind it: such a "
        "version is never promoted).", "",
        "- CPCV: no trades on any of the 3 paths: the model held throughout, so there is no "
        "Sharpe ratio.",
        "- No trades, so no comparison with buy_and_hold's median Sharpe 0.800.",
        "- No trades, so no comparison with momentum's median Sharpe 0.300.",
        "- Walk-forward: no trades in any of the 4 windows: the model held throughout, so there "
        "is no Sharpe or drawdown to judge.",
        "- PBO undefined: pipeline: the out-of-sample returns of its 3 trials are identical (none "
        "traded): their ranks tie, so there is no best trial to test.",
        "- DSR undefined: no path traded, so there is no Sharpe ratio to deflate.", ""]))
    assert ("*PBO undefined for pipeline*: the out-of-sample returns of its 3 trials are "
            "identical (none traded)") in text
    assert "drawdown control" not in text and "0.000" not in text.split("### CPCV")[0]


def test_shares_count_the_windows_and_paths_that_traded() -> None:
    wf = walk_forward()
    wf.windows.loc[[1, 2], ["sharpe", "max_drawdown"]] = np.nan
    wf.windows.loc[[1, 2], "n_trades"] = 0
    text = _markdown(cv_report=_idle(cv_report(), [1]), walk_forward=wf)
    assert ("- CPCV: median path Sharpe 1.600 (min 1.200, max 2.000 over the 2 of 3 paths that "
            "traded; 1 made no trades).") in text
    assert ("- Walk-forward: Sharpe > 1 in 2 of 2 windows that traded (consistency 1.000); max "
            "drawdown < 0.15 in 2 of 2 (drawdown control 1.000); 2 of 4 windows made no "
            "trades.") in text


# ---------------------------------------------------------------- html
def test_html_is_one_page_with_each_figure_in_its_section() -> None:
    text = _markdown()
    figures = validation_figures(cv_report(), walk_forward(), overfitting())
    figures["extra"] = Figure()
    page = validation_html(text, figures)
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1
    assert page.count(IMG) == 5 and "<!-- figure:" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="(\w+)">', page)
    assert [name for _, name in images] == list(figures)
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data, _ in images)
    # the walk-forward figure sits between its heading and the next; unmarked ones at the end
    assert (page.index("<h3>Walk-forward</h3>") < page.index('alt="walk_forward"')
            < page.index("<h3>Overfitting</h3>"))
    assert page.index("<h3>Figures</h3>") < page.index('alt="extra"')
    assert page.count("<table>") == 5
    assert "<td>buy_and_hold</td>" in page and "<th>median_logit</th>" in page
    assert "<code>cv_sharpe_median</code>" in page


# ---------------------------------------------------------------- figures
def test_figures_by_name_for_the_parts_that_ran() -> None:
    assert list(validation_figures(cv_report(), walk_forward(), overfitting())) == [
        "cpcv_paths", "walk_forward", "pbo_logits", "overfitting_degradation"]
    assert list(validation_figures(cv_report(), None, overfitting(pbo=False))) == [
        "cpcv_paths", "pbo_logits"]
    assert list(validation_figures(cv_report(), None, None)) == ["cpcv_paths"]


def test_the_cpcv_figure_draws_buy_and_hold_when_the_report_has_it() -> None:
    assert buy_and_hold_sharpe(cv_report()) == 0.8
    assert buy_and_hold_sharpe(cv_report(baselines=False)) is None
    momentum_only = cv_report()
    momentum_only.baselines = momentum_only.baselines.loc[["momentum"]]
    assert buy_and_hold_sharpe(momentum_only) is None
    histogram = cpcv_figure(cv_report()).axes[1]
    assert [t.get_text() for t in histogram.get_legend().get_texts()] == [
        "median 1.20", "buy and hold 0.80"]
