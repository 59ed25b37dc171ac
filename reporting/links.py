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
from collections.abc import Sequence
from urllib.parse import quote

#: the URL parameter and value that open MLflow 3.17's model-training pages
WORKFLOW = "workflowType=machine_learning"
#: the saved view (experiment tag ``mlflow.sharedViewState.<key>``) with the headline columns
VIEW_KEY = "regimeforest-headline"
VIEW_NAME = "Headline: is it better, is it overfit?"
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
#: run attributes shown before the headline metrics (the UI's own column names)
ATTRIBUTE_COLUMNS: tuple[str, ...] = ("Dataset", "Models")


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


def headline_view(metric_keys: Sequence[str], tag_keys: Sequence[str] = (),
                  created_ms: int = 0) -> dict[str, str]:
    """The experiment tag holding the saved view: the dataset and model columns, the given
    tags (e.g. the promotion decision) and the headline metrics, in that order, newest runs
    first.

    The value is MLflow's saved-view envelope (name, creation time, state as plain JSON), so
    the view is listed among the experiment's saved views and opened by :func:`runs_url`.
    """
    columns = [*(column_key("attributes", a) for a in ATTRIBUTE_COLUMNS),
               *(column_key("tags", t) for t in tag_keys),
               *(column_key("metrics", m) for m in metric_keys)]
    state = {"selectedColumns": columns, "orderByKey": "attributes.start_time",
             "orderByAsc": False, "runsHiddenMode": "SHOW_ALL", "hideEmptyCharts": True}
    envelope = {"name": VIEW_NAME, "createdAt": created_ms,
                "state": json.dumps(state, separators=(",", ":"))}
    return {VIEW_TAG_PREFIX + VIEW_KEY: json.dumps(envelope, separators=(",", ":"))}
