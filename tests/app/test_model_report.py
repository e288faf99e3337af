"""The Model report page under AppTest: the sample's report, its charts, and a head's deep link."""

from __future__ import annotations

from urllib.parse import parse_qsl

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP

TIMEOUT = 300  # first runs import torch and compute the report


def test_model_report_page_and_open_head():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/model_report.py").run()
    at.multiselect(key="mr_maps").set_value(["positive", "oprf"]).run()
    at.select_slider(key="mr_m").set_value((16, 64)).run()
    assert not at.exception, at.exception
    assert at.success and "72 heads" in at.success[0].value
    assert len(at.get("plotly_chart")) == 4
    assert at.dataframe[0].value["feature_map"].tolist() == ["positive", "oprf"]
    at.selectbox(key="mr_head").set_value((2, 3)).run()
    link = at.get("page_link")[0].proto
    assert link.page.endswith("attention_maps")
    query = dict(parse_qsl(link.query_string))
    assert query["layer"] == "2" and query["head"] == "3"
    # following the link: the attention maps page opens on that head
    maps = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        maps.query_params[key] = value
    maps.switch_page("pages/attention_maps.py").run()
    assert not maps.exception, maps.exception
    assert maps.session_state["layer"] == 2 and maps.session_state["head"] == 3
