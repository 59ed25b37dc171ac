"""The feature importance figure stacks the forests for the most important features."""

from __future__ import annotations

import pandas as pd
import pytest

from reporting.training_plots import feature_importances


def test_feature_importances_stack_the_forests_most_important_on_top(readable) -> None:  # noqa: ANN001
    importances = pd.DataFrame({"entry": [0.1, 0.5, 0.05], "exit": [0.1, 0.3, 0.0]},
                               index=["rsi", "momentum", "volume"])
    fig = feature_importances(importances, top=2)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rsi", "momentum"]
    # exit's bars start where entry's end
    assert [p.get_x() for p in ax.patches] == pytest.approx([0.0, 0.0, 0.1, 0.5])
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.1, 0.5, 0.1, 0.3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["entry", "exit"]
    assert ax.get_title() == "Feature importances (top 2 by mean over the forests)"
    assert readable(fig) == (1100, 400)
