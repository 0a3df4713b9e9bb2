"""idpctl.render.markdown: outside text inside Markdown stays inert (code spans, fences, HTML
escapes); the whole plan rendering is covered by tests/test_render.py."""

from __future__ import annotations

import pytest

from idpctl.render.markdown import fenced, html, span


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("``x", "``` ``x ```"),
        ("a|b", "`a\\|b`"),
        ("  ", "`    `"),
    ],
)
def test_span_is_one_code_span_whatever_it_holds(value: str, expected: str) -> None:
    assert span(value) == expected


def test_span_keeps_outside_text_on_one_line() -> None:
    assert "\n" not in span("line one\n# heading\nline three")


def test_fenced_outlasts_any_backtick_run() -> None:
    assert fenced("x") == "```text\nx\n```"
    block = fenced("````\nclose?\n````")
    assert block.startswith("`````text\n") and block.endswith("\n`````")


def test_html_escapes_markup_and_mentions() -> None:
    assert html('<img src="x"> & @team') == ("&lt;img src=&quot;x&quot;&gt; &amp; &#64;team")
    assert "\n" not in html("a\nb")
