"""Every page runs inside app.py, even as the first run of a process (a deep link)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP

PAGES = sorted(Path(APP).parent.glob("pages/*.py"))
TIMEOUT = 300


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_every_page_calls_the_guard_before_anything_else(path):
    body = ast.parse(path.read_text()).body
    first = next(
        node
        for node in body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    )
    assert ast.unparse(first) == "ui.run_from_app()", f"{path.name}: {ast.unparse(first)}"


@pytest.mark.parametrize(
    ("page", "title"),
    [("pages/attention_maps.py", "Attention maps"), ("pages/theory.py", "Theory")],
)
def test_a_deep_link_as_the_first_run_gets_the_sidebar_and_its_settings(page, title):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"src": "synthetic", "L": "64", "fm": "trig", "m": "32"})
    at.switch_page(page).run()  # the very first run is the page's, as for a deep link
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [title]  # the page ran once, not twice
    assert at.sidebar.selectbox(key="src").value == "synthetic"
    assert at.sidebar.selectbox(key="fm").value == "trig"
    assert at.sidebar.select_slider(key="m").value == 32
    assert at.sidebar.select_slider(key="L").value == 64
