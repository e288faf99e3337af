"""The Scaling and Theory pages under AppTest: they render, follow their controls, show progress."""

from __future__ import annotations

import json

import numpy as np
import pytest
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, decode

TIMEOUT = 300
SMALL = {"src": "synthetic", "L": "32", "d": "16", "m": "16"}  # sidebar: tiny synthetic data
FAST = {"sc_m": (4, 64), "sc_seeds": 2, "sc_scale_seeds": 1, "th_seeds": 2}  # page widgets


def start(page: str, query: dict | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(SMALL if query is None else query)
    for key, value in (FAST if state is None else state).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def traces(at: AppTest, index: int) -> dict[str, dict]:
    """name → trace of one chart (the first trace of each name)."""
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    found: dict[str, dict] = {}
    for trace in spec["data"]:
        found.setdefault(trace.get("name", trace["type"]), trace)
    return found


@pytest.mark.parametrize("page", ["pages/scaling.py", "pages/theory.py"])
def test_pages_render_on_the_default_real_model(page):
    at = start(page, query={}, state={**FAST, "sc_m": (16, 64)})
    assert len(at.get("plotly_chart")) >= (2 if page.endswith("scaling.py") else 4)
    if page.endswith("scaling.py"):  # real data: the scale axis is a temperature
        layout = json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]
        assert "temperature τ" in layout["title"]["text"]


def test_scaling_follows_m_maps_and_sigma():
    at = start("pages/scaling.py")
    first = traces(at, 0)
    np.testing.assert_array_equal(decode(first["positive, orthogonal"]["x"]), [4, 8, 16, 32, 64])
    at.select_slider(key="sc_m").set_value((16, 256)).run()
    np.testing.assert_array_equal(
        decode(traces(at, 0)["positive, orthogonal"]["x"]), [16, 32, 64, 128, 256]
    )
    at.multiselect(key="sc_maps").set_value(["hyperbolic"]).run()
    assert "hyperbolic, orthogonal" in traces(at, 0) and "positive, orthogonal" not in traces(at, 0)
    before_m, before_scale = decode(traces(at, 0)["hyperbolic, orthogonal"]["y"]), traces(at, 1)
    at.slider(key="sigma").set_value(0.8).run()  # sidebar σ: new data for the m sweep
    assert not np.allclose(decode(traces(at, 0)["hyperbolic, orthogonal"]["y"]), before_m)
    at.selectbox(key="kind").set_value("aligned").run()  # sidebar generator: new data at each σ
    after = traces(at, 1)
    assert not np.allclose(decode(after["positive"]["y"]), decode(before_scale["positive"]["y"]))
    np.testing.assert_allclose(decode(after["positive"]["x"])[[0, -1]], [0.1, 1.4], rtol=1e-6)
    assert any(c.value.startswith("FAVOR++ (oprf) over FAVOR+") for c in at.caption)
    assert not at.exception and not at.error


def test_sweeps_show_progress(monkeypatch):
    texts: list[str] = []
    original = DeltaGenerator.progress

    def progress(self, value, text=None):
        texts.append(str(text))
        return original(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", progress)
    st.cache_data.clear()  # a fresh cache, so the sweeps really run
    at = start("pages/scaling.py", state={**FAST, "sc_seeds": 3})
    assert any("30/30" in t for t in texts), texts[-3:]  # 2 maps × 5 m × 3 seeds, to the end
    assert any("30 runs" in c.value for c in at.caption)


def test_theory_follows_its_controls():
    at = start("pages/theory.py")
    assert len(at.get("plotly_chart")) == 6 and len(at.latex) >= 7
    mse = traces(at, 0)["positive: theory"]
    at.select_slider(key="th_m").set_value(64).run()
    again = traces(at, 0)["positive: theory"]
    np.testing.assert_allclose(decode(again["y"]) * 4, decode(mse["y"]), rtol=1e-5)  # ∝ 1/m
    slice_before = decode(traces(at, 1)["r: closed form"]["y"])
    at.slider(key="th_len").set_value(1.5).run()
    assert not np.allclose(decode(traces(at, 1)["r: closed form"]["y"]), slice_before)
    at.selectbox(key="th_ort_d").set_value(8).run()
    np.testing.assert_array_equal(decode(traces(at, 2)["iid: Lemma 2"]["x"]), [1, 2, 4, 8])
    regularized = traces(at, 3)  # SMREG: the closed form below exp(x·y), Monte Carlo on it
    smreg = decode(regularized["SMREG closed form e^{−|x+y|²/2}·₀F₁(; d/2; d|x+y|²/4)"]["y"])
    assert smreg[0] == pytest.approx(1.0) and np.all(np.diff(smreg) < 0)
    sharp = traces(at, 4)  # FAVOR#: flat in |y|/|x| where OPRF's closed form grows
    flat, growing = decode(sharp["saderf: theory"]["y"]), decode(sharp["oprf: theory"]["y"])
    np.testing.assert_allclose(flat, flat[0], rtol=1e-3)
    assert np.all(np.diff(growing) > 0)
    at.selectbox(key="th_reg_d").set_value(64).run()
    again = traces(at, 3)["SMREG closed form e^{−|x+y|²/2}·₀F₁(; d/2; d|x+y|²/4)"]["y"]
    assert not np.allclose(decode(again), smreg)  # larger d: SMREG closer to softmax
    delta = traces(at, 5)  # after the FAVOR# chart
    assert "measured (positive, iid)" in delta and at.metric[0].label.startswith("Predicted")
    assert not at.exception and not at.error


def test_paper_figures_come_with_one_click():
    at = start("pages/scaling.py")
    at.button(key="sc_paper_fig2").click().run()
    assert len(at.get("plotly_chart")) == 3 and "heatmap" in traces(at, 2)
    at.button(key="sc_paper_fig4").click().run()  # quick size: the default in the app
    fig4 = traces(at, 3)
    assert {"ORF POS", "IID POS", "ORF TRIG", "IID TRIG", "uniform attention"} <= set(fig4)
    at.slider(key="sc_seeds").set_value(3).run()  # another rerun keeps both figures
    assert len(at.get("plotly_chart")) == 4 and not at.exception
