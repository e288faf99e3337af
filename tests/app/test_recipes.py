"""The Error distributions page's recipes section renders on the shipped sample."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP

TIMEOUT = 300  # first runs import torch and compute; generous so slow CI machines pass


def test_the_recipes_section_renders_a_chart_and_a_table():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["err_seeds"] = 2
    at.session_state["recipe_seeds"] = 2
    at.run()
    at.switch_page("pages/error_distributions.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert "recipes_chart" in charts
    spec = json.loads(charts["recipes_chart"].proto.spec)
    names = set(spec["data"][0]["x"])
    assert {"explorer", "google", "performer_pytorch", "fast_transformers"} <= names
    tables = [d.value for d in at.dataframe if "recipe" in d.value.columns]
    assert len(tables) == 1
    table = tables[0]
    assert {"explorer", "google", "performer_pytorch", "fast_transformers"} <= set(table["recipe"])
    assert "rows covered (heads × queries)" in table.columns
    google = table[table["recipe"] == "google"].iloc[0]
    assert google["distinct W over the seeds"] == 1  # seeded by the data, not the seed
    assert any("collapsed to uniform" in c.value for c in at.caption)
