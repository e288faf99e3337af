"""Every chart of every page: its downloads (CSV, HTML, PNG, SVG, PDF) and its tick labels."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.charts.export import static_export_problem
from explorer.ui.downloads import static_export_problem as cached_problem
from tests.app.conftest import APP

TIMEOUT = 300
SMALL = {"src": "synthetic", "L": "32", "d": "16", "m": "16"}
FAST = {"sc_m": (4, 16), "sc_seeds": 2, "sc_scale_seeds": 1, "th_seeds": 2, "err_seeds": 2}
PAGES = [
    "pages/overview.py",
    "pages/data.py",
    "pages/attention_maps.py",
    "pages/error_distributions.py",
    "pages/scaling.py",
    "pages/theory.py",
]
STATIC = static_export_problem() is None


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(SMALL if query is None else query)
    for key, value in FAST.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def labels(at: AppTest) -> list[str]:
    return [button.proto.label for button in at.get("download_button")]


def layouts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]


@pytest.mark.parametrize("page", PAGES)
def test_every_chart_has_its_downloads_and_exponent_ticks(page):
    at = open_page(page)
    if page.endswith("scaling.py"):  # the paper figures too (Fig. 2: a heatmap, log axes)
        at.button(key="sc_paper_fig2").click().run()
    charts = len(at.get("plotly_chart"))
    assert charts >= 1
    shown = labels(at)
    assert shown.count("Figure (HTML, interactive)") == charts, shown
    for fmt in ("PNG", "SVG", "PDF"):
        assert shown.count(f"Figure ({fmt})") == (charts if STATIC else 0), shown
    for layout in layouts(at):
        axes = {name: axis for name, axis in layout.items() if name.startswith(("xaxis", "yaxis"))}
        assert axes, layout.keys()
        for name, axis in axes.items():  # never plotly's SI default ("B"): 100µ for 1e-4
            assert axis.get("exponentformat") == "power", (page, name, axis)


def test_downloads_are_built_on_click(deferred):
    at = open_page(PAGES[0], query={})  # the real model's sample
    files = {name: build for name, build in deferred.values()}
    table = pd.read_csv(io.StringIO(files["overview.csv"]()))
    assert table.loc[0, "feature_map"] == "positive" and table.loc[0, "num_features"] > 0
    page = files["overview.html"]()
    assert "<html>" in page[:100] and "plotly" in page
    if STATIC:
        png, svg, pdf = (files[f"overview.{fmt}"]() for fmt in ("png", "svg", "pdf"))
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and pdf[:5] == b"%PDF-" and b"<svg" in svg[:200]
    assert not at.exception


def test_without_a_browser_a_note_replaces_the_images(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    cached_problem.clear()
    try:
        at = open_page(PAGES[0], query={})
        assert "Figure (PNG)" not in labels(at) and "Data (CSV)" in labels(at)
        notes = [c.value for c in at.caption if "PNG, SVG and PDF are not available" in c.value]
        assert notes and "Chromium" in notes[0], [c.value for c in at.caption]
    finally:
        cached_problem.clear()
