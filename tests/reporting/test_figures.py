"""Every report figure is 1,100 px wide at 100 dpi, panels per model form a grid, and rendering
keeps the figure's own size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from reporting.figures import DPI, WIDTH, new_figure, panel_grid, placeholder, render_png


def test_a_new_figure_is_the_standard_width_at_the_standard_dpi() -> None:
    fig, (top, bottom) = new_figure(6.0, 2, 1, sharex=True)
    assert (DPI, WIDTH) == (100, 11.0)
    assert tuple(fig.get_size_inches()) == (11.0, 6.0) and fig.dpi == 100
    assert top.get_shared_x_axes().joined(top, bottom)
    with pytest.raises(ValueError, match=r"`height` must be positive, got `height=0`"):
        new_figure(0)


@pytest.mark.parametrize(("n", "columns", "cells", "height"), [
    (1, 2, [(1, 1, 0)], 3.8),
    (2, 2, [(1, 2, 0), (1, 2, 1)], 3.8),
    (4, 2, [(2, 2, 0), (2, 2, 1), (2, 2, 2), (2, 2, 3)], 7.6),
    (5, 2, [(3, 2, 0), (3, 2, 1), (3, 2, 2), (3, 2, 3), (3, 2, 4)], 11.4),
    (3, 3, [(1, 3, 0), (1, 3, 1), (1, 3, 2)], 3.8),
])
def test_panel_grid_rows_of_columns_and_no_empty_cell(n, columns, cells, height) -> None:  # noqa: ANN001
    fig, axes = panel_grid(n, columns)
    assert len(axes) == n and fig.axes == axes  # the unused cell of an odd grid is removed
    assert [ax.get_subplotspec().get_geometry()[:3] for ax in axes] == cells
    assert tuple(fig.get_size_inches()) == pytest.approx((11.0, height))


def test_panel_grid_needs_a_panel_and_a_column() -> None:
    with pytest.raises(ValueError, match=r"`n` must be at least 1, got `n=0`"):
        panel_grid(0)
    with pytest.raises(ValueError, match=r"`columns` must be at least 1, got `columns=0`"):
        panel_grid(3, columns=0)


def test_render_png_keeps_the_figure_size(readable) -> None:  # noqa: ANN001
    wide, _ = new_figure(4.5)
    grid, _ = panel_grid(4)
    images = render_png({"wide": wide, "grid": grid})
    assert list(images) == ["wide", "grid"]
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in images.values())
    assert Image.open(io.BytesIO(images["wide"])).size == (1100, 450)
    assert Image.open(io.BytesIO(images["grid"])).size == (1100, 760)


def test_a_placeholder_says_why_in_a_readable_figure(readable) -> None:  # noqa: ANN001
    fig = placeholder("no tuning trials: nothing to draw", "PBO")
    (ax,) = fig.axes
    assert not ax.axison and ax.get_title() == "PBO"
    assert ax.texts[0].get_text() == "no tuning trials: nothing to draw"
    assert readable(fig) == (1100, 400)
