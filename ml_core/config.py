"""Typed, validated configuration profiles.

A profile (``configs/demo.yaml``, ``configs/production.yaml``) is one :class:`Config`. Every stage of
the pipeline receives the section it needs as a pydantic model, never an untyped dict, so a typo or
an out-of-range value fails at load time naming the field and the value.

Durations (``purge``, ``embargo``) and bar timeframes (``timeframe``, ``higher_timeframes``) are
written as pandas offset strings: ``"30m"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"24h"``.

Windows and horizons (:data:`WINDOWS`: ``features.frac_diff_window``,
``features.volatility_window``, ``regime.volatility_window``, ``labels.volatility_span``,
``labels.max_holding``) are durations in a profile, so that a profile ports to another bar length by changing ``data.timeframe``; a loaded
:class:`Config` holds them as the bar counts the estimators take (a duration that is not a whole
number of bars is refused, naming the field). Profiles of an older ``schema_version`` are migrated
on load (:mod:`ml_core._migrations`).
"""

from __future__ import annotations

import numbers
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import annotated_types
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from ml_core._durations import format_duration, parse_duration
from ml_core._migrations import PROFILE_SCHEMA, migrate_profile
from ml_core._search_space import (
    DEFAULT_FOREST_SPACE,
    DEFAULT_PIPELINE_SPACE,
    FOREST_PARAMS,
    PIPELINE_PARAMS,
    ObjectiveWeights,
    ParamRange,
)

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "EnsembleConfig",
    "FeatureConfig",
    "ForestSpec",
    "GateConfig",
    "MonitorConfig",
    "PromotionConfig",
    "RolloutConfig",
    "RolloutStage",
    "LabelConfig",
    "RegimeConfig",
    "RegistryConfig",
    "ScheduleConfig",
    "SelectionConfig",
    "TuningConfig",
    "ValidationConfig",
    "WINDOWS",
    "format_duration",
    "load_config",
    "parse_duration",
]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names field and value."""


def _positive_duration(value: Any) -> timedelta:
    td = parse_duration(value)
    if td <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {value!r}")
    return td


def _non_negative_duration(value: Any) -> timedelta:
    td = parse_duration(value)
    if td < timedelta(0):
        raise ValueError(f"must not be negative, got {value!r}")
    return td


Timeframe = Annotated[timedelta, BeforeValidator(_positive_duration)]
Span = Annotated[timedelta, BeforeValidator(_non_negative_duration)]


def _non_zero(value: int) -> bool:
    """non-zero"""
    return value != 0


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the bars come from and what the quality gate demands of them."""

    path: Path | None = Field(None, description="bars file; None (and no symbol) means the bundled "
                              "30m BTC sample")
    symbol: str | None = Field(None, min_length=1, description="a bar-store series: the retrain "
                               "reads it as of its as_of (not with path)")
    store: str | None = Field(None, description="bar store URL (SQLAlchemy); None means "
                              "$REGIMEFOREST_STORE_URL or sqlite:///mlruns/bars.db")
    lookback: Span | None = Field(None, description="training window, back from the newest bar "
                                  "known at as_of (e.g. 730d); None means every bar")
    timeframe: Timeframe = Field(timedelta(minutes=30), description="base bar length")
    columns: dict[str, str] = Field(
        default_factory=dict, description="source column -> canonical name (timestamp, open, ...)"
    )
    max_gap_ratio: float = Field(0.01, ge=0.0, le=1.0, description="missing bars / present bars")
    repair: bool = Field(False, description="sort by time and drop exact duplicate rows, recorded")
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.path is not None and self.symbol is not None:
            raise ValueError(f"data.path ({str(self.path)!r}) and data.symbol ({self.symbol!r}) "
                             "both name the bars: set one (a file, or a bar-store series)")
        if self.lookback is not None and self.lookback <= timedelta(0):
            raise ValueError(f"data.lookback must be a positive duration, got "
                             f"{format_duration(self.lookback)!r}")
        return self

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> pd.Timestamp | None:
        if value is None:
            return None
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class SelectionConfig(_Section):
    """Feature selection, fitted on each training set only (never on test or live data)."""

    enabled: bool = Field(True, description="drop correlated and unimportant features before fitting")
    corr_threshold: float = Field(
        0.9, gt=0.0, le=1.0, description="drop one of each pair with |Pearson r| above this"
    )
    importance_threshold: float = Field(
        0.01, ge=0.0, lt=1.0, description="drop features whose normalised importance is below this"
    )
    min_features: int = Field(10, ge=1, description="never keep fewer features than this")
    n_estimators: int = Field(50, ge=10, description="trees of the forest that ranks importance")


class FeatureConfig(_Section):
    """Causal feature set and the higher timeframes fused onto the base bars."""

    higher_timeframes: list[Timeframe] = Field(
        default_factory=lambda: [timedelta(hours=1), timedelta(hours=4), timedelta(days=1)]
    )
    frac_diff_d: float = Field(0.4, gt=0.0, le=1.0, description="fractional differencing order")
    frac_diff_auto: bool = Field(
        True, description="choose frac_diff_d on the training window: the smallest order whose "
        "series passes an ADF test (frac_diff_d is then only the fallback)"
    )
    frac_diff_adf_alpha: float = Field(
        0.05, gt=0.0, lt=0.5, description="ADF significance level for choosing frac_diff_d"
    )
    selection: SelectionConfig = SelectionConfig()
    frac_diff_window: int = Field(
        100, ge=10, description="fixed-width fracdiff window, bars (a profile writes a duration)")
    volatility_window: int = Field(
        48, ge=5, description="rolling volatility window, bars (a profile writes a duration)")


class RegimeConfig(_Section):
    """The 3-state Gaussian HMM fitted on regime-scale bars."""

    n_states: Literal[3] = 3
    timeframe: Timeframe = Field(timedelta(hours=4), description="bar length the HMM is fitted on")
    covariance_type: Literal["full", "diag", "spherical"] = "full"
    n_iter: int = Field(1000, ge=10)
    tol: float = Field(1e-4, gt=0.0)
    n_restarts: int = Field(5, ge=1)
    volatility_window: int = Field(
        6, ge=2, description="realised-vol window, regime bars (a profile writes a duration)")
    min_state_occupancy: float = Field(
        0.02, ge=0.0, lt=1 / 3,  # the HMM's own bound: three states cannot all hold more
        description="fits where a state holds less of the time are degenerate"
    )


class LabelConfig(_Section):
    """Triple-barrier labels (volatility-scaled horizontal barriers plus a vertical one)."""

    volatility_span: int = Field(
        100, ge=2, description="EWM span of the return volatility, bars (a profile: a duration)")
    take_profit: float = Field(2.0, gt=0.0, description="upper barrier in volatility units")
    stop_loss: float = Field(2.0, gt=0.0, description="lower barrier in volatility units")
    max_holding_bars: int = Field(
        48, ge=1, description="vertical barrier, bars after entry (a profile: labels.max_holding, "
        "a duration)")
    cusum_threshold: float | None = Field(
        None, gt=0.0, description="sample events with a symmetric CUSUM filter at this many "
        "volatility units (AFML 2.5.2.1); None: an event at every bar"
    )


CRITERIA = {
    "classifier": ("gini", "entropy", "log_loss"),
    "regressor": ("squared_error", "friedman_mse", "absolute_error", "poisson"),
}
"""Split criteria scikit-learn accepts for each forest kind."""


class ForestSpec(_Section):
    """One random forest of the ensemble (scikit-learn's parameters, validated up front)."""

    kind: Literal["classifier", "regressor"]
    n_estimators: int = Field(100, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | float = "sqrt"
    bootstrap: bool = True
    max_samples: float | None = Field(
        None, gt=0.0, le=1.0, description="share of rows drawn per tree (bootstrap only)")
    criterion: str | None = Field(None, description="None: gini (classifier), squared_error")
    class_weight: Literal["balanced", "balanced_subsample"] | None = Field(
        "balanced_subsample", description="classifiers only; regressors ignore it")
    ccp_alpha: float = Field(0.0, ge=0.0, description="minimal cost-complexity pruning")
    min_impurity_decrease: float = Field(0.0, ge=0.0)
    max_leaf_nodes: int | None = Field(None, ge=2)

    @field_validator("max_features")
    @classmethod
    def _fraction(cls, value: str | float) -> str | float:
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise ValueError(f"a float max_features must be in (0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ForestSpec:
        if self.criterion is not None and self.criterion not in CRITERIA[self.kind]:
            raise ValueError(f"criterion must be one of {CRITERIA[self.kind]} for a {self.kind}, "
                             f"got criterion={self.criterion!r}")
        if self.max_samples is not None and not self.bootstrap:
            raise ValueError(f"max_samples needs bootstrap=True, got max_samples="
                             f"{self.max_samples} with bootstrap=False")
        return self


class EnsembleConfig(_Section):
    """The four forests and the meta-learner that turns them into a signal."""

    entry: ForestSpec = ForestSpec(kind="classifier")
    position: ForestSpec = ForestSpec(kind="regressor")
    exit: ForestSpec = ForestSpec(kind="classifier")
    profit: ForestSpec = ForestSpec(kind="regressor")
    meta_C: float = Field(1.0, gt=0.0, description="inverse L2 strength of the meta-learner")
    meta_folds: int = Field(4, ge=2, description="purged folds for out-of-fold meta features")
    confidence_threshold: float = Field(0.6, ge=0.5, le=1.0)
    n_jobs: Annotated[int, annotated_types.Predicate(_non_zero)] = Field(
        1, description="cores per forest (-1: all); 1 unless a profile asks for more (a served "
        "model predicts a few rows per call, and parallel CV or tuning would oversubscribe)")
    calibration: Literal["isotonic", "sigmoid", "none"] = Field(
        "sigmoid", description="calibrate the meta probability on cross-fitted OOF predictions")
    kelly_fraction: float | None = Field(
        0.5, gt=0.0, le=1.0, description="size cap: this fraction of the Kelly bet (0.5 = half); "
        "None: no Kelly cap unless cvar_budget is set (then full Kelly)")
    cvar_budget: float | None = Field(
        0.02, gt=0.0, description="size cap: expected shortfall per trade, fraction of equity")
    cvar_alpha: float = Field(0.05, gt=0.0, lt=1.0, description="tail of the CVaR estimate")
    smoothing: Literal["none", "hysteresis", "ewma"] = Field(
        "none", description="damp signal flip-flops between consecutive events")
    hysteresis_band: float = Field(
        0.05, ge=0.0, lt=0.5, description="hold a position until confidence < threshold - band")
    ewma_span: int = Field(3, ge=1, description="events in the EWMA of p_long")
    imbalance: Literal["class_weight", "smote"] = Field(
        "class_weight", description="class weights, or SMOTE inside each training fold")
    regime_mode: Literal["global", "thresholds", "models"] = Field(
        "global", description="one rule; per-regime thresholds; or per-regime meta-learners")
    regime_thresholds: dict[Literal["bull", "bear", "sideways"], float] = Field(
        default_factory=dict, description="regime_mode=thresholds: confidence threshold per regime")
    min_regime_events: int = Field(
        50, ge=10, description="regime_mode=models: fewer events fall back to the global model")

    @field_validator("regime_thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for regime, threshold in value.items():
            if not 0.5 <= threshold <= 1.0:
                raise ValueError(f"regime_thresholds.{regime} must be in [0.5, 1], "
                                 f"got {threshold}")
        return value

    @model_validator(mode="after")
    def _kinds(self) -> EnsembleConfig:
        expected = {"entry": "classifier", "position": "regressor", "exit": "classifier",
                    "profit": "regressor"}
        for name, kind in expected.items():
            got = getattr(self, name).kind
            if got != kind:
                raise ValueError(f"ensemble.{name}.kind must be {kind!r}, got {got!r}")
        return self


class ValidationConfig(_Section):
    """Combinatorial purged cross-validation and the backtest conventions."""

    n_groups: int = Field(6, ge=3)
    n_test_groups: int = Field(2, ge=1)
    purge: Span = Field(timedelta(hours=24))
    embargo: Span = Field(timedelta(hours=12))
    min_events_per_group: int = Field(
        20, ge=1, description="fewest events a CPCV group or walk-forward window may hold")
    walk_forward_windows: int = Field(51, ge=0, description="test windows; 0 skips walk-forward")
    walk_forward_mode: Literal["expanding", "sliding"] = "expanding"
    walk_forward_train_size: int | None = Field(
        None, ge=1, description="sliding mode: events before each window (None: the first block)")
    sharpe_threshold: float = Field(
        1.0, description="annualised Sharpe a walk-forward window must beat to count as consistent")
    drawdown_limit: float = Field(
        0.15, gt=0.0, le=1.0, description="max drawdown a window must stay below (fraction)")
    pbo_partitions: int = Field(16, ge=2, description="CSCV blocks S for the PBO (even)")
    holdout_span: Span | None = Field(
        None, description="most recent span kept out of everything but one final score")
    holdout_fraction: float | None = Field(
        None, gt=0.0, lt=0.5, description="or: this most recent share of the bars")
    refit_on_all: bool = Field(
        False, description="after scoring the holdout, serve a refit on every event (the "
        "holdout then measures the procedure, not the served weights)")
    transaction_cost_bps: float = Field(5.0, ge=0.0)
    cpcv_refit_regime: bool = Field(
        True, description="CPCV refits the HMM on each split's training bars and recomputes "
        "the regime columns with it (else the development HMM's columns, fitted on bars that "
        "include each split's test groups, serve every split); README, Validation")

    @model_validator(mode="after")
    def _k_below_n(self) -> ValidationConfig:
        if self.n_test_groups >= self.n_groups:
            raise ValueError(
                f"n_test_groups must be below n_groups, got n_test_groups={self.n_test_groups}, "
                f"n_groups={self.n_groups}"
            )
        if self.holdout_span is not None and self.holdout_fraction is not None:
            raise ValueError(
                f"set holdout_span or holdout_fraction, not both, got holdout_span="
                f"{self.holdout_span}, holdout_fraction={self.holdout_fraction}")
        if self.pbo_partitions % 2:
            raise ValueError(f"pbo_partitions must be even, got pbo_partitions={self.pbo_partitions}")
        if self.walk_forward_train_size is not None and self.walk_forward_mode != "sliding":
            raise ValueError(
                "walk_forward_train_size applies only to walk_forward_mode='sliding', got "
                f"walk_forward_train_size={self.walk_forward_train_size} with "
                f"walk_forward_mode={self.walk_forward_mode!r}"
            )
        return self


class TuningConfig(_Section):
    """Optuna with HyperbandPruner; the resource is trees grown by warm start.

    ``forest_space`` and ``pipeline_space`` declare what is searched (:class:`ParamRange` per
    parameter); an invalid range is rejected when the profile loads, before any trial runs.
    """

    enabled: bool = True
    n_trials: int = Field(8, ge=1, description="configurations tried per model")
    tree_step: int = Field(10, ge=1, description="trees added per Hyperband resource step")
    reduction_factor: int = Field(3, ge=2)
    cv_folds: int = Field(3, ge=2, description="purged temporal folds in the objective")
    timeout_seconds: float | None = Field(None, gt=0.0, description="wall-time budget per study")
    storage: str | None = Field(None, description="Optuna storage URL; None: SQLite under mlruns/")
    max_rows: int | None = Field(None, ge=100, description="most recent rows used when tuning")
    n_workers: int = Field(1, ge=1, description="processes tuning one study (server storage)")
    forest_space: dict[str, ParamRange] = Field(default_factory=lambda: dict(DEFAULT_FOREST_SPACE))
    pipeline_space: dict[str, ParamRange] = Field(
        default_factory=lambda: dict(DEFAULT_PIPELINE_SPACE))
    pipeline_trials: int = Field(4, ge=0, description="pipeline configurations; 0 skips them")
    objective_weights: ObjectiveWeights = ObjectiveWeights()

    @model_validator(mode="after")
    def _spaces(self) -> TuningConfig:
        for name, rng in self.forest_space.items():
            if name not in FOREST_PARAMS:
                raise ValueError(f"tuning.forest_space.{name} is not a searchable forest "
                                 f"parameter; choose from {FOREST_PARAMS}")
            _check_forest_range(name, rng)
        for name, rng in self.pipeline_space.items():
            if name not in PIPELINE_PARAMS:
                raise ValueError(f"tuning.pipeline_space.{name} is not a pipeline parameter; "
                                 f"choose from {PIPELINE_PARAMS}")
            for value in rng.values_to_check():
                _check_pipeline_value(name, value)
        if self.n_workers > 1 and (self.storage is None or self.storage.startswith("sqlite")):
            raise ValueError(
                f"tuning.n_workers={self.n_workers} needs a server storage (e.g. "
                f"postgresql://...), got tuning.storage={self.storage!r}: SQLite serialises writers")
        return self


def _check_forest_range(name: str, rng: ParamRange) -> None:
    """Every bound or choice must make a valid ForestSpec for a kind it applies to."""
    kinds = ("classifier",) if name == "class_weight" else ("classifier", "regressor")
    usable = {kind: 0 for kind in kinds}
    for value in rng.values_to_check():
        errors = []
        for kind in kinds:
            extra = {"bootstrap": True} if name == "max_samples" else {}
            try:
                ForestSpec(kind=kind, **extra, **{name: value})
                usable[kind] += 1
            except ValidationError as exc:
                errors.append(exc.errors()[0]["msg"])
        if len(errors) == len(kinds):
            raise ValueError(f"tuning.forest_space.{name} holds the invalid value {value!r}: "
                             f"{errors[0]}")
    empty = [kind for kind, n in usable.items() if n == 0]
    if empty:
        raise ValueError(f"tuning.forest_space.{name} leaves no valid choice for a {empty[0]}")


def _check_pipeline_value(name: str, value: Any) -> None:
    checks = {
        "barrier_width": lambda v: LabelConfig(take_profit=v, stop_loss=v),
        "corr_threshold": lambda v: SelectionConfig(corr_threshold=v),
        "importance_threshold": lambda v: SelectionConfig(importance_threshold=v),
        "meta_C": lambda v: EnsembleConfig(meta_C=v),
    }
    try:
        checks[name](value)
    except ValidationError as exc:
        raise ValueError(f"tuning.pipeline_space.{name} holds the invalid value {value!r}: "
                         f"{exc.errors()[0]['msg']}") from None


class RegistryConfig(_Section):
    """MLflow tracking, the registered model and its promotion rule."""

    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    experiment: str = "regimeforest"
    model_name: str = "regimeforest"
    promotion_metric: str = Field("cv_sharpe_median", description="higher is better")
    min_improvement: float = Field(0.0, ge=0.0)


class GateConfig(_Section):
    """What a version must show before it may become champion (``promotion.gate``).

    Absolute gates read the retrain's own validation; the relative gate scores the new version and
    the champion on the newest bars (aligned bar by bar) and tests the Sharpe-ratio difference
    (Ledoit and Wolf 2008). A version that passes the absolute gates but not the relative one is a
    challenger; one that fails an absolute gate is rejected.
    """

    enabled: bool = Field(True, description="false: the old rule (beat the champion's score)")
    min_trades: int = Field(
        20, ge=1, description="trades on the median CPCV path and on the final holdout")
    pbo_max: float = Field(0.5, ge=0.0, le=1.0, description="most probability of overfitting")
    dsr_min: float = Field(0.95, ge=0.0, le=1.0,
                           description="least deflated Sharpe probability (true trial count)")
    beat_buy_and_hold: bool = Field(
        True, description="median CPCV path Sharpe above buy-and-hold's on the same paths")
    test: Literal["hac", "bootstrap"] = Field(
        "hac", description="Sharpe-difference test: Ledoit-Wolf HAC or studentised block bootstrap")
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="one-sided level of the paired test")
    compare_bars: Timeframe | None = Field(
        None, description="newest span both versions are scored on; None: the final holdout")


class RolloutStage(_Section):
    """One stage of a rollout: the share of the champion's size the candidate trades with."""

    name: str = Field(..., min_length=1)
    size_fraction: float = Field(..., ge=0.0, le=1.0)
    min_bars: int = Field(0, ge=0, description="live bars in the stage before the next")
    min_trades: int = Field(0, ge=0, description="resolved paper trades before the next")


def _default_stages() -> list[RolloutStage]:
    return [RolloutStage(name="shadow", size_fraction=0.0, min_bars=500, min_trades=10),
            RolloutStage(name="partial", size_fraction=0.25, min_bars=500, min_trades=10),
            RolloutStage(name="full", size_fraction=1.0)]


class RolloutConfig(_Section):
    """Shadow A/B rollout of a version that passed the gate (``promotion.rollout``).

    Each stage is entered only when the candidate's paper record over the stage's minimum of
    bars and trades is not worse than the champion's by the gate's paired test; the last stage
    makes it champion.
    """

    enabled: bool = Field(True, description="false: a version that passes becomes champion at once")
    stages: list[RolloutStage] = Field(default_factory=_default_stages)
    ledger: str | None = Field(None, description="paper ledger URL (SQLAlchemy); None means "
                               "$REGIMEFOREST_LEDGER_URL or sqlite:///mlruns/ledger.db")
    alpha: float = Field(0.05, gt=0.0, lt=0.5,
                         description="one-sided level of 'candidate worse than champion'")

    @model_validator(mode="after")
    def _stages(self) -> RolloutConfig:
        if not self.stages:
            raise ValueError("promotion.rollout.stages must hold at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"promotion.rollout.stages names must differ, got {names}")
        fractions = [s.size_fraction for s in self.stages]
        if fractions != sorted(fractions) or fractions[-1] != 1.0:
            raise ValueError(f"promotion.rollout.stages size_fraction must rise to 1.0, got "
                             f"{fractions}")
        return self


class PromotionConfig(_Section):
    """How a registered version earns the champion alias: the gate, then the rollout."""

    gate: GateConfig = GateConfig()
    rollout: RolloutConfig = RolloutConfig()


class MonitorConfig(_Section):
    """The daily monitor: the live window against the champion's reference statistics."""

    window: Timeframe = Field(timedelta(days=7), description="live span compared each day")
    psi_max: float = Field(0.25, gt=0.0, description="PSI above this: the feature drifted")
    ks_alpha: float = Field(0.001, gt=0.0, lt=1.0, description="KS p-value below this: drifted")
    drift_share_max: float = Field(
        0.5, gt=0.0, le=1.0, description="share of drifted features that triggers a rollback")
    prediction_psi_max: float = Field(0.25, gt=0.0, description="p_long PSI that counts as drift")
    accuracy_drop_max: float = Field(
        0.05, gt=0.0, lt=1.0, description="live accuracy this far (absolute) below the validated "
        "level, at the confidence bound, triggers a rollback")
    min_resolved_trades: int = Field(30, ge=1, description="resolved paper trades before live "
                                     "performance may trigger anything")
    recent_trades: int = Field(200, ge=1, description="the champion's last resolved paper trades "
                               "live performance judges (fewer: faster, noisier)")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="one-sided bound on live accuracy")
    rollback: bool = Field(True, description="move the champion back automatically")
    retrain_on_rollback: bool = Field(True, description="trigger a retrain after a rollback")


class ScaleConfig(_Section):
    """Where a retrain's independent pieces run: CPCV splits, walk-forward windows, the four
    models' studies and a backfill's ``as_of`` retrains.

    ``local`` (the embedded default) runs them one after another in the flow's process, each
    forest using ``ensemble.n_jobs`` threads. ``dask`` runs each piece as a Prefect task on a
    Dask cluster (prefect-dask's ``DaskTaskRunner``): the scheduler at ``dask_address``, or, without
    one, a ``LocalCluster`` of ``n_workers`` processes started for the flow run. Forests inside a
    piece then use ``threads_per_worker`` threads, so pieces sharing a machine do not
    oversubscribe its cores. Where a piece runs never changes what it computes: the same data,
    profile and seed give the same scores either way.
    """

    executor: Literal["local", "dask"] = "local"
    dask_address: str | None = Field(
        None, description="a running scheduler (tcp://host:8786); None starts a LocalCluster")
    n_workers: int = Field(2, ge=1, description="LocalCluster worker processes")
    threads_per_worker: int = Field(
        1, ge=1, description="threads per Dask worker, and per forest inside a piece")

    @model_validator(mode="after")
    def _address(self) -> ScaleConfig:
        if self.dask_address is not None and self.executor != "dask":
            raise ValueError(f"scale.dask_address={self.dask_address!r} is only read with "
                             f"scale.executor='dask', got scale.executor={self.executor!r}")
        return self


class ScheduleConfig(_Section):
    """When the weekly retrain deployment runs."""

    cron: str = "0 0 * * 0"
    timezone: str = "UTC"


class Window(NamedTuple):
    """A setting that counts bars at run time and is written as a duration in a profile."""

    section: str
    """Section of the profile (``"features"``)."""
    key: str
    """Name in the profile, whose value is a duration (``"max_holding"``)."""
    field: str
    """Attribute of the section holding the bar count (``"max_holding_bars"``)."""
    per: Literal["data", "regime"]
    """Whose bars it counts: ``data.timeframe`` or ``regime.timeframe``."""

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"


WINDOWS = (
    Window("features", "frac_diff_window", "frac_diff_window", "data"),
    Window("features", "volatility_window", "volatility_window", "data"),
    Window("regime", "volatility_window", "volatility_window", "regime"),
    Window("labels", "volatility_span", "volatility_span", "data"),
    Window("labels", "max_holding", "max_holding_bars", "data"),
)
"""Every window and horizon of a profile. Its default duration is the section's default bar count
times the default bar length (``"24h"`` for ``features.volatility_window``: 48 bars of 30m)."""

_SECTIONS: dict[str, type[_Section]] = {}  # filled below Config: profile section -> model
_TIMEFRAME_PATHS = {"data": "data.timeframe", "regime": "regime.timeframe"}


def _window_field(window: Window) -> Any:
    return _SECTIONS[window.section].model_fields[window.field]


def _default_timeframe(per: str) -> timedelta:
    return _SECTIONS[per].model_fields["timeframe"].default


def window_default(window: Window) -> timedelta:
    """The duration a profile that omits ``window`` gets."""
    return _window_field(window).default * _default_timeframe(window.per)


def _fewest_bars(window: Window) -> int:
    return max((m.ge for m in _window_field(window).metadata if isinstance(m, annotated_types.Ge)),
               default=1)


def _to_bars(window: Window, value: Any, timeframe: timedelta) -> int:
    """The bar count of the duration ``value``; the error names the field and its value."""
    if isinstance(value, numbers.Real):
        raise ValueError(
            f"{window.path} must be a duration such as '24h', got {value!r}: since "
            f"schema_version 2 windows are durations, so a profile ports across timeframes")
    try:
        span = parse_duration(value)
    except ValueError:
        raise ValueError(f"{window.path}={value!r} is not a duration (use e.g. '30m', '4h', "
                         f"'1d')") from None
    per = f"{_TIMEFRAME_PATHS[window.per]}={format_duration(timeframe)}"
    if span <= timedelta(0) or span % timeframe:
        raise ValueError(f"{window.path}={value} must be a whole multiple of {per}")
    bars, fewest = span // timeframe, _fewest_bars(window)
    if bars < fewest:
        raise ValueError(f"{window.path}={value} is {bars} bars of {per}; it must span at least "
                         f"{fewest} bars ({format_duration(fewest * timeframe)})")
    return bars


def _profile_timeframe(data: dict[str, Any], per: str) -> timedelta | None:
    section = data.get(per)
    value = section.get("timeframe") if isinstance(section, dict) else getattr(
        section, "timeframe", None)
    try:
        return _default_timeframe(per) if value is None else _positive_duration(value)
    except ValueError:
        return None  # the section's own validation names the bad timeframe


def _windows_to_bars(data: dict[str, Any]) -> dict[str, Any]:
    """Durations of a schema-2 profile -> the sections' bar counts (defaults filled in)."""
    out = dict(data)
    timeframes = {per: _profile_timeframe(out, per) for per in _TIMEFRAME_PATHS}
    for window in WINDOWS:
        section = {} if out.get(window.section) is None else out[window.section]
        if not isinstance(section, dict):
            continue  # a built section holds bar counts already
        section = dict(section)
        if window.field != window.key and window.field in section:
            raise ValueError(
                f"{window.section}.{window.field} counts bars, which does not port across "
                f"timeframes; write {window.path} as a duration (e.g. '24h'), got "
                f"{window.section}.{window.field}={section[window.field]!r}")
        value = section.pop(window.key, None)
        timeframe = timeframes[window.per]
        if timeframe is not None:
            if value is None:
                value = format_duration(window_default(window))
            section[window.field] = _to_bars(window, value, timeframe)
        out[window.section] = section
    return out


class Config(_Section):
    """One complete profile.

    A mapping without ``schema_version`` is a schema-1 profile (windows counted in bars) and is
    migrated on validation; dumping a Config writes the current schema (windows as durations).
    """

    schema_version: Literal[2] = Field(
        PROFILE_SCHEMA, description="profile schema; older profiles are migrated when loaded")
    profile: str
    seed: int = 42
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    regime: RegimeConfig = RegimeConfig()
    labels: LabelConfig = LabelConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    validation: ValidationConfig = ValidationConfig()
    tuning: TuningConfig = TuningConfig()
    registry: RegistryConfig = RegistryConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitor: MonitorConfig = MonitorConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    scale: ScaleConfig = ScaleConfig()

    @model_validator(mode="before")
    @classmethod
    def _from_profile(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return _windows_to_bars(migrate_profile(data))

    @model_validator(mode="after")
    def _timeframes(self) -> Config:
        base = self.data.timeframe
        timeframes = [(f"features.higher_timeframes[{i}]", tf)
                      for i, tf in enumerate(self.features.higher_timeframes)]
        for field, tf in [*timeframes, ("regime.timeframe", self.regime.timeframe)]:
            got, per = format_duration(tf), f"data.timeframe={format_duration(base)}"
            if tf <= base:
                raise ValueError(f"{field}={got} must be longer than {per}: it aggregates "
                                 f"several base bars" + (", drop it from the list"
                                                         if field != "regime.timeframe" else ""))
            if tf % base:
                raise ValueError(f"{field}={got} must be a whole multiple of {per}")
        return self

    @model_serializer(mode="wrap")
    def _to_profile(self, handler: SerializerFunctionWrapHandler,
                    info: SerializationInfo) -> dict[str, Any]:
        """Bar counts -> durations (strings in JSON mode), under their profile names."""
        data = handler(self)
        timeframes = {"data": self.data.timeframe, "regime": self.regime.timeframe}
        for window in WINDOWS:
            section = data.get(window.section)
            if not isinstance(section, dict) or window.field not in section:
                continue
            span = section[window.field] * timeframes[window.per]
            value = format_duration(span) if info.mode_is_json() else span
            data[window.section] = {(window.key if k == window.field else k):
                                    (value if k == window.field else v)
                                    for k, v in section.items()}
        return data


_SECTIONS.update(data=DataConfig, features=FeatureConfig, regime=RegimeConfig,
                 labels=LabelConfig)


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        if not err["loc"]:  # a check across fields: its message names them
            lines.append(f"  {err['msg'].removeprefix('Value error, ')}")
            continue
        field = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"  {field}{shown}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML profile and validate it.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : dict, optional
        Nested values applied on top of the file (e.g. ``{"data": {"path": "bars.csv"}}``).

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, or a field is invalid; the message names every
        offending field with its value.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, got {type(raw).__name__}")
    merged = _merge(_expand_env(_extended(raw, path, [path.resolve()]), path), overrides or {})
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from exc


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, path: Path, where: str = "") -> Any:
    """``${NAME}`` and ``${NAME:-default}`` in a profile's strings replaced by the environment
    variable (or, unset or empty, the default), as compose files write them: one profile serves
    the local services and a cluster's (``configs/scale.yaml`` reads ``MLFLOW_TRACKING_URI``,
    ``OPTUNA_STORAGE``, ``REGIMEFOREST_STORE_URL``). An unset variable without a default is an
    error naming it and the field."""
    if isinstance(value, dict):
        return {k: _expand_env(v, path, f"{where}.{k}" if where else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, path, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found:
            return found
        if default is None:
            raise ConfigError(f"{path}: {where} = {value!r} reads ${{{name}}}, which is not set "
                              f"(set it, or write ${{{name}:-default}})")
        return default

    return _ENV_REF.sub(substitute, value)


def _extended(raw: dict[str, Any], path: Path, seen: list[Path]) -> dict[str, Any]:
    """``raw`` on top of the profile its ``extends`` names (a path relative to ``path``'s
    folder), itself resolved the same way: a profile that differs from another only where it
    runs (``configs/scale.yaml``) states just that."""
    import yaml

    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    base_path = (path.parent / str(parent)).resolve()
    if base_path in seen:
        chain = " -> ".join(str(p) for p in [*seen, base_path])
        raise ConfigError(f"{path}: `extends` makes a cycle: {chain}")
    if not base_path.is_file():
        raise ConfigError(f"{path}: extends={parent!r}, but {base_path} is not a file")
    try:
        base = yaml.safe_load(base_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{base_path} (extended by {path}) is not valid YAML: {exc}") from exc
    if not isinstance(base, dict):
        raise ConfigError(f"{base_path} (extended by {path}) must hold a mapping at the top "
                          f"level, got {type(base).__name__}")
    return _merge(_extended(base, base_path, [*seen, base_path]), raw)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
