"""The regime-aware ensemble: four random forests stacked under a logistic meta-learner."""

from __future__ import annotations

import numbers
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

from ml_core.config import EnsembleConfig, ForestSpec, SelectionConfig, ValidationConfig
from ml_core.ensemble._checks import (
    MIN_ROWS_PER_FOLD,
    check_event_index,
    check_features,
    check_t1,
    check_targets,
)
from ml_core.ensemble._forest import build_forest
from ml_core.ensemble._signal import MODEL_NAMES, apply_signal_rule
from ml_core.selection import FeatureSelector

__all__ = ["COMPONENT_COLUMNS", "REGIME_PREFIX", "RegimeForestEnsemble"]

COMPONENT_COLUMNS: tuple[str, ...] = ("p_entry", "size", "p_exit", "profit")
"""Output of each forest, in :data:`MODEL_NAMES` order (see ``predict_components``)."""

REGIME_PREFIX = "regime_prob_"
"""Feature columns with this prefix (filtered HMM probabilities) also feed the meta-learner."""

_KINDS = {"entry": "classifier", "position": "regressor", "exit": "classifier",
          "profit": "regressor"}


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


class RegimeForestEnsemble(BaseEstimator):
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
    ``regime_prob_*`` columns of ``X`` (if any) into ``p_long = P(take-profit first)``.

    **Stacking without leakage.** The meta-learner is fitted on *out-of-fold* forest outputs only:
    :class:`~ml_core.validation.PurgedKFold` (``meta_folds`` folds, purged by ``t1``, with
    ``purge`` and ``embargo``) trains each fold's forests on events whose labels do not overlap the
    fold, and predicts the fold. In-sample forest outputs are near-perfect on the rows a forest
    memorised; a meta-learner fitted on them would trust the forests far too much. Rows that get no
    out-of-fold prediction are left out of the meta fit. Finally the four forests are refitted on
    all rows; those serve ``predict``.

    **Feature selection** (``selection``, off by default). Before anything else ``fit`` fits a
    :class:`~ml_core.selection.FeatureSelector` on its own ``X`` and ``targets['entry']``; all
    forests (out-of-fold and final) read only the selected columns (``forest_features_``). Since
    a cross-validation split fits a clone of the ensemble on its training rows, each split
    selects without its test rows. The ``regime_prob_*`` columns feed the meta-learner whether
    or not the selector keeps them for the forests.

    **Signal rule** (the contract of :meth:`predict`, see :func:`apply_signal_rule`). With
    ``p = p_long``:

    - ``confidence = max(p, 1 - p)`` in ``[0.5, 1]``;
    - BUY (+1) if ``p >= confidence_threshold``;
    - SELL (-1) if ``1 - p >= confidence_threshold`` and the exit forest says close
      (``p_exit >= 0.5``);
    - HOLD (0) otherwise;
    - ``size = clip(position forest, 0, 1) * (confidence - 0.5) / 0.5`` on BUY/SELL, 0 on HOLD.

    Parameters
    ----------
    entry, exit : ForestSpec
        Specs of the two classifier forests (``kind="classifier"``).
    position, profit : ForestSpec
        Specs of the two regressor forests (``kind="regressor"``).
    meta_C : float, default 1.0
        Inverse L2 strength of the meta-learner.
    meta_folds : int, default 4
        Purged folds for the out-of-fold meta features; ``fit`` needs at least
        ``10 * meta_folds`` events.
    confidence_threshold : float, default 0.6
        In ``[0.5, 1]``; see the signal rule.
    purge, embargo : timedelta, default 0
        Purging and embargo of the meta folds (use the CV's values).
    selection : SelectionConfig or None, default None
        Feature selection (see above); None or ``enabled=False`` keeps every column.
    n_jobs : int, default 1
        Cores per forest (-1: all).
    random_state : int, RandomState or None, default None
        Seeds the four forests; each gets its own seed drawn from it (``random_states_``), used
        for the out-of-fold forests and the final refit alike, and the selector gets a fifth.
        Same data and seed give identical predictions.

    Attributes
    ----------
    forests_ : dict[str, RandomForestClassifier | RandomForestRegressor]
        The four forests refitted on all rows, by name (:data:`MODEL_NAMES`).
    meta_ : sklearn.pipeline.Pipeline
        ``StandardScaler`` then ``LogisticRegression``; ``meta_[-1]`` is the fitted regression.
        Standardising makes the L2 penalty treat ``profit`` (returns ~1e-2) like the
        probabilities.
    meta_features_ : list[str]
        Columns the meta-learner reads: ``p_entry, size, p_exit, profit`` then ``regime_prob_*``
        (every such column of ``X``, selected or not).
    selector_ : FeatureSelector or None
        The selector fitted on all rows (its ``dropped_`` says what was dropped and why); None
        without selection.
    forest_features_ : list[str]
        Columns every forest reads, in the column order of ``X``: ``selector_.selected_``, or all
        columns without selection.
    meta_coef_ : pandas.Series
        Meta coefficients per standardised meta feature, indexed by ``meta_features_``.
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
    classes_ : numpy.ndarray
        ``[0, 1]``: the columns of :meth:`predict_proba`.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley 2018, ch. 3 (meta-labeling,
    triple barrier) and ch. 7 (purged cross-validation).
    D. H. Wolpert, "Stacked generalization", *Neural Networks* 5 (1992).
    """

    def __init__(
        self,
        entry: ForestSpec = ForestSpec(kind="classifier"),
        position: ForestSpec = ForestSpec(kind="regressor"),
        exit: ForestSpec = ForestSpec(kind="classifier"),  # noqa: A002 - the model's name
        profit: ForestSpec = ForestSpec(kind="regressor"),
        meta_C: float = 1.0,  # noqa: N803 - scikit-learn's spelling
        meta_folds: int = 4,
        confidence_threshold: float = 0.6,
        purge: timedelta = timedelta(0),
        embargo: timedelta = timedelta(0),
        selection: SelectionConfig | None = None,
        n_jobs: int = 1,
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
        self.n_jobs = n_jobs
        self.random_state = random_state

    @classmethod
    def from_config(
        cls,
        ensemble: EnsembleConfig,
        validation: ValidationConfig,
        random_state: int | None,
        selection: SelectionConfig | None = None,
    ) -> Self:
        """Build from the ``ensemble`` and ``validation`` config sections (purge, embargo).

        ``selection`` is ``config.features.selection``; it is used only when ``enabled``.
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
        folds = self.meta_folds
        if not isinstance(folds, numbers.Integral) or isinstance(folds, bool) or folds < 2:
            raise ValueError(
                f"`meta_folds` must be an integer of at least 2, got `meta_folds={folds}`"
            )
        if not isinstance(self.meta_C, numbers.Real) or not self.meta_C > 0:
            raise ValueError(f"`meta_C` must be a positive number, got `meta_C={self.meta_C}`")
        if not isinstance(self.confidence_threshold, numbers.Real) \
                or not 0.5 <= self.confidence_threshold <= 1.0:
            raise ValueError(
                "`confidence_threshold` must be in [0.5, 1], "
                f"got `confidence_threshold={self.confidence_threshold}`"
            )
        if self.selection is not None and not isinstance(self.selection, SelectionConfig):
            raise ValueError(
                f"`selection` must be a SelectionConfig or None, got `selection={self.selection!r}`"
            )
        if not isinstance(self.n_jobs, numbers.Integral) or self.n_jobs == 0:
            raise ValueError(f"`n_jobs` must be a non-zero integer, got `n_jobs={self.n_jobs}`")

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

    def _fit_forest(self, name: str, values: np.ndarray, y: np.ndarray) -> Any:
        forest = build_forest(getattr(self, name), self.random_states_[name], n_jobs=self.n_jobs)
        return forest.fit(values, y)

    def fit(self, X: pd.DataFrame, targets: pd.DataFrame, t1: pd.Series) -> Self:
        """Fit the out-of-fold forests, the meta-learner, then the four forests on all rows.

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
            columns); misaligned or missing targets; a classifier target with one class; fewer
            than ``10 * meta_folds`` events; no fold left after purging; with selection, column
            names that are not strings or every column constant.
        """
        from ml_core.validation import PurgedKFold

        self._check_params()
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
                forest = self._fit_forest(name, values[train_idx], y[name][train_idx])
                oof[test_idx, j] = _component(name, forest, values[test_idx])
            fold[test_idx] = k
        self.oof_train_mask_ = pd.DataFrame(
            train_mask, index=X.index, columns=[f"fold_{k}" for k in range(self.meta_folds)]
        )
        self.oof_predictions_ = pd.DataFrame(oof, index=X.index, columns=list(COMPONENT_COLUMNS))
        self.oof_predictions_["fold"] = fold

        # (3) Meta-learner on the rows that have out-of-fold outputs.
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
        self.meta_ = Pipeline([
            ("scale", StandardScaler()),
            ("logistic", LogisticRegression(C=self.meta_C, l1_ratio=0.0)),
        ]).fit(meta_X, meta_y)
        self.classes_ = self.meta_.classes_
        self.meta_coef_ = pd.Series(
            self.meta_[-1].coef_[0], index=self.meta_features_, name="meta_coef"
        )

        # (4) The serving forests, refitted on every row.
        self.forests_ = {name: self._fit_forest(name, values, y[name]) for name in MODEL_NAMES}
        return self

    # -------------------------------------------------------------- predict

    def _meta_matrix(self, components: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        regime_cols = self.meta_features_[len(COMPONENT_COLUMNS):]
        if not regime_cols:
            return components
        return np.column_stack([components, X[regime_cols].to_numpy(dtype=np.float64)])

    def _components(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "forests_")
        values = check_features(X, self.feature_names_in_)  # every fit column, as in fit
        if values.shape[0] == 0:  # e.g. no bar with complete features yet
            return np.empty((0, len(MODEL_NAMES)))
        names = list(self.feature_names_in_)
        values = values[:, [names.index(c) for c in self.forest_features_]]
        return np.column_stack(
            [_component(name, self.forests_[name], values) for name in MODEL_NAMES]
        )

    def predict_components(self, X: pd.DataFrame) -> pd.DataFrame:
        """Outputs of the four forests fitted on all rows.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n, n_features)
            The fit's feature columns (extra columns are ignored; order does not matter).

        Returns
        -------
        pandas.DataFrame of shape (n, 4)
            ``p_entry`` (entry forest P(take-profit first)), ``size`` (position forest, clipped to
            ``[0, 1]``), ``p_exit`` (exit forest P(close)), ``profit`` (profit forest), on
            ``X.index``.
        """
        return pd.DataFrame(self._components(X), index=X.index, columns=list(COMPONENT_COLUMNS))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Meta-learner probabilities, shape (n, 2): ``[P(no TP first), P(take-profit first)]``."""
        return self._meta_proba(self._components(X), X)

    def _meta_proba(self, components: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        if components.shape[0] == 0:
            return np.empty((0, 2))
        return self.meta_.predict_proba(self._meta_matrix(components, X))

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Signal, confidence and size of each row, by the signal rule (see the class docstring).

        Returns
        -------
        pandas.DataFrame of shape (n, 4)
            On ``X.index``: ``signal`` (int: +1 BUY, -1 SELL, 0 HOLD), ``confidence`` (in
            ``[0.5, 1]``), ``size`` (in ``[0, 1]``, 0 on HOLD), ``p_long`` (meta probability).
        """
        components = self._components(X)
        p_long = self._meta_proba(components, X)[:, 1]
        return apply_signal_rule(
            p_long,
            components[:, COMPONENT_COLUMNS.index("p_exit")],
            components[:, COMPONENT_COLUMNS.index("size")],
            confidence_threshold=self.confidence_threshold,
            index=X.index,
        )
