"""The validation report says what the checks found, in numbers and plain words, and lands in the
run: markdown, self-contained HTML, figures, tables and metrics."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ml_core.evaluation import CVReport, OverfittingReport, WalkForwardReport
from ml_core.validation import PBOResult
from tasks.registry import Tracker, tracked_run
from tasks.validation import (
    log_validation,
    validation_figures,
    validation_html,
    validation_markdown,
    validation_metrics,
)

IMG = '<img src="data:image/png;base64,'


def _cv_report(baselines: bool = True) -> CVReport:
    """Three paths with median Sharpe 1.2; buy and hold's median 0.8, momentum's 0.3."""
    paths = pd.DataFrame({"sharpe": [1.2, 0.4, 2.0], "sortino": [1.5, 0.5, 2.5],
                          "max_drawdown": [0.1, 0.2, 0.05], "hit_rate": [0.55, 0.5, 0.6],
                          "n_trades": [10, 12, 9], "n_events": [20, 20, 20]},
                         index=pd.Index([0, 1, 2], name="path"))
    index = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    returns = {p: pd.Series([0.01, -0.005, 0.002 * (p + 1), 0.0], index=index) for p in range(3)}
    splits = pd.DataFrame({"sharpe": [1.0, 0.5], "max_drawdown": [0.1, 0.2], "n_trades": [3, 4]},
                          index=pd.Index([0, 1], name="split"))
    table = pd.DataFrame({"sharpe": [0.8, 0.9, 0.7, -0.1, 0.3, 0.5],
                          "sortino": [1.0, 1.1, 0.9, -0.2, 0.4, 0.6],
                          "max_drawdown": [0.3, 0.25, 0.35, 0.2, 0.1, 0.15],
                          "hit_rate": [0.52, 0.53, 0.51, 0.48, 0.5, 0.49],
                          "n_trades": [20] * 6, "n_events": [20] * 6},
                         index=pd.MultiIndex.from_product([["buy_and_hold", "momentum"], range(3)],
                                                          names=["baseline", "path"]))
    return CVReport(splits, paths, returns, table if baselines else pd.DataFrame())


def _walk_forward(n: int = 4) -> WalkForwardReport:
    """Sharpe above 1 in windows 0 and 3, drawdown under 0.15 in all but window 1."""
    starts = pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC")
    windows = pd.DataFrame({
        "test_start": starts, "test_end": starts + pd.Timedelta("6D"),
        "n_train": [100, 150, 200, 250], "n_test": [50] * 4, "n_trades": [10, 12, 7, 8],
        "sharpe": [1.5, 0.4, 0.8, 2.0], "sortino": [2.0, 0.5, 1.0, 3.0],
        "max_drawdown": [0.05, 0.2, 0.1, 0.1], "hit_rate": [0.6, 0.5, 0.55, 0.7],
        "total_return": [0.04, -0.01, 0.02, 0.05], "buy_and_hold_sharpe": [0.5, 0.6, 0.4, 1.0],
        "long_every_event_sharpe": [0.9, 1.1, 0.7, 1.3],
    }, index=pd.Index(range(4), name="window")).iloc[:n]
    return WalkForwardReport(windows, {i: pd.Series([0.01]) for i in range(n)}, 1.0, 0.15)


def _pbo(pbo: float, logits: list[float], oos: list[float]) -> PBOResult:
    return PBOResult(pbo, np.array(logits), len(logits),
                     np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.05]), np.array(oos))


def _overfitting(pbo: bool = True, dsr: tuple[float, ...] = (0.4, 0.2, 0.6)) -> OverfittingReport:
    """entry: 4 of 6 logits <= 0 (PBO 2/3), 2 losing combinations; exit: PBO 1/6."""
    results = {
        "entry": _pbo(4 / 6, [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8],
                      [-0.02, 0.01, 0.03, -0.01, 0.02, 0.04]),
        "exit": _pbo(1 / 6, [-0.4, 0.5, 0.6, 1.2, 0.9, 0.7], [0.02, 0.01, 0.03, 0.05, 0.02, 0.04]),
    }
    paths = pd.DataFrame({"sharpe": [0.05, 0.02, 0.08], "psr": [0.9, 0.7, 0.95], "dsr": dsr},
                         index=pd.Index([0, 1, 2], name="path"))
    return OverfittingReport(results if pbo else {}, 40, 0.0004, paths, 0.12)


def _markdown(**parts: object) -> str:
    args = {"cv_report": _cv_report(), "walk_forward": _walk_forward(),
            "overfitting": _overfitting(), **parts}
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
    cv = _cv_report()
    cv.baselines.loc["buy_and_hold", "sharpe"] = [1.5, 1.3, 1.4]
    overfitting = _overfitting(dsr=(0.97, 0.99, 0.96))
    del overfitting.pbo["entry"]
    text = _markdown(cv_report=cv, overfitting=overfitting)
    assert ("- Median path Sharpe 1.200 does not beat buy_and_hold's 1.400: the baseline explains "
            "the result.") in text
    assert ("- PBO 0.167 < 0.5 (exit): the in-sample best trial usually stays above the "
            "out-of-sample median.") in text
    assert "- DSR 0.970 ≥ 0.95: the Sharpe stays significant after 40 trials." in text


def test_missing_parts_say_why() -> None:
    text = _markdown(cv_report=_cv_report(baselines=False), walk_forward=None,
                     overfitting=_overfitting(pbo=False),
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
    walk_forward = _walk_forward()
    walk_forward.windows[["sharpe", "sortino", "max_drawdown", "hit_rate"]] = np.nan
    walk_forward.windows["n_trades"] = 0
    overfitting = _overfitting(pbo=False, dsr=(np.nan, np.nan, np.nan))
    overfitting.pbo_undefined = {"pipeline": "the out-of-sample returns of its 3 trials are "
                                             "identical (none traded): their ranks tie, so there "
                                             "is no best trial to test"}
    text = validation_markdown(_idle(_cv_report(), [0, 1, 2]), walk_forward, overfitting,
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
    walk_forward = _walk_forward()
    walk_forward.windows.loc[[1, 2], ["sharpe", "max_drawdown"]] = np.nan
    walk_forward.windows.loc[[1, 2], "n_trades"] = 0
    text = _markdown(cv_report=_idle(_cv_report(), [1]), walk_forward=walk_forward)
    assert ("- CPCV: median path Sharpe 1.600 (min 1.200, max 2.000 over the 2 of 3 paths that "
            "traded; 1 made no trades).") in text
    assert ("- Walk-forward: Sharpe > 1 in 2 of 2 windows that traded (consistency 1.000); max "
            "drawdown < 0.15 in 2 of 2 (drawdown control 1.000); 2 of 4 windows made no "
            "trades.") in text


# ---------------------------------------------------------------- html
def test_html_is_one_page_with_each_figure_in_its_section() -> None:
    text = _markdown()
    figures = validation_figures(_cv_report(), _walk_forward(), _overfitting())
    extra, _ = plt.subplots()
    figures["extra"] = extra
    page = validation_html(text, figures)
    for fig in figures.values():
        plt.close(fig)
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


# ---------------------------------------------------------------- metrics
def test_validation_metrics_merge_the_summaries_without_undefined_values() -> None:
    walk_forward = _walk_forward()
    walk_forward.windows["buy_and_hold_sharpe"] = np.nan  # median NaN: not logged
    metrics = validation_metrics(walk_forward, _overfitting())
    assert metrics == pytest.approx({
        "wf_sharpe_consistency": 0.5, "wf_drawdown_control": 0.75, "wf_sharpe_median": 1.15,
        "wf_sharpe_mean": 1.175, "wf_max_drawdown_median": 0.1, "wf_n_windows": 4.0,
        "wf_long_every_event_sharpe_median": 1.0, "wf_n_windows_traded": 4.0,
        "pbo_entry": 4 / 6, "pbo_exit": 1 / 6, "pbo": 4 / 6, "psr_median": 0.9,
        "dsr_median": 0.4, "dsr_n_trials": 40.0, "dsr_sr_variance": 0.0004,
        "dsr_expected_max_sharpe": 0.12,
    })
    assert validation_metrics(None, None) == {}


# ---------------------------------------------------------------- task
def _in_a_flow(task, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run ``task`` inside a real Prefect flow run, as the retrain does."""
    from prefect import flow

    return flow(name="unit")(lambda: task(*args, **kwargs))()


def _artifacts(tracker: Tracker, run_id: str) -> set[str]:
    return {a.path for a in tracker.client.list_artifacts(run_id, "validation")}


@pytest.mark.usefixtures("prefect_harness")
def test_log_validation_writes_report_figures_tables_and_metrics(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_validation, tracker, run_id, _cv_report(), _walk_forward(),
                            _overfitting(), promotion_metric="cv_sharpe_median", score=1.2)
    assert logged == validation_metrics(_walk_forward(), _overfitting())
    assert tracker.client.get_run(run_id).data.metrics == logged
    assert _artifacts(tracker, run_id) == {f"validation/{name}" for name in (
        "report.md", "report.html", "cpcv_paths.png", "walk_forward.png", "pbo_logits.png",
        "overfitting_degradation.png", "walk_forward_windows.csv", "pbo_logits.csv",
        "overfitting_paths.csv")}
    local = Path(tracker.client.download_artifacts(run_id, "validation", str(tmp_path)))
    assert (local / "report.md").read_text() == _markdown(skipped=None)
    assert (local / "report.html").read_text().count(IMG) == 4
    table = pd.read_csv(local / "pbo_logits.csv")
    assert table.columns.tolist() == ["model", "combination", "logit", "is_sharpe", "oos_sharpe"]
    assert table["model"].tolist() == ["entry"] * 6 + ["exit"] * 6
    np.testing.assert_array_equal(table["logit"].iloc[:6], [-1.0, -0.5, 0.0, 0.3, -0.2, 0.8])
    windows = pd.read_csv(local / "walk_forward_windows.csv", index_col="window")
    assert windows["sharpe"].tolist() == [1.5, 0.4, 0.8, 2.0]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        shown = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["validation-report"])))
    assert shown and shown[0].type == "markdown"
    assert shown[0].data.startswith("## Validation report") and "<!--" not in shown[0].data


@pytest.mark.usefixtures("prefect_harness")
def test_log_validation_without_walk_forward_or_tuning(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    with tracked_run(tracker, "exp", "run", {}) as run_id:
        logged = _in_a_flow(log_validation, tracker, run_id, _cv_report(baselines=False), None,
                            _overfitting(pbo=False), promotion_metric="cv_sharpe_median",
                            score=math.nan)
    assert set(logged) == {"psr_median", "dsr_median", "dsr_n_trials", "dsr_sr_variance",
                           "dsr_expected_max_sharpe"}
    assert _artifacts(tracker, run_id) == {
        "validation/report.md", "validation/report.html", "validation/cpcv_paths.png",
        "validation/pbo_logits.png", "validation/overfitting_paths.csv"}
