"""Tasks of the backfill: the bars it may see, what is done already, the replay, its report.

A backfill retrains at each ``as_of`` of a range (``flows/backfill.py``). Before each retrain it
computes the state of the bars that retrain would read (:func:`window_state`: cheap, no fit) and
asks MLflow for a FINISHED retrain of the same profile, ``as_of``, profile hash and bars hash that
registered a version (:func:`find_done`); when there is one, it is reused. A rerun of the same
range therefore trains nothing, and a backfill killed halfway resumes where it stopped.

Its result (:func:`replay_loop`) is the walk-forward of the whole loop: the promotion rule
replayed over the backfilled versions, and each moment's champion trading until the next
``as_of`` (``ml_core.evaluation._loop``), as a table and an equity plot (:func:`log_backfill`,
:func:`publish_backfill`).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from prefect import get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from ml_core.config import Config  # noqa: E402
from ml_core.data import as_bars  # noqa: E402
from ml_core.evaluation import (  # noqa: E402
    ChainStep,
    champion_chain,
    decision_bars,
    exposure,
    loop_table,
    replay_periods,
    replay_returns,
)
from tasks.data import DataState, load_data, select_span  # noqa: E402
from tasks.registry import CHAMPION, CHALLENGER, Tracker, decide_promotion  # noqa: E402

__all__ = ["BackfillResult", "BackfillStep", "DoneRetrain", "backfill_key", "equity_figure",
           "find_backfill_run", "find_done", "format_rows", "log_backfill", "needs_promotion",
           "publish_backfill", "read_history", "replay_loop", "to_markdown", "warmup_span",
           "window_state"]

WARMUP = timedelta(days=30)
"""The least history fed to a champion before each period (see :func:`warmup_span`)."""
WARMUP_BARS = 64
"""Bars of the longest timeframe fed first: the slowest features (MACD 26 + 9 on daily bars,
ADX 14 x 2) warm up within them."""


def warmup_span(config: Config) -> timedelta:
    """History fed to a champion before a period so that every feature and the regime filter
    have warmed up: :data:`WARMUP_BARS` bars of the profile's longest timeframe, at least
    :data:`WARMUP` (64 days for the demo, whose features reach daily bars)."""
    longest = max([config.data.timeframe, config.regime.timeframe,
                   *config.features.higher_timeframes])
    return max(WARMUP, WARMUP_BARS * longest)

_DECIDED = {CHAMPION, CHALLENGER, "rejected"}


@dataclass(frozen=True)
class DoneRetrain:
    """A finished retrain that registered a version: what a backfill reuses."""

    run_id: str
    version: str
    score: float
    decision: str


@dataclass(frozen=True)
class BackfillStep:
    """One ``as_of`` of a backfill: the retrain behind it and whether it was reused."""

    as_of: pd.Timestamp
    data: DataState
    run_id: str
    version: str
    score: float
    reused: bool


@dataclass
class BackfillResult:
    """What a backfill did: its steps, the walk-forward table and the equity curves.

    ``run_id`` is the MLflow run holding the table and plot (a previous identical backfill's when
    nothing was redone); ``reused`` counts the retrains found done.
    """

    run_id: str
    experiment: str
    steps: list[BackfillStep]
    table: pd.DataFrame
    equity: pd.DataFrame
    promoted: bool = False

    @property
    def reused(self) -> int:
        return sum(step.reused for step in self.steps)

    @property
    def trained(self) -> int:
        return len(self.steps) - self.reused


@task(name="read-history", cache_policy=NO_CACHE)
def read_history(config: Config, known_at: pd.Timestamp) -> tuple[pd.DataFrame, object]:
    """Every bar the backfill may see: the profile's file, or its store series as known at
    ``known_at`` (every bar closed by then, without the lookback window)."""
    whole = config.model_copy(update={"data": config.data.model_copy(update={"lookback": None})})
    frame, _, read = load_data.fn(whole, known_at, known_at)
    return as_bars(frame), read


@task(name="bars-state", cache_policy=NO_CACHE)
def window_state(bars: pd.DataFrame, config: Config, as_of: pd.Timestamp,
                 read: object) -> DataState:
    """The state (span and content hash) of the bars the retrain at ``as_of`` will read: the same
    window rule as the retrain (``tasks.data.select_span``) on the same bars."""
    return select_span.fn(bars, config, as_of, read)[1]


@task(name="find-done-retrain", cache_policy=NO_CACHE)
def find_done(tracker: Tracker, config: Config, data: DataState,
              profile_hash: str) -> DoneRetrain | None:
    """A FINISHED retrain of this profile at ``data.as_of`` on the same bars (``store.sha256``)
    and profile (``config.hash``) that registered a version, or None."""
    runs = tracker.find_runs(config.registry.experiment, {
        "profile": config.profile, "as_of": data.as_of.isoformat(),
        "config.hash": profile_hash, "store.sha256": data.sha256})
    for run_id in runs:
        versions = tracker.run_versions(config.registry.model_name, run_id)
        if versions:
            version = versions[-1]
            tags = tracker.version_tags(config.registry.model_name, version)
            score = float(tags["cv_score"]) if "cv_score" in tags else math.nan
            return DoneRetrain(run_id, version, score, tags.get("decision", ""))
    return None


def backfill_key(config_hash: str, every: timedelta, steps: Sequence[tuple[pd.Timestamp, str]],
                 promote: bool) -> str:
    """SHA-256 naming a backfill's inputs: the profile, the spacing and each ``(as_of, bars
    hash)``; two backfills with the same key replay the same loop."""
    payload = json.dumps({"config": config_hash, "every": every.total_seconds(),
                          "promote": promote,
                          "steps": [[a.isoformat(), sha] for a, sha in steps]})
    return hashlib.sha256(payload.encode()).hexdigest()


@task(name="find-backfill-run", cache_policy=NO_CACHE)
def find_backfill_run(tracker: Tracker, config: Config, key: str) -> str | None:
    """The newest FINISHED backfill run with ``backfill.key == key``, or None."""
    runs = tracker.find_runs(config.registry.experiment, {"backfill.key": key})
    return runs[0] if runs else None


def needs_promotion(done: DoneRetrain) -> bool:
    """A reused version whose rule was never applied to the aliases (a backfill without
    ``--promote`` registered it): a backfill with ``--promote`` applies it now."""
    return done.decision not in _DECIDED


def _champion_signals(pipeline: object, bars: pd.DataFrame, timeframe: timedelta,
                      start: pd.Timestamp, end: pd.Timestamp, warmup: timedelta) -> pd.Series:
    """The champion's exposure at the period's decision bars, fed ``warmup`` of history first."""
    decided = decision_bars(bars.index, timeframe, start, end)
    if len(decided) == 0:
        return pd.Series(dtype="float64")
    fed = bars.loc[decided[0] - pd.Timedelta(warmup):decided[-1]]
    signals = pipeline.predict(fed)
    return exposure(signals.reindex(signals.index.intersection(decided)))


def _trusted(tracker: Tracker, name: str, version: str) -> bool:
    """Whether the promotion gate found ``version`` trustworthy (versions registered before
    the gate existed carry no verdict and keep the score rule)."""
    return tracker.version_tags(name, version).get("gate.trustworthy", "true") == "true"


@task(name="replay-loop", cache_policy=NO_CACHE)
def replay_loop(tracker: Tracker, config: Config, bars: pd.DataFrame,
                steps: list[BackfillStep], every: timedelta
                ) -> tuple[pd.DataFrame, pd.DataFrame, list[ChainStep]]:
    """The walk-forward of the loop: the promotion rule over the steps' versions in ``as_of``
    order (starting with no champion), each champion's signals on the bars until the next
    ``as_of``, with ``validation.transaction_cost_bps``, against buy-and-hold.

    Returns
    -------
    table : pandas.DataFrame
        ``ml_core.evaluation.LOOP_COLUMNS``, one row per step.
    equity : pandas.DataFrame
        Columns ``strategy``, ``buy_and_hold`` by bar close time.
    chain : list of ChainStep
    """
    from ml_core.pipeline import load_pipeline

    logger = get_run_logger()
    timeframe = config.data.timeframe
    name = config.registry.model_name
    # a version the promotion gate did not trust is never a champion of the replay either
    chain = champion_chain([(s.version, s.score if _trusted(tracker, name, s.version)
                             else math.nan) for s in steps], decide_promotion,
                           config.registry.min_improvement)
    as_ofs = [s.as_of for s in steps]
    periods = replay_periods(as_ofs, every, bars.index[-1] + pd.Timedelta(timeframe))
    pipelines: dict[str, object] = {}
    positions: list[pd.Series | None] = []
    with tempfile.TemporaryDirectory() as tmp:
        for link, (start, end) in zip(chain, periods):
            if link.champion is None:
                positions.append(None)
                continue
            if link.champion not in pipelines:
                uri = f"models:/{config.registry.model_name}/{link.champion}"
                pipelines[link.champion] = load_pipeline(
                    tracker.download_pipeline(uri, Path(tmp) / f"v{link.champion}"))
            held = _champion_signals(pipelines[link.champion], bars, timeframe, start, end,
                                     warmup_span(config))
            missing = len(decision_bars(bars.index, timeframe, start, end)) - len(held)
            if missing:
                logger.warning("period %s .. %s: v%s gave no signal at %d bars (features "
                               "warming up); flat there", start, end, link.champion, missing)
            positions.append(held)
    replay = replay_returns(bars["close"], timeframe, periods, positions,
                            config.validation.transaction_cost_bps)
    return loop_table(as_ofs, chain, replay), replay.equity, chain


# ------------------------------------------------------------------------------ report
def _pct(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.2%}"


def _champion(value: object) -> str:
    return "none" if value is None or pd.isna(value) else f"v{value}"


def format_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    """The walk-forward table as text cells, for the terminal, markdown and Prefect (times as
    dates when every one falls at midnight)."""
    moments = pd.concat([table["as_of"], table["period_start"], table["period_end"]])
    daily = bool((moments == moments.dt.normalize()).all())

    def stamp(value: pd.Timestamp) -> str:
        return value.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M")

    return [{
        "as_of": stamp(row.as_of),
        "version": f"v{row.version}",
        "score": f"{row.score:.4f}" if math.isfinite(row.score) else "undefined",
        "decision": row.decision,
        "champion": _champion(row.champion),
        "period": f"{stamp(row.period_start)} .. {stamp(row.period_end)}",
        "bars": str(row.bars),
        "trades": str(row.trades),
        "strategy": _pct(row.strategy_return),
        "buy & hold": _pct(row.buy_and_hold_return),
        "equity": f"{row.strategy_equity:.4f}",
        "b&h equity": f"{row.buy_and_hold_equity:.4f}",
    } for row in table.itertuples(index=False)]


def to_markdown(result: BackfillResult, title: str = "Backfill: the loop, replayed") -> str:
    """The table as markdown, with a line on what was trained and reused."""
    rows = format_rows(result.table)
    head = list(rows[0]) if rows else []
    lines = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}",
             *[f"| {' | '.join(r.values())} |" for r in rows]]
    last = result.table.iloc[-1] if len(result.table) else None
    verdict = ("" if last is None else
               f"\n\nEnd equity: strategy {last.strategy_equity:.4f}, buy-and-hold "
               f"{last.buy_and_hold_equity:.4f} (start 1; costs included, buy-and-hold without).")
    return (f"### {title}\n\n{len(result.steps)} as_of: {result.trained} trained, "
            f"{result.reused} reused; aliases {'moved' if result.promoted else 'untouched'}. "
            f"MLflow run `{result.run_id}`.\n\n" + "\n".join(lines) + verdict)


def equity_figure(equity: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Both equity curves, a dashed line at each ``as_of`` labelled with the champion then."""
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.axhline(1.0, color="#bdbdbd", lw=0.8, zorder=1)
    ax.plot(equity.index, equity["buy_and_hold"], color="#757575", lw=1.2, zorder=2,
            label="buy-and-hold")
    ax.plot(equity.index, equity["strategy"], color="#1565c0", lw=1.6, zorder=3,
            label="champion's signals (net of costs)")
    for row in table.itertuples(index=False):
        ax.axvline(row.as_of, color="#9e9e9e", ls="--", lw=0.8, zorder=1)
        champion = _champion(row.champion)
        # above the plot area, where no curve runs
        ax.text(row.as_of, 1.01, "no champion" if champion == "none" else f"champion {champion}",
                transform=ax.get_xaxis_transform(), va="bottom", ha="left", fontsize=8)
    ax.set_ylabel("equity (1 at the first as_of)")
    ax.set_xlabel("bar close (UTC)")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set_title("Backfill: each as_of's champion trading until the next as_of", pad=18)
    ax.legend(loc="lower left", framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@task(name="log-backfill", cache_policy=NO_CACHE)
def log_backfill(tracker: Tracker, run_id: str, result: BackfillResult) -> None:
    """The table (CSV and markdown), the equity plot and the end figures on the backfill run."""
    tracker.log_table(run_id, result.table.set_index("as_of"), "backfill.csv")
    tracker.log_text(run_id, to_markdown(result), "backfill.md")
    tracker.log_figure(run_id, equity_figure(result.equity, result.table), "backfill_equity.png")
    last = result.table.iloc[-1]
    tracker.log_metrics(run_id, {
        "backfill_as_of": len(result.steps), "backfill_trained": result.trained,
        "backfill_reused": result.reused,
        "backfill_strategy_equity": last.strategy_equity,
        "backfill_buy_and_hold_equity": last.buy_and_hold_equity,
        "backfill_trades": int(result.table["trades"].sum())})


@task(name="publish-backfill", cache_policy=NO_CACHE)
def publish_backfill(result: BackfillResult) -> None:
    """The table as Prefect artifacts: a markdown summary and a table."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(key="backfill-summary", markdown=to_markdown(result),
                             description="the walk-forward of the MLOps loop over the backfill")
    create_table_artifact(key="backfill-loop", table=format_rows(result.table),
                          description="per as_of: version, decision, champion, period returns")
