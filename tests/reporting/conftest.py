"""The readability rule every report figure is held to: the MLflow UI previews artifacts in a
pane about 900-1,200 px wide, so a figure renders 1,000-1,200 px wide and at most three times
as wide as tall, has a title, labels on its axes, and a legend wherever several labelled series
share an axes."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from reporting.figures import render_png


def png_size(fig: Figure) -> tuple[int, int]:
    """Width and height in pixels of the figure as :func:`render_png` renders it."""
    return Image.open(io.BytesIO(render_png({"figure": fig})["figure"])).size


def _labelled(ax: Axes, which: str) -> bool:
    """The axes or one sharing its ``which`` axis (a stacked panel) carries the label."""
    siblings = getattr(ax, f"get_shared_{which}_axes")().get_siblings(ax)
    return any(getattr(other, f"get_{which}label")() for other in siblings)


def assert_readable(fig: Figure) -> tuple[int, int]:
    """Check the rule on ``fig``; returns its rendered size."""
    width, height = png_size(fig)
    assert 1000 <= width <= 1200, f"rendered {width} px wide"
    assert width / height <= 3.0, f"a strip: {width}x{height}"
    assert fig.get_suptitle() or any(ax.get_title() for ax in fig.axes), "no title"
    legends = {tuple(t.get_text() for t in ax.get_legend().get_texts())
               for ax in fig.axes if ax.get_legend() is not None}
    for ax in fig.axes:
        if not ax.axison or hasattr(ax, "_colorbar"):  # a placeholder's text, a colour bar
            continue
        assert _labelled(ax, "x") and _labelled(ax, "y"), f"unlabelled axes {ax.get_title()!r}"
        labels = tuple(ax.get_legend_handles_labels()[1])
        if len(labels) > 1:  # several series: its legend, or the same one on another panel
            assert ax.get_legend() is not None or labels in legends, f"no legend for {labels}"
    return width, height


@pytest.fixture
def readable() -> Callable[[Figure], tuple[int, int]]:
    """:func:`assert_readable`, for the tests of each figure."""
    return assert_readable
