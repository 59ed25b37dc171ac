"""The Hyperband objective: purged-fold forests grown tree_step trees at a time (warm start),
scored on accuracy, Sharpe and drawdown folded into one number."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

from ml_core._search_space import ObjectiveWeights, ParamRange
from ml_core.config import ForestSpec
from ml_core.ensemble import build_forest
from ml_core.metrics import max_drawdown, sharpe_ratio
from ml_core.tuning._space import suggest_forest_params
from ml_core.tuning._trial_returns import encode_returns, rule_returns

__all__ = ["ForestObjective", "fold_score", "scalarise"]


def fold_score(model: Any, X: pd.DataFrame, y: np.ndarray) -> float:
    """Score one fold: ROC AUC for classifiers (R² for regressors); higher is better.

    AUC measures the ranking quality of the predicted probabilities, which the meta-learner
    consumes. When the test fold holds a single class, or a class the model never saw, AUC is
    undefined and balanced accuracy is used instead.
    """
    return _score(model, X, y, _prediction(model, X))


def _score(model: Any, X: pd.DataFrame, y: np.ndarray, prediction: np.ndarray) -> float:
    """:func:`fold_score` from an already computed :func:`_prediction` (one pass over the trees
    serves both the score and the trade rule)."""
    if isinstance(model, RandomForestRegressor):
        return float(r2_score(y, prediction))
    present = np.unique(y)
    classes = model.classes_
    if present.size >= 2 and np.isin(present, classes).all() and present.size == classes.size:
        if classes.size == 2:
            return float(roc_auc_score(y, prediction))
        return float(roc_auc_score(y, model.predict_proba(X), multi_class="ovr", labels=classes))
    return float(balanced_accuracy_score(y, model.predict(X)))


def _prediction(forest: Any, X: pd.DataFrame) -> np.ndarray:
    """What the score and the trade rule read: P(class 1) of a classifier, the value of a
    regressor."""
    if isinstance(forest, RandomForestRegressor):
        return forest.predict(X)
    classes = list(forest.classes_)
    if 1 not in classes:
        return np.zeros(len(X))
    return forest.predict_proba(X)[:, classes.index(1)]


def scalarise(parts: Mapping[str, float], weights: ObjectiveWeights) -> float:
    """``accuracy * w_a + sharpe * w_s - max_drawdown * w_d``; parts that were not measured
    (no returns) count as 0."""
    return (weights.accuracy * parts["accuracy"] + weights.sharpe * parts.get("sharpe", 0.0)
            - weights.drawdown * parts.get("max_drawdown", 0.0))


class ForestObjective:
    """Callable Optuna objective; the resource (Hyperband step) is ``tree_step`` trees per fold.

    Each trial samples ``space`` (:func:`suggest_forest_params`) and keeps one warm-started forest
    per purged fold. At step ``s = 1 .. n_steps`` every fold's forest grows to ``s * tree_step``
    trees and predicts its test fold. The trial's three results at that step are

    - ``accuracy``: the mean fold score (:func:`fold_score`: ROC AUC, or R² for regressors);
    - ``sharpe``: annualised Sharpe ratio of trading ``rule`` on the out-of-fold predictions
      (test folds concatenated in time order, ``cost_bps`` on entry and exit);
    - ``max_drawdown``: the maximum drawdown of those returns;

    and :func:`scalarise` with ``weights`` turns them into the value reported for step ``s``, on
    which Hyperband may prune. Without ``ret``/``rule`` only accuracy is measured. A complete
    trial stores the three parts, ``fold_scores``, and ``oos_returns`` (the returns of the last
    step, :func:`~ml_core.tuning._trial_returns.encode_returns`: one column of the PBO matrix) as
    user attributes; every trial stores ``trees_fitted`` (compute spent, pruned or not).

    Parameters
    ----------
    spec : ForestSpec
        The forest kind and the point the space is centred on (its values are always in it).
    X, y : features and target (the tuning window).
    folds : sequence of (train_idx, test_idx)
        Purged folds on ``X``'s rows.
    tree_step, n_steps : int
        Trees added per step and number of steps (``n_steps * tree_step`` trees at most).
    seed : int
        ``random_state`` of every forest (same params -> same forest).
    space : mapping of str to ParamRange
        The searched forest parameters (``tuning.forest_space``).
    weights : ObjectiveWeights
        How accuracy, Sharpe and drawdown combine into the objective.
    ret : numpy.ndarray, optional
        Realised long return of each row.
    rule : str, optional
        Trade rule (a key of ``TRADE_RULES``); None measures accuracy only.
    cost_bps : float
        Trading cost of those returns.
    events_per_year : float, optional
        Annualises the Sharpe ratio (None: per-event Sharpe).
    """

    def __init__(
        self,
        spec: ForestSpec,
        X: pd.DataFrame,
        y: np.ndarray,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        *,
        tree_step: int,
        n_steps: int,
        seed: int,
        space: Mapping[str, ParamRange],
        weights: ObjectiveWeights,
        ret: np.ndarray | None = None,
        rule: str | None = None,
        cost_bps: float = 0.0,
        events_per_year: float | None = None,
    ) -> None:
        self.spec = spec
        self.X = X
        self.y = y
        self.folds = folds
        self.tree_step = tree_step
        self.n_steps = n_steps
        self.seed = seed
        self.space = space
        self.weights = weights
        self.ret = ret
        self.rule = rule if ret is not None else None
        self.cost_bps = cost_bps
        self.events_per_year = events_per_year

    def _forest(self, params: dict[str, Any], y_train: np.ndarray) -> Any:
        """The ensemble's own forest (``build_forest``), grown by warm start.

        ``class_weight="balanced"`` becomes the balanced weights of the fold's training rows,
        fixed up front (the same weights, without scikit-learn's warm-start warning).
        """
        spec = ForestSpec.model_validate({**self.spec.model_dump(), **params})
        overrides: dict[str, Any] = {"warm_start": True}
        if spec.kind == "classifier" and spec.class_weight == "balanced":
            classes = np.unique(y_train)
            weights = compute_class_weight("balanced", classes=classes, y=y_train)
            overrides["class_weight"] = dict(zip(classes.tolist(), weights.tolist(), strict=True))
        return build_forest(spec, self.seed, n_jobs=1, **overrides)

    def _parts(self, forests: Sequence[Any]) -> tuple[dict[str, float], list[float], np.ndarray]:
        scores, returns = [], []
        for forest, (_, test) in zip(forests, self.folds, strict=True):
            X_test = self.X.iloc[test]
            prediction = _prediction(forest, X_test)
            scores.append(_score(forest, X_test, self.y[test], prediction))
            if self.rule is not None:
                returns.append(rule_returns(self.rule, prediction, self.ret[test], self.cost_bps))
        parts = {"accuracy": float(np.mean(scores))}
        r = np.concatenate(returns) if returns else np.empty(0)
        if r.size >= 2:
            parts["sharpe"] = sharpe_ratio(r, self.events_per_year or 1.0)
            parts["max_drawdown"] = max_drawdown(np.maximum(r, -1.0))
        return parts, scores, r

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest_forest_params(trial, self.spec, self.space)
        forests = [self._forest(params, self.y[train]) for train, _ in self.folds]
        trees = 0
        try:
            for step in range(1, self.n_steps + 1):
                for forest, (train, _) in zip(forests, self.folds, strict=True):
                    forest.set_params(n_estimators=step * self.tree_step)
                    with warnings.catch_warnings():  # class-weight presets under warm start
                        warnings.filterwarnings("ignore", message=".*warm_start.*")
                        # LEAKAGE GUARD: fit sees only the purged training rows of this fold
                        forest.fit(self.X.iloc[train], self.y[train])
                    trees += self.tree_step
                parts, scores, returns = self._parts(forests)
                value = scalarise(parts, self.weights)
                trial.report(value, step)
                # a trial that has grown every tree is finished: pruning it then saves nothing
                if step < self.n_steps and trial.should_prune():
                    raise optuna.TrialPruned()
        finally:
            trial.set_user_attr("trees_fitted", trees)
        for key, part in parts.items():
            trial.set_user_attr(key, part)
        trial.set_user_attr("fold_scores", [float(s) for s in scores])
        if returns.size:
            trial.set_user_attr("oos_returns", encode_returns(returns))
        return value
