"""Untrusted text is inert in each language it is shown in: markdown, HTML, CSV."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from explorer.untrusted import csv_text, for_csv, for_html, for_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "[click me](javascript:alert(1))",
    "![x](http://evil.example/x.png)",
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    ":red[alarm] :material/warning: $x^2$ http://evil.example",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escapes_every_markup_character(text):
    escaped = for_markdown(text)
    for char in "[]()<>!:$*_`#|~=":
        assert f"{char}" not in escaped.replace(f"\\{char}", ""), (char, escaped)
    assert escaped.replace("\\", "") == text.replace("\\", "")  # shown as typed


def test_html_escapes_tags_and_quotes():
    assert for_html("<a href='x'>\"&") == "&lt;a href=&#x27;x&#x27;&gt;&quot;&amp;"


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_cells_never_start_a_formula(text):
    cell = for_csv(text)
    assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r"))
    assert str(cell).lstrip("'") == text


def test_csv_text_keeps_numbers_and_quotes_text_cells_and_names():
    table = pd.DataFrame({"token": HOSTILE[:5], "value": [-1.5, 2.0, -3.0, 0.0, 1e-9]})
    table["=name"] = "plain"
    rows = list(csv.reader(io.StringIO(csv_text(table))))
    assert rows[0] == ["token", "value", "'=name"]
    assert [row[0] for row in rows[1:]] == [for_csv(t) for t in HOSTILE[:5]]
    assert [float(row[1]) for row in rows[1:]] == [-1.5, 2.0, -3.0, 0.0, 1e-9]  # numbers as-is
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
