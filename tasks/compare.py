"""Two registered versions of a profile's model compared: the headline figures side by side and
the promotion gate's paired test on the newest bars, logged as an HTML page on B's run.

The scoring is the gate's own (:func:`tasks.promotion.version_returns` for each version, then
:func:`tasks.promotion.paired_test` of B against A in the champion's place), on the bars the retrain would read now (or at ``as_of``) from the span
:func:`tasks.promotion.newest_span_start` picks; the page is built by
:mod:`reporting.compare`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from reporting.compare import (VersionInputs, artifact_name, comparison_html, headline_table,
                               paired_test_sentence)
from tasks.registry import CHAMPION, Tracker

__all__ = ["IMPORTANCES", "ComparisonResult", "VersionNotFound", "compare_versions",
           "newest_bars", "registered_versions", "resolve_version", "run_importances"]

IMPORTANCES = "tables/feature_importances.csv"
"""Where a retrain logs its forests' feature importances (``tasks.publish.log_training``)."""


class VersionNotFound(LookupError):
    """A version number or alias that the registry does not hold for the model."""


@dataclass(frozen=True)
class ComparisonResult:
    """What ``compare`` found, for the command to print.

    Attributes
    ----------
    model_name, a, b : str
        The model and the two versions (B is the one judged against A).
    labels : tuple of str
        How the versions are named, e.g. ``("v1 (champion)", "v2 (challenger)")``.
    table : pandas.DataFrame
        The headline figures, columns ``A``, ``B``, ``B−A``
        (:func:`reporting.compare.headline_table`).
    test : SharpeDifference or None
        The gate's paired test of B against A on the newest bars; None when they could not be
        scored (``test_text`` says why).
    verdict : GateVerdict
        The gate's verdict for B with A in the champion's place.
    test_text : str
        The test in words, or why there is none.
    span : tuple of Timestamp, optional
        First and last of the newest bars both were scored on.
    run_id, experiment_id : str
        B's run, which holds the page, and its experiment.
    artifact_path : str
        The page's path in B's run, ``compare/v<B>_vs_v<A>.html``.
    url : str
        The page in the MLflow UI's artifact browser.
    """

    model_name: str
    a: str
    b: str
    labels: tuple[str, str]
    table: pd.DataFrame
    test: Any
    verdict: Any
    test_text: str
    span: tuple[pd.Timestamp, pd.Timestamp] | None
    run_id: str
    experiment_id: str
    artifact_path: str
    url: str


def registered_versions(tracker: Tracker, name: str) -> list[str]:
    """Every registered version of ``name``, oldest first ([] when none)."""
    found = tracker.client.search_model_versions(f"name='{name}'")
    return sorted((str(v.version) for v in found), key=int)


def resolve_version(tracker: Tracker, name: str, ref: str) -> str:
    """The version ``ref`` names: a version number, or an alias (``champion``, ``challenger``,
    a rollout stage).

    Raises
    ------
    VersionNotFound
        Naming ``ref``, the model and what the registry holds instead.
    """
    versions = registered_versions(tracker, name)
    if not versions:
        raise VersionNotFound(f"model {name!r} has no registered version in "
                              f"{tracker.tracking_uri}: run `regimeforest retrain` first")
    held = f"registered versions of {name}: {', '.join(versions)}"
    if ref.isdigit():
        if str(int(ref)) not in versions:
            raise VersionNotFound(f"model {name!r} has no version {ref} ({held})")
        return str(int(ref))
    version = tracker.alias_version(name, ref)
    if version is None:
        why = " (no version has passed the gate: no trustworthy model)" if ref == CHAMPION else ""
        raise VersionNotFound(f"no version of model {name!r} holds the alias {ref!r}{why}; give "
                              f"a version number instead ({held})")
    return version


def newest_bars(config: Config, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """The bars a retrain at ``as_of`` (default now) reads: the profile's file or its bar-store
    series, in the retrain's window (``data.lookback``, ``data.start``/``data.end``)."""
    from ml_core.data import as_bars
    from tasks.data import load_data, resolve_as_of, select_span

    moment = resolve_as_of(as_of)
    frame, _, read = load_data.fn(config, moment)
    return select_span.fn(as_bars(frame), config, moment, read)[0]


def run_importances(tracker: Tracker, run_id: str) -> pd.DataFrame | None:
    """The feature importances a run logged (:data:`IMPORTANCES`: a feature per row, a forest
    per column); None when it logged none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = tracker.client.download_artifacts(run_id, IMPORTANCES, tmp)
        except (MlflowException, OSError):
            return None
        return pd.read_csv(path, index_col=0)


def _label(tracker: Tracker, name: str, version: str) -> str:
    aliases = sorted(tracker.client.get_model_version(name, version).aliases)
    return f"v{version}" + (f" ({', '.join(aliases)})" if aliases else "")


def _note(run_id: str, tags: dict[str, str]) -> str:
    """Its run and the bars it was trained on, from the version's tags."""
    day = lambda key: tags.get(key, "?")[:10]  # noqa: E731
    decision = tags.get("decision")
    return (f"run {run_id}, trained as of {tags.get('as_of', '?')[:16].replace('T', ' ')} on "
            f"bars {day('data.first')} → {day('data.last')}"
            + (f"; gate decision when registered: {decision}" if decision else ""))


def _score(config: Config, a: str, b: str, pipelines: dict[str, Any],
           bars: pd.DataFrame, start: pd.Timestamp) -> tuple[dict[str, pd.Series], Any]:
    """Each version's per-bar net returns on the bars from ``start`` (its equity path) and the
    gate's own paired test of B against A on those same returns
    (:func:`~tasks.promotion.version_returns`, :func:`~tasks.promotion.paired_test`)."""
    from tasks.promotion import paired_test, version_returns

    returns = {version: version_returns(config, pipeline, bars, start)
               for version, pipeline in pipelines.items()}
    return returns, paired_test(config, returns[b], returns[a])


def _ui_link(tracker: Tracker, experiment_id: str, run_id: str, path: str) -> str:
    from reporting.links import artifact_url, ui_base

    return artifact_url(ui_base(tracker.tracking_uri), experiment_id, run_id, path)


def _version_inputs(tracker: Tracker, name: str, version: str) -> tuple[VersionInputs, str, str]:
    """What the page shows of one version (its run's metrics, importances, a note), its run id
    and its experiment id."""
    run_id = tracker.client.get_model_version(name, version).run_id
    _, metrics, experiment_id = tracker.run_record(run_id)
    inputs = VersionInputs(_label(tracker, name, version), metrics,
                           importances=run_importances(tracker, run_id),
                           note=_note(run_id, tracker.version_tags(name, version)))
    return inputs, run_id, experiment_id


def _paired_test(tracker: Tracker, config: Config, a: str, b: str, bars: pd.DataFrame,
                 labels: tuple[str, str]) -> tuple[Any, str, dict[str, pd.Series]]:
    """The gate's paired test of B against A on the newest span of ``bars``, in words, and
    each version's returns there; no test (None, why, {}) when there is no span or a version
    cannot be scored (as the gate, which then leaves the champion in place)."""
    from ml_core.pipeline import load_pipeline
    from tasks.labels import final_holdout_start
    from tasks.promotion import newest_span_start

    start = newest_span_start(bars, config, final_holdout_start(bars, config))
    if start is None:
        return None, ("no newest span to score on: the profile sets neither "
                      "promotion.gate.compare_bars nor a final holdout "
                      "(validation.holdout_span/holdout_fraction)"), {}
    name = config.registry.model_name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pipelines = {v: load_pipeline(tracker.download_pipeline(
                f"models:/{name}/{v}", Path(tmp) / f"v{v}")) for v in (a, b)}
        returns, test = _score(config, a, b, pipelines, bars, start)
    except (ValueError, OSError) as exc:
        return None, f"the versions could not be scored on the bars from {start}: {exc}", {}
    return test, paired_test_sentence(test, labels, config.promotion.gate.alpha), returns


@task(name="compare-versions", cache_policy=NO_CACHE)
def compare_versions(tracker: Tracker, config: Config, a: str | None = None,
                     b: str | None = None, bars: pd.DataFrame | None = None, *,
                     as_of: pd.Timestamp | None = None) -> ComparisonResult:
    """Compare versions ``a`` and ``b`` of the profile's model and log the comparison page on
    ``b``'s run.

    Parameters
    ----------
    tracker : Tracker
        The MLflow store holding the model.
    config : Config
        The profile: its model name, bars, costs and ``promotion.gate`` (test, alpha, span).
    a, b : str, optional
        Version numbers or aliases; default ``a`` the champion, ``b`` the newest version.
    bars : pandas.DataFrame, optional
        The bars to score on (the newest span of them); default :func:`newest_bars` at
        ``as_of``.
    as_of : pandas.Timestamp, optional
        The moment whose bars are read when ``bars`` is not given; default now.

    Raises
    ------
    VersionNotFound
        When ``a`` or ``b`` names no version.
    ValueError
        When both name the same version.
    """
    from ml_core.lifecycle import absolute_gate, gate_decision

    name, gate = config.registry.model_name, config.promotion.gate
    a = resolve_version(tracker, name, a or CHAMPION)
    versions = registered_versions(tracker, name)
    b = resolve_version(tracker, name, b or versions[-1])
    if a == b:
        raise ValueError(f"A and B are both v{a} of model {name!r}: nothing to compare; give two "
                         f"versions (registered: {', '.join(versions)})")
    (side_a, _, _), (side_b, run_id, experiment_id) = (_version_inputs(tracker, name, v)
                                                       for v in (a, b))
    bars = newest_bars(config, as_of) if bars is None else bars
    labels = (side_a.label, side_b.label)
    test, text, returns = _paired_test(tracker, config, a, b, bars, labels)
    span = (returns[b].index[0], returns[b].index[-1]) if returns else None
    side_a, side_b = (replace(side, returns=returns.get(v)) for side, v in ((side_a, a),
                                                                            (side_b, b)))
    # the gate's verdict on B's own validation figures, with A in the champion's place
    checks = absolute_gate(side_b.metrics, min_trades=gate.min_trades, pbo_max=gate.pbo_max,
                           dsr_min=gate.dsr_min, beat_buy_and_hold=gate.beat_buy_and_hold)
    verdict = gate_decision(checks, test, alpha=gate.alpha, has_champion=True,
                            rollout=config.promotion.rollout.enabled)
    path = artifact_name(a, b)
    close = bars.loc[span[0]:span[1], "close"] if span else None
    tracker.log_text(run_id, comparison_html(f"{name}: v{b} against v{a}", side_a, side_b, text,
                                             f"{verdict.verdict} — {verdict.reason}", close),
                     path)
    url = _ui_link(tracker, experiment_id, run_id, path)
    get_run_logger().info("%s v%s against v%s: %s; comparison page %s", name, b, a, text, url)
    return ComparisonResult(name, a, b, labels, headline_table(side_a.metrics, side_b.metrics),
                            test, verdict, text, span, run_id, experiment_id, path, url)


@task(name="compare-with-champion", cache_policy=NO_CACHE)
def compare_with_previous(tracker: Tracker, config: Config, version: str,
                          champion: str | None, bars: pd.DataFrame) -> dict[str, str]:
    """After a weekly retrain (one that may move aliases; a backfill's back-dated versions are
    not compared with today's champion): the new ``version`` against the champion it was
    judged against, as the page ``compare/v<version>_vs_v<champion>.html`` on its run. Returns the description's link
    to the page (none without a champion). A comparison that cannot be made is a warning, not a
    failed retrain: the version is registered and judged by then."""
    from reporting.links import artifact_url

    if champion is None or champion == version:
        return {}
    try:
        result = compare_versions.fn(tracker, config, champion, version, bars)
    except Exception as exc:  # noqa: BLE001 - informative page only; the gate has decided
        get_run_logger().warning("no comparison page of v%s against v%s: %s: %s", version,
                                 champion, type(exc).__name__, str(exc).splitlines()[0][:300])
        return {}
    return {f"comparison with v{champion}": artifact_url("", result.experiment_id,
                                                         result.run_id, result.artifact_path)}
