"""A retrain in words: the short markdown paragraph that opens its MLflow run (the run's
description) and its model version — what was trained on which bars, what it scored, whether it
passed the gate and why, with links to the reports."""

from __future__ import annotations

import math
from collections.abc import Mapping

from reporting.headline import PREFIX


def _figure(metrics: Mapping[str, float], name: str, spec: str = ".2f") -> str:
    value = metrics.get(PREFIX + name)
    if value is None or not math.isfinite(float(value)):
        return "—"
    return format(float(value), spec)


def _day(stamp: str | None) -> str:
    return (stamp or "?")[:10]


def data_sentence(tags: Mapping[str, str]) -> str:
    """``Trained on BTCUSD/30m bars 2017-10-01 → 2019-10-01 (35,019 bars, hash 50c862b8), as of
    2026-12-04 08:54 UTC, profile demo.`` from the run's data tags."""
    key = tags.get("store.key", "")
    series, _, digest = key.partition("@")
    bars = tags.get("data.bars")
    count = f"{int(bars):,} bars" if bars and bars.isdigit() else "bars"
    as_of = tags.get("as_of", "")
    when = f", as of {as_of[:16].replace('T', ' ')} UTC" if as_of else ""
    return (f"Trained on {series or 'the profile’s'} bars {_day(tags.get('data.first'))} → "
            f"{_day(tags.get('data.last'))} ({count}"
            f"{f', hash {digest[:8]}' if digest else ''}){when}, profile "
            f"`{tags.get('profile', '?')}`.")


def scores_sentence(metrics: Mapping[str, float]) -> str:
    """The validation figures of the headline set in one sentence."""
    return (f"Median CPCV Sharpe {_figure(metrics, 'cv_sharpe_median')} against "
            f"{_figure(metrics, 'cv_buy_hold_sharpe')} for buy-and-hold on the same events; "
            f"PBO {_figure(metrics, 'pbo')} (0.5 is a random pick); deflated Sharpe "
            f"{_figure(metrics, 'dsr', '.3f')}; final holdout Sharpe "
            f"{_figure(metrics, 'holdout_sharpe')} on {_figure(metrics, 'holdout_trades', '.0f')} "
            f"trades; {_walk_forward(metrics)} of walk-forward windows above the threshold.")


def _walk_forward(metrics: Mapping[str, float]) -> str:
    value = metrics.get(PREFIX + "wf_consistency")
    return "—" if value is None else f"{float(value):.0%}"


def verdict_sentence(tags: Mapping[str, str], metrics: Mapping[str, float]) -> str:
    """Whether the version passed the gate, why, and what the paired test said."""
    verdict = tags.get("promotion.verdict") or tags.get("promotion.decision") or "undecided"
    reason = tags.get("promotion.reason", "").strip()
    failed = tags.get("promotion.failed", "none")
    head = (f"**Gate: passed** — {verdict}." if failed in ("", "none")
            else f"**Gate: failed** ({failed}) — {verdict}.")
    test = ""
    if PREFIX + "paired_p_value" in metrics:
        champion = tags.get("promotion.champion_version", "?")
        test = (f" Paired Sharpe test against champion v{champion}: difference "
                f"{float(metrics[PREFIX + 'paired_sharpe_diff']):+.4f} per bar, "
                f"p = {float(metrics[PREFIX + 'paired_p_value']):.3g}.")
    return f"{head}{test}" + (f" {reason}" if reason else "")


def run_description(title: str, tags: Mapping[str, str], metrics: Mapping[str, float],
                    links: Mapping[str, str]) -> str:
    """The paragraph that opens a retrain's run and its model version: the verdict as the
    title, the links to the reports, the gate's reasons, then the data and the scores.

    Parameters
    ----------
    title : str
        First line, e.g. ``regimeforest-demo v3``.
    tags : mapping of str to str
        The run's tags (``store.key``, ``data.*``, ``as_of``, ``profile``, ``promotion.*``).
    metrics : mapping of str to float
        The run's headline figures (``headline/<figure>``); missing ones read "—".
    links : mapping of str to str
        Label -> URL of the reports (validation report, comparison, model version, flow run),
        in the order they are shown.
    """
    verdict = tags.get("promotion.verdict") or tags.get("promotion.decision") or "undecided"
    # the links come right under the title: the UI folds a long description after a few
    # lines, and the comparison and the report are what a reader opens next
    line = " · ".join(f"[{label}]({url})" for label, url in links.items())
    return "\n\n".join(part for part in (
        f"### {title}: {verdict}",
        line,
        verdict_sentence(tags, metrics),
        f"{data_sentence(tags)} {scores_sentence(metrics)}") if part)
