"""Text from users (upload names, tokens, capture metadata) made inert where it is shown.

Every string that comes with an upload is attacker-controlled, and each place that shows one
reads it in its own language:

- Streamlit's text elements (markdown, captions, messages, widget labels and options) render
  GitHub markdown: links, images, ``:material/…:`` icons, ``$…$`` maths;
- plotly renders a subset of HTML in titles and tick labels (``<a href>``, ``<b>``, ``<br>``),
  and an HTML download is a web page;
- a spreadsheet that opens a CSV download evaluates a cell that starts with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(…)``: OWASP's "CSV
  injection").

One function per destination: ``for_markdown``, ``for_html``, ``for_csv`` (one cell) and
``csv_text`` (a whole table). Numbers pass unchanged.
"""

from __future__ import annotations

import html
import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as a formula
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&])")


def for_markdown(text: str) -> str:
    """Text shown literally inside markdown: every markup character backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def for_html(text: str) -> str:
    """Text shown literally in HTML and in plotly labels (tags and quotes escaped)."""
    return html.escape(str(text), quote=True)


def for_csv(value: object) -> object:
    """One CSV cell that no spreadsheet runs: a quote before a leading formula character."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(table: pd.DataFrame, *, float_format: str | None = None) -> str:
    """The table as CSV (no index), every text cell and column name through ``for_csv``."""
    safe = table.rename(columns=lambda name: for_csv(str(name)))
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(for_csv)
    return safe.to_csv(index=False, float_format=float_format)
