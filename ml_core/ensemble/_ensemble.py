"""The regime-aware ensemble: four random forests stacked under a logistic meta-learner."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ml_core._contract import check_field, field_default
from ml_core.config import (
    EnsembleConfig,
    ForestSpec,
    LabelConfig,
    SelectionConfig,
    ValidationConfig,
)
from ml_core.ensemble._calibration import brier_score, fit_calibration
from ml_core.ensemble._checks import (
    MIN_ROWS_PER_FOLD,
    check_event_index,
    check_features,
    check_t1,
    check_targets,
)
from ml_core.ensemble._forest import build_forest
from ml_core.ensemble._regimes import (
    REGIME_COLUMNS,
    REGIME_PREFIX,
    dominant_regime,
    fit_regime_models,
    has_regime_columns,
    regime_proba,
)
from ml_core.ensemble._serving import COMPONENT_COLUMNS, FeatureColumns, SignalServing
from ml_core.ensemble._signal import MODEL_NAMES
from ml_core.ensemble._sizing import expected_shortfall
from ml_core.regime import REGIME_LABELS
from ml_core.selection import FeatureSelector

__all__ = ["CALIBRATION_COLUMNS", "COMPONENT_COLUMNS", "REGIME_PREFIX", "RegimeForestEnsemble"]

_log = logging.getLogger("ml_core.ensemble")


CALIBRATION_COLUMNS: tuple[str, ...] = ("fold", "p_meta", "p_calibrated", "entry")
"""Columns of ``RegimeForestEnsemble.calibration_``."""

_KINDS = {"entry": "classifier", "position": "regressor", "exit": "classifier",
          "profit": "regressor"}

_DEFAULTS: dict[str, Any] = {name: field_default(EnsembleConfig, name)
                             for name in EnsembleConfig.model_fields}
"""The ``__init__`` defaults: the profile section's (one declaration, ``ml_core._contract``)."""

_CHECKED = ("meta_C", "meta_folds", "confidence_threshold", "calibration", "imbalance",
            "regime_mode", "min_regime_events", "n_jobs")
"""Parameters checked against the bounds their :class:`EnsembleConfig` field declares."""
_CHECKED_SIGNAL = ("smoothing", "kelly_fraction", "cvar_budget", "cvar_alpha", "hysteresis_band",
                   "ewma_span")


def _component(name: str, forest: Any, values: np.ndarray) -> np.ndarray:
    """One forest's output: P(class 1) for the classifiers, the prediction for the regressors.

    A classifier fitted on a single class (possible in a small out-of-fold training set) has one
    column of probabilities; P(class 1) is then 1.0 or 0.0 accordingly. ``size`` is clipped to
    ``[0, 1]`` here, so the meta-learner sees the same values at fit and at predict time.
    """
    if _KINDS[name] == "classifier":
        classes = list(forest.classes_)
        if 1 not in classes:
            return np.zeros(len(values))
        return forest.predict_proba(values)[:, classes.index(1)]
    pred = forest.predict(values)
    return np.clip(pred, 0.0, 1.0) if name == "position" else pred


def _meta_learner(C: float) -> Pipeline:  # noqa: N803 - scikit-learn's spelling
    """An unfitted meta-learner: ``StandardScaler`` then L2 ``LogisticRegression(C)``."""
    return Pipeline([
        ("scale", StandardScaler()),
        ("logistic", LogisticRegression(C=C, l1_ratio=0.0)),
    ])


def _load_smote() -> type:
    """``imblearn.over_sampling.SMOTE``, imported only when ``imbalance="smote"`` is fitted."""
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError as exc:
        raise ImportError(
            "`imbalance='smote'` needs the imbalanced-learn package: pip install imbalanced-learn"
        ) from exc
    return SMOTE


class RegimeForestEnsemble(SignalServing, BaseEstimator):
    """Entry, position, exit and profit forests stacked under a logistic-regression meta-learner.

    Each training row is one triple-barrier event starting at ``t0`` (the index of ``X``) whose
    label resolves at ``t1``. Four random forests learn the four targets of
    ``ml_core.labeling.make_targets``:

    ============  ===========  ========================================================
    forest        kind         target
    ============  ===========  ========================================================
    ``entry``     classifier   1 if a long entered at ``t0`` hits take-profit first
    ``position``  regressor    position size target in ``[0, 1]``
    ``exit``      classifier   1 if an open long should close
    ``profit``    regressor    realised barrier return
    ============  ===========  ========================================================

    A :class:`~sklearn.linear_model.LogisticRegression` meta-learner (L2, ``C=meta_C``, on
    standardised inputs) combines the forests' outputs ``[p_entry, size, p_exit, profit]`` and the
    ``regime_prob_*`` columns of ``X`` (if any) into ``p_long = P(take-profit first)``, which a
    calibrator then corrects (``calibration``).

    **Stacking without leakage.** The meta-learner is fitted on *out-of-fold* forest outputs only:
    :class:`~ml_core.validation.PurgedKFold` (``meta_folds`` folds, purged by ``t1``, with
    ``purge`` and ``embargo``) trains each fold's forests on events whose labels do not overlap the
    fold, and predicts the fold. In-sample forest outputs are near-perfect on the rows a forest
    memorised; a meta-learner fitted on them would trust the forests far too much. Rows that get no
    out-of-fold prediction are left out of the meta fit. Finally the four forests are refitted on
    all rows; those serve ``predict``.

    A classifier target with a single class among one fold's training rows (possible on small or
    very imbalanced data; both classes must occur overall) is not an error: that fold's forest
    predicts the constant probability of its one class (0.0 or 1.0) for the fold, and a warning
    naming the fold and the target is logged on the ``ml_core.ensemble`` logger.

    **Calibrated confidence** (``calibration``). The meta-learner's probability is only as honest
    as its fit allows; the signal rule reads it as a confidence, so it is calibrated. Fitting a
    calibrator on the meta-learner's in-sample predictions would calibrate how it behaves on rows
    it has seen. Instead the meta-learner is *cross-fitted* over the same meta folds: for each
    fold ``k`` a meta-learner fitted on the out-of-fold rows of the other folds predicts fold
    ``k``; the calibrator (``"isotonic"``: :class:`~sklearn.isotonic.IsotonicRegression`,
    clipped; ``"sigmoid"``: Platt scaling on ``logit(p)``; see :class:`ProbabilityCalibrator`) is
    fitted on those cross-fitted probabilities against ``targets['entry']``. Serving:
    ``p_long = calibrator(meta(x))``. ``"none"`` serves ``meta(x)`` unchanged (the cross-fit still
    runs, for ``meta_coef_folds_`` and ``brier_uncalibrated_``).

    **Regime adaptation** (``regime_mode``). The dominant regime of a row is the argmax of its
    ``regime_prob_bull``, ``regime_prob_bear``, ``regime_prob_sideways`` (filtered, so known at
    ``t0``). ``"thresholds"``: the confidence threshold of a row is ``regime_thresholds[regime]``
    (``confidence_threshold`` for a regime not listed). ``"models"``: each regime with at least
    ``min_regime_events`` out-of-fold rows of both classes gets its own meta-learner, fitted on
    those rows; the other regimes use the global one (logged, and listed by ``regime_models_``).
    Without the three regime columns in ``X`` both modes fall back to ``"global"`` with a logged
    warning (``regime_mode_`` records the mode in force).

    **Class imbalance** (``imbalance``). ``"class_weight"``: the classifier forests weigh the
    classes as their :class:`~ml_core.config.ForestSpec` says (``balanced_subsample`` by default).
    ``"smote"``: the training rows of every classifier forest fit (out-of-fold and final) are
    oversampled with :class:`imblearn.over_sampling.SMOTE` (the forest's seed) and the forest
    uses ``class_weight=None``. SMOTE only ever sees one fit's training rows, so no synthetic
    row is built from a row the forest then predicts out of fold. Needs ``imbalanced-learn``.

    **Feature selection** (``selection``, off by default). Before anything else ``fit`` fits a
    :class:`~ml_core.selection.FeatureSelector` on its own ``X`` and ``targets['entry']``; all
    forests (out-of-fold and final) read only the selected columns (``forest_features_``). Since
    a cross-validation split fits a clone of the ensemble on its training rows, each split
    selects without its test rows. The ``regime_prob_*`` columns feed the meta-learner whether
    or not the selector keeps them for the forests.

    **Signal rule** (the contract of :meth:`predict`, see :func:`~ml_core.ensemble.apply_signal_rule`). With
    ``p = p_long`` (calibrated) and ``t`` the row's confidence threshold:

    - ``confidence = max(p, 1 - p)`` in ``[0.5, 1]``;
    - BUY (+1) if ``p >= t``;
    - SELL (-1) if ``1 - p >= t`` and the exit forest says close (``p_exit >= 0.5``);
    - HOLD (0) otherwise;
    - ``size = clip(position forest, 0, 1) * (confidence - 0.5) / 0.5`` on BUY/SELL, 0 on HOLD.

    Parameters
    ----------
    Every parameter named like a field of :class:`~ml_core.config.EnsembleConfig` takes that
    field's default and is checked in ``fit`` against that field's bounds (one declaration,
    :mod:`ml_core._contract`); ``from_config`` passes the fields as they are.

    entry, exit : ForestSpec
        Specs of the two classifier forests (``kind="classifier"``).
    position, profit : ForestSpec
        Specs of the two regressor forests (``kind="regressor"``).
    meta_C : float, default 1.0
        Inverse L2 strength of the meta-learner(s).
    meta_folds : int, default 4
        Purged folds for the out-of-fold meta features and the cross-fitted calibration; ``fit``
        needs at least ``10 * meta_folds`` events.
    confidence_threshold : float, default 0.6
        In ``[0.5, 1]``; see the signal rule.
    purge, embargo : timedelta, default 0
        Purging and embargo of the meta folds (use the CV's values).
    selection : SelectionConfig or None, default None
        Feature selection (see above); None or ``enabled=False`` keeps every column.
    calibration : {"isotonic", "sigmoid", "none"}, default "sigmoid"
        Calibrator of the meta probability (see above).
    imbalance : {"class_weight", "smote"}, default "class_weight"
        Class-imbalance handling of the classifier forests (see above).
    regime_mode : {"global", "thresholds", "models"}, default "global"
        Regime adaptation (see above).
    regime_thresholds : dict[str, float] or None, default None
        ``regime_mode="thresholds"``: confidence threshold by regime (``"bull"``, ``"bear"``,
        ``"sideways"``), each in ``[0.5, 1]``; None is ``{}``.
    min_regime_events : int, default 50
        ``regime_mode="models"``: fewest out-of-fold events (at least 10) a regime needs for its
        own meta-learner.
    payoff_ratio : float, default 1.0
        What a winning bet earns per unit a losing one loses: ``take_profit / stop_loss`` of the
        triple barrier (``from_config`` sets it); the Kelly cap reads it.
    kelly_fraction : float or None, default 0.5
        In ``(0, 1]``: cap every size at this fraction of the Kelly bet of its side (0.5: half
        Kelly); None: no Kelly cap unless ``cvar_budget`` is set (then full Kelly).
    cvar_budget : float or None, default 0.02
        Cap every size so that its expected shortfall (``tail_loss_`` per unit size, measured in
        ``fit``) stays within this fraction of equity; None: no CVaR cap. Both None: no caps.
    cvar_alpha : float, default 0.05
        In ``(0, 1)``: tail share of the expected shortfall.
    smoothing : {"none", "hysteresis", "ewma"}, default "none"
        Damps flip-flops across consecutive rows of one ``predict`` call (events in a backtest,
        bars live; :class:`~ml_core.ensemble._smoothing.SignalSmoother`): EWMA of ``p_long``
        over ``ewma_span`` rows, or hysteresis (a position is kept while its confidence stays
        above ``threshold - hysteresis_band``).
    hysteresis_band, ewma_span
        See ``smoothing``.
    n_jobs : int, default 1
        Cores per forest (-1: all; 0 is refused). The default is 1 because an ensemble built
        without a profile is most often served or nested: a loaded model predicts a few rows
        per call (thread start-up costs more than it saves, and the persistence stores forests
        with ``n_jobs=1`` anyway), and a CV split or a tuning trial run in parallel would
        oversubscribe the cores. Training asks for every core in its profile
        (``ensemble.n_jobs: -1``, as the shipped profiles do). Only the growing uses them: a
        fitted forest predicts on one thread, summing its trees' votes in tree order. Several
        threads sum them in the order they finish, which changes the last bits of a
        probability from run to run (and an AUC over tied probabilities with them); so the same
        data and seed give the same predictions, to the bit, whatever ``n_jobs``.
    random_state : int, RandomState or None, default None
        Seeds the four forests; each gets its own seed drawn from it (``random_states_``), used
        for the out-of-fold forests, the final refit and SMOTE alike, and the selector gets a
        fifth. Same data and seed give identical predictions and calibration.

    Attributes
    ----------
    forests_ : dict[str, RandomForestClassifier | RandomForestRegressor]
        The four forests refitted on all rows, by name (:data:`MODEL_NAMES`).
    meta_ : sklearn.pipeline.Pipeline
        The global meta-learner, fitted on every out-of-fold row: ``StandardScaler`` then
        ``LogisticRegression``; ``meta_[-1]`` is the fitted regression. Standardising makes the L2
        penalty treat ``profit`` (returns ~1e-2) like the probabilities.
    meta_features_ : list[str]
        Columns the meta-learner reads: ``p_entry, size, p_exit, profit`` then ``regime_prob_*``
        (every such column of ``X``, selected or not).
    meta_coef_ : pandas.Series
        Coefficients of ``meta_`` per standardised meta feature, indexed by ``meta_features_``.
    meta_coef_folds_ : pandas.DataFrame of shape (n_meta_folds, n_meta_features)
        Coefficients of the cross-fitted global meta-learners, one row per meta fold (index
        ``fold``: the meta-learner fitted *without* that fold), columns ``meta_features_``; NaN for
        a fold whose other folds hold a single class. Their spread across folds says how stable
        the stacking weights are.
    calibrator_ : ProbabilityCalibrator or None
        Fitted on the cross-fitted meta probabilities; None with ``calibration="none"``.
    calibration_ : pandas.DataFrame
        One row per out-of-fold event (on ``X.index``): ``fold``, ``p_meta`` (cross-fitted meta
        probability), ``p_calibrated`` (that probability through a calibrator fitted on the other
        folds' rows: honest, unlike the final calibrator's own fit; equals ``p_meta`` with
        ``"none"``) and ``entry`` (the 0/1 target).
    brier_uncalibrated_, brier_calibrated_ : float
        Brier scores of ``calibration_['p_meta']`` and ``calibration_['p_calibrated']`` against
        ``calibration_['entry']`` (lower is better; 0.25 is a coin flip).
    regime_mode_ : str
        The regime mode in force: ``regime_mode``, or ``"global"`` when ``X`` lacks the regime
        columns.
    regime_meta_ : dict[str, sklearn.pipeline.Pipeline]
        ``regime_mode_="models"``: the meta-learner of each regime that has one; empty otherwise.
    regime_models_ : list[str]
        The regimes in ``regime_meta_``, in ``("bull", "bear", "sideways")`` order; the rows of
        any other regime are served by ``meta_``.
    selector_ : FeatureSelector or None
        The selector fitted on all rows (its ``dropped_`` says what was dropped and why); None
        without selection.
    forest_features_ : list[str]
        Columns every forest reads, in the column order of ``X``: ``selector_.selected_``, or all
        columns without selection.
    oof_predictions_ : pandas.DataFrame of shape (n_events, 5)
        Out-of-fold ``p_entry, size, p_exit, profit`` and the producing ``fold`` (-1 and NaN where
        a row got no out-of-fold prediction), on ``X.index``.
    oof_train_mask_ : pandas.DataFrame of bool, shape (n_events, meta_folds)
        Column ``fold_k`` marks the events fold ``k``'s forests were fitted on: every out-of-fold
        prediction of a row with ``fold == k`` comes from forests that saw only those rows (a
        table, so that it persists like ``oof_predictions_``).
    random_states_ : dict[str, int | None]
        Seed of each forest.
    feature_names_in_ : numpy.ndarray of str
    n_features_in_ : int
    fit_span_ : tuple of pandas.Timestamp
        ``(X.index[0], t1.max())``: the first event start and the last label end this fit read.
    classes_ : numpy.ndarray
        ``[0, 1]``: the columns of :meth:`predict_proba`.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, ch. 3 (meta-labeling,
    triple barrier) and ch. 7 (purged cross-validation).
    D. H. Wolpert, "Stacked generalization", *Neural Networks* 5 (1992).
    B. Zadrozny, C. Elkan, "Transforming classifier scores into accurate multiclass probability
    estimates", KDD 2002 (isotonic calibration); J. Platt, "Probabilistic outputs for support
    vector machines", 1999 (sigmoid).
    N. V. Chawla et al., "SMOTE: synthetic minority over-sampling technique", JAIR 16 (2002).
    """

    engine = "sklearn"
    """What computes the predictions (:class:`~ml_core.ensemble.CompiledEnsemble`: ``"onnx"``)."""

    def __init__(
        self,
        entry: ForestSpec = _DEFAULTS["entry"],
        position: ForestSpec = _DEFAULTS["position"],
        exit: ForestSpec = _DEFAULTS["exit"],  # noqa: A002 - the model's name
        profit: ForestSpec = _DEFAULTS["profit"],
        meta_C: float = _DEFAULTS["meta_C"],  # noqa: N803 - scikit-learn's spelling
        meta_folds: int = _DEFAULTS["meta_folds"],
        confidence_threshold: float = _DEFAULTS["confidence_threshold"],
        purge: timedelta = timedelta(0),
        embargo: timedelta = timedelta(0),
        selection: SelectionConfig | None = None,
        calibration: str = _DEFAULTS["calibration"],
        imbalance: str = _DEFAULTS["imbalance"],
        regime_mode: str = _DEFAULTS["regime_mode"],
        regime_thresholds: Mapping[str, float] | None = None,
        min_regime_events: int = _DEFAULTS["min_regime_events"],
        payoff_ratio: float = 1.0,
        kelly_fraction: float | None = _DEFAULTS["kelly_fraction"],
        cvar_budget: float | None = _DEFAULTS["cvar_budget"],
        cvar_alpha: float = _DEFAULTS["cvar_alpha"],
        smoothing: str = _DEFAULTS["smoothing"],
        hysteresis_band: float = _DEFAULTS["hysteresis_band"],
        ewma_span: int = _DEFAULTS["ewma_span"],
        n_jobs: int = _DEFAULTS["n_jobs"],
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.entry = entry
        self.position = position
        self.exit = exit
        self.profit = profit
        self.meta_C = meta_C
        self.meta_folds = meta_folds
        self.confidence_threshold = confidence_threshold
        self.purge = purge
        self.embargo = embargo
        self.selection = selection
        self.calibration = calibration
        self.imbalance = imbalance
        self.regime_mode = regime_mode
        self.regime_thresholds = regime_thresholds
        self.min_regime_events = min_regime_events
        self.payoff_ratio = payoff_ratio
        self.kelly_fraction = kelly_fraction
        self.cvar_budget = cvar_budget
        self.cvar_alpha = cvar_alpha
        self.smoothing = smoothing
        self.hysteresis_band = hysteresis_band
        self.ewma_span = ewma_span
        self.n_jobs = n_jobs
        self.random_state = random_state

    @classmethod
    def from_config(
        cls,
        ensemble: EnsembleConfig,
        validation: ValidationConfig,
        random_state: int | None,
        selection: SelectionConfig | None = None,
        labels: LabelConfig | None = None,
    ) -> Self:
        """Build from the ``ensemble`` and ``validation`` config sections (purge, embargo).

        ``selection`` is ``config.features.selection``; it is used only when ``enabled``.
        ``labels`` gives the barriers' payoff ratio for the Kelly cap (None: 1).
        """
        return cls(
            entry=ensemble.entry,
            position=ensemble.position,
            exit=ensemble.exit,
            profit=ensemble.profit,
            meta_C=ensemble.meta_C,
            meta_folds=ensemble.meta_folds,
            confidence_threshold=ensemble.confidence_threshold,
            purge=validation.purge,
            embargo=validation.embargo,
            selection=selection if selection is not None and selection.enabled else None,
            calibration=ensemble.calibration,
            imbalance=ensemble.imbalance,
            regime_mode=ensemble.regime_mode,
            regime_thresholds=dict(ensemble.regime_thresholds),
            min_regime_events=ensemble.min_regime_events,
            payoff_ratio=1.0 if labels is None else labels.take_profit / labels.stop_loss,
            kelly_fraction=ensemble.kelly_fraction,
            cvar_budget=ensemble.cvar_budget,
            cvar_alpha=ensemble.cvar_alpha,
            smoothing=ensemble.smoothing,
            hysteresis_band=ensemble.hysteresis_band,
            ewma_span=ensemble.ewma_span,
            n_jobs=ensemble.n_jobs,
            random_state=random_state,
        )

    # ------------------------------------------------------------------ fit

    def _check_params(self) -> None:
        for name, kind in _KINDS.items():
            spec = getattr(self, name)
            if not isinstance(spec, ForestSpec) or spec.kind != kind:
                raise ValueError(
                    f"`{name}` must be a ForestSpec of kind {kind!r}, got `{name}={spec!r}`"
                )
        for name in _CHECKED:
            check_field(EnsembleConfig, name, getattr(self, name))
        if self.selection is not None and not isinstance(self.selection, SelectionConfig):
            raise ValueError(
                f"`selection` must be a SelectionConfig or None, got `selection={self.selection!r}`"
            )
        thresholds = {} if self.regime_thresholds is None else self.regime_thresholds
        if not isinstance(thresholds, Mapping):
            raise ValueError(f"`regime_thresholds` must be a dict of regime: threshold or None, "
                             f"got `regime_thresholds={self.regime_thresholds!r}`")
        for regime, value in thresholds.items():
            if regime not in REGIME_LABELS:
                raise ValueError(f"`regime_thresholds` keys must be among {list(REGIME_LABELS)}, "
                                 f"got `regime_thresholds[{regime!r}]`")
            if not isinstance(value, numbers.Real) or not 0.5 <= value <= 1.0:
                raise ValueError(f"`regime_thresholds` values must be in [0.5, 1], "
                                 f"got `regime_thresholds[{regime!r}]={value}`")
        self._check_signal_params()

    def _check_signal_params(self) -> None:
        for name in _CHECKED_SIGNAL:
            check_field(EnsembleConfig, name, getattr(self, name))
        ratio = self.payoff_ratio
        if not isinstance(ratio, numbers.Real) or isinstance(ratio, bool) or not ratio > 0:
            raise ValueError(f"`payoff_ratio` must be above 0, got `payoff_ratio={ratio}`")

    def _seeds(self) -> tuple[dict[str, int | None], int | None]:
        """Seeds of the four forests, then of the selector (drawn after, so adding selection
        leaves the forests' seeds unchanged)."""
        if self.random_state is None:
            return dict.fromkeys(MODEL_NAMES), None
        rng = check_random_state(self.random_state)
        draws = rng.randint(np.iinfo(np.int32).max, size=len(MODEL_NAMES))
        seeds = {name: int(seed) for name, seed in zip(MODEL_NAMES, draws, strict=True)}
        return seeds, int(rng.randint(np.iinfo(np.int32).max))

    def _select(self, X: pd.DataFrame, entry: np.ndarray, seed: int | None) -> list[int]:
        """Fit ``selector_`` on ``X`` (the training rows of this fit) and return the positions
        of the columns the forests read."""
        if self.selection is None or not self.selection.enabled:
            self.selector_ = None
            self.forest_features_ = [str(c) for c in X.columns]
            return list(range(X.shape[1]))
        # LEAKAGE GUARD: the selector sees this fit's rows only; a CV split fits a clone of the
        # ensemble on its training rows, so its test rows never influence which features stay.
        # The meta folds' out-of-fold forests share this selection, which saw their test rows:
        # at most a mild optimism in the stacking weights, never in a CV split's test scores.
        self.selector_ = FeatureSelector.from_config(self.selection, seed).fit(X, entry)
        self.forest_features_ = list(self.selector_.selected_)
        return [X.columns.get_loc(c) for c in self.forest_features_]

    def _fit_forest(self, name: str, values: np.ndarray, y: np.ndarray,
                    smote: type | None = None) -> Any:
        """Fit forest ``name`` on these training rows (oversampled by ``smote`` if given, for a
        classifier)."""
        seed = self.random_states_[name]
        overrides: dict[str, Any] = {}
        if smote is not None and _KINDS[name] == "classifier":
            values, y = self._oversample(name, values, y, smote, seed)
            overrides["class_weight"] = None
        forest = build_forest(getattr(self, name), seed, n_jobs=self.n_jobs, **overrides)
        # grown on n_jobs threads, it predicts on one: votes summed in tree order, every run
        return forest.fit(values, y).set_params(n_jobs=1)

    @staticmethod
    def _oversample(name: str, values: np.ndarray, y: np.ndarray, smote: type,
                    seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        """SMOTE on one fit's training rows; unchanged when the minority class has < 2 rows (no
        neighbour to interpolate towards). ``k_neighbors`` is at most the minority size - 1."""
        counts = np.bincount(y, minlength=2)
        minority = int(counts.min())
        if minority < 2:
            _log.warning("SMOTE skipped for the %s forest: its minority class has %d of %d "
                         "training rows", name, minority, y.size)
            return values, y
        sampler = smote(random_state=seed, k_neighbors=min(5, minority - 1))
        return sampler.fit_resample(values, y)

    def fit(self, X: pd.DataFrame, targets: pd.DataFrame, t1: pd.Series) -> Self:
        """Fit the out-of-fold forests, the meta-learner(s), the calibrator, then the four forests
        on all rows.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_events, n_features)
            Numeric features (no NaN/inf), indexed by a sorted, unique ``DatetimeIndex`` of event
            starts ``t0``.
        targets : pandas.DataFrame of shape (n_events, >= 4)
            Columns ``entry`` (0/1), ``position``, ``exit`` (0/1), ``profit`` on ``X.index``.
        t1 : pandas.Series of datetime64, shape (n_events,)
            Label end time of each event, on ``X.index``; used to purge the meta folds.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            Bad parameters; ``X`` not a numeric event frame or with NaN (the message names the
            columns and the first bad row); misaligned or missing targets; a classifier target
            with one class in all rows; fewer than ``10 * meta_folds`` events; no fold left after
            purging; with selection, column names that are not strings or every column constant.
        ImportError
            ``imbalance="smote"`` without imbalanced-learn installed.
        """
        from ml_core.validation import PurgedKFold

        self._check_params()
        smote = _load_smote() if self.imbalance == "smote" else None
        values = check_features(X)
        check_event_index(X)
        y = check_targets(targets, X.index)
        t1 = check_t1(t1, X.index)
        n = len(X)
        if n < MIN_ROWS_PER_FOLD * self.meta_folds:
            raise ValueError(
                f"`X` has {n} events; fit needs at least {MIN_ROWS_PER_FOLD} per meta fold, i.e. "
                f"{MIN_ROWS_PER_FOLD * self.meta_folds} with `meta_folds={self.meta_folds}`"
            )
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        # what every part below (selection, forests, meta-learner, calibrator) may have read
        self.fit_span_ = (X.index[0], pd.Timestamp(t1.max()))
        self.random_states_, selector_seed = self._seeds()

        # (1) Feature selection on the training rows, before any forest is fitted.
        values = values[:, self._select(X, y["entry"], selector_seed)]

        # (2) Out-of-fold forest outputs. LEAKAGE GUARD: fold k's forests are fitted on
        # train_idx only (purged by t1 and embargoed around the fold) and predict test_idx only.
        oof = np.full((n, len(MODEL_NAMES)), np.nan)
        fold = np.full(n, -1, dtype=np.int64)
        train_mask = np.zeros((n, self.meta_folds), dtype=bool)
        cv = PurgedKFold(n_splits=self.meta_folds, purge=self.purge, embargo=self.embargo)
        for k, (train_idx, test_idx) in enumerate(cv.split(X, t1=t1)):
            train_mask[train_idx, k] = True
            for j, name in enumerate(MODEL_NAMES):
                self._warn_single_class(name, k, y[name][train_idx], test_idx.size)
                forest = self._fit_forest(name, values[train_idx], y[name][train_idx], smote)
                oof[test_idx, j] = _component(name, forest, values[test_idx])
            fold[test_idx] = k
        self.oof_train_mask_ = pd.DataFrame(
            train_mask, index=X.index, columns=[f"fold_{k}" for k in range(self.meta_folds)]
        )
        self.oof_predictions_ = pd.DataFrame(oof, index=X.index, columns=list(COMPONENT_COLUMNS))
        self.oof_predictions_["fold"] = fold

        # (3) Meta-learner(s) on the rows that have out-of-fold outputs.
        regime_cols = [c for c in self.feature_names_in_ if c.startswith(REGIME_PREFIX)]
        self.meta_features_ = [*COMPONENT_COLUMNS, *regime_cols]
        has_oof = np.isfinite(oof).all(axis=1)
        meta_y = y["entry"][has_oof]
        if np.unique(meta_y).size < 2:
            raise ValueError(
                f"`targets['entry']` has a single class among the {int(has_oof.sum())} rows with "
                "out-of-fold predictions; the meta-learner needs both 0 and 1"
            )
        meta_X = self._meta_matrix(oof, X)[has_oof]
        self.meta_ = _meta_learner(self.meta_C).fit(meta_X, meta_y)
        self.classes_ = self.meta_.classes_
        self.meta_coef_ = pd.Series(
            self.meta_[-1].coef_[0], index=self.meta_features_, name="meta_coef"
        )
        self.regime_mode_ = self._regime_mode_in_force(X)
        regimes = dominant_regime(X)[has_oof] if self.regime_mode_ != "global" else None
        self.regime_meta_: dict[str, Pipeline] = {}
        if self.regime_mode_ == "models":
            self.regime_meta_ = fit_regime_models(
                meta_X, meta_y, regimes, self._new_meta, min_events=self.min_regime_events)
        self.regime_models_ = list(self.regime_meta_)

        # (4) Cross-fitted meta probabilities → fold coefficients and the calibrator.
        self._cross_fit(meta_X, meta_y, fold[has_oof], regimes, X.index[has_oof])

        # (5) The serving forests, refitted on every row.
        self.forests_ = {name: self._fit_forest(name, values, y[name], smote)
                         for name in MODEL_NAMES}

        # (6) Tail loss of a full-size bet on these events, long or short (the CVaR cap).
        ret = y["profit"]
        self.tail_loss_ = max(expected_shortfall(ret, self.cvar_alpha),
                              expected_shortfall(-ret, self.cvar_alpha))
        return self

    def _new_meta(self) -> Pipeline:
        return _meta_learner(self.meta_C)

    @staticmethod
    def _warn_single_class(name: str, k: int, y_train: np.ndarray, n_test: int) -> None:
        if _KINDS[name] != "classifier":
            return
        classes = np.unique(y_train)
        if classes.size == 1:
            _log.warning(
                "meta fold %d: targets[%r] has a single class %d among the fold's %d training "
                "events; the fold's %s forest predicts the constant probability %.1f for its %d "
                "events", k, name, int(classes[0]), y_train.size, name, float(classes[0]), n_test)

    def _regime_mode_in_force(self, X: pd.DataFrame) -> str:
        if self.regime_mode == "global" or has_regime_columns(X.columns):
            return self.regime_mode
        _log.warning(
            "regime_mode=%r needs the columns %s in `X`; `X` lacks %s: falling back to "
            "regime_mode='global' (one threshold, one meta-learner)", self.regime_mode,
            list(REGIME_COLUMNS), [c for c in REGIME_COLUMNS if c not in X.columns])
        return "global"

    def _cross_fit(self, M: np.ndarray, y: np.ndarray, folds: np.ndarray,
                   regimes: np.ndarray | None, index: pd.Index) -> None:
        """Set ``meta_coef_folds_``, ``calibrator_``, ``calibration_`` and the Brier scores.

        LEAKAGE GUARD: fold k's meta probability comes from meta-learners fitted on the other
        folds' out-of-fold rows only, whose forest outputs in turn never saw the row they
        describe; the calibrator is fitted on those cross-fitted probabilities only.
        """
        labels = np.unique(folds)
        p_meta = np.full(y.size, np.nan)
        coefs = np.full((labels.size, M.shape[1]), np.nan)
        for i, k in enumerate(labels):
            test = folds == k
            train = ~test
            context = f"meta fold {k}: "
            if np.unique(y[train]).size < 2:
                rate = float(y[train].mean())
                _log.warning("%sthe other folds' %d out-of-fold events hold a single class of "
                             "targets['entry']; the fold's cross-fitted meta probability is the "
                             "constant %.1f", context, int(train.sum()), rate)
                p_meta[test] = rate
                continue
            meta = self._new_meta().fit(M[train], y[train])
            coefs[i] = meta[-1].coef_[0]
            models = {}
            if self.regime_models_:
                models = fit_regime_models(
                    M[train], y[train], regimes[train], self._new_meta,
                    labels=self.regime_models_, context=context, level=logging.INFO)
            fold_regimes = None if regimes is None else regimes[test]
            p_meta[test] = regime_proba(meta, models, M[test], fold_regimes)[:, 1]
        self.meta_coef_folds_ = pd.DataFrame(
            coefs, index=pd.Index(labels, name="fold"), columns=self.meta_features_)

        self.calibrator_, p_cal = fit_calibration(p_meta, y, folds, self.calibration)
        self.calibration_ = pd.DataFrame(
            {"fold": folds, "p_meta": p_meta, "p_calibrated": p_cal, "entry": y}, index=index)
        self.brier_uncalibrated_ = brier_score(y, p_meta)
        self.brier_calibrated_ = brier_score(y, p_cal)

    # -------------------------------------------------------------- predict
    # The signal rule, sizing and smoothing are SignalServing's (shared with CompiledEnsemble);
    # this engine only says how the forests and the meta-learner evaluate rows.

    def _check_ready(self) -> None:
        check_is_fitted(self, "forests_")

    def _meta_matrix(self, components: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        regime_cols = self.meta_features_[len(COMPONENT_COLUMNS):]
        if not regime_cols:
            return components
        return np.column_stack([components, X[regime_cols].to_numpy(dtype=np.float64)])

    def _feature_values(self, X: pd.DataFrame) -> np.ndarray:
        """Every fit column of ``X`` (as in fit), checked (:class:`FeatureColumns`)."""
        columns = self.__dict__.get("_feature_columns")
        if columns is None or columns.names != list(self.feature_names_in_):
            columns = self._feature_columns = FeatureColumns(self.feature_names_in_)
        return columns.values(X)

    def _components(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "forests_")
        values = self._feature_values(X)
        if values.shape[0] == 0:  # e.g. no bar with complete features yet
            return np.empty((0, len(MODEL_NAMES)))
        names = list(self.feature_names_in_)
        values = values[:, [names.index(c) for c in self.forest_features_]]
        return np.column_stack(
            [_component(name, self.forests_[name], values) for name in MODEL_NAMES]
        )

    def _evaluate(self, X: pd.DataFrame, *, regimes: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        components = self._components(X)
        if components.shape[0] == 0:
            return components, np.empty((0, 2)), None
        models = getattr(self, "regime_meta_", {})
        by_model = self._mode() == "models" and bool(models)
        labels = dominant_regime(X) if by_model or regimes else None
        proba = regime_proba(self.meta_, models, self._meta_matrix(components, X),
                             labels if by_model else None)
        calibrator = getattr(self, "calibrator_", None)  # None: "none", or saved before it existed
        if calibrator is not None:
            proba = calibrator.predict_proba(proba[:, 1])
        return components, proba, labels

    def _evaluate_values(self, values: np.ndarray, *, regimes: bool
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        # scikit-learn reads frames by column name: the array path costs it one frame
        return self._evaluate(pd.DataFrame(values, columns=list(self.feature_names_in_)),
                              regimes=regimes)
