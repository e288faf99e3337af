"""A capture whose tokens and metadata are hostile is inert everywhere the app shows them.

The upload's tokens hold script tags, markdown links, Streamlit directives and spreadsheet
formulas (``=HYPERLINK(...)``, ``+``, ``-``, ``@``), its metadata a model name with an image
tag and a text with a javascript: link. On every page: markdown elements and widget options
show them escaped, chart labels HTML-escaped, and every download (CSV, HTML, SVG, PNG) keeps
them inert: no formula cell, no tag.
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
from safetensors.numpy import save
from streamlit.testing.v1 import AppTest

from explorer.charts.export import static_export_problem
from tests.app.conftest import APP

TOKENS = [
    "<script>alert(1)</script>",
    "[click me](javascript:alert(1))",
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    ":red[alarm]",
    "<img src=x onerror=alert(2)>",
]
METADATA = {
    "tokens": json.dumps(TOKENS),
    "model": "<img src=x onerror=alert('model')>",
    "text": '[click me](javascript:alert(1)) =HYPERLINK("http://evil.example")',
}
RAW = ("<script", "<img", "](javascript", ":red[")  # markup that must never reach markdown
TAGS = ("<script", "<img")  # plotly renders some HTML in labels (no markdown)
PAGES = ["pages/data.py", "pages/attention_maps.py", "pages/error_distributions.py"]
MARKDOWN = ("markdown", "caption", "title", "subheader", "info", "warning", "error", "success")


def hostile_upload() -> bytes:
    rng = np.random.default_rng(0)
    shape = (2, len(TOKENS), 8)
    tensors = {n: rng.normal(size=shape).astype(np.float32) for n in ("q", "k", "v")}
    return save(tensors, metadata=METADATA)


def uploaded(at: AppTest) -> AppTest:
    at.query_params["src"] = "upload"
    at.session_state["err_seeds"] = 2
    at.run()
    files = [("capture.safetensors", hostile_upload(), "application/octet-stream")]
    return at.file_uploader(key="upload").set_value(files).run()


def strings(value) -> list[str]:
    """Every string inside a decoded JSON value."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in strings(item)]


def shown_texts(at: AppTest) -> list[str]:
    """What the page asks Streamlit to render as markdown: elements, labels and options."""
    texts = [e.value for kind in MARKDOWN for e in at.get(kind)]
    for kind in ("select_slider", "selectbox", "radio"):
        for widget in at.get(kind):
            texts += [widget.label, *map(str, widget.proto.options)]
    return texts


def test_hostile_tokens_and_metadata_are_inert_on_pages_charts_and_downloads(deferred):
    at = uploaded(AppTest.from_file(APP, default_timeout=300))
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and not at.error, (page, [e.value for e in at.error])
        for text in shown_texts(at):  # markup only counts where it is not escaped
            assert not any(raw in re.sub(r"\\.", "", text) for raw in RAW), (page, text)
        for chart in at.get("plotly_chart"):  # the JSON escapes "<": look at the decoded strings
            labels = strings(json.loads(chart.proto.spec))
            assert not any(tag in label for label in labels for tag in TAGS), page
    at.switch_page("pages/attention_maps.py").run()
    options = [str(o) for o in at.select_slider(key="maps_query").proto.options]
    assert "1: \\[click me\\]\\(javascript\\:alert\\(1\\)\\)" in options  # shown as typed
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["x"][0] == "0:&lt;script&gt;alert(1)&lt;/script&gt;"
    at.switch_page("pages/data.py").run()
    (metadata,) = [d.value for d in at.dataframe if list(d.value.columns) == ["key", "value"]]
    assert dict(zip(metadata.key, metadata.value, strict=True))["model"] == METADATA["model"]

    files = {name: build for name, build in deferred.values()}
    tokens_csv = list(csv.DictReader(io.StringIO(files["attention_map.csv"]())))
    assert {row["key_token"] for row in tokens_csv} == {
        ("'" if t[0] in "=+-@" else "") + t for t in TOKENS
    }
    for name, build in files.items():
        if name.endswith(".csv"):
            for row in csv.reader(io.StringIO(build())):
                for cell in row:
                    if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                        float(cell)  # only numbers may start like a formula
        elif name.endswith(".html"):
            page = build()
            assert "<script>alert" not in page and "<img src=x" not in page, name
    if static_export_problem() is None:
        svg = files["attention_map.svg"]().decode()
        assert "<script" not in svg and "<img" not in svg
        assert re.search(r"(&lt;|&#60;)script(&gt;|&#62;)alert", svg)  # the token, as text
        assert files["attention_map.png"]()[:8] == b"\x89PNG\r\n\x1a\n"
