"""The Hyperband objective: purged-fold forests grown tree_step trees at a time (warm start)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

from ml_core.config import ForestSpec
from ml_core.ensemble import build_forest
from ml_core.tuning._space import suggest_forest_params

__all__ = ["ForestObjective", "fold_score"]


def fold_score(model: Any, X: pd.DataFrame, y: np.ndarray) -> float:
    """Score one fold: ROC AUC for classifiers (R² for regressors); higher is better.

    AUC measures the ranking quality of the predicted probabilities, which the meta-learner
    consumes. When the test fold holds a single class, or a class the model never saw, AUC is
    undefined and balanced accuracy is used instead.
    """
    if isinstance(model, RandomForestRegressor):
        return float(r2_score(y, model.predict(X)))
    present = np.unique(y)
    classes = model.classes_
    if present.size >= 2 and np.isin(present, classes).all() and present.size == classes.size:
        proba = model.predict_proba(X)
        if classes.size == 2:
            return float(roc_auc_score(y, proba[:, 1]))
        return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    return float(balanced_accuracy_score(y, model.predict(X)))


class ForestObjective:
    """Callable Optuna objective; the resource (Hyperband step) is ``tree_step`` trees per fold.

    Each trial keeps one warm-started forest per purged fold. At step ``s = 1 .. n_steps`` every
    fold's forest grows to ``s * tree_step`` trees, is scored on its test fold, and the mean score
    is reported as the intermediate value of step ``s``; Hyperband may then prune the trial.
    Trees fitted (over all folds, pruned or not) are stored as the ``trees_fitted`` user attribute.

    Parameters
    ----------
    spec : ForestSpec
        Centre of the search space and the forest kind.
    X, y : features and target (the tuning window).
    folds : sequence of (train_idx, test_idx)
        Purged folds on ``X``'s rows.
    tree_step, n_steps : int
        Trees added per step and number of steps (``n_steps * tree_step`` trees at most).
    seed : int
        ``random_state`` of every forest (same params -> same forest).
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
    ) -> None:
        self.spec = spec
        self.X = X
        self.y = y
        self.folds = folds
        self.tree_step = tree_step
        self.n_steps = n_steps
        self.seed = seed

    def _forest(self, params: dict[str, Any], y_train: np.ndarray) -> Any:
        """The ensemble's own forest (``build_forest``), grown by warm start.

        Class weights are the balanced weights of the fold's training rows, fixed up front:
        scikit-learn's ``"balanced_subsample"`` preset warns under ``warm_start``, and the tuned
        forest must handle imbalance as the final one does.
        """
        overrides: dict[str, Any] = {"warm_start": True}
        if self.spec.kind == "classifier":
            classes = np.unique(y_train)
            weights = compute_class_weight("balanced", classes=classes, y=y_train)
            overrides["class_weight"] = dict(zip(classes.tolist(), weights.tolist(), strict=True))
        return build_forest(self.spec.model_copy(update=params), self.seed, n_jobs=1,
                            **overrides)

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest_forest_params(trial, self.spec)
        forests = [self._forest(params, self.y[train]) for train, _ in self.folds]
        trees = 0
        score = float("nan")
        try:
            for step in range(1, self.n_steps + 1):
                scores = []
                for forest, (train, test) in zip(forests, self.folds, strict=True):
                    forest.set_params(n_estimators=step * self.tree_step)
                    # LEAKAGE GUARD: fit sees only the purged training rows of this fold
                    forest.fit(self.X.iloc[train], self.y[train])
                    trees += self.tree_step
                    scores.append(fold_score(forest, self.X.iloc[test], self.y[test]))
                score = float(np.mean(scores))
                trial.report(score, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        finally:
            trial.set_user_attr("trees_fitted", trees)
        trial.set_user_attr("fold_scores", [float(s) for s in scores])
        return score
