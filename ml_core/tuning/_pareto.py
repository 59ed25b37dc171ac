"""The Pareto front of a study's complete trials over accuracy, Sharpe and drawdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["pareto_front"]

_MAXIMISE = ("accuracy", "sharpe")
_MINIMISE = ("max_drawdown",)


def pareto_front(parts: pd.DataFrame) -> pd.Series:
    """Which trials no other trial beats on every part at once.

    Trial ``a`` dominates ``b`` when it is at least as good on every part (higher ``accuracy``
    and ``sharpe``, lower ``max_drawdown``) and strictly better on one. The scalarised objective
    picks one point of this front; the front shows what the weights traded away.

    Parameters
    ----------
    parts : pandas.DataFrame
        One row per complete trial; the columns present among ``accuracy``, ``sharpe``,
        ``max_drawdown`` are compared (at least one).

    Returns
    -------
    pandas.Series of bool on ``parts.index``: True for non-dominated trials.

    Examples
    --------
    >>> parts = pd.DataFrame({"accuracy": [0.6, 0.55, 0.5], "sharpe": [0.5, 1.2, 0.4],
    ...                       "max_drawdown": [0.1, 0.2, 0.3]})
    >>> pareto_front(parts).tolist()
    [True, True, False]
    """
    columns = [c for c in (*_MAXIMISE, *_MINIMISE) if c in parts.columns]
    if not columns:
        raise ValueError(f"`parts` has none of {(*_MAXIMISE, *_MINIMISE)}; got "
                         f"{list(parts.columns)}")
    values = parts[columns].to_numpy(dtype=float).copy()
    for j, c in enumerate(columns):
        if c in _MINIMISE:
            values[:, j] = -values[:, j]
    no_worse = (values[:, None, :] >= values[None, :, :]).all(axis=2)  # [a, b]: a >= b everywhere
    better = (values[:, None, :] > values[None, :, :]).any(axis=2)
    dominated = (no_worse & better).any(axis=0)
    return pd.Series(~dominated, index=parts.index, name="pareto")
