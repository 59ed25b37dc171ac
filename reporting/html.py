"""One self-contained HTML page from a markdown report and its figures (embedded PNGs).

The page is what a data scientist opens in the MLflow UI's artifact pane: no external files, no
scripts. A figure goes where the markdown has its marker, ``<!-- figure:<name> -->`` (an HTML
comment, invisible wherever the markdown is shown as it is), or under a closing "Figures"
heading when there is none.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping

_MARKER = re.compile(r"<!-- figure:([\w-]+) -->\n?")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #212121; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #bdbdbd; padding: 0.25em 0.6em; text-align: right; }
th { background: #eeeeee; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
figcaption { color: #616161; font-size: 0.85em; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""
"""The page's style sheet: readable tables, figures no wider than the page."""


def figure_marker(name: str) -> str:
    """Where :func:`html_page` puts the figure ``name`` (an HTML comment elsewhere)."""
    return f"<!-- figure:{name} -->"


def strip_figure_markers(text: str) -> str:
    """The markdown without its figure markers (and the line break after each), for viewers
    that show the text alone, e.g. a Prefect artifact."""
    return _MARKER.sub("", text)


def markdown_to_html(text: str) -> str:
    """The markdown as an HTML fragment, tables included; the text as written in ``<pre>``
    when the ``markdown`` package (a transitive dependency) is not installed."""
    try:
        import markdown
    except ImportError:
        return f"<pre>{html.escape(text)}</pre>"
    return markdown.markdown(text, extensions=["tables"])


def html_page(markdown_text: str, images: Mapping[str, bytes], title: str) -> str:
    """One HTML page: ``markdown_text`` rendered, each PNG of ``images`` embedded (base64) at
    its :func:`figure_marker`, the unplaced ones under a closing "Figures" heading in their
    order; ``title`` is the page's (browser tab) title."""
    body = markdown_to_html(markdown_text)
    unplaced = []
    for name, png in images.items():
        encoded = base64.b64encode(png).decode("ascii")
        tag = (f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(name)}">'
               f"<figcaption>{html.escape(name)}</figcaption></figure>")
        if figure_marker(name) in body:
            body = body.replace(figure_marker(name), tag, 1)
        else:
            unplaced.append(tag)
    if unplaced:
        body += "\n<h3>Figures</h3>\n" + "\n".join(unplaced)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")
