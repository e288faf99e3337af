"""The scaling page's time-vs-L panel under AppTest, on tiny lengths."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP


def test_time_vs_length_panel(monkeypatch):
    import explorer.figures.speed as speed

    monkeypatch.setitem(speed.FIG3_SIZES, "quick", (32, 64))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"src": "synthetic", "L": "32", "d": "16", "m": "16"})
    at.session_state["sc_m"] = (4, 16)
    at.session_state["sc_seeds"] = 2
    at.session_state["sc_scale_seeds"] = 1
    at.run()
    at.switch_page("pages/scaling.py").run()
    at.button(key="sc_time_run").click().run()
    assert not at.exception and not at.error
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    names = {trace.get("name") for trace in spec["data"]}
    assert {"exact: torch SDPA", "FAVOR+ (ours)"} <= names
    assert any("SDPA" in c.value for c in at.caption)
