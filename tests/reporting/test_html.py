"""One self-contained HTML page: the markdown rendered, each PNG embedded at its marker."""

from __future__ import annotations

import base64
import re

from reporting.html import figure_marker, html_page, markdown_to_html, strip_figure_markers

PNG = b"\x89PNG\r\n\x1a\nnot really"
TEXT = "\n".join(["## Report", "", "| a | b |", "|---|---|", "| 1 | 2 |", "",
                  figure_marker("first"), "", "### After", ""])


def test_markers_are_html_comments_the_artifact_text_drops() -> None:
    assert figure_marker("pbo_logits") == "<!-- figure:pbo_logits -->"
    assert strip_figure_markers(TEXT) == (
        "## Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\n### After\n")


def test_markdown_with_tables() -> None:
    assert markdown_to_html("| a | b |\n|---|---|\n| 1 | 2 |").startswith("<table>")
    assert markdown_to_html("`code` & <b>") == "<p><code>code</code> &amp; <b></p>"


def test_a_page_with_figures_at_their_markers_and_the_rest_at_the_end() -> None:
    page = html_page(TEXT, {"first": PNG, "second": PNG}, title="A & B")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">") and page.count("<html") == 1
    assert "<title>A &amp; B</title>" in page and "max-width: 1200px" in page
    assert "<!-- figure:" not in page and "<table>" in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="(\w+)">', page)
    assert [name for _, name in images] == ["first", "second"]
    assert all(base64.b64decode(data) == PNG for data, _ in images)
    assert page.index('alt="first"') < page.index("<h3>After</h3>")
    assert page.index("<h3>Figures</h3>") < page.index('alt="second"')
    assert "<h3>Figures</h3>" not in html_page(TEXT, {"first": PNG}, title="t")
