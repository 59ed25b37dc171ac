"""How every figure of the reports is made and turned into PNG bytes.

The MLflow UI previews an artifact in a pane about 900 to 1,200 px wide, so every figure is
:data:`WIDTH` inches wide at :data:`DPI`: 1,100 px, whether :func:`render_png` or MLflow's own
``log_figure`` saves it. Figures are :class:`matplotlib.figure.Figure` objects made without
``pyplot``: no global figure registry to close them from, no backend to choose, so importing or
using this package changes no matplotlib state. Panels are laid out by matplotlib's constrained
layout, which keeps titles, labels, legends and colour bars inside the figure's own size, so the
rendered size is the figure size.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

DPI = 100
"""Dots per inch of every rendered figure."""
WIDTH = 11.0
"""Inches: 1,100 px at :data:`DPI`, inside the MLflow UI's preview pane."""
PANEL_HEIGHT = 3.8
"""Inches per row of a grid of panels (one panel per model or per matrix)."""
REGIME_COLOURS = {"bull": "#2e7d32", "bear": "#c62828", "sideways": "#757575"}
"""Regime colours in the Bull/Bear/Sideways order of the regime model."""


def new_figure(height: float, nrows: int = 1, ncols: int = 1,
               **subplots: Any) -> tuple[Figure, Any]:
    """A :data:`WIDTH`-wide figure of ``height`` inches and its axes (``Figure.subplots``).

    Parameters
    ----------
    height : float
        Inches; the figure renders ``WIDTH * DPI`` by ``height * DPI`` pixels.
    nrows, ncols : int
        The grid of axes.
    **subplots
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``gridspec_kw``, ...).
    """
    if height <= 0:
        raise ValueError(f"`height` must be positive, got `height={height}`")
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **subplots)


def panel_grid(n: int, columns: int = 2, panel_height: float = PANEL_HEIGHT,
               **subplots: Any) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels, ``columns`` to a row (fewer when ``n`` is smaller), so one
    panel per model reads as a grid rather than a strip; the unused cells of the last row are
    removed. Returns the figure and the ``n`` axes in reading order."""
    if n < 1:
        raise ValueError(f"`n` must be at least 1, got `n={n}`")
    if columns < 1:
        raise ValueError(f"`columns` must be at least 1, got `columns={columns}`")
    ncols = min(columns, n)
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(panel_height * nrows, nrows, ncols, squeeze=False, **subplots)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def placeholder(message: str, title: str) -> Figure:
    """A figure that says why there is nothing to draw, so a report never has a hole."""
    fig, ax = new_figure(4.0)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize="large")
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def render_png(figures: Mapping[str, Figure]) -> dict[str, bytes]:
    """PNG bytes of each figure at :data:`DPI`, by name.

    The figure's own size is kept (no tight bounding box): a :data:`WIDTH`-wide figure renders
    ``WIDTH * DPI`` pixels wide. The figures are left as they are; made by this package they are
    not registered with ``pyplot`` and are freed with their last reference.
    """
    out = {}
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        out[name] = buffer.getvalue()
    return out


def date_axis(ax: Axes, max_ticks: int = 8) -> None:
    """Concise date labels on ``ax``'s x axis (``2019-07``, then ``15``, ...), at most about
    ``max_ticks`` of them, so a span of months does not print overlapping full dates."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=max_ticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))

