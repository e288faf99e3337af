"""The sidebar's matched-norms toggle: random directions with the data's exact row norms."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.inputs.synthetic import matched_inputs
from explorer.ui.data import _sample
from tests.app.conftest import APP
from tests.app.test_pages import figure, heatmap_arrays, metrics

TIMEOUT = 300


def start(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_the_toggle_replaces_the_sample_by_its_norms_matched_control():
    plain = start({"layer": "2"})
    assert plain.sidebar.toggle(key="matched").value is False
    assert "data_seed" not in [w.key for w in plain.sidebar.number_input]  # shown when on
    matched = start({"layer": "2", "matched": "true", "data_seed": "3"})
    assert matched.sidebar.toggle(key="matched").value is True
    assert matched.sidebar.number_input(key="data_seed").value == 3
    caption = next(c.value for c in matched.caption if "Norms matched to" in c.value)
    assert "data seed 3" in caption.replace("\\", "")
    assert metrics(matched) != metrics(plain)
    exact = heatmap_arrays(matched)[0]  # what the page drew: softmax of the matched q, k
    control = matched_inputs(_sample().layer(2), seed=3)
    x, y = control.q[0] * control.head_dim**-0.25, control.k[0] * control.head_dim**-0.25
    scores = x @ y.T
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(exact, expected / expected.sum(-1, keepdims=True), atol=1e-5)
    labels = figure(matched)["data"][0]["x"]  # each row keeps its token (and its norm)
    assert labels[0] == "0:[CLS]" and labels[-1] == "62:[SEP]"


@pytest.mark.parametrize("page", ["pages/data.py", "pages/attention_maps.py"])
def test_matched_data_runs_on_the_pages_and_the_data_page_says_what_it_is(page):
    at = start({"matched": "true"})
    at.switch_page(page).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    if page.endswith("data.py"):
        assert any("Norms matched to" in t.value for t in at.text)
        assert any("Matched norms are on" in i.value for i in at.info)
        assert not [d for d in at.dataframe if "norms-matched control" in d.value.columns]


def test_synthetic_data_has_no_toggle():
    at = start({"src": "synthetic", "matched": "true"})
    assert "matched" not in [w.key for w in at.sidebar.toggle]  # nothing to match: random data
    assert not any("Norms matched" in c.value for c in at.caption)


def test_an_upload_can_be_norms_matched():
    from explorer.inputs.uploads.examples import example_upload

    name, data = example_upload("safetensors")
    at = start({"matched": "true", "data_seed": "1"})
    at.selectbox(key="src").set_value("upload").run()
    at.file_uploader(key="upload").set_value([(name, data, "application/octet-stream")]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    caption = next(c.value for c in at.caption if "Norms matched to" in c.value).replace("\\", "")
    assert "'q' (2, 8, 4)" in caption and "data seed 1" in caption
