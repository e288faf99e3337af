"""The learned map in the real app: its fit and held-out rows are said, its budget is enforced."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, shown

TIMEOUT = 300  # first runs import torch and fit the map to every head shown


def start(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_pages_say_what_the_learned_map_was_fitted_on_and_evaluated_on():
    at = start({"fm": "hedgehog", "m": "32", "layer": "5"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    (note,) = [i.value for i in at.info if i.value.startswith("Learned map")]
    assert "32 even query rows" in note and "31 held-out odd rows" in note
    assert "Adam steps" in note and "64 features" in note
    baseline = float(next(m.value for m in at.metric if m.label == "Uniform-attention baseline"))
    error = float(next(m.value for m in at.metric if m.label.startswith("Output relative")))
    assert error < baseline  # measured 0.29 vs 0.85 on this head (layer 5, head 0)
    for page in ("pages/attention_maps.py", "pages/error_distributions.py"):
        at.switch_page(page).run()
        assert not at.exception and not at.error, page
        assert any("31 held-out odd rows" in c.value for c in at.caption), page


def test_a_fit_over_budget_is_a_message_and_the_app_goes_on(monkeypatch):
    from explorer.ui.compute import runtime

    monkeypatch.setenv("EXPLORER_MAX_FIT_MMAC", "1")
    runtime.clear()  # the budget is read once per process
    try:
        at = start({"fm": "hedgehog"})
        assert not at.exception
        assert at.error and "EXPLORER_MAX_FIT_MMAC" in shown(at.error[0].value)
        at.selectbox(key="fm").set_value("positive").run()
        assert not at.exception and not at.error and at.metric
    finally:
        monkeypatch.delenv("EXPLORER_MAX_FIT_MMAC")
        runtime.clear()


def test_model_report_with_the_learned_map_notes_its_rows():
    at = start({})
    at.switch_page("pages/model_report.py").run()
    at.select_slider(key="mr_m").set_value((16, 32)).run()  # first: a small grid to fit
    at.multiselect(key="mr_maps").set_value(["positive", "hedgehog"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "72 heads" in at.success[0].value
    assert any(c.value.startswith("hedgehog: fitted") for c in at.caption)
    assert at.dataframe[0].value["feature_map"].tolist() == ["positive", "hedgehog"]


def test_scaling_sweeps_fit_the_learned_map_at_every_m_and_temperature():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    state = {"sc_m": (4, 32), "sc_seeds": 2, "sc_scale_seeds": 1,
             "sc_maps": ["positive", "hedgehog"], "sc_scale_maps": ["hedgehog"]}  # fmt: skip
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/scaling.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    names = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "hedgehog, orthogonal" in names and "positive, orthogonal" in names
    scale = json.loads(at.get("plotly_chart")[1].proto.spec)["data"]
    assert any(t.get("name") == "hedgehog" for t in scale)
