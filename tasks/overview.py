"""What a data scientist sees first of a retrain: its input dataset, its headline figures, its
description (in MLflow, on the run and on its model version) and the links between its Prefect
flow run and its MLflow run."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ml_core.config import Config
from reporting import links as ui_links
from reporting.describe import run_description
from reporting.headline import HEADLINE, PREFIX, headline_figures
from tasks.data import DataState
from tasks.registry import Tracker


def ui_base(tracker: Tracker) -> str:
    """The MLflow UI's address for printed links (:func:`reporting.links.ui_base` of the
    tracker's store)."""
    return ui_links.ui_base(tracker.tracking_uri)


def flow_run_name() -> str:
    """``<profile>-as-of-<YYYY-MM-DDTHHMM>``: the weekly retrain's flow runs named after the
    profile and the moment they read the bars at (the run's scheduled start when no ``as_of``
    was given), so the Prefect UI lists them by what they trained on."""
    from prefect.runtime import flow_run

    params = flow_run.parameters or {}
    profile = Path(str(params.get("config_path") or "demo")).stem
    as_of = params.get("as_of") or flow_run.scheduled_start_time
    stamp = as_of.strftime("%Y-%m-%dT%H%M") if hasattr(as_of, "strftime") else str(as_of)[:16]
    return f"{profile}-as-of-{stamp}"


@task(name="log-dataset", cache_policy=NO_CACHE)
def log_dataset(tracker: Tracker, run_id: str, data: DataState) -> None:
    """The run's input dataset: named ``SYMBOL timeframe first..last``, digest the bars' hash,
    so the runs table's Dataset column says which market and period the run saw."""
    series = data.symbol or Path(data.source).stem
    name = (f"{series} {data.timeframe} {data.first:%Y-%m-%d}..{data.last:%Y-%m-%d}")
    tracker.log_dataset(run_id, name=name, digest=data.sha256[:12], source=data.source,
                        profile={"symbol": series, "timeframe": data.timeframe,
                                 "first": data.first.isoformat(), "last": data.last.isoformat(),
                                 "bars": data.n_bars, "as_of": data.as_of.isoformat(),
                                 "sha256": data.sha256, "store": data.store_url or "file"})


@task(name="link-flow-run", cache_policy=NO_CACHE)
def link_flow_run(tracker: Tracker, run_id: str, config: Config) -> dict[str, str]:
    """Tie the Prefect flow run and the MLflow run together: the flow run gets the profile as a
    tag and a link artifact to the MLflow run; the MLflow run gets the flow run's id, name and
    (when a Prefect UI is known) URL as tags. Returns the MLflow run's links."""
    from prefect.artifacts import create_link_artifact
    from prefect.runtime import flow_run

    from reporting.links import run_url, runs_url

    _, _, experiment_id = tracker.run_record(run_id)
    base = ui_base(tracker)
    links = {"run": run_url(base, experiment_id, run_id),
             "runs": runs_url(base, experiment_id)}
    flow_run_id = flow_run.id
    if flow_run_id is None:  # called outside a flow
        return links
    _tag_flow_run(flow_run_id, ["regimeforest", f"profile:{config.profile}"])
    tags = {"prefect.flow_run_id": flow_run_id, "prefect.flow_run_name": flow_run.name or ""}
    ui = flow_run.ui_url
    if ui:
        tags["prefect.flow_run_url"] = ui
    tracker.set_tags(run_id, tags)
    create_link_artifact(link=links["run"], link_text=f"MLflow run {run_id[:8]}",
                         key="mlflow-run", description="this retrain's run in the MLflow UI "
                         "(its headline figures, description, reports and model)")
    get_run_logger().info("MLflow run: %s", links["run"])
    return links


def _tag_flow_run(flow_run_id: str, tags: list[str]) -> None:
    """Add ``tags`` to the flow run (a run started by hand has none; a deployment's keep
    theirs)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        current = client.read_flow_run(flow_run_id)
        wanted = sorted(set(current.tags) | set(tags))
        if wanted != sorted(current.tags):
            client.update_flow_run(flow_run_id, tags=wanted)


@task(name="publish-overview", cache_policy=NO_CACHE)
def publish_overview(tracker: Tracker, run_id: str, config: Config, version: str | None,
                     extra_links: dict[str, str] | None = None) -> str:
    """Log the run's headline figures (``headline/<figure>``) and write its description — and
    its model version's — from what the run logged: data, scores, the gate's verdict and the
    paired test, with links to the reports. Returns the description."""
    from reporting.links import artifact_url, model_version_url

    tags, metrics, experiment_id = tracker.run_record(run_id)
    headline = headline_figures(metrics)
    tracker.log_metrics(run_id, headline)
    name = config.registry.model_name
    links = {"validation report": artifact_url("", experiment_id, run_id,
                                                "validation/report.html")}
    links.update(extra_links or {})
    if version is not None:
        links[f"model version {version}"] = model_version_url("", name, version)
    if tags.get("prefect.flow_run_url"):
        links["Prefect flow run"] = tags["prefect.flow_run_url"]
    title = f"{name} v{version}" if version is not None else f"{config.profile} retrain"
    text = run_description(title, tags, headline, links)
    tracker.set_description(run_id, text)
    if version is not None:
        tracker.describe_version(name, version, text, {
            f"headline.{key.removeprefix(PREFIX)}": f"{value:.6g}"
            for key, value in headline.items() if key.removeprefix(PREFIX) in HEADLINE})
    return text
