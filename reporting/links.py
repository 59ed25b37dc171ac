"""Addresses in the MLflow UI, and the experiment's saved view that opens on the runs table.

MLflow 3.17 decides between its GenAI pages (traces, sessions, an assistant) and the runs table
from the ``workflowType`` URL parameter, falling back to what the browser last chose (GenAI on
a new browser); the experiment's ``mlflow.experimentKind`` tag no longer decides. So every link
the project prints or writes carries ``workflowType=machine_learning``, and runs-table links
also name a saved view (``viewStateShareKey``) whose columns are the headline figures.

A ``base`` of ``""`` gives a link relative to the UI page (``#/...``), which is what run and
model-version descriptions use: they then work wherever the UI is served.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from urllib.parse import quote

#: the URL parameter and value that open MLflow 3.17's model-training pages
WORKFLOW = "workflowType=machine_learning"
#: the saved view (experiment tag ``mlflow.sharedViewState.<key>``) with the headline columns
VIEW_KEY = "regimeforest-headline"
VIEW_NAME = "Headline: is it better, is it overfit?"
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
#: run attributes shown before the headline metrics (the UI's own column names)
ATTRIBUTE_COLUMNS: tuple[str, ...] = ("Dataset", "Models")
#: where `regimeforest ui` serves the embedded store (links in descriptions are relative to the
#: UI, so they work wherever it is served; printed links use this base)
DEFAULT_UI = "http://127.0.0.1:5000"
#: the environment variable naming the MLflow UI's address explicitly
UI_ENV = "REGIMEFOREST_MLFLOW_UI"


def ui_base(tracking_uri: str, environ: Mapping[str, str] | None = None) -> str:
    """The MLflow UI's address for printed links: ``$REGIMEFOREST_MLFLOW_UI`` when set, the
    tracking server itself when ``tracking_uri`` is one (http or https), else where
    ``regimeforest ui`` serves (:data:`DEFAULT_UI`); without a trailing slash.

    ``environ`` is the environment to read (``os.environ`` when None).
    """
    explicit = (os.environ if environ is None else environ).get(UI_ENV)
    if explicit:
        return explicit.rstrip("/")
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return DEFAULT_UI
#: the table's fixed columns (the run's name, its start and nesting), placed first
RUN_NAME_COLUMN = "attributes.`Run Name`"
CREATED_COLUMN = "runDateAndNestInfo"


def _root(base: str) -> str:
    return f"{base.rstrip('/')}/#" if base else "#"


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table with the headline columns."""
    return (f"{_root(base)}/experiments/{experiment_id}/runs?{WORKFLOW}"
            f"&viewStateShareKey={VIEW_KEY}")


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """A run's overview page (its description, parameters, metrics, dataset and models)."""
    return f"{_root(base)}/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def artifact_url(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """A run's artifact, opened in the UI's artifact browser (HTML reports render there)."""
    return (f"{_root(base)}/experiments/{experiment_id}/runs/{run_id}/artifacts/"
            f"{quote(path.strip('/'))}?{WORKFLOW}")


def model_version_url(base: str, name: str, version: str) -> str:
    """A registered model version's page (its description, tags and aliases)."""
    return f"{_root(base)}/models/{quote(name, safe='')}/versions/{version}?{WORKFLOW}"


def compare_runs_url(base: str, experiment_id: str, run_ids: Sequence[str]) -> str:
    """MLflow's side-by-side page of runs of one experiment."""
    runs = quote(json.dumps(list(run_ids), separators=(",", ":")))
    experiments = quote(json.dumps([experiment_id], separators=(",", ":")))
    return f"{_root(base)}/compare-runs?runs={runs}&experiments={experiments}&{WORKFLOW}"


def column_key(kind: str, name: str) -> str:
    """The runs table's column id: ``metrics.`headline/pbo```, ``attributes.`Dataset```."""
    if kind not in ("attributes", "params", "metrics", "tags"):
        raise ValueError(f"kind={kind!r} is not a runs-table column kind; expected attributes, "
                         "params, metrics or tags")
    return f"{kind}.`{name}`"


def _section(name: str, expanded: bool = True) -> dict[str, object]:
    return {"uuid": f"regimeforest-section-{name}", "name": name, "display": expanded,
            "isReordered": True, "deleted": False, "isGenerated": False}


def _chart(kind: str, metric: str, section: str) -> dict[str, object]:
    chart: dict[str, object] = {
        "uuid": f"regimeforest-chart-{metric}", "type": kind, "runsCountToCompare": 10,
        "metricSectionId": f"regimeforest-section-{section}", "deleted": False,
        "isGenerated": False, "metricKey": metric}
    if kind == "LINE":
        chart.update({"selectedMetricKeys": [metric], "lineSmoothness": 0,
                      "scaleType": "linear", "xAxisKey": "step", "selectedXAxisMetricKey": ""})
    return chart


def chart_layout(metric_keys: Sequence[str], series: Sequence[str]) -> dict[str, object]:
    """The chart view's sections: the headline figures first (a bar per run), then the
    per-split and per-window series (a line per run, by step), then every other metric in a
    collapsed section; MLflow groups the rest by the prefix before ``/`` on its own."""
    sections = [_section(name.split("/", 1)[0]) for name in (metric_keys[0], *series)]
    sections = list({s["name"]: s for s in sections}.values())
    sections.append(_section("Model metrics", expanded=False))
    charts = [*(_chart("BAR", key, key.split("/", 1)[0]) for key in metric_keys),
              *(_chart("LINE", key, key.split("/", 1)[0]) for key in series)]
    return {"compareRunSections": sections, "compareRunCharts": charts,
            "isAccordionReordered": True}


def headline_view(metric_keys: Sequence[str], tag_keys: Sequence[str] = (),
                  created_ms: int = 0, series: Sequence[str] = ()) -> dict[str, str]:
    """The experiment tag holding the saved view: the dataset and model columns, the given
    tags (e.g. the promotion decision) and the headline metrics, in that order, newest runs
    first.

    The value is MLflow's saved-view envelope (name, creation time, state as plain JSON), so
    the view is listed among the experiment's saved views and opened by :func:`runs_url`.
    Its chart view is :func:`chart_layout` of the metrics and the ``series``.
    """
    dataset, models = (column_key("attributes", a) for a in ATTRIBUTE_COLUMNS)
    tags = [column_key("tags", t) for t in tag_keys]
    metrics = [column_key("metrics", m) for m in metric_keys]
    # the table sorts metric columns by name unless told an order: the headline order first,
    # narrow enough that a dozen fit beside the run's name and dataset
    order = [RUN_NAME_COLUMN, CREATED_COLUMN, dataset, *tags, *metrics, models]
    widths = {dataset: 250, **{key: 120 for key in [*tags, *metrics]}}
    state = {"selectedColumns": [dataset, models, *tags, *metrics], "columnOrder": order,
             "columnWidths": widths, "orderByKey": "attributes.start_time",
             "orderByAsc": False, "runsHiddenMode": "SHOW_ALL", "hideEmptyCharts": True,
             **(chart_layout(metric_keys, series) if metric_keys else {})}
    envelope = {"name": VIEW_NAME, "createdAt": created_ms,
                "state": json.dumps(state, separators=(",", ":"))}
    return {VIEW_TAG_PREFIX + VIEW_KEY: json.dumps(envelope, separators=(",", ":"))}
