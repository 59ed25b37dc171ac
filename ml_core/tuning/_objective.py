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
from ml_core.tuning._trial_returns import encode_returns, rule_returns

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
    A complete trial also stores ``fold_scores`` and, given ``ret`` and ``rule``, ``oos_returns``:
    the returns of trading ``rule`` on its out-of-fold predictions (test folds concatenated in
    order; :func:`~ml_core.tuning._trial_returns.encode_returns`), one column of the PBO matrix.

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
    ret : numpy.ndarray, optional
        Realised long return of each row, for ``oos_returns``.
    rule : str, optional
        Trade rule of ``oos_returns`` (a key of ``TRADE_RULES``); None records no returns.
    cost_bps : float
        Trading cost of ``oos_returns``.
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
        ret: np.ndarray | None = None,
        rule: str | None = None,
        cost_bps: float = 0.0,
    ) -> None:
        self.spec = spec
        self.X = X
        self.y = y
        self.folds = folds
        self.tree_step = tree_step
        self.n_steps = n_steps
        self.seed = seed
        self.ret = ret
        self.rule = rule
        self.cost_bps = cost_bps

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
        if self.rule is not None and self.ret is not None:
            trial.set_user_attr("oos_returns", encode_returns(self._oos_returns(forests)))
        return score

    def _oos_returns(self, forests: Sequence[Any]) -> np.ndarray:
        """Trade-rule returns of the fitted fold forests on their own test rows, in fold order."""
        parts = []
        for forest, (_, test) in zip(forests, self.folds, strict=True):
            X_test = self.X.iloc[test]
            if isinstance(forest, RandomForestRegressor):
                prediction = forest.predict(X_test)
            else:
                classes = list(forest.classes_)
                proba = forest.predict_proba(X_test)
                prediction = proba[:, classes.index(1)] if 1 in classes else np.zeros(len(test))
            parts.append(rule_returns(self.rule, prediction, self.ret[test], self.cost_bps))
        return np.concatenate(parts)
