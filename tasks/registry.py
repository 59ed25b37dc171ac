"""The one MLflow adapter: runs, artifacts, the model registry and its champion/challenger aliases.

Nothing else in the project imports mlflow. Every call goes through an explicit
:class:`~mlflow.tracking.MlflowClient` bound to one tracking URI (no global active run), so tasks may
run in any thread. Registered versions are never overwritten: each retrain adds a version, and only
aliases move. Every alias move is recorded on the version that received it as a tag
``alias_event.<epoch ms>`` holding who, when, why, from which version and to which; ``history``
reads them back, and ``rollback`` uses them.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
CHAMPION = "champion"
CHALLENGER = "challenger"
_EVENT_PREFIX = "alias_event."
# Scores that differ by less than this (relative) are equal: forests predicting on several
# threads sum trees in completion order, so reruns agree only to ~1e-15.
_SCORE_RTOL = 1e-9
_PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_model.py")
# The package the pyfunc imports, copied into every logged model (its ``code/`` folder).
_ML_CORE = Path(__file__).resolve().parents[1] / "ml_core"
# Written beside a logged model's MLmodel once it is registered (read by tasks/pyfunc_model.py).
REGISTRATION_FILE = "registration.json"
# The logged model's list of its registered versions (MLflow's model page reads it).
_MODEL_VERSIONS_TAG = "mlflow.modelVersions"


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias, as recorded in the registry."""

    when: str
    alias: str
    version: str
    previous: str | None
    who: str
    reason: str
    score: float | None = None
    champion_score: float | None = None
    action: str = "set"
    """``set`` (the alias now points at ``version``) or ``removed`` (``version`` lost it)."""


class AliasConflict(RuntimeError):
    """An alias was not where the mover expected it: another process moved it first."""


_ANY = object()  # move_alias's `expected` when any current holder will do


@dataclass(frozen=True)
class PromotionDecision:
    """What happened to a newly registered version and why."""

    version: str
    alias: str | None
    score: float
    champion_version: str | None
    champion_score: float | None
    reason: str

    @property
    def became_champion(self) -> bool:
        return self.alias == CHAMPION


def decide_promotion(
    score: float, champion_score: float | None, min_improvement: float = 0.0
) -> tuple[str | None, str]:
    """Choose the alias for a new version from its CV score and the champion's (higher is better).

    Scores equal up to a relative 1e-9 count as a tie, and a tie keeps the champion.

    Returns
    -------
    alias : {"champion", "challenger", None}
        None when the score is not a finite number (undefined, e.g. the model made no trades):
        such a version is registered but never served.
    reason : str
        One sentence naming both scores, or saying which is undefined.
    """
    if not math.isfinite(score):
        undefined = "undefined (NaN: e.g. the model made no trades)"
        if champion_score is None:
            return None, f"score {undefined}: not promoted, and there is no champion"
        if not math.isfinite(champion_score):
            return None, (f"score and champion's score both {undefined}: nothing to compare; "
                          "not promoted")
        return None, (f"score {undefined} cannot beat champion's {champion_score:.4f}: not "
                      "promoted")
    if champion_score is None or not math.isfinite(champion_score):
        return CHAMPION, f"first version with a valid score ({score:.4f}): becomes champion"
    tolerance = _SCORE_RTOL * max(1.0, abs(champion_score))
    if score > champion_score + min_improvement + tolerance:
        return CHAMPION, (
            f"score {score:.4f} beats champion's {champion_score:.4f} "
            f"(+{min_improvement:g} required): promoted"
        )
    return CHALLENGER, (
        f"score {score:.4f} does not beat champion's {champion_score:.4f} "
        f"(+{min_improvement:g} required): challenger"
    )


def resolve_tracking_uri(uri: str | None) -> str:
    """Default to the project's SQLite store and create its folder; pass other URIs through."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
    return uri


def _artifact_root(uri: str) -> str | None:
    """Artifacts live beside a SQLite store (``mlruns/artifacts``); servers choose their own."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).resolve()
        return (db.parent / "artifacts").as_uri()
    return None


def _headline_view(tags: Mapping[str, str]) -> dict[str, str]:
    """The runs table's headline view, keeping the creation time of the one already set."""
    from reporting.headline import HEADLINE_KEYS
    from reporting.links import VIEW_KEY, VIEW_TAG_PREFIX, headline_view

    created = 0
    current = tags.get(VIEW_TAG_PREFIX + VIEW_KEY)
    if current:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            created = int(json.loads(current)["createdAt"])
    created = created or int(time.time() * 1000)
    return headline_view(HEADLINE_KEYS, ("promotion.decision",), created_ms=created,
                         series=("cv_split/sharpe", "wf_window/sharpe"))


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = str(value)[:6000]


class Tracker:
    """MLflow tracking and registry for one store.

    Parameters
    ----------
    tracking_uri : str, optional
        Default ``sqlite:///mlruns/mlflow.db`` (or ``$MLFLOW_TRACKING_URI``); the registry uses the
        same store.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._mlflow = mlflow
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    # ------------------------------------------------------------------ runs
    def experiment_id(self, name: str) -> str:
        """Get or create an experiment, tagged as model training and holding the saved view
        whose columns are the headline figures (set again when a release changed it)."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            root = _artifact_root(self.tracking_uri)
            location = f"{root}/{name}" if root else None
            exp_id = self.client.create_experiment(name, artifact_location=location)
            tags: dict[str, str] = {}
        else:
            exp_id, tags = found.experiment_id, dict(found.tags)
        wanted = {"mlflow.experimentKind": "custom_model_development", **_headline_view(tags)}
        for key, value in wanted.items():
            if tags.get(key) != value:
                self.client.set_experiment_tag(exp_id, key, value)
        return exp_id

    def start_run(self, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        run = self.client.create_run(self.experiment_id(experiment), run_name=run_name,
                                     tags=dict(tags))
        return run.info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def run_status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def start_child_run(self, parent_run_id: str, run_name: str,
                        tags: Mapping[str, Any] | None = None) -> str:
        """A run nested under ``parent_run_id``: same experiment, tag ``mlflow.parentRunId``.

        That tag is how MLflow (``mlflow.start_run(nested=True)``) links a child to its parent;
        the UI folds the children under the parent in the runs table.
        """
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        parent = self.client.get_run(parent_run_id)
        run = self.client.create_run(
            parent.info.experiment_id, run_name=run_name,
            tags={**{k: str(v) for k, v in (tags or {}).items()},
                  MLFLOW_PARENT_RUN_ID: parent_run_id})
        return run.info.run_id

    @contextmanager
    def child_run(self, parent_run_id: str, run_name: str,
                  tags: Mapping[str, Any] | None = None) -> Iterator[str]:
        """:meth:`start_child_run` that ends FINISHED when the block completes, FAILED (tag
        ``failure``) when it raises, like :func:`tracked_run`."""
        with _ending(self, self.start_child_run(parent_run_id, run_name, tags)) as run_id:
            yield run_id

    def child_runs(self, parent_run_id: str) -> dict[str, str]:
        """``{run name: run id}`` of the runs nested under ``parent_run_id``, oldest first (a
        later child of the same name wins)."""
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        parent = self.client.get_run(parent_run_id)
        runs = self.client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'",
            order_by=["attributes.start_time ASC"], max_results=1000)
        return {run.info.run_name: run.info.run_id for run in runs}

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat: dict[str, str] = {}
        _flatten("", params, flat)
        items = [Param(k, v) for k, v in flat.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start:start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for start in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[start:start + 500])

    def log_series(self, run_id: str, frame: Any, prefix: str) -> None:
        """Every numeric column of the data frame ``frame`` as the metric ``<prefix><column>``,
        one step per row, so the UI charts it as a series (CPCV splits, walk-forward windows);
        undefined (non-finite) values are left out."""
        numeric = frame.select_dtypes("number")
        for step, row in enumerate(numeric.itertuples(index=False)):
            self.log_metrics(run_id, {f"{prefix}{k}": v for k, v in
                                      zip(numeric.columns, row, strict=True)}, step=step)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, str(value)[:5000])

    def set_description(self, run_id: str, markdown: str) -> None:
        """The run's description in the UI (its note, ``mlflow.note.content``), in markdown."""
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

        self.client.set_tag(run_id, MLFLOW_RUN_NOTE, markdown)

    def log_dataset(self, run_id: str, *, name: str, digest: str, source: str,
                    profile: Mapping[str, Any], context: str = "training") -> None:
        """Record the run's input data (the runs table's Dataset column): ``name`` and
        ``digest`` (a content hash) say which market and period, ``source`` where it was
        read, ``profile`` the span and size. Metadata only: no data is copied."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        dataset = Dataset(name=name, digest=digest, source_type="local",
                          source=json.dumps({"uri": source}),
                          profile=json.dumps(dict(profile), default=str))
        self.client.log_inputs(run_id, datasets=[DatasetInput(
            dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])])

    def run_record(self, run_id: str) -> tuple[dict[str, str], dict[str, float], str]:
        """A run's tags, latest metrics and experiment id."""
        run = self.client.get_run(run_id)
        return dict(run.data.tags), dict(run.data.metrics), run.info.experiment_id

    def describe_version(self, name: str, version: str, description: str,
                         tags: Mapping[str, Any]) -> None:
        """Set a registered version's description (markdown) and add ``tags``."""
        self.client.update_model_version(name, version, description=description)
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value)[:5000])

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(run_id, str(path), artifact_path)

    def log_figure(self, run_id: str, figure: Any, name: str) -> None:
        import matplotlib.pyplot as plt

        self.client.log_figure(run_id, figure, f"plots/{name}")
        plt.close(figure)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def log_table(self, run_id: str, frame: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / name
            frame.to_csv(target, index=True)
            self.log_artifact(run_id, target, "tables")

    # ----------------------------------------------------------------- models
    def log_pipeline(self, run_id: str, pipeline_dir: Path, pip_requirements: list[str],
                     model_name: str | None = None, input_example: Any = None,
                     output_example: Any = None) -> str:
        """Log a saved pipeline as a pyfunc model (models-from-code: nothing is pickled).

        The model carries ``ml_core`` in its ``code/`` folder (``code_paths``), so it loads and
        serves where regimeforest is not installed; ``pip_requirements`` (pinned) are what
        ``mlflow models serve --env-manager virtualenv`` installs. Its signature
        (:func:`bars_signature`) names the bar columns, and the reply's columns and types when
        ``output_example`` (rows the model answered) is given; ``input_example`` (a bar frame, a
        few of the training bars) is stored beside it, in the form a JSON request carries, and
        MLflow checks it through the scoring path once. ``model_name`` goes into the model's config:
        the signal rows name their model before the version is known. Returns the logged
        model's URI (``models:/<model id>``).
        """
        if input_example is not None:
            input_example = _wire_bars(input_example)
        self._mlflow.set_tracking_uri(self.tracking_uri)
        with self._mlflow.start_run(run_id=run_id):
            info = self._mlflow.pyfunc.log_model(
                name="model",
                python_model=str(_PYFUNC_ENTRY),
                artifacts={"pipeline": str(pipeline_dir)},
                code_paths=[str(_ML_CORE)],
                pip_requirements=pip_requirements,
                signature=bars_signature(output_example),
                input_example=input_example,
                model_config={"model_name": model_name} if model_name else None,
            )
        return info.model_uri

    def register(self, model_uri: str, name: str, run_id: str, tags: Mapping[str, Any]) -> str:
        """Register a new version of ``name`` (never overwrites one) with ``tags``.

        A logged model (``models:/<model id>``, as :meth:`log_pipeline` returns) is registered
        as ``mlflow.register_model`` registers it: the version is linked to the model id and
        recorded on the logged model (its ``mlflow.modelVersions`` tag: the model's page says
        *registered*, with a link); then
        ``registration.json`` (name and version) is added beside its ``MLmodel``, so the served
        rows say which version they come from whichever URI loaded it. Any other URI (plain
        run artifacts) becomes a version by its source alone.
        """
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(
                name, description="regimeforest: regime-aware random-forest signal ensemble")
        text_tags = {key: str(value) for key, value in tags.items()}
        model_id = _logged_model_id(model_uri)
        if model_id is None:
            version = self.client.create_model_version(name, model_uri, run_id=run_id,
                                                       tags=text_tags)
            return str(version.version)
        # what mlflow.register_model does, through this store's client: the fluent call uses
        # the process-wide registry URI, which would have to be set globally (and would then
        # send every later client without an explicit registry URI to this store)
        version = self.client.create_model_version(name, model_uri, run_id=run_id,
                                                   tags=text_tags, model_id=model_id)
        logged = self.client.get_logged_model(model_id)
        versions = json.loads(logged.tags.get(_MODEL_VERSIONS_TAG, "[]"))
        versions.append({"name": name, "version": int(version.version)})
        self.client.set_logged_model_tags(model_id, {_MODEL_VERSIONS_TAG: json.dumps(versions)})
        with tempfile.TemporaryDirectory() as tmp:
            record = Path(tmp) / REGISTRATION_FILE
            record.write_text(json.dumps({"name": name, "version": str(version.version)}))
            self.client.log_model_artifact(model_id, str(record))
        return str(version.version)

    def write_model_file(self, name: str, version: str, filename: str, text: str) -> bool:
        """Add ``filename`` (``text``) beside the ``MLmodel`` of a registered version's logged
        model, as :meth:`register` adds ``registration.json``; False when the version has no
        logged model (registered from plain run artifacts)."""
        found = self.client.get_model_version(name, version)
        # the SQL store leaves ModelVersion.model_id empty; the source names the logged model
        model_id = getattr(found, "model_id", None) or _logged_model_id(found.source)
        if not model_id:
            return False
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_text(text)
            self.client.log_model_artifact(model_id, str(path))
        return True

    def alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def version_score(self, name: str, version: str) -> float | None:
        tags = self.client.get_model_version(name, version).tags
        return float(tags["cv_score"]) if "cv_score" in tags else None

    def move_alias(self, name: str, alias: str, version: str, reason: str,
                   score: float | None = None, champion_score: float | None = None, *,
                   expected: object = _ANY, who: str | None = None) -> AliasEvent:
        """Point ``alias`` at ``version`` and record the move on that version, race-free.

        The move happens under the model's alias lock (:func:`tasks.alias_lock.alias_lock`):
        the alias is re-read inside it and, when ``expected`` is given (a version, or None for
        "no holder"), must still be there; afterwards it is read again and must be ``version``.

        Raises
        ------
        AliasConflict
            When another process moved the alias since the caller looked (nothing is changed
            or recorded), or moved it again during the move.
        """
        from tasks.alias_lock import alias_lock

        with alias_lock(self.tracking_uri, name):
            previous = self._expect(name, alias, expected)
            self.client.set_registered_model_alias(name, alias, version)
            now = self.alias_version(name, alias)
            if now != str(version):
                raise AliasConflict(f"model {name!r}: {alias!r} moved to v{now} during the move "
                                    f"to v{version}")
            return self._record(name, version, AliasEvent(
                when=_now(), alias=alias, version=str(version), previous=previous,
                who=who or _user(), reason=reason, score=score, champion_score=champion_score))

    def remove_alias(self, name: str, alias: str, reason: str, *, expected: object = _ANY,
                     who: str | None = None) -> AliasEvent | None:
        """Take ``alias`` away from its holder (recorded on that version, ``action="removed"``),
        under the alias lock; None when no version holds it."""
        from tasks.alias_lock import alias_lock

        with alias_lock(self.tracking_uri, name):
            holder = self._expect(name, alias, expected)
            if holder is None:
                return None
            self.client.delete_registered_model_alias(name, alias)
            return self._record(name, holder, AliasEvent(
                when=_now(), alias=alias, version=holder, previous=holder, who=who or _user(),
                reason=reason, action="removed"))

    def _expect(self, name: str, alias: str, expected: object) -> str | None:
        current = self.alias_version(name, alias)
        if expected is not _ANY and current != (None if expected is None else str(expected)):
            seen = "no version" if expected is None else f"v{expected}"
            now = "no version" if current is None else f"v{current}"
            raise AliasConflict(f"model {name!r}: {alias!r} was expected at {seen} but is at "
                                f"{now}: another process moved it first; nothing changed")
        return current

    def _record(self, name: str, version: str, event: AliasEvent) -> AliasEvent:
        key = f"{_EVENT_PREFIX}{time.time_ns() // 1000}"
        self.client.set_model_version_tag(name, version, key, json.dumps(asdict(event)))
        return event

    def promote_new_version(self, name: str, version: str, score: float,
                            min_improvement: float, move: bool = True) -> PromotionDecision:
        """Give a freshly registered version its alias by comparing CV scores with the champion.

        With ``move=False`` (a backfill) the rule is applied and recorded (tag
        ``decision_would_be``) but no alias moves: the returned decision's alias is None."""
        champion = self.alias_version(name, CHAMPION)
        champion_score = self.version_score(name, champion) if champion else None
        alias, reason = decide_promotion(score, champion_score, min_improvement)
        if not move:
            self.client.set_model_version_tag(name, version, "decision_would_be",
                                              alias or "rejected")
            alias, reason = None, f"aliases not moved (promote=False); the rule says: {reason}"
        self.client.set_model_version_tag(name, version, "decision", alias or (
            "rejected" if move else "not moved"))
        self.client.set_model_version_tag(name, version, "decision_reason", reason)
        self.client.update_model_version(name, version, description=f"{alias or 'rejected'}: "
                                                                    f"{reason}")
        if champion is not None:
            self.client.set_model_version_tag(name, version, "champion_at_decision", champion)
            self.client.set_model_version_tag(name, version, "champion_score_at_decision",
                                              str(champion_score))
        if alias is not None:
            self.move_alias(name, alias, version, reason, score, champion_score,
                            expected=champion if alias == CHAMPION else _ANY)
        return PromotionDecision(version, alias, score, champion, champion_score, reason)

    def promote(self, name: str, version: str, reason: str) -> AliasEvent:
        """Manually make ``version`` the champion (the A/B verdict of a challenger, say).

        Raises
        ------
        ValueError
            When ``version`` is the champion already: the move would change nothing, and a
            recorded ``vN -> vN`` would make a later :meth:`rollback` return to ``vN``.
        """
        self.client.get_model_version(name, version)  # raises naming the version if absent
        champion = self.alias_version(name, CHAMPION)
        if champion == str(version):
            raise ValueError(f"model {name!r}: v{version} is the champion already; nothing to "
                             "promote")
        event = self.move_alias(name, CHAMPION, version, reason,
                                score=self.version_score(name, version), expected=champion)
        if self.alias_version(name, CHALLENGER) == version:
            self.client.delete_registered_model_alias(name, CHALLENGER)
        return event

    def rollback(self, name: str, reason: str, who: str | None = None) -> AliasEvent:
        """Give ``champion`` back to the version that held it before the current one.

        Raises
        ------
        LookupError
            When there is no champion, or it never had a predecessor.
        AliasConflict
            When another process moved the champion meanwhile."""
        current = self.alias_version(name, CHAMPION)
        if current is None:
            raise LookupError(f"model {name!r} has no champion to roll back")
        moves = [e for e in self.history(name)
                 if e.alias == CHAMPION and e.version == current and e.action == "set"]
        # A "vN -> vN" move (recorded by older versions of `promote`) is not a way back.
        previous = next((e.previous for e in reversed(moves)
                         if e.previous and e.previous != current), None)
        if previous is None:
            raise LookupError(
                f"model {name!r}: champion v{current} has no earlier champion to roll back to")
        return self.move_alias(name, CHAMPION, previous, f"rollback from v{current}: {reason}",
                               score=self.version_score(name, previous), expected=current,
                               who=who)

    def history(self, name: str) -> list[AliasEvent]:
        """Every recorded alias move of ``name``, oldest first."""
        events: list[tuple[str, AliasEvent]] = []
        for mv in self.client.search_model_versions(f"name='{name}'"):
            for key, value in mv.tags.items():
                if key.startswith(_EVENT_PREFIX):
                    events.append((key.removeprefix(_EVENT_PREFIX).zfill(20),
                                   AliasEvent(**json.loads(value))))
        return [event for _, event in sorted(events, key=lambda item: item[0])]

    def download_pipeline(self, model_uri: str, dst: Path) -> Path:
        """Fetch a registered model's pipeline directory (``models:/name@champion``, ``runs:/...``)."""
        from mlflow.artifacts import download_artifacts

        self._mlflow.set_tracking_uri(self.tracking_uri)
        local = Path(download_artifacts(artifact_uri=model_uri, dst_path=str(dst),
                                        tracking_uri=self.tracking_uri))
        candidates = [p.parent for p in local.rglob("manifest.json")
                      if p.relative_to(local).parts[0] != "code"]  # not in packaged code
        if not candidates:
            raise FileNotFoundError(f"{model_uri} holds no regimeforest pipeline (no manifest.json)")
        return candidates[0]

    # ------------------------------------------------------- lookups by tag (backfills)
    def find_runs(self, experiment: str, tags: Mapping[str, str],
                  status: str = "FINISHED") -> list[str]:
        """Ids of the runs of ``experiment`` in ``status`` holding every tag of ``tags`` with
        exactly that value, newest first ([] when the experiment does not exist)."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            return []
        quote = lambda value: str(value).replace("'", "\\'")  # noqa: E731
        terms = [f"tags.`{key}` = '{quote(value)}'" for key, value in tags.items()]
        runs = self.client.search_runs(
            [found.experiment_id], " and ".join([*terms, f"attributes.status = '{status}'"]),
            order_by=["attributes.start_time DESC"], max_results=1000)
        return [run.info.run_id for run in runs]

    def run_versions(self, name: str, run_id: str) -> list[str]:
        """The versions of model ``name`` registered from run ``run_id``, oldest first."""
        versions = self.client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        return sorted((str(v.version) for v in versions), key=int)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        """The tags of one registered version."""
        return dict(self.client.get_model_version(name, version).tags)


def bars_signature(output_example: Any = None) -> Any:
    """The input signature of a logged pipeline: ``timestamp`` and ``open, high, low, close,
    volume``, every one typed ``string``; ``timestamp`` optional.

    The scoring server converts a request by the signature before the model sees it, and no
    MLflow type fits these columns: a ``double`` price column makes a CSV body with text in a
    price fail inside the server's CSV reader (HTTP 400 with a ``stack_trace`` field, naming
    neither row nor column), and ``datetime`` reads epoch milliseconds as nanoseconds and
    refuses zoned ISO text. Typed ``string``, JSON numbers and CSV cells reach the model as they
    were sent, and :func:`ml_core.data.parse_bars_payload` parses and checks them, naming the
    row. ``timestamp`` is optional so that an in-process caller may pass the bar times as a
    ``DatetimeIndex``. A consequence: in-process, ``PyFuncModel.predict`` enforces ``string``
    on float columns too, so pass ``bars.astype(object)`` (what a JSON request becomes) or text.
    The outputs, when ``output_example`` (reply rows) is given, are inferred from it; MLflow
    does not enforce them.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema

    from ml_core.data import OHLCV

    outputs = None if output_example is None else infer_signature(None, output_example).outputs
    return ModelSignature(inputs=Schema(
        [ColSpec(DataType.string, "timestamp", required=False)]
        + [ColSpec(DataType.string, column) for column in OHLCV]), outputs=outputs)


def _wire_bars(bars: Any) -> Any:
    """Bars as a request carries them: a ``timestamp`` column of ISO text (UTC), the values as
    Python objects (what a JSON body becomes in the scoring server)."""
    frame = bars.reset_index() if "timestamp" not in bars.columns else bars.copy()
    frame["timestamp"] = [stamp.isoformat() for stamp in frame["timestamp"]]
    return frame[["timestamp", "open", "high", "low", "close", "volume"]].astype(object)


def _logged_model_id(model_uri: str) -> str | None:
    """The logged model a ``models:/<model id>`` URI names; None for any other URI (runs:/,
    models:/name/version, a path)."""
    from mlflow.store.artifact.utils.models import _parse_model_uri

    if not model_uri.startswith("models:/"):
        return None
    try:
        return _parse_model_uri(model_uri).model_id
    except Exception:  # noqa: BLE001 - not a model id URI
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _user() -> str:
    return os.environ.get("REGIMEFOREST_USER") or getpass.getuser()


def span_tags(component: str, span: tuple[Any, Any], prefix: str = "fit_span") -> dict[str, str]:
    """``{prefix.component.start, prefix.component.end}`` as ISO timestamps: the bars a fitted
    component read, beside ``holdout.start`` on the run."""
    start, end = span
    return {f"{prefix}.{component}.start": start.isoformat(),
            f"{prefix}.{component}.end": end.isoformat()}


def run_name(config: Any) -> str:
    """``retrain-<profile>-<UTC minute>``: runs that sort and tell apart in the MLflow UI."""
    return f"retrain-{config.profile}-{time.strftime('%Y%m%d-%H%M', time.gmtime())}"


@contextmanager
def tracked_run(tracker: Tracker, experiment: str, run_name: str,
                tags: Mapping[str, str]) -> Iterator[str]:
    """A run that ends FINISHED when the block completes and FAILED when it raises."""
    with _ending(tracker, tracker.start_run(experiment, run_name, tags)) as run_id:
        yield run_id


@contextmanager
def _ending(tracker: Tracker, run_id: str) -> Iterator[str]:
    """End ``run_id`` FINISHED when the block completes, FAILED when it raises; a model from a
    failed run is never promoted.

    A failed run gets the tags of :func:`failure_tags`: ``failure`` says why in one line
    (``"killed by SIGTERM (signal 15) at ...Z during task 'cpcv'"`` for a kill), and the same
    line goes to the Prefect run's log when there is one. A version the failed run had
    registered (killed between registering and finishing) is withdrawn unless an alias
    already points at it (:func:`_withdraw_versions`), so its rerun registers the only one.
    Recording the failure never hides it: should the tracking store be unreachable, the
    original exception still propagates.
    """
    try:
        yield run_id
    except BaseException as exc:
        tags = failure_tags(exc)
        _log_failure(tags["failure"])
        try:
            withdrawn = _withdraw_versions(tracker, run_id)
            if withdrawn:
                tags["failure.withdrawn_versions"] = ", ".join(withdrawn)
            tracker.set_tags(run_id, tags)
            tracker.end_run(run_id, "FAILED")
        except Exception as error:  # noqa: BLE001 - keep the cause, not the bookkeeping error
            exc.add_note(f"(the MLflow run {run_id} could not be marked FAILED: {error})")
        raise
    tracker.end_run(run_id, "FINISHED")


def _withdraw_versions(tracker: Tracker, run_id: str) -> list[str]:
    """Delete the model versions registered from the failed run ``run_id`` that no alias
    points at; returns them as ``"name vN"``.

    Such a version is half made (its tags, its promotion decision may be missing) and can never
    be promoted; left in place, the rerun would register a second copy. A version an alias
    already points at is kept: it is being served."""
    withdrawn = []
    for version in tracker.client.search_model_versions(f"run_id = '{run_id}'"):
        if not version.aliases:
            tracker.client.delete_model_version(version.name, version.version)
            withdrawn.append(f"{version.name} v{version.version}")
    return withdrawn


def failure_tags(exc: BaseException, when: float | None = None) -> dict[str, str]:
    """The tags that say why a run failed.

    Parameters
    ----------
    exc : BaseException
        What ended the run. A kill (Prefect's ``TerminationSignal``, raised on SIGTERM) and an
        interrupt (``KeyboardInterrupt``, SIGINT / Ctrl-C) carry no message of their own:
        their line names the signal, the moment and the task that was running.
    when : float, optional
        Epoch seconds of the failure; default now.

    Returns
    -------
    dict
        ``failure``: ``"<Type>: <message>"`` for an ordinary error (its ``repr`` when the
        message is empty), ``"killed by SIGTERM (signal 15) at 2026-12-03T14:05:09Z during
        task 'tune'"`` for a kill; ``failure.type``, ``failure.at`` (UTC, ISO) and, when known,
        ``failure.task`` (the Prefect task that was running, innermost last, ``" > "``-joined)
        and ``failure.signal`` (e.g. ``SIGTERM``).
    """
    import signal as signals

    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))
    tasks = _running_tasks(exc)
    signum = _signal_number(exc)
    tags = {"failure.type": type(exc).__name__, "failure.at": at}
    if tasks:
        tags["failure.task"] = " > ".join(tasks)
    where = (" during task " + " > ".join(f"'{name}'" for name in tasks) if tasks
             else " outside any task")
    if signum is not None:
        try:
            name = signals.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        tags["failure.signal"] = name
        verb = "interrupted" if signum == signals.SIGINT else "killed"
        tags["failure"] = f"{verb} by {name} (signal {signum}) at {at}{where}"
    elif isinstance(exc, SystemExit):
        tags["failure"] = f"exited (SystemExit, code {exc.code!r}) at {at}{where}"
    else:
        message = str(exc)
        tags["failure"] = (f"{type(exc).__name__}: {message}" if message
                           else f"{exc!r} (no message) at {at}{where}")
    tags["failure"] = tags["failure"][:5000]
    return tags


def _signal_number(exc: BaseException) -> int | None:
    """The signal behind ``exc``: Prefect's ``TerminationSignal`` carries it (SIGTERM), a
    ``KeyboardInterrupt`` is SIGINT; None for anything else."""
    import signal as signals

    if isinstance(exc, KeyboardInterrupt):
        return int(signals.SIGINT)
    try:
        from prefect.exceptions import TerminationSignal
    except ImportError:  # pragma: no cover - prefect is a dependency
        return None
    if isinstance(exc, TerminationSignal):
        return int(exc.signal)
    return None


def _running_tasks(exc: BaseException) -> list[str]:
    """Names of the Prefect tasks ``exc`` was raised in, outermost first.

    The exception's traceback still holds the frames it unwound, from the flow's body down to
    the line the signal interrupted; each task run on the way is a frame of Prefect's task
    engine whose ``self`` holds the task. Reading a traceback costs nothing and needs no API
    call (the process may be going down)."""
    try:
        from prefect.task_engine import BaseTaskRunEngine
    except ImportError:  # pragma: no cover - prefect is a dependency
        return []
    names: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        engine = tb.tb_frame.f_locals.get("self")
        if isinstance(engine, BaseTaskRunEngine):
            name = engine.task.name
            if not names or names[-1] != name:
                names.append(name)
        tb = tb.tb_next
    return names


def _log_failure(reason: str) -> None:
    """Say why on the Prefect run's log (shown in its UI) when inside a flow run."""
    try:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger
    except ImportError:  # pragma: no cover - prefect is a dependency
        return
    try:
        get_run_logger().error("MLflow run marked FAILED: %s", reason)
    except MissingContextError:
        pass
