"""Figures of the trained ensemble: which features its four forests lean on."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reporting.figures import new_figure


def feature_importances(importances: pd.DataFrame, top: int = 25) -> Figure:
    """Impurity importances per forest (columns), stacked, for the ``top`` features (rows) with
    the largest mean importance, most important on top."""
    order = importances.mean(axis=1).sort_values(ascending=True).index[-top:]
    data = importances.loc[order]
    fig, ax = new_figure(max(4.0, 0.28 * len(order) + 1.2))
    left = np.zeros(len(order))
    for column in data.columns:
        ax.barh([str(name) for name in order], data[column], left=left, label=str(column))
        left += data[column].to_numpy()
    ax.set_xlabel("mean decrease in impurity (stacked over the forests)")
    ax.set_ylabel("feature")
    ax.set_title(f"Feature importances (top {len(order)} by mean over the forests)")
    ax.legend(loc="lower right", title="forest")
    return fig
