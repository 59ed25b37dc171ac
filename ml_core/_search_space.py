"""Search spaces declared in the profile: one :class:`ParamRange` per tuned hyper-parameter.

Pydantic only, no Optuna: the profile validates a space when it is loaded, so an impossible
range fails before any trial runs, naming ``tuning.<space>.<parameter>`` and the value.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_FOREST_SPACE",
    "DEFAULT_PIPELINE_SPACE",
    "FOREST_PARAMS",
    "PIPELINE_PARAMS",
    "ObjectiveWeights",
    "ParamRange",
]

Choice = None | bool | int | float | str


class ParamRange(BaseModel):
    """One searched parameter: an ``int``/``float`` range (optionally log scale or stepped) or a
    ``categorical`` list of choices.

    Examples
    --------
    >>> ParamRange(type="int", low=2, high=64, log=True).values_to_check()
    [2, 64]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0.0)
    choices: list[Choice] | None = None

    @model_validator(mode="after")
    def _shape(self) -> ParamRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical range needs a non-empty list `choices`")
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("a categorical range takes only `choices`, not low/high/log/step")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} range takes low/high, not `choices`")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} range needs both `low` and `high`")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"`low` must not exceed `high`, got low={self.low}, high={self.high}")
        if self.type == "int" and not (float(self.low).is_integer()
                                       and float(self.high).is_integer()):
            raise ValueError(f"an int range needs integer bounds, got low={self.low}, "
                             f"high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs `low` > 0, got low={self.low}")
        if self.log and self.step:
            raise ValueError("a range cannot be both `log` and stepped")
        return self

    def values_to_check(self) -> list[Any]:
        """The values that must all be valid for the whole range to be: the bounds or choices."""
        if self.type == "categorical":
            return list(self.choices or [])
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


FOREST_PARAMS = ("max_depth", "min_samples_split", "min_samples_leaf", "max_features", "bootstrap",
                 "max_samples", "criterion", "class_weight", "ccp_alpha",
                 "min_impurity_decrease", "max_leaf_nodes")
"""Forest parameters a space may search; ``n_estimators`` is Hyperband's resource instead."""

PIPELINE_PARAMS = ("barrier_width", "corr_threshold", "importance_threshold", "meta_C")
"""Pipeline parameters: take-profit = stop-loss barrier width (in volatilities), the feature
selection's correlation and importance thresholds, the meta-learner's inverse L2 strength."""


def _r(type_: str, **kwargs: Any) -> ParamRange:
    return ParamRange(type=type_, **kwargs)


DEFAULT_FOREST_SPACE: dict[str, ParamRange] = {
    "max_depth": _r("categorical", choices=[None, 4, 8, 16]),
    "min_samples_split": _r("int", low=2, high=64, log=True),
    "min_samples_leaf": _r("int", low=1, high=64, log=True),
    "max_features": _r("categorical", choices=["sqrt", "log2", 0.5]),
    "bootstrap": _r("categorical", choices=[True, False]),
    "max_samples": _r("float", low=0.3, high=1.0),
    "criterion": _r("categorical", choices=["gini", "entropy", "squared_error"]),
    "class_weight": _r("categorical", choices=["balanced", "balanced_subsample", None]),
    "ccp_alpha": _r("float", low=0.0, high=0.002),
    "min_impurity_decrease": _r("float", low=0.0, high=0.0005),
    "max_leaf_nodes": _r("categorical", choices=[None, 64, 256, 1024]),
}
"""Eleven searched forest parameters (twelve with the trees Hyperband grows). ``friedman_mse`` is
not searched: scikit-learn 1.9 deprecates it as an alias of ``squared_error`` (a FutureWarning on
every fit)."""

DEFAULT_PIPELINE_SPACE: dict[str, ParamRange] = {
    "barrier_width": _r("float", low=1.0, high=3.0, step=0.5),
    "corr_threshold": _r("float", low=0.8, high=0.98),
    "importance_threshold": _r("float", low=0.0, high=0.02),
    "meta_C": _r("float", low=0.01, high=10.0, log=True),
}


class ObjectiveWeights(BaseModel):
    """Weights that turn a trial's three results into the one number Hyperband prunes on:
    ``accuracy * score + sharpe * annualised Sharpe - drawdown * max drawdown``.

    The defaults give the parts roughly equal influence at the spreads seen between trials
    (ROC AUC ~0.01-0.02, Sharpe ~0.5, drawdown ~0.05); every part is kept as a trial attribute.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: float = Field(1.0, ge=0.0)
    sharpe: float = Field(0.03, ge=0.0)
    drawdown: float = Field(0.2, ge=0.0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> ObjectiveWeights:
        if self.accuracy == self.sharpe == self.drawdown == 0.0:
            raise ValueError("at least one objective weight must be positive, got all 0")
        return self
